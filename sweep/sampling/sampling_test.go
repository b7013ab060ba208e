package sampling_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

func newStudy(t *testing.T, s goptuna.Sampler) *goptuna.Study {
	t.Helper()
	st, err := goptuna.CreateStudy("t", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestRandomInclusiveBoundsAndSeed(t *testing.T) {
	tests := []struct {
		name   string
		dist   interface{}
		logInt bool
		want   []float64 // every value that must appear, and nothing else
	}{
		{"int includes high", goptuna.IntUniformDistribution{Low: 1, High: 4}, false, []float64{1, 2, 3, 4}},
		{"step int includes high", goptuna.StepIntUniformDistribution{Low: 0, High: 10, Step: 5}, false, []float64{0, 5, 10}},
		{"discrete float grid top", goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.4}, false, []float64{0, 0.4, 0.8}},
		{"categorical", goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c"}}, false, []float64{0, 1, 2}},
		{"log int", goptuna.LogUniformDistribution{Low: 1, High: 4}, true, []float64{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sampling.NewRandom(sampling.RandomOptions{Seed: 7, LogInt: map[string]bool{"p": tc.logInt}})
			seen := map[float64]int{}
			for n := 0; n < 400; n++ {
				v, err := r.Sample(nil, goptuna.FrozenTrial{Number: n}, "p", tc.dist)
				if err != nil {
					t.Fatal(err)
				}
				seen[math.Round(v*1e9)/1e9]++
				again, _ := r.Sample(nil, goptuna.FrozenTrial{Number: n}, "p", tc.dist)
				if again != v {
					t.Fatalf("trial %d: %g then %g with the same seed", n, v, again)
				}
			}
			for _, w := range tc.want {
				if seen[w] == 0 {
					t.Errorf("value %g never drawn in 400 draws: %v", w, seen)
				}
			}
			if len(seen) != len(tc.want) {
				t.Errorf("drew %v, want only %v", seen, tc.want)
			}
		})
	}
}

func TestRandomSeedsDiffer(t *testing.T) {
	a := sampling.NewRandom(sampling.RandomOptions{Seed: 1})
	b := sampling.NewRandom(sampling.RandomOptions{Seed: 2})
	d := goptuna.UniformDistribution{Low: 0, High: 1}
	va, _ := a.Sample(nil, goptuna.FrozenTrial{Number: 3}, "x", d)
	vb, _ := b.Sample(nil, goptuna.FrozenTrial{Number: 3}, "x", d)
	vc, _ := a.Sample(nil, goptuna.FrozenTrial{Number: 3}, "y", d)
	if va == vb || va == vc {
		t.Errorf("streams not independent: seed1/x %g, seed2/x %g, seed1/y %g", va, vb, vc)
	}
}

func TestLogRandomIsUniformInLogSpace(t *testing.T) {
	r := sampling.NewRandom(sampling.RandomOptions{Seed: 3})
	below := 0
	const n = 4000
	for i := 0; i < n; i++ {
		v, _ := r.Sample(nil, goptuna.FrozenTrial{Number: i}, "lr", goptuna.LogUniformDistribution{Low: 1e-6, High: 1})
		if v < 1e-3 {
			below++
		}
	}
	// Half the log range lies below 1e-3; a linear draw would put 0.1% there.
	if f := float64(below) / n; math.Abs(f-0.5) > 0.05 {
		t.Errorf("fraction below 1e-3 = %.3f, want about 0.5", f)
	}
}

func gridSpace() []sampling.Dim {
	return []sampling.Dim{
		{Name: "opt", Dist: goptuna.CategoricalDistribution{Choices: []string{"adamw", "lion"}}},
		{Name: "dim", Dist: goptuna.StepIntUniformDistribution{Low: 8, High: 32, Step: 8}},
		{Name: "rank", Dist: goptuna.LogUniformDistribution{Low: 2, High: 3}, LogInt: true},
	}
}

func TestGridSize(t *testing.T) {
	tests := []struct {
		name    string
		space   []sampling.Dim
		want    int
		wantErr bool
	}{
		{"product", gridSpace(), 2 * 4 * 2, false},
		{"empty space has one point", nil, 1, false},
		{"continuous refused", []sampling.Dim{{Name: "lr", Dist: goptuna.UniformDistribution{Low: 0, High: 1}}}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := sampling.GridSize(tc.space)
			if (err != nil) != tc.wantErr || n != tc.want {
				t.Errorf("GridSize = %d, %v; want %d, error %v", n, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestGridRefusesLargerThanBudget(t *testing.T) {
	tests := []struct {
		name    string
		opts    sampling.GridOptions
		wantErr error
	}{
		{"fits", sampling.GridOptions{Budget: 16}, nil},
		{"too large", sampling.GridOptions{Budget: 15}, sampling.ErrGridTooLarge},
		{"too large but allowed", sampling.GridOptions{Budget: 15, AllowLarge: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sampling.NewGrid(gridSpace(), tc.opts)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("NewGrid = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// Trials asked concurrently (all RUNNING, none told) each get their own point
// in order, an enqueued trial's point is skipped, and the grid then runs out.
func TestGridCoversEveryPointOnce(t *testing.T) {
	g, err := sampling.NewGrid(gridSpace(), sampling.GridOptions{Budget: 16})
	if err != nil {
		t.Fatal(err)
	}
	study := newStudy(t, g)
	// The baseline, enqueued first: opt=lion (1), dim=16, rank=3.
	if err := study.EnqueueTrial(map[string]float64{"opt": 1, "dim": 16, "rank": 3}); err != nil {
		t.Fatal(err)
	}
	seen := map[[3]float64]bool{}
	for i := 0; i < 17; i++ {
		id, err := study.Storage.CreateNewTrial(study.ID)
		if err != nil {
			t.Fatal(err)
		}
		var p [3]float64
		for j, dim := range gridSpace() {
			v, err := g.Sample(study, mustTrial(t, study, id), dim.Name, dim.Dist)
			if i == 15 {
				if !errors.Is(err, sampling.ErrGridExhausted) {
					t.Fatalf("trial 16 of a 16-point grid with one point enqueued: err %v, want exhausted", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p[j] = v
		}
		if seen[p] {
			t.Fatalf("point %v handed out twice", p)
		}
		if p == [3]float64{1, 16, 3} {
			t.Fatalf("trial %d got the enqueued baseline's point", i)
		}
		seen[p] = true
		if i == 0 && p != [3]float64{0, 8, 2} {
			t.Errorf("first point %v, want [0 8 2]", p)
		}
	}
}

func mustTrial(t *testing.T, s *goptuna.Study, id int) goptuna.FrozenTrial {
	t.Helper()
	ft, err := s.Storage.GetTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	return ft
}

func TestBuildHistoryRanksAndFilters(t *testing.T) {
	mk := func(num int, state goptuna.TrialState, value float64, attrs map[string]string, iv map[int]float64) goptuna.FrozenTrial {
		return goptuna.FrozenTrial{ID: num + 100, Number: num, State: state, Value: value, SystemAttrs: attrs,
			IntermediateValues: iv, InternalParams: map[string]float64{"x": float64(num)},
			Distributions: map[string]interface{}{"x": goptuna.UniformDistribution{Low: 0, High: 100}}}
	}
	trials := []goptuna.FrozenTrial{
		mk(0, goptuna.TrialStateComplete, 3, nil, nil),
		mk(1, goptuna.TrialStateFail, 0, map[string]string{sampling.AttrFailReason: "nan"}, nil),
		mk(2, goptuna.TrialStateFail, 0, map[string]string{sampling.AttrFailReason: "interrupted"}, nil),
		mk(3, goptuna.TrialStateComplete, 1, map[string]string{sampling.AttrOutsideSpace: "true"}, nil),
		mk(4, goptuna.TrialStatePruned, 0.5, nil, map[int]float64{250: 0.5}),
		mk(5, goptuna.TrialStatePruned, 0.9, nil, map[int]float64{500: 0.9, 250: 2}),
		mk(6, goptuna.TrialStateRunning, 0, nil, nil),
		mk(7, goptuna.TrialStateComplete, 2, nil, nil),
		mk(8, goptuna.TrialStateRunning, 0, nil, nil), // the trial being sampled
		mk(9, goptuna.TrialStateFail, 0, map[string]string{sampling.AttrFailReason: "oom"}, nil),
		mk(10, goptuna.TrialStateWaiting, 0, nil, nil),
	}
	tests := []struct {
		name     string
		maximize bool
		liar     bool
		want     []int // trial numbers, best first
	}{
		{"minimize: complete, pruned by progress, then param-caused failures", false, false, []int{7, 0, 5, 4, 1, 9}},
		{"constant liar adds running trials as worst", false, true, []int{7, 0, 5, 4, 1, 6, 9}},
		{"maximize flips values", true, false, []int{0, 7, 5, 4, 1, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sampling.BuildHistory(trials, 108, tc.maximize, tc.liar)
			var got []int
			for _, i := range h.Order {
				got = append(got, h.ByNumber[i].Number)
			}
			if !equalInts(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestObservationValueRemapsCategoricals(t *testing.T) {
	d, _ := sampling.DomainOf(goptuna.CategoricalDistribution{Choices: []string{"cosine", "linear", "constant"}}, false)
	tests := []struct {
		name    string
		choices []string
		idx     float64
		want    float64
		ok      bool
	}{
		{"same list", []string{"cosine", "linear", "constant"}, 1, 1, true},
		{"reordered list", []string{"constant", "cosine"}, 0, 2, true},
		{"choice no longer offered", []string{"polynomial"}, 0, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := sampling.Observation{Params: map[string]float64{"s": tc.idx},
				Dists: map[string]interface{}{"s": goptuna.CategoricalDistribution{Choices: tc.choices}}}
			v, ok := o.Value("s", d)
			if v != tc.want || ok != tc.ok {
				t.Errorf("Value = %g, %v; want %g, %v", v, ok, tc.want, tc.ok)
			}
		})
	}
}

// viewStorage is goptuna's in-memory storage plus the read-only TrialsView
// the project's storage offers; it counts which read the cache used.
type viewStorage struct {
	goptuna.Storage
	views, copies int
}

func (v *viewStorage) TrialsView(_ context.Context, studyID int) ([]*goptuna.FrozenTrial, error) {
	v.views++
	trials, err := v.Storage.GetAllTrials(studyID)
	out := make([]*goptuna.FrozenTrial, len(trials))
	for i := range trials {
		out[i] = &trials[i]
	}
	return out, err
}

func (v *viewStorage) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	v.copies++
	return v.Storage.GetAllTrials(studyID)
}

// The history cache reads through TrialsView when the storage has it, so a
// long sweep does not keep a deep copy of every trial per snapshot, and
// builds the same history as from GetAllTrials.
func TestHistoryCacheUsesTrialsView(t *testing.T) {
	st := &viewStorage{Storage: goptuna.NewInMemoryStorage()}
	study, err := goptuna.CreateStudy("h", goptuna.StudyOptionStorage(st), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		id, err := st.CreateNewTrial(study.ID)
		if err != nil {
			t.Fatal(err)
		}
		st.SetTrialParam(id, "x", float64(i)/10, goptuna.UniformDistribution{Low: 0, High: 1})
		st.SetTrialValue(id, float64(i))
		st.SetTrialState(id, goptuna.TrialStateComplete)
	}
	asking, _ := st.CreateNewTrial(study.ID)
	frozen, _ := st.Storage.GetTrial(asking)
	var c sampling.HistoryCache
	h, err := c.Get(study, frozen, true)
	if err != nil {
		t.Fatal(err)
	}
	if st.views != 1 || st.copies != 0 {
		t.Errorf("views %d, copies %d: want the history read once through TrialsView", st.views, st.copies)
	}
	trials, _ := st.Storage.GetAllTrials(study.ID)
	want := sampling.BuildHistory(trials, asking, false, true)
	if len(h.ByNumber) != len(want.ByNumber) || fmt.Sprint(h.Order) != fmt.Sprint(want.Order) {
		t.Errorf("history from the view %+v differs from GetAllTrials' %+v", h.Order, want.Order)
	}
	if _, err := c.Get(study, frozen, true); err != nil || st.views != 1 {
		t.Errorf("second Get for the same trial read again (views %d, err %v)", st.views, err)
	}
}
