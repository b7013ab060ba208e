package kohya

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Prompt is one sample prompt as sd-scripts reads it from --sample_prompts.
// Zero values mean "not given": the trainer's defaults apply (sd-scripts:
// 512×512, 30 steps, scale 7.5, a random seed, --sample_sampler). Index is
// the prompt's position among the file's prompts, the {idx:02d} of sample
// file names.
type Prompt struct {
	Index          int
	Text, Negative string
	Width, Height  int
	Steps          int
	Scale          float64
	Seed           *int64
	Sampler        string
}

var (
	reW  = regexp.MustCompile(`(?i)^w (\d+)`)
	reH  = regexp.MustCompile(`(?i)^h (\d+)`)
	reD  = regexp.MustCompile(`(?i)^d (\d+)`)
	reS  = regexp.MustCompile(`(?i)^s (\d+)`)
	reL  = regexp.MustCompile(`(?i)^l ([\d\.]+)`)
	reN  = regexp.MustCompile(`(?i)^n (.+)`)
	reSS = regexp.MustCompile(`(?i)^ss (.+)`)
)

// ParsePromptLine reads one .txt prompt line as sd-scripts'
// line_to_prompt_dict does: the text before the first " --", then options
// --w --h --d --s --l --n --ss (case-insensitive; others ignored).
func ParsePromptLine(line string) Prompt {
	parts := strings.Split(line, " --")
	p := Prompt{Text: strings.TrimSpace(parts[0])}
	for _, a := range parts[1:] {
		a = strings.TrimSpace(a)
		if m := reSS.FindStringSubmatch(a); m != nil {
			p.Sampler = m[1]
			continue
		}
		if m := reW.FindStringSubmatch(a); m != nil {
			p.Width, _ = strconv.Atoi(m[1])
		} else if m := reH.FindStringSubmatch(a); m != nil {
			p.Height, _ = strconv.Atoi(m[1])
		} else if m := reD.FindStringSubmatch(a); m != nil {
			if v, err := strconv.ParseInt(m[1], 10, 64); err == nil {
				p.Seed = &v
			}
		} else if m := reS.FindStringSubmatch(a); m != nil {
			v, _ := strconv.Atoi(m[1])
			p.Steps = min(1000, max(1, v))
		} else if m := reL.FindStringSubmatch(a); m != nil {
			p.Scale, _ = strconv.ParseFloat(m[1], 64)
		} else if m := reN.FindStringSubmatch(a); m != nil {
			p.Negative = m[1]
		}
	}
	return p
}

// ParsePromptFile reads a --sample_prompts file (.txt, .toml or .json) as
// sd-scripts does (KOHYA.md §c): .txt skips blank lines and lines starting
// with '#'; .toml merges each [[prompt.subset]] with the [prompt] defaults
// (a key in both is an error, as in Python); .json is a list of such tables
// or of .txt-style lines.
func ParsePromptFile(path string) ([]Prompt, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read prompt file: %w", err)
	}
	var out []Prompt
	switch strings.ToLower(filepath.Ext(path)) {
	case ".txt":
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimRight(line, "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, ParsePromptLine(line))
		}
	case ".toml":
		var doc struct {
			Prompt map[string]any `toml:"prompt"`
		}
		if err := toml.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("read prompt file %s: %w", path, err)
		}
		defaults := map[string]any{}
		var subsets []any
		for k, v := range doc.Prompt {
			if k == "subset" {
				subsets, _ = v.([]any)
				continue
			}
			defaults[k] = v
		}
		for i, s := range subsets {
			tbl, ok := s.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("read prompt file %s: subset %d is not a table", path, i)
			}
			merged := map[string]any{}
			for k, v := range defaults {
				merged[k] = v
			}
			for k, v := range tbl {
				if _, dup := merged[k]; dup {
					return nil, fmt.Errorf("read prompt file %s: subset %d repeats key %q of [prompt]", path, i, k)
				}
				merged[k] = v
			}
			p, err := promptFromMap(merged)
			if err != nil {
				return nil, fmt.Errorf("read prompt file %s: subset %d: %w", path, i, err)
			}
			out = append(out, p)
		}
	case ".json":
		var list []any
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("read prompt file %s: %w", path, err)
		}
		for i, e := range list {
			switch x := e.(type) {
			case string:
				out = append(out, ParsePromptLine(x))
			case map[string]any:
				p, err := promptFromMap(x)
				if err != nil {
					return nil, fmt.Errorf("read prompt file %s: entry %d: %w", path, i, err)
				}
				out = append(out, p)
			default:
				return nil, fmt.Errorf("read prompt file %s: entry %d is neither a string nor an object", path, i)
			}
		}
	default:
		return nil, fmt.Errorf("read prompt file %s: extension must be .txt, .toml or .json", path)
	}
	for i := range out {
		out[i].Index = i
	}
	return out, nil
}

func promptFromMap(m map[string]any) (Prompt, error) {
	var p Prompt
	num := func(k string) (float64, bool, error) {
		v, ok := m[k]
		if !ok || v == nil {
			return 0, false, nil
		}
		switch x := v.(type) {
		case int64:
			return float64(x), true, nil
		case float64:
			return x, true, nil
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s: %q is not a number", k, x)
			}
			return f, true, nil
		}
		return 0, false, fmt.Errorf("%s: unsupported type %T", k, v)
	}
	str := func(k string) string {
		if s, ok := m[k].(string); ok {
			return s
		}
		return ""
	}
	p.Text = str("prompt")
	p.Negative = str("negative_prompt")
	p.Sampler = str("sample_sampler")
	for _, f := range []struct {
		key string
		set func(float64)
	}{
		{"width", func(v float64) { p.Width = int(v) }},
		{"height", func(v float64) { p.Height = int(v) }},
		{"sample_steps", func(v float64) { p.Steps = min(1000, max(1, int(v))) }},
		{"scale", func(v float64) { p.Scale = v }},
		{"seed", func(v float64) { s := int64(v); p.Seed = &s }},
	} {
		v, ok, err := num(f.key)
		if err != nil {
			return Prompt{}, err
		}
		if ok {
			f.set(v)
		}
	}
	return p, nil
}

// FormatPromptLine writes p as a .txt prompt line that ParsePromptLine (and
// sd-scripts) read back to the same values; zero fields are left out.
func FormatPromptLine(p Prompt) string {
	var b strings.Builder
	b.WriteString(p.Text)
	if p.Negative != "" {
		b.WriteString(" --n " + p.Negative)
	}
	if p.Width != 0 {
		fmt.Fprintf(&b, " --w %d", p.Width)
	}
	if p.Height != 0 {
		fmt.Fprintf(&b, " --h %d", p.Height)
	}
	if p.Seed != nil {
		fmt.Fprintf(&b, " --d %d", *p.Seed)
	}
	if p.Steps != 0 {
		fmt.Fprintf(&b, " --s %d", p.Steps)
	}
	if p.Scale != 0 {
		b.WriteString(" --l " + strconv.FormatFloat(p.Scale, 'f', -1, 64))
	}
	if p.Sampler != "" {
		b.WriteString(" --ss " + p.Sampler)
	}
	return b.String()
}

// SampleName is the information in a sample image's file name.
type SampleName struct {
	OutputName  string
	Epoch, Step int
	// ByStep: the name carries a step ({step:06d}) instead of e{epoch:06d}.
	ByStep      bool
	PromptIndex int
	Timestamp   string // YYYYmmddHHMMSS
	Seed        int64
	HasSeed     bool
}

// SampleFileName returns sd-scripts' sample file name (no directory):
// [{output_name}_]e{epoch:06d}|{step:06d}_{idx:02d}_{timestamp}[_{seed}].png.
func SampleFileName(n SampleName) string {
	var b strings.Builder
	if n.OutputName != "" {
		b.WriteString(n.OutputName + "_")
	}
	if n.ByStep {
		fmt.Fprintf(&b, "%06d", n.Step)
	} else {
		fmt.Fprintf(&b, "e%06d", n.Epoch)
	}
	fmt.Fprintf(&b, "_%02d_%s", n.PromptIndex, n.Timestamp)
	if n.HasSeed {
		fmt.Fprintf(&b, "_%d", n.Seed)
	}
	b.WriteString(".png")
	return b.String()
}

var sampleTail = regexp.MustCompile(`^(e?)(\d{6,})_(\d{2,})_(\d{14})(?:_(\d+))?\.png$`)

// ParseSampleName reads a sample file name written for outputName (the
// base name only); ok is false when file is not such a sample.
func ParseSampleName(file, outputName string) (SampleName, bool) {
	file = filepath.Base(file)
	rest := file
	if outputName != "" {
		if !strings.HasPrefix(file, outputName+"_") {
			return SampleName{}, false
		}
		rest = file[len(outputName)+1:]
	}
	m := sampleTail.FindStringSubmatch(rest)
	if m == nil {
		return SampleName{}, false
	}
	n := SampleName{OutputName: outputName, Timestamp: m[4]}
	num, err := strconv.Atoi(m[2])
	if err != nil {
		return SampleName{}, false
	}
	if m[1] == "e" {
		n.Epoch = num
	} else {
		n.ByStep, n.Step = true, num
	}
	if n.PromptIndex, err = strconv.Atoi(m[3]); err != nil {
		return SampleName{}, false
	}
	if m[5] != "" {
		if n.Seed, err = strconv.ParseInt(m[5], 10, 64); err != nil {
			return SampleName{}, false
		}
		n.HasSeed = true
	}
	return n, true
}

var prefixedSample = regexp.MustCompile(`^(.+?)_(e?\d{6,}_\d{2,}_\d{14}(?:_\d+)?\.png)$`)

// SampleOutputName returns the output_name prefix of a sample file name
// ("my_lora" of my_lora_e000002_00_20240101120000_7.png); ok is false for
// a name with no prefix or no sample at all.
func SampleOutputName(file string) (string, bool) {
	m := prefixedSample.FindStringSubmatch(filepath.Base(file))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// CheckpointName returns the per-epoch checkpoint file name
// "{output_name}-{epoch:06d}.{ext}" ("epoch-{epoch:06d}.{ext}" when
// outputName is empty); ext may be given with or without its dot.
func CheckpointName(outputName string, epoch int, ext string) string {
	if outputName == "" {
		outputName = "epoch"
	}
	return fmt.Sprintf("%s-%06d.%s", outputName, epoch, strings.TrimPrefix(ext, "."))
}

// StepCheckpointName returns the per-step checkpoint file name
// "{output_name}-step{step:08d}.{ext}" ("at-step{step:08d}.{ext}" when
// outputName is empty).
func StepCheckpointName(outputName string, step int, ext string) string {
	if outputName == "" {
		return fmt.Sprintf("at-step%08d.%s", step, strings.TrimPrefix(ext, "."))
	}
	return fmt.Sprintf("%s-step%08d.%s", outputName, step, strings.TrimPrefix(ext, "."))
}

var stepCkpt = regexp.MustCompile(`-step(\d{8,})\.[A-Za-z0-9]+$`)

// CheckpointStep is the step a per-step checkpoint's file name carries
// ("…-step00000500.safetensors" → 500); ok is false for other names
// (epoch checkpoints, the final model).
func CheckpointStep(path string) (step int, ok bool) {
	m := stepCkpt.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}
