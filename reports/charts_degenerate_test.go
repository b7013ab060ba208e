package reports

import (
	"testing"

	"gonum.org/v1/plot/plotter"
)

// A loss or LR curve that never changes (constant schedule, a trainer that
// prints one loss) must render on a linear axis, not panic in gonum's log
// ticks and take the whole report down.
func TestCurveChartOneValueRange(t *testing.T) {
	cases := []struct {
		name string
		ys   []float64
	}{
		{"constant", []float64{0.1, 0.1, 0.1}},
		{"single point", []float64{0.5}},
		{"zero", []float64{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := &Trial{}
			tr.Number = 1
			pick := func(*Trial) plotter.XYs {
				xys := make(plotter.XYs, len(tc.ys))
				for i, y := range tc.ys {
					xys[i] = plotter.XY{X: float64(i + 1), Y: y}
				}
				return xys
			}
			c, err := curveChart("loss", "loss", []*Trial{tr}, pick, true)
			if err != nil || c == nil || c.SVG == "" {
				t.Fatalf("chart = %v, err = %v; want an SVG", c, err)
			}
		})
	}
}
