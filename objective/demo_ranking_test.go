package objective_test

import (
	"bytes"
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner/builtin"
)

// trainDemo trains the built-in trainer on the demo dataset with overrides
// and returns the samples of its last sampled epoch, as the sweep would
// score them.
func trainDemo(t *testing.T, demo string, overrides ...string) []objective.Sample {
	t.Helper()
	out := t.TempDir()
	args := append([]string{"--config_file", filepath.Join(demo, "base.toml"), "--output_dir", out, "--output_name", "demo"}, overrides...)
	var stdout, stderr bytes.Buffer
	if code := builtin.Main(args, &stdout, &stderr); code != 0 {
		t.Fatalf("builtin trainer exited %d:\n%s", code, stderr.String())
	}
	prompts, err := kohya.ParsePromptFile(filepath.Join(demo, "prompts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(out, "sample", "*.png"))
	if err != nil {
		t.Fatal(err)
	}
	last := -1
	byEpoch := map[int][]objective.Sample{}
	for _, f := range files {
		n, ok := kohya.ParseSampleName(filepath.Base(f), "demo")
		if !ok || n.ByStep {
			continue
		}
		s := objective.Sample{Path: f, PromptIndex: n.PromptIndex, Seed: n.Seed, Epoch: n.Epoch}
		if n.PromptIndex < len(prompts) {
			s.Prompt = prompts[n.PromptIndex].Text
		}
		byEpoch[n.Epoch] = append(byEpoch[n.Epoch], s)
		last = max(last, n.Epoch)
	}
	if last < 1 {
		t.Fatalf("no epoch samples written in %s", out)
	}
	ss := byEpoch[last]
	sort.Slice(ss, func(i, j int) bool { return ss[i].PromptIndex < ss[j].PromptIndex })
	return ss
}

// TestDemoObjectiveRanksTrainingRegimes is the objective's proof on real
// trainer output: across seeds, the combined objective (reference
// similarity + health) ranks a well-trained LoRA above an under-trained
// one, a diverged (NaN) one and an over-trained one.
func TestDemoObjectiveRanksTrainingRegimes(t *testing.T) {
	if testing.Short() {
		t.Skip("trains twelve demo LoRAs")
	}
	demo := t.TempDir()
	if err := builtin.InitDemo(demo, builtin.DemoOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, err := objective.New(objective.Spec{
		Direction: "maximize",
		Scorers: []objective.ScorerSpec{
			{Kind: "reference", References: filepath.Join(demo, "references"), Weight: 1},
			{Kind: "health", Weight: 0.5},
		},
	}, demo)
	if err != nil {
		t.Fatal(err)
	}
	regimes := []struct {
		name string
		args []string
	}{
		{"well-trained", []string{"--learning_rate", "1e-3", "--max_train_epochs", "8"}},
		{"under-trained", []string{"--learning_rate", "1e-5", "--max_train_epochs", "2", "--sample_every_n_epochs", "1"}},
		{"diverged", []string{"--learning_rate", "3", "--max_train_epochs", "4"}},
		{"over-trained", []string{"--learning_rate", "1e-3", "--max_train_epochs", "40", "--sample_every_n_epochs", "40", "--lr_scheduler", "constant"}},
	}
	for _, seed := range []int{1, 2, 3} {
		scores := map[string]float64{}
		for _, r := range regimes {
			args := append(append([]string(nil), r.args...), "--seed", strconv.Itoa(seed))
			samples := trainDemo(t, demo, args...)
			res, err := obj.ScoreEpoch(context.Background(), objective.EpochInput{Epoch: samples[0].Epoch, Fraction: 1, Samples: samples})
			if err != nil {
				t.Fatal(err)
			}
			v := res.Value
			if res.Unscorable {
				// A diverged trial's samples may be undecodable or missing:
				// unscorable ranks below every scored trial.
				v = -1
			}
			scores[r.name] = v
		}
		t.Logf("seed %d: %v", seed, scores)
		for _, other := range []string{"under-trained", "diverged", "over-trained"} {
			if scores["well-trained"] <= scores[other] {
				t.Errorf("seed %d: well-trained %.4f does not beat %s %.4f", seed, scores["well-trained"], other, scores[other])
			}
		}
	}
}
