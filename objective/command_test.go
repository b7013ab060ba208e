package objective

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func commandSpec(t *testing.T, mode, timeout string) ScorerSpec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envTestScorer, mode)
	t.Setenv("TMPDIR", t.TempDir()) // where the request and response files go
	return ScorerSpec{Kind: KindCommand, Run: []string{self}, Timeout: timeout}
}

func TestCommandScorer(t *testing.T) {
	dir := t.TempDir()
	img := writePNG(t, filepath.Join(dir, "s.png"), scene(32, 32, 0, 0, 0))
	in := EpochInput{TrialNumber: 7, Epoch: 2, Samples: []Sample{
		{Path: img, Prompt: "sks cat", PromptIndex: 1, Seed: 5, Epoch: 2},
		{Path: img, Prompt: "sks cat", PromptIndex: 1, Seed: 6, Epoch: 2},
	}, Params: map[string]any{"unet_lr": 1e-4}, GPUs: []string{"3"}}
	tests := []struct {
		name, mode, timeout string
		wantNorm            float64
		wantErr             string // substring of the unscorable reason
		noSamples           bool
	}{
		{name: "ok", mode: "ok", wantNorm: 0.1},
		{name: "lower is better", mode: "lower", wantNorm: 0.8},
		{name: "crash keeps stderr tail", mode: "crash", wantErr: "exited with status 3: output tail: model loaded; printing to stdout is harmless\nTraceback (most recent call last):\nRuntimeError: CUDA out of memory"},
		{name: "garbage response", mode: "garbage", wantErr: "decode scorer response"},
		{name: "no response", mode: "silent", wantErr: "wrote no response"},
		{name: "no score", mode: "noscore", wantErr: `no finite "score"`},
		{name: "scorer-reported error", mode: "reported", wantErr: "face not found"},
		{name: "timeout", mode: "hang", timeout: "300ms", wantErr: "timed out after 300ms"},
		{name: "no samples", mode: "ok", wantErr: "no sample images for epoch 2", noSamples: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(Spec{Scorers: []ScorerSpec{commandSpec(t, tt.mode, tt.timeout)}}, dir)
			if err != nil {
				t.Fatal(err)
			}
			epoch := in
			if tt.noSamples {
				epoch.Samples = nil
			}
			res, err := o.ScoreEpoch(context.Background(), epoch)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if !res.Unscorable || !strings.Contains(res.Reason, tt.wantErr) {
					t.Fatalf("got unscorable=%v reason %q, want it to contain %q", res.Unscorable, res.Reason, tt.wantErr)
				}
				if !res.Components[0].Unscorable || res.Components[0].Normalized != 0 {
					t.Errorf("component %+v not marked unscorable", res.Components[0])
				}
				return
			}
			if res.Unscorable {
				t.Fatalf("unscorable: %s", res.Reason)
			}
			if got := res.Components[0].Normalized; abs(got-tt.wantNorm) > 1e-9 {
				t.Errorf("normalized %v, want %v", got, tt.wantNorm)
			}
			if abs(res.Value-tt.wantNorm) > 1e-9 {
				t.Errorf("value %v, want %v", res.Value, tt.wantNorm)
			}
		})
	}
}

func TestCommandRequestContents(t *testing.T) {
	dir := t.TempDir()
	img := writePNG(t, filepath.Join(dir, "s.png"), scene(32, 32, 0, 0, 0))
	writePNG(t, filepath.Join(dir, "refs", "0001.png"), scene(32, 32, 0, 0, 0))
	writePNG(t, filepath.Join(dir, "refs", "0002.png"), scene(32, 32, 1, 0, 0))
	in := EpochInput{TrialNumber: 7, Epoch: 2, Samples: []Sample{{Path: img, Prompt: "sks cat", PromptIndex: 1, Seed: 5, Epoch: 2}},
		Params: map[string]any{"unet_lr": 1e-4}, GPUs: []string{"3"}}
	tests := []struct {
		name   string
		useGPU bool
		want   []string
	}{
		{"cpu", false, []string{"gpus=[]", "cuda=", "refs=2", "param=ViT-B-32", "trial=7 epoch=2 lr=0.0001", "prompt=sks cat idx=1"}},
		{"trial's gpu", true, []string{"gpus=[3]", "cuda=3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := commandSpec(t, "echo", "")
			sc.UseGPU, sc.References, sc.Params = tt.useGPU, "refs", map[string]any{"model": "ViT-B-32"}
			o, err := New(Spec{Scorers: []ScorerSpec{sc}}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if o.NeedsGPU() != tt.useGPU {
				t.Errorf("NeedsGPU %v, want %v", o.NeedsGPU(), tt.useGPU)
			}
			res, err := o.ScoreEpoch(context.Background(), in)
			if err != nil || res.Unscorable {
				t.Fatalf("err %v, reason %q", err, res.Reason)
			}
			flags := strings.Join(res.Components[0].Images[0].Flags, "|")
			for _, w := range tt.want {
				if !strings.Contains("|"+flags+"|", "|"+w+"|") {
					t.Errorf("request seen as %q, missing %q", flags, w)
				}
			}
		})
	}
}

func TestCommandCancelled(t *testing.T) {
	dir := t.TempDir()
	img := writePNG(t, filepath.Join(dir, "s.png"), scene(32, 32, 0, 0, 0))
	o, err := New(Spec{Scorers: []ScorerSpec{commandSpec(t, "hang", "")}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := o.ScoreEpoch(ctx, EpochInput{Samples: []Sample{{Path: img}}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled ScoreEpoch: err %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %s: the scorer was not stopped", d)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
