package objective

import (
	"context"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "refs", "0.png"), scene(16, 16, 0, 0, 0))
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec Spec
		want []string // substrings, one per expected error
	}{
		{"valid", Spec{Direction: Maximize, Scorers: []ScorerSpec{{Kind: KindHealth}, {Kind: KindReference, References: "refs", Mode: ModeSet, Weight: 2}}}, nil},
		{"default direction", Spec{Scorers: []ScorerSpec{{Kind: KindLoss, Stat: StatMin}}}, nil},
		{"bad direction", Spec{Direction: "maximise", Scorers: []ScorerSpec{{Kind: KindHealth}}}, []string{`did you mean "maximize"`}},
		{"no scorers", Spec{}, []string{"objective.scorers: empty"}},
		{"unknown kind", Spec{Scorers: []ScorerSpec{{Kind: "helth"}}}, []string{`unknown scorer "helth"; did you mean "health"`}},
		{"negative weight", Spec{Scorers: []ScorerSpec{{Kind: KindHealth, Weight: -1}}}, []string{"scorers[0].weight"}},
		{"NaN weight", Spec{Scorers: []ScorerSpec{{Kind: KindHealth, Weight: math.NaN()}}}, []string{"scorers[0].weight"}},
		{"reference without folder", Spec{Scorers: []ScorerSpec{{Kind: KindReference}}}, []string{"needs a folder"}},
		{"missing reference folder", Spec{Scorers: []ScorerSpec{{Kind: KindPreservation, References: "nope"}}}, []string{"scorers[0].references: reference folder: stat"}},
		{"empty reference folder", Spec{Scorers: []ScorerSpec{{Kind: KindReference, References: "empty"}}}, []string{"holds no PNG"}},
		{"bad mode", Spec{Scorers: []ScorerSpec{{Kind: KindReference, References: "refs", Mode: "pair"}}}, []string{`did you mean "paired"`}},
		{"bad stat", Spec{Scorers: []ScorerSpec{{Kind: KindLoss, Stat: "avg"}}}, []string{"scorers[0].stat"}},
		{"command without run", Spec{Scorers: []ScorerSpec{{Kind: KindCommand, Name: "clip"}}}, []string{"scorers[0] (clip).run"}},
		{"command bad timeout", Spec{Scorers: []ScorerSpec{{Kind: KindCommand, Run: []string{"x"}, Timeout: "soon"}}}, []string{"timeout"}},
		{"only ratings", Spec{Scorers: []ScorerSpec{{Kind: KindRating}}}, []string{"only rating scorers"}},
		{"two errors", Spec{Direction: "up", Scorers: []ScorerSpec{{Kind: "clip"}}}, []string{"direction", "unknown scorer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := Validate(tt.spec, dir)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d", len(errs), errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q does not contain %q", errs[i], w)
				}
			}
			if _, err := New(tt.spec, dir); (err != nil) != (len(tt.want) > 0) {
				t.Errorf("New error %v, want error=%v", err, len(tt.want) > 0)
			}
		})
	}
}

// epochFixture writes samples of two prompts × two seeds and references for
// prompts 0 and 1 (subject 0 and 1).
func epochFixture(t *testing.T) (dir string, in EpochInput) {
	dir = t.TempDir()
	writePNG(t, filepath.Join(dir, "refs", "0000.png"), scene(64, 64, 0, 0, 0))
	writePNG(t, filepath.Join(dir, "refs", "prompt_1_class.png"), scene(64, 64, 1, 0, 0))
	in = EpochInput{TrialNumber: 1, Epoch: 3, Fraction: 0.5, Losses: []float64{0.3, 0.2, 0.1, 0.1}}
	for p := 0; p < 2; p++ {
		for s := 0; s < 2; s++ {
			path := writePNG(t, filepath.Join(dir, "sample", "x_e000003_0"+string(rune('0'+2*p+s))+".png"), scene(48, 48, p, 6*s, 3*s))
			in.Samples = append(in.Samples, Sample{Path: path, PromptIndex: p, Seed: int64(s + 1), Epoch: 3})
		}
	}
	return dir, in
}

func TestScoreEpoch(t *testing.T) {
	dir, good := epochFixture(t)
	swapped := good
	swapped.Samples = append([]Sample(nil), good.Samples...)
	for i := range swapped.Samples {
		swapped.Samples[i].PromptIndex = 1 - swapped.Samples[i].PromptIndex
	}
	badPNG := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(badPNG, []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	withSample := func(s Sample) EpochInput {
		in := good
		in.Samples = append(append([]Sample(nil), good.Samples...), s)
		return in
	}
	blackPath := writePNG(t, filepath.Join(dir, "black.png"), uniform(48, 48, color.NRGBA{0, 0, 0, 255}))
	nanLoss := good
	nanLoss.Losses = []float64{0.2, math.NaN()}
	withVal := good
	withVal.ValidationLoss = ptr(0.1)

	health := ScorerSpec{Kind: KindHealth}
	paired := ScorerSpec{Kind: KindReference, References: "refs"}
	tests := []struct {
		name      string
		spec      Spec
		in        EpochInput
		wantMin   float64 // Value bounds when scorable
		wantMax   float64
		unscoreOK string // substring of Reason; "" = scorable
	}{
		{"health all usable", Spec{Scorers: []ScorerSpec{health}}, good, 1, 1, ""},
		{"health with black sample", Spec{Scorers: []ScorerSpec{health}}, withSample(Sample{Path: blackPath, PromptIndex: 2}), 0.8, 0.8, ""},
		{"paired references match", Spec{Scorers: []ScorerSpec{paired}}, good, 0.8, 1, ""},
		{"paired references swapped", Spec{Scorers: []ScorerSpec{paired}}, swapped, 0, 0.6, ""},
		{"set mode finds the match", Spec{Scorers: []ScorerSpec{{Kind: KindReference, References: "refs", Mode: ModeSet}}}, swapped, 0.8, 1, ""},
		{"preservation on class prompt only", Spec{Scorers: []ScorerSpec{{Kind: KindPreservation, References: "refs", Prompts: []int{1}}}}, good, 0.8, 1, ""},
		{"diversity", Spec{Scorers: []ScorerSpec{{Kind: KindDiversity}}}, good, 0.001, 0.3, ""},
		{"loss final", Spec{Scorers: []ScorerSpec{{Kind: KindLoss}}}, good, 0.5, 0.5, ""},
		{"loss min with scale", Spec{Scorers: []ScorerSpec{{Kind: KindLoss, Stat: StatMin, Scale: 0.3}}}, good, 0.75, 0.75, ""},
		{"loss minimize direction", Spec{Direction: Minimize, Scorers: []ScorerSpec{{Kind: KindLoss}}}, good, 0.5, 0.5, ""},
		{"validation", Spec{Scorers: []ScorerSpec{{Kind: KindValidation}}}, withVal, 0.5, 0.5, ""},
		{"weighted combination", Spec{Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 3}}}, good, 0.625, 0.625, ""},
		{"minimize flips", Spec{Direction: Minimize, Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 3}}}, good, 0.375, 0.375, ""},
		{"no samples", Spec{Scorers: []ScorerSpec{health}}, EpochInput{Epoch: 3}, 0, 0, "no sample images for epoch 3"},
		{"missing sample file", Spec{Scorers: []ScorerSpec{health}}, withSample(Sample{Path: filepath.Join(dir, "gone.png")}), 0, 0, "gone.png"},
		{"undecodable sample", Spec{Scorers: []ScorerSpec{health}}, withSample(Sample{Path: badPNG}), 0, 0, "decode image"},
		{"no paired reference", Spec{Scorers: []ScorerSpec{{Kind: KindReference, References: "refs", Prompts: []int{5}}}}, withSample(Sample{Path: good.Samples[0].Path, PromptIndex: 5}), 0, 0, "no sample of this epoch has a reference"},
		{"diversity with one seed", Spec{Scorers: []ScorerSpec{{Kind: KindDiversity}}}, EpochInput{Samples: good.Samples[:1]}, 0, 0, "at least two seeds"},
		{"nan loss", Spec{Scorers: []ScorerSpec{{Kind: KindLoss}}}, nanLoss, 0, 0, "diverged"},
		{"no validation loss", Spec{Scorers: []ScorerSpec{{Kind: KindValidation}}}, good, 0, 0, "validation_split"},
		{"one bad component spoils the epoch", Spec{Scorers: []ScorerSpec{health, {Kind: KindValidation}}}, good, 0, 0, "validation: no validation loss"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(tt.spec, dir)
			if err != nil {
				t.Fatal(err)
			}
			res, err := o.ScoreEpoch(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.unscoreOK != "" {
				if !res.Unscorable || !strings.Contains(res.Reason, tt.unscoreOK) {
					t.Fatalf("unscorable=%v reason %q, want reason containing %q", res.Unscorable, res.Reason, tt.unscoreOK)
				}
				return
			}
			if res.Unscorable {
				t.Fatalf("unscorable: %s", res.Reason)
			}
			if res.Value < tt.wantMin-1e-9 || res.Value > tt.wantMax+1e-9 {
				t.Errorf("value %.4f, want in [%.3f, %.3f]; components %+v", res.Value, tt.wantMin, tt.wantMax, res.Components)
			}
			if len(res.Components) != len(tt.spec.Scorers) {
				t.Errorf("%d components, want %d", len(res.Components), len(tt.spec.Scorers))
			}
		})
	}
}

func TestNeedsSamplesAndNames(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		spec  Spec
		needs bool
		names []string
	}{
		{"loss only", Spec{Scorers: []ScorerSpec{{Kind: KindLoss}, {Kind: KindValidation}, {Kind: KindRating}}}, false, []string{"loss", "validation", "rating"}},
		{"health", Spec{Scorers: []ScorerSpec{{Kind: KindLoss}, {Kind: KindHealth}}}, true, []string{"loss", "health"}},
		{"duplicate names", Spec{Scorers: []ScorerSpec{{Kind: KindLoss}, {Kind: KindLoss, Stat: StatMin}}}, false, []string{"loss#1", "loss#2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(tt.spec, dir)
			if err != nil {
				t.Fatal(err)
			}
			if o.NeedsSamples() != tt.needs {
				t.Errorf("NeedsSamples %v, want %v", o.NeedsSamples(), tt.needs)
			}
			if o.Direction() != Maximize {
				t.Errorf("Direction %q, want maximize by default", o.Direction())
			}
			for i, s := range o.scorers {
				if s.name != tt.names[i] {
					t.Errorf("scorer %d named %q, want %q", i, s.name, tt.names[i])
				}
			}
		})
	}
}

func TestParseRefIndex(t *testing.T) {
	tests := []struct {
		stem string
		want int
	}{
		{"3", 3}, {"0003", 3}, {"p3", 3}, {"prompt_03", 3}, {"Prompt-12_cat", 12}, {"07_cat", 7}, {"cat", -1}, {"img3", -1},
	}
	for _, tt := range tests {
		t.Run(tt.stem, func(t *testing.T) {
			if got := parseRefIndex(tt.stem); got != tt.want {
				t.Errorf("parseRefIndex(%q) = %d, want %d", tt.stem, got, tt.want)
			}
		})
	}
}
