package prune_test

import (
	"math"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/prune"
)

// history is a trial's intermediate values by step and its final state.
type history struct {
	steps map[int]float64
	state goptuna.TrialState
}

// newStudy stores finished trials with their intermediate values and returns
// the study and the ID of a new RUNNING trial.
func newStudy(t *testing.T, dir goptuna.StudyDirection, done []history) (*goptuna.Study, int) {
	t.Helper()
	study, err := goptuna.CreateStudy("p", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionDirection(dir), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range done {
		id, _ := study.Storage.CreateNewTrial(study.ID)
		for s, v := range h.steps {
			if err := study.Storage.SetTrialIntermediateValue(id, s, v); err != nil {
				t.Fatal(err)
			}
		}
		_ = study.Storage.SetTrialValue(id, 0)
		if err := study.Storage.SetTrialState(id, h.state); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := study.Storage.CreateNewTrial(study.ID)
	return study, id
}

func complete(steps map[int]float64) history {
	return history{steps: steps, state: goptuna.TrialStateComplete}
}

func TestStep(t *testing.T) {
	tests := []struct {
		name string
		f    float64
		want int
	}{
		{"a third", 1.0 / 3, 333}, {"whole", 1, 1000}, {"past the end", 1.2, 1000}, {"negative", -0.1, 0}, {"NaN", math.NaN(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := prune.Step(tc.f); got != tc.want {
				t.Errorf("Step(%g) = %d, want %d", tc.f, got, tc.want)
			}
		})
	}
}

// Five finished trials with 4 epochs (steps 250…1000) and values 1..5 at
// step 250; the running trial has 3 epochs (steps 333, 667, 1000), so its
// steps never equal theirs.
func medianHistory() []history {
	var hs []history
	for i := 1; i <= 5; i++ {
		v := float64(i)
		hs = append(hs, complete(map[int]float64{250: v, 500: v - 0.5, 750: v - 0.6, 1000: v - 0.7}))
	}
	return hs
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name  string
		dir   goptuna.StudyDirection
		opts  prune.MedianOptions
		steps map[int]float64
		want  bool
	}{
		// Others' best by step 333 (their step 250): 1..5, median 3.
		{"worse than the median at a step no one else reported", goptuna.StudyDirectionMinimize, prune.MedianOptions{}, map[int]float64{333: 3.5}, true},
		{"better than the median", goptuna.StudyDirectionMinimize, prune.MedianOptions{}, map[int]float64{333: 2.5}, false},
		{"best so far counts, not the last value", goptuna.StudyDirectionMinimize, prune.MedianOptions{}, map[int]float64{333: 2, 667: 9}, false},
		{"within warm-up fraction", goptuna.StudyDirectionMinimize, prune.MedianOptions{WarmupFraction: 0.4}, map[int]float64{333: 3.5}, false},
		{"startup trials not reached", goptuna.StudyDirectionMinimize, prune.MedianOptions{StartupTrials: 6}, map[int]float64{333: 3.5}, false},
		{"maximize: low values are bad", goptuna.StudyDirectionMaximize, prune.MedianOptions{}, map[int]float64{333: 2.5}, true},
		{"NaN prunes", goptuna.StudyDirectionMinimize, prune.MedianOptions{}, map[int]float64{333: math.NaN()}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			study, id := newStudy(t, tc.dir, medianHistory())
			var got bool
			var err error
			for _, s := range []int{333, 667} {
				if v, ok := tc.steps[s]; ok {
					got, err = prune.Report(study, prune.NewMedian(tc.opts), id, s, v)
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			if got != tc.want {
				t.Errorf("prune = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReportWithoutPrunerStoresValue(t *testing.T) {
	study, id := newStudy(t, goptuna.StudyDirectionMinimize, nil)
	stop, err := prune.Report(study, nil, id, 500, 0.25)
	if err != nil || stop {
		t.Fatalf("Report = %v, %v", stop, err)
	}
	ft, _ := study.Storage.GetTrial(id)
	if ft.IntermediateValues[500] != 0.25 {
		t.Errorf("intermediate values %v, want 500: 0.25", ft.IntermediateValues)
	}
}

func TestBestKeepsBestEpoch(t *testing.T) {
	ft := goptuna.FrozenTrial{IntermediateValues: map[int]float64{250: 0.4, 500: 0.7, 750: math.NaN(), 1000: 0.5}}
	tests := []struct {
		name string
		dir  goptuna.StudyDirection
		v    float64
		step int
	}{
		{"maximize", goptuna.StudyDirectionMaximize, 0.7, 500},
		{"minimize", goptuna.StudyDirectionMinimize, 0.4, 250},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, s, ok := prune.Best(ft, tc.dir)
			if !ok || v != tc.v || s != tc.step {
				t.Errorf("Best = %g at %d (%v), want %g at %d", v, s, ok, tc.v, tc.step)
			}
		})
	}
}

func TestSuccessiveHalvingRungs(t *testing.T) {
	sh := prune.NewSuccessiveHalving(prune.HalvingOptions{ReductionFactor: 3})
	got := sh.Rungs()
	want := []int{111, 333}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("rungs %v, want %v", got, want)
	}
}

func TestSuccessiveHalving(t *testing.T) {
	// Six trials reached rung 0 (step 111) with values 1..6 (minimize):
	// top 1/3 are 1 and 2.
	var done []history
	for i := 1; i <= 6; i++ {
		done = append(done, history{steps: map[int]float64{100: float64(i) + 1, 200: float64(i)}, state: goptuna.TrialStatePruned})
	}
	tests := []struct {
		name   string
		report [][2]float64 // step, value
		want   []bool       // decision after each report
	}{
		{"promoted within the top third", [][2]float64{{125, 1.5}}, []bool{false}},
		{"stopped outside the top third", [][2]float64{{125, 3}}, []bool{true}},
		{"rung value not overwritten by later reports", [][2]float64{{125, 1.5}, {250, 9}, {300, 9}}, []bool{false, false, false}},
		{"decided only when crossing a rung", [][2]float64{{50, 9}, {125, 9}}, []bool{false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			study, id := newStudy(t, goptuna.StudyDirectionMinimize, done)
			sh := prune.NewSuccessiveHalving(prune.HalvingOptions{ReductionFactor: 3})
			for i, r := range tc.report {
				got, err := prune.Report(study, sh, id, int(r[0]), r[1])
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want[i] {
					t.Errorf("report %d (step %g): prune %v, want %v", i, r[0], got, tc.want[i])
				}
			}
		})
	}
}
