package objective

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// Rescoring a stored epoch under a changed objective gives what scoring it
// afresh would: reused components take their new weights, changed or new
// scorers score the samples, and a changed loss scorer without the losses
// leaves the epoch unscorable.
func TestRescore(t *testing.T) {
	dir, good := epochFixture(t)
	ctx := context.Background()
	health := ScorerSpec{Kind: KindHealth}
	old := Spec{Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 3}}}
	oldObj, err := New(old, dir)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := oldObj.ScoreEpoch(ctx, good)
	if err != nil || stored.Unscorable {
		t.Fatalf("score: %+v %v", stored, err)
	}
	noLosses := good
	noLosses.Losses = nil
	for _, tc := range []struct {
		name       string
		cur        Spec
		in         EpochInput // what the rescore sees
		unscorable string
	}{
		{"weight", Spec{Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 1}}}, noLosses, ""},
		{"direction", Spec{Direction: Minimize, Scorers: old.Scorers}, noLosses, ""},
		{"added sample scorer", Spec{Scorers: append([]ScorerSpec{{Kind: KindReference, References: "refs"}}, old.Scorers...)}, noLosses, ""},
		{"removed scorer", Spec{Scorers: []ScorerSpec{health}}, noLosses, ""},
		{"changed loss stat, losses there", Spec{Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 3, Stat: StatMin}}}, good, ""},
		{"changed loss stat, no losses", Spec{Scorers: []ScorerSpec{health, {Kind: KindLoss, Weight: 3, Stat: StatMin}}}, noLosses, "no training loss"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := New(tc.cur, dir)
			if err != nil {
				t.Fatal(err)
			}
			reuse := Reusable(old, tc.cur, ReferenceDigests(old, dir), ReferenceDigests(tc.cur, dir))
			got, err := cur.Rescore(ctx, tc.in, stored.Components, reuse)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unscorable != "" {
				if !got.Unscorable || !strings.Contains(got.Reason, tc.unscorable) {
					t.Errorf("got %+v, want unscorable with %q", got, tc.unscorable)
				}
				return
			}
			want, err := cur.ScoreEpoch(ctx, good)
			if err != nil || want.Unscorable {
				t.Fatalf("fresh score: %+v %v", want, err)
			}
			if got.Unscorable || math.Abs(got.Value-want.Value) > 1e-12 || len(got.Components) != len(want.Components) {
				t.Errorf("rescored %+v, scored afresh %+v", got, want)
			}
			for i := range got.Components {
				if got.Components[i].Name != want.Components[i].Name || got.Components[i].Weight != want.Components[i].Weight {
					t.Errorf("component %d: %+v, want %+v", i, got.Components[i], want.Components[i])
				}
			}
		})
	}
}

func TestDiffObjectives(t *testing.T) {
	dir, _ := epochFixture(t)
	old := Spec{Direction: Maximize, Scorers: []ScorerSpec{{Kind: KindReference, References: "refs"}, {Kind: KindHealth, Weight: 0.5}, {Kind: KindLoss}}}
	cur := Spec{Direction: Minimize, Scorers: []ScorerSpec{{Kind: KindReference, References: "refs", Mode: ModeSet}, {Kind: KindHealth, Weight: 2}, {Kind: KindDiversity}}}
	refs := ReferenceDigests(old, dir)
	got := strings.Join(DiffObjectives(old, cur, refs, refs), "\n")
	for _, want := range []string{"direction: maximize → minimize", "scorer health: weight 0.5 → 2", `scorer reference: mode (unset) → "set"`,
		"removed scorer loss", "added scorer diversity"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if d := DiffObjectives(old, old, refs, refs); len(d) != 0 {
		t.Errorf("same objective differs: %v", d)
	}
	if r := Reusable(old, cur, refs, refs); !r["health"] || r["reference"] || r["diversity"] {
		t.Errorf("reusable %v: want health only (a weight change keeps the component)", r)
	}

	// The same folder with other images is a change, named as such.
	writePNG(t, filepath.Join(dir, "refs", "0000.png"), scene(64, 64, 1, 3, 3))
	now := ReferenceDigests(old, dir)
	if now["reference"] == refs["reference"] {
		t.Fatal("reference digest unchanged after an image changed")
	}
	if d := strings.Join(DiffObjectives(old, old, refs, now), "\n"); !strings.Contains(d, "scorer reference: reference images changed") {
		t.Errorf("diff %q does not name the changed reference images", d)
	}
	if r := Reusable(old, old, refs, now); r["reference"] || !r["health"] {
		t.Errorf("reusable after an image change %v", r)
	}
}
