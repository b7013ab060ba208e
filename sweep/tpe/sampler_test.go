package tpe_test

import (
	"math"
	"sync"
	"testing"

	"github.com/c-bata/goptuna"
	"github.com/lorasweep/lorasweep/sweep/benchfn"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

func TestReproducibleFromSeed(t *testing.T) {
	p := benchfn.LoRALike()
	run := func(seed int64) benchfn.Trace {
		tr, err := benchfn.Run(p, newTPE(p, true)(seed), benchfn.RunOptions{Trials: 40, Seed: 5})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a, b, c := run(1), run(1), run(2)
	for i := range a.True {
		if a.True[i] != b.True[i] {
			t.Fatalf("trial %d: %g vs %g with the same seed", i, a.True[i], b.True[i])
		}
	}
	if a.True[20] == c.True[20] && a.True[30] == c.True[30] {
		t.Errorf("seeds 1 and 2 gave the same trials")
	}
}

// Every proposal, random or modelled, is a valid internal value of its
// distribution: log-ints are integers in range, steps on the grid.
func TestProposalsValid(t *testing.T) {
	s := tpe.NewSampler(tpe.Options{Seed: 3, StartupTrials: 5, LogInt: map[string]bool{"rank": true}})
	study, err := goptuna.CreateStudy("v", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	dists := map[string]interface{}{
		"rank": goptuna.LogUniformDistribution{Low: 4, High: 128},
		"lr":   goptuna.LogUniformDistribution{Low: 1e-6, High: 1e-2},
		"bs":   goptuna.StepIntUniformDistribution{Low: 1, High: 9, Step: 2},
		"q":    goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.1},
		"ep":   goptuna.IntUniformDistribution{Low: 1, High: 3},
		"opt":  goptuna.CategoricalDistribution{Choices: []string{"a", "b"}},
	}
	err = study.Optimize(func(tr goptuna.Trial) (float64, error) {
		v := 0.0
		for name, d := range dists {
			x, err := s.Sample(study, mustFrozen(t, study, tr.ID), name, d)
			if err != nil {
				return 0, err
			}
			dom, _ := sampling.DomainOf(d, name == "rank")
			if !dom.Contains(x) {
				t.Errorf("%s = %g outside %+v", name, x, dom)
			}
			if err := study.Storage.SetTrialParam(tr.ID, name, x, d); err != nil {
				return 0, err
			}
			v += x
		}
		return v, nil
	}, 30)
	if err != nil {
		t.Fatal(err)
	}
}

func mustFrozen(t *testing.T, s *goptuna.Study, id int) goptuna.FrozenTrial {
	t.Helper()
	ft, err := s.Storage.GetTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	return ft
}

// Trials with x > 0.6 fail; the rest complete with a value that does not
// depend on x. Counted as the worst observations (nan, oom), the failures
// steer TPE away from x > 0.6; infrastructure failures are ignored.
func TestFailuresAsWorstObservations(t *testing.T) {
	tests := []struct {
		name    string
		reason  string
		minFrac float64 // of proposals in the failing region
		maxFrac float64
	}{
		{"nan counts as worst", "nan", 0, 0.12},
		{"oom counts as worst", "oom", 0, 0.12},
		// Ignored failures leave the region looking unexplored, and TPE
		// keeps going back there: why param-caused ones must count.
		{"interrupted is ignored", "interrupted", 0.5, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tpe.NewSampler(tpe.Options{Seed: 11})
			study, err := goptuna.CreateStudy("f", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
				goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
			if err != nil {
				t.Fatal(err)
			}
			d := goptuna.UniformDistribution{Low: 0, High: 1}
			bad := 0
			const n = 150
			for i := 0; i < n; i++ {
				id, _ := study.Storage.CreateNewTrial(study.ID)
				x, err := s.Sample(study, mustFrozen(t, study, id), "x", d)
				if err != nil {
					t.Fatal(err)
				}
				_ = study.Storage.SetTrialParam(id, "x", x, d)
				if x > 0.6 {
					if i >= 50 {
						bad++
					}
					_ = study.Storage.SetTrialSystemAttr(id, sampling.AttrFailReason, tc.reason)
					_ = study.Storage.SetTrialState(id, goptuna.TrialStateFail)
					continue
				}
				_ = study.Storage.SetTrialValue(id, 1+0.01*float64(i%7))
				_ = study.Storage.SetTrialState(id, goptuna.TrialStateComplete)
			}
			frac := float64(bad) / (n - 50)
			t.Logf("fraction of trials 50..149 in the failing region: %.3f", frac)
			if frac > tc.maxFrac || frac < tc.minFrac {
				t.Errorf("fraction %.3f, want in [%g, %g]", frac, tc.minFrac, tc.maxFrac)
			}
		})
	}
}

// A conditional param is modelled only from the trials that have it: until
// StartupTrials of them exist it is drawn at random (the random sampler's
// draw for the same seed), however many trials the study has.
func TestConditionalParamStartup(t *testing.T) {
	s := tpe.NewSampler(tpe.Options{Seed: 5})
	r := sampling.NewRandom(sampling.RandomOptions{Seed: 5})
	study, err := goptuna.CreateStudy("c", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	dx := goptuna.UniformDistribution{Low: 0, High: 1}
	dc := goptuna.IntUniformDistribution{Low: 1, High: 4}
	for i := 0; i < 40; i++ {
		id, _ := study.Storage.CreateNewTrial(study.ID)
		ft := mustFrozen(t, study, id)
		x, _ := s.Sample(study, ft, "x", dx)
		_ = study.Storage.SetTrialParam(id, "x", x, dx)
		if i%4 == 0 { // the branch that has "cycles": trials 0, 4, …, 36
			c, err := s.Sample(study, ft, "cycles", dc)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := r.Sample(study, ft, "cycles", dc)
			if c != want {
				t.Errorf("trial %d: cycles %g, want the random draw %g while fewer than 10 trials have it", i, c, want)
			}
			_ = study.Storage.SetTrialParam(id, "cycles", c, dc)
		}
		_ = study.Storage.SetTrialValue(id, x)
		_ = study.Storage.SetTrialState(id, goptuna.TrialStateComplete)
	}
	// x has 40 observations: TPE models it and proposes small x (value = x).
	id, _ := study.Storage.CreateNewTrial(study.ID)
	x, _ := s.Sample(study, mustFrozen(t, study, id), "x", dx)
	if x > 0.3 {
		t.Errorf("modelled x = %g, want small", x)
	}
}

// lockedStorage serialises every write with reads so the race detector can
// watch the sampler: goptuna's in-memory storage hands out the maps it
// mutates, which its own TPE avoids only by ignoring running trials.
type lockedStorage struct {
	goptuna.Storage
	mu sync.RWMutex
}

func (l *lockedStorage) SetTrialParam(id int, name string, v float64, d interface{}) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Storage.SetTrialParam(id, name, v, d)
}

func (l *lockedStorage) SetTrialState(id int, s goptuna.TrialState) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Storage.SetTrialState(id, s)
}

func (l *lockedStorage) SetTrialValue(id int, v float64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Storage.SetTrialValue(id, v)
}

func (l *lockedStorage) CreateNewTrial(study int) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Storage.CreateNewTrial(study)
}

// GetAllTrials deep-copies under the lock, as the project's storage returns
// fresh maps.
func (l *lockedStorage) GetAllTrials(study int) ([]goptuna.FrozenTrial, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	ts, err := l.Storage.GetAllTrials(study)
	for i := range ts {
		ts[i] = copyTrial(ts[i])
	}
	return ts, err
}

func (l *lockedStorage) GetTrial(id int) (goptuna.FrozenTrial, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t, err := l.Storage.GetTrial(id)
	return copyTrial(t), err
}

func copyTrial(t goptuna.FrozenTrial) goptuna.FrozenTrial {
	ip := make(map[string]float64, len(t.InternalParams))
	for k, v := range t.InternalParams {
		ip[k] = v
	}
	ds := make(map[string]interface{}, len(t.Distributions))
	for k, v := range t.Distributions {
		ds[k] = v
	}
	sa := make(map[string]string, len(t.SystemAttrs))
	for k, v := range t.SystemAttrs {
		sa[k] = v
	}
	t.InternalParams, t.Distributions, t.SystemAttrs, t.Params, t.IntermediateValues, t.UserAttrs = ip, ds, sa, nil, nil, nil
	return t
}

// Four goroutines share one sampler and study (run with -race).
func TestConcurrentWorkers(t *testing.T) {
	p := benchfn.LoRALike()
	s := tpe.NewSampler(tpe.Options{Seed: 1, ConstantLiar: true, LogInt: p.LogInt})
	st := &lockedStorage{Storage: goptuna.NewInMemoryStorage()}
	study, err := goptuna.CreateStudy("p", goptuna.StudyOptionStorage(st),
		goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- study.Optimize(func(tr goptuna.Trial) (float64, error) { return p.Evaluate(&tr) }, 20)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	best, err := study.GetBestValue()
	if err != nil || math.IsNaN(best) || best > 1.5 {
		t.Errorf("best after 80 trials %g, %v", best, err)
	}
}

// A dead dimension is drawn exactly as the random sampler would draw it,
// after the startup trials too: it never enters the model.
func TestUnmodelledIsRandom(t *testing.T) {
	s := tpe.NewSampler(tpe.Options{Seed: 4, StartupTrials: 3, Unmodelled: map[string]bool{"dead": true}})
	rnd := sampling.NewRandom(sampling.RandomOptions{Seed: 4})
	study, err := goptuna.CreateStudy("u", goptuna.StudyOptionStorage(goptuna.NewInMemoryStorage()),
		goptuna.StudyOptionSampler(s), goptuna.StudyOptionLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := goptuna.UniformDistribution{Low: 0, High: 1}
	modelled := 0
	err = study.Optimize(func(tr goptuna.Trial) (float64, error) {
		fz := mustFrozen(t, study, tr.ID)
		x, err := tr.SuggestFloat("dead", 0, 1)
		if err != nil {
			return 0, err
		}
		if want, _ := rnd.Sample(study, fz, "dead", d); x != want {
			t.Errorf("trial %d: dead = %g, random sampler draws %g", fz.Number, x, want)
		}
		y, err := tr.SuggestFloat("live", 0, 1)
		if err != nil {
			return 0, err
		}
		if w, _ := rnd.Sample(study, fz, "live", d); w != y {
			modelled++
		}
		return y, nil
	}, 12)
	if err != nil {
		t.Fatal(err)
	}
	if modelled == 0 {
		t.Error("the live param was never modelled")
	}
}
