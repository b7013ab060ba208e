package runner

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/lorasweep/lorasweep/kohya"
)

// commandAdapter runs any trainer from an argv template. Placeholders:
// {config} (the trial's TOML), {params} (its params as JSON), {output_dir},
// {trial_dir} and {NAME} for each trial param. Output is read with the
// user's regexes; the first capture group of loss_regex is the loss (named
// groups step and total are used when present), of epoch_regex the epoch (a
// second group the number of epochs), of sample_regex a sample path.
type commandAdapter struct{ pool *Pool }

// ExpandTemplate replaces {name} placeholders in s with vars[name]; unknown
// placeholders are left as they are.
func ExpandTemplate(s string, vars map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := vars[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

var placeholderRE = regexp.MustCompile(`\{[A-Za-z_][A-Za-z0-9_.]*\}`)

func formatParam(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

func (a *commandAdapter) prepare(ctx context.Context, lease *Lease, job Job) (*prepared, error) {
	ts := a.pool.cfg.Trainer
	if len(ts.Command) == 0 {
		return nil, &reasonError{ReasonBadArgs, fmt.Errorf("trainer.command is empty")}
	}
	outDir := filepath.Join(job.Dir, "output")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, &reasonError{writeReason(err), fmt.Errorf("create output dir: %w", err)}
	}
	cfg := job.Config.Clone()
	if cfg == nil {
		cfg = kohya.Config{}
	}
	data, err := kohya.WriteTOML(cfg)
	if err != nil {
		return nil, &reasonError{ReasonBadArgs, fmt.Errorf("write config: %w", err)}
	}
	tomlPath := filepath.Join(job.Dir, ConfigFile)
	if err := os.WriteFile(tomlPath, data, 0o644); err != nil {
		return nil, &reasonError{writeReason(err), fmt.Errorf("write config: %w", err)}
	}
	paramsPath := filepath.Join(job.Dir, "params.json")
	if err := writeJSON(paramsPath, job.Params); err != nil {
		return nil, &reasonError{writeReason(err), fmt.Errorf("write params: %w", err)}
	}
	vars := map[string]string{"config": tomlPath, "params": paramsPath, "output_dir": outDir, "trial_dir": job.Dir,
		"trial": strconv.Itoa(job.Number)}
	for k, v := range job.Params {
		if _, taken := vars[k]; !taken {
			vars[k] = formatParam(v)
		}
	}
	pr := &prepared{outputDir: outDir, config: cfg}
	for _, arg := range ts.Command {
		pr.argv = append(pr.argv, ExpandTemplate(arg, vars))
	}
	keys := make([]string, 0, len(ts.Env))
	for k := range ts.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pr.env = []string{"PYTHONUNBUFFERED=1"}
	for _, k := range keys {
		pr.env = append(pr.env, k+"="+ExpandTemplate(ts.Env[k], vars))
	}
	return pr, nil
}

type commandParser struct {
	loss, epoch, sample, success *regexp.Regexp
	pr                           *prepared
	sum                          kohya.LogSummary
	succeeded                    bool
}

var (
	oomLineRE = regexp.MustCompile(`CUDA out of memory|OutOfMemoryError`)
	diskRE    = regexp.MustCompile(`No space left on device`)
)

func (a *commandAdapter) newParser(pr *prepared) lineParser {
	ts := a.pool.cfg.Trainer
	c := &commandParser{pr: pr}
	c.sum.ChildExitCode = -1
	// The regexes were compiled once by CompileCommandRegexes in NewPool's
	// checks; MustCompile cannot fail here for a pool that was built.
	c.loss = compileOrNil(ts.LossRegex)
	c.epoch = compileOrNil(ts.EpochRegex)
	c.sample = compileOrNil(ts.SampleRegex)
	c.success = compileOrNil(ts.SuccessRegex)
	return c
}

func compileOrNil(s string) *regexp.Regexp {
	if s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil
	}
	return re
}

// CheckCommandRegexes compiles the command trainer's regexes and says which
// one is invalid.
func CheckCommandRegexes(ts TrainerSpec) error {
	for name, s := range map[string]string{"loss_regex": ts.LossRegex, "epoch_regex": ts.EpochRegex, "sample_regex": ts.SampleRegex, "success_regex": ts.SuccessRegex} {
		if s == "" {
			continue
		}
		if _, err := regexp.Compile(s); err != nil {
			return fmt.Errorf("trainer.%s: %w", name, err)
		}
	}
	return nil
}

func (c *commandParser) summary() kohya.LogSummary { return c.sum }

func (c *commandParser) feed(line string) ([]Event, Reason, string) {
	var evs []Event
	if c.epoch != nil {
		if m := c.epoch.FindStringSubmatch(line); len(m) > 1 {
			if e, err := strconv.Atoi(m[1]); err == nil {
				ev := Event{Kind: EventEpoch, Epoch: e}
				if len(m) > 2 {
					ev.Epochs, _ = strconv.Atoi(m[2])
				}
				c.sum.Epoch = e
				evs = append(evs, ev)
			}
		}
	}
	if c.loss != nil {
		if m := c.loss.FindStringSubmatch(line); len(m) > 1 {
			ev := Event{Kind: EventProgress, Epoch: c.sum.Epoch}
			for i, name := range c.loss.SubexpNames() {
				switch name {
				case "step":
					ev.Step, _ = strconv.Atoi(m[i])
				case "total":
					ev.Total, _ = strconv.Atoi(m[i])
				}
			}
			lossIdx := 1
			if i := c.loss.SubexpIndex("loss"); i > 0 {
				lossIdx = i
			}
			if f, err := strconv.ParseFloat(strings.TrimSpace(m[lossIdx]), 64); err == nil {
				ev.Loss = f
				c.sum.Step, c.sum.Total = ev.Step, ev.Total
				c.sum.LastLoss = &f
				evs = append(evs, ev)
				if math.IsNaN(f) {
					return evs, ReasonNaN, "loss became NaN: " + line
				}
			}
		}
	}
	if c.sample != nil {
		if m := c.sample.FindStringSubmatch(line); len(m) > 1 {
			p := m[1]
			if !filepath.IsAbs(p) {
				p = filepath.Join(c.pr.outputDir, p)
			}
			if c.pr.seen == nil {
				c.pr.seen = map[string]bool{}
			}
			if !c.pr.seen[p] {
				c.pr.seen[p] = true
				evs = append(evs, Event{Kind: EventSamples, Epoch: c.sum.Epoch, Samples: []Sample{{Path: p, Epoch: c.sum.Epoch}}})
			}
		}
	}
	if c.success != nil && c.success.MatchString(line) {
		c.succeeded = true
		c.sum.ModelSaved = true
	}
	switch {
	case oomLineRE.MatchString(line):
		c.sum.Failure, c.sum.FailureLine = string(ReasonOOM), line
	case diskRE.MatchString(line) && c.sum.Failure == "":
		c.sum.Failure, c.sum.FailureLine = string(ReasonDiskFull), line
	}
	return evs, "", ""
}

// scanSamples globs trainer.sample_glob. A file's epoch is the one in
// progress when it is seen, which the console may be ahead of: with a
// sample_regex the trainer names its samples itself, so the glob only
// catches, at exit, what it never announced.
func (a *commandAdapter) scanSamples(pr *prepared, epoch int) []Sample {
	if a.pool.cfg.Trainer.SampleRegex != "" && !pr.exited {
		return nil
	}
	if pr.seen == nil {
		pr.seen = map[string]bool{}
	}
	var paths []string
	if g := a.pool.cfg.Trainer.SampleGlob; g != "" {
		if !filepath.IsAbs(g) {
			g = filepath.Join(pr.outputDir, g)
		}
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	var out []Sample
	for _, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(pr.outputDir, p)
		}
		if pr.seen[p] {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue
		}
		pr.seen[p] = true
		out = append(out, Sample{Path: p, Epoch: epoch})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (a *commandAdapter) finish(pr *prepared, st *runState, out *Outcome) {
	if st.stopReason != "" {
		out.Reason, out.Detail = st.stopReason, st.stopDetail
		return
	}
	sum := st.parser.summary()
	cp := st.parser.(*commandParser)
	switch {
	case st.exitCode == 0 && (cp.success == nil || cp.succeeded):
		out.OK = true
	case sum.Failure != "":
		out.Reason, out.Detail = Reason(sum.Failure), sum.FailureLine
	case st.exitCode == 0:
		out.Reason, out.Detail = ReasonCrash, "trainer exited 0 but success_regex never matched"
	default:
		out.Reason, out.Detail = ReasonCrash, fmt.Sprintf("trainer exited with status %d", st.exitCode)
	}
}
