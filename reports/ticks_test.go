package reports

import (
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

func TestCleanTicks(t *testing.T) {
	sty := plot.New().X.Tick.Label
	half := xLen(sliceW)
	cases := []struct {
		name     string
		lo, hi   float64
		log, int bool
		want     string // labels, space-separated
	}{
		{name: "narrow log axis", lo: 9e-5, hi: 1.1e-4, log: true, want: "9e-5 9.5e-5 1e-4 1.05e-4 1.1e-4"},
		{name: "decades", lo: 1e-5, hi: 1e-3, log: true, want: "1e-5 1e-4 1e-3"},
		{name: "log int under a decade", lo: 2, hi: 16, log: true, int: true, want: "2 3 5 10"},
		{name: "learning rates", lo: 0, hi: 1e-3, want: "0 2e-4 4e-4 6e-4 8e-4 1e-3"},
		{name: "values", lo: 0.72, hi: 0.94, want: "0.75 0.80 0.85 0.90"},
		{name: "steps", lo: 1, hi: 7, int: true, want: "2 4 6"},
		{name: "one decade", lo: 1e-4, hi: 1e-3, log: true, want: "1e-4 2e-4 5e-4 1e-3"},
		{name: "one value", lo: 1.1, hi: 1.1, want: "1.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := cleanTicks{log: tc.log, integer: tc.int, length: half, style: sty}
			var got []string
			for _, tk := range labelled(m.Ticks(tc.lo, tc.hi)) {
				got = append(got, tk.Label)
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("labels %q, want %q", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestFitLabels(t *testing.T) {
	sty := plot.New().X.Tick.Label
	got, cut := fitLabels([]string{"cosine", "cosine_with_restarts", "constant_with_warmup"}, 20*vg.Millimeter, sty)
	if got[0] != "cosine" || !strings.Contains(got[1], "\n") || cut {
		t.Errorf("fitted %q (cut %v), want short names kept and long ones wrapped", got, cut)
	}
	got, cut = fitLabels([]string{"DAdaptAdaptation"}, 8*vg.Millimeter, sty)
	if !cut || !strings.HasSuffix(got[0], "…") || sty.Width(got[0]) > 8*vg.Millimeter {
		t.Errorf("fitted %q (cut %v), want it cut short with an ellipsis", got, cut)
	}
}
