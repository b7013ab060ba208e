package objective

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lorasweep/lorasweep/internal/proc"
)

// ProtocolVersion is the version of the external scorer protocol written in
// every request. Responses may omit it.
const ProtocolVersion = 1

// Environment variables through which an external scorer finds its request
// and where it must write its response. Files, not stdin/stdout, because
// model libraries print freely to stdout.
const (
	EnvRequest  = "LORASWEEP_SCORER_REQUEST"
	EnvResponse = "LORASWEEP_SCORER_RESPONSE"
)

// CommandRequest is the JSON an external scorer reads from $LORASWEEP_SCORER_REQUEST.
type CommandRequest struct {
	Protocol int    `json:"protocol"`
	Scorer   string `json:"scorer"`
	Trial    int    `json:"trial"`
	Epoch    int    `json:"epoch"`
	// Fraction of the trial's schedule completed, 0..1.
	Fraction float64 `json:"fraction"`
	// Images are the epoch's samples (absolute paths), restricted to the
	// scorer's prompts.
	Images []CommandImage `json:"images"`
	// References are the images of the scorer's reference folder, with the
	// prompt index each pairs with (-1: none). Empty without references.
	References []CommandReference `json:"references"`
	// Params are the scorer's own params from the spec; TrialParams the
	// trial's hyperparameters.
	Params      map[string]any `json:"params"`
	TrialParams map[string]any `json:"trial_params"`
	// GPUs the scorer may use (the trial's lease) when use_gpu is set;
	// CUDA_VISIBLE_DEVICES is set to the same. Empty: run on the CPU.
	GPUs []string `json:"gpus"`
}

// CommandImage is one sample in a CommandRequest.
type CommandImage struct {
	Path        string `json:"path"`
	Prompt      string `json:"prompt"`
	PromptIndex int    `json:"prompt_index"`
	Seed        int64  `json:"seed"`
	Epoch       int    `json:"epoch"`
}

// CommandReference is one reference image in a CommandRequest.
type CommandReference struct {
	Path        string `json:"path"`
	PromptIndex int    `json:"prompt_index"`
}

// CommandResponse is the JSON an external scorer writes to
// $LORASWEEP_SCORER_RESPONSE.
type CommandResponse struct {
	// Score is the epoch's value. Range is its [low, high] bounds (default
	// [0, 1]); LowerIsBetter flips the normalisation.
	Score         *float64     `json:"score"`
	Range         *[2]float64  `json:"range,omitempty"`
	LowerIsBetter bool         `json:"lower_is_better,omitempty"`
	Images        []ImageScore `json:"images,omitempty"`
	// Error, when set, makes the epoch unscorable with this message.
	Error string `json:"error,omitempty"`
}

// runCommand runs an external scorer for one epoch and fills c. A failure of
// the scorer (exit status, timeout, bad response) is returned as an error
// carrying the tail of its output; it makes the epoch unscorable.
func (o *Objective) runCommand(ctx context.Context, s scorer, in EpochInput, c *Component) error {
	samples := in.Samples
	if len(s.spec.Prompts) > 0 {
		samples, _ = selectPrompts(s.spec.Prompts, in.Samples, make([]*features, len(in.Samples)))
	}
	req := CommandRequest{
		Protocol: ProtocolVersion, Scorer: s.name, Trial: in.TrialNumber, Epoch: in.Epoch, Fraction: in.Fraction,
		Images: []CommandImage{}, References: []CommandReference{}, Params: s.spec.Params, TrialParams: in.Params, GPUs: []string{},
	}
	for _, smp := range samples {
		p, err := filepath.Abs(smp.Path)
		if err != nil {
			return fmt.Errorf("resolve sample path: %w", err)
		}
		req.Images = append(req.Images, CommandImage{Path: p, Prompt: smp.Prompt, PromptIndex: smp.PromptIndex, Seed: smp.Seed, Epoch: smp.Epoch})
	}
	if s.refs != nil {
		refs, err := listReferences(s.refs.dir)
		if err != nil {
			return err
		}
		for _, r := range refs {
			p, _ := filepath.Abs(r.Path)
			req.References = append(req.References, CommandReference{Path: p, PromptIndex: r.Index})
		}
	}
	if s.spec.UseGPU {
		req.GPUs = append(req.GPUs, in.GPUs...)
	}
	dir, err := os.MkdirTemp("", "lorasweep-scorer-*")
	if err != nil {
		return fmt.Errorf("create scorer dir: %w", err)
	}
	defer os.RemoveAll(dir)
	reqPath, respPath := filepath.Join(dir, "request.json"), filepath.Join(dir, "response.json")
	data, err := json.MarshalIndent(req, "", " ")
	if err != nil {
		return fmt.Errorf("encode scorer request: %w", err)
	}
	if err := os.WriteFile(reqPath, data, 0o600); err != nil {
		return fmt.Errorf("write scorer request: %w", err)
	}
	env := append(os.Environ(), EnvRequest+"="+reqPath, EnvResponse+"="+respPath,
		"CUDA_VISIBLE_DEVICES="+strings.Join(req.GPUs, ","))
	p, err := proc.Start(proc.Spec{Argv: s.spec.Run, Env: env, Dir: s.runDir, Supervisor: o.super, Grace: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("start scorer: %w", err)
	}
	tail := &tailBuffer{max: 2048}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(tail, p.Output()); close(copied) }()
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	p.StopContext(tctx)
	code, werr := p.Wait()
	<-copied
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case werr != nil:
		return fmt.Errorf("wait for scorer: %w", werr)
	case tctx.Err() != nil:
		return fmt.Errorf("scorer %s timed out after %s%s", s.spec.Run[0], s.timeout, tail.suffix())
	case code != 0:
		return fmt.Errorf("scorer %s exited with status %d%s", s.spec.Run[0], code, tail.suffix())
	}
	raw, err := os.ReadFile(respPath)
	if err != nil {
		return fmt.Errorf("scorer %s wrote no response to $%s%s", s.spec.Run[0], EnvResponse, tail.suffix())
	}
	var resp CommandResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("decode scorer response: %w", err)
	}
	if resp.Error != "" {
		return fmt.Errorf("scorer reported: %s", resp.Error)
	}
	if resp.Score == nil || math.IsNaN(*resp.Score) || math.IsInf(*resp.Score, 0) {
		return errors.New("scorer response has no finite \"score\"")
	}
	lo, hi := 0.0, 1.0
	if resp.Range != nil {
		lo, hi = resp.Range[0], resp.Range[1]
		if !(hi > lo) {
			return fmt.Errorf("scorer response range [%v, %v] is empty", lo, hi)
		}
	}
	c.Raw = *resp.Score
	c.Normalized = clampF((c.Raw-lo)/(hi-lo), 0, 1)
	if resp.LowerIsBetter {
		c.Normalized = 1 - c.Normalized
	}
	c.Images = resp.Images
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// suffix formats the tail for an error message: ": output tail: …" or "".
func (t *tailBuffer) suffix() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ": output tail: " + s
}
