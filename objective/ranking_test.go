package objective

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"testing"
)

// TestCombinedRankingOnCraftedTrials checks the combination on crafted
// trials whose true order is known: prompt 0 is the subject prompt
// (reference: subject 0), prompt 1 a class prompt (reference: the base
// model's class image, subject 2). A well-trained LoRA draws the subject and
// keeps the class; an under-trained one still draws the class for the
// subject prompt; a diverged one writes black images; an over-trained one
// collapses to one fried image and drifts the class toward the subject.
func TestCombinedRankingOnCraftedTrials(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "refs", "0000.png"), scene(96, 96, 0, 0, 0))
	writePNG(t, filepath.Join(dir, "refs", "0001.png"), scene(96, 96, 2, 0, 0))
	spec := Spec{Direction: Maximize, Scorers: []ScorerSpec{
		{Kind: KindHealth, Weight: 1},
		{Kind: KindReference, References: "refs", Prompts: []int{0}, Weight: 2},
		{Kind: KindPreservation, References: "refs", Prompts: []int{1}, Weight: 1},
	}}
	o, err := New(spec, dir)
	if err != nil {
		t.Fatal(err)
	}
	black := uniform(64, 64, color.NRGBA{0, 0, 0, 255})
	trials := []struct {
		name   string
		render func(prompt int, seed int) image.Image
	}{
		{"well-trained", func(p, s int) image.Image { return scene(64, 64, []int{0, 2}[p], 3*s, 2*s) }},
		{"under-trained", func(p, s int) image.Image { return scene(64, 64, 2, 3*s, 2*s) }},
		{"diverged", func(p, s int) image.Image { return black }},
		{"over-trained", func(p, s int) image.Image { return fried(scene(64, 64, 0, 0, 0)) }},
	}
	for run := 0; run < 3; run++ { // three sample seeds per trial
		var values []float64
		for ti, tr := range trials {
			in := EpochInput{TrialNumber: ti, Epoch: 4}
			for p := 0; p < 2; p++ {
				for s := 0; s < 2; s++ {
					seed := run*7 + s
					path := writePNG(t, filepath.Join(dir, fmt.Sprintf("run%d", run), tr.name, fmt.Sprintf("p%d_s%d.png", p, seed)), tr.render(p, seed%4))
					in.Samples = append(in.Samples, Sample{Path: path, PromptIndex: p, Seed: int64(seed), Epoch: 4})
				}
			}
			res, err := o.ScoreEpoch(context.Background(), in)
			if err != nil || res.Unscorable {
				t.Fatalf("%s: %v %s", tr.name, err, res.Reason)
			}
			t.Logf("run %d %-13s value %.3f (health %.2f reference %.2f preservation %.2f)", run, tr.name, res.Value,
				res.Components[0].Raw, res.Components[1].Raw, res.Components[2].Raw)
			values = append(values, res.Value)
		}
		for i := 1; i < len(values); i++ {
			if values[0] <= values[i]+0.05 {
				t.Errorf("run %d: well-trained %.3f not clearly above %s %.3f", run, values[0], trials[i].name, values[i])
			}
		}
	}
}
