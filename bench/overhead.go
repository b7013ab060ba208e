package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep/sampling"
	"github.com/lorasweep/lorasweep/sweep/tpe"
)

// tenParams is the 10-parameter space of the overhead study (the same in
// optuna_bench.py): 4 floats, 2 log floats, 2 ints, 2 four-way categoricals.
func tenParams(t *goptuna.Trial) (float64, error) {
	var v float64
	for i := 0; i < 4; i++ {
		x, err := t.SuggestFloat("f"+strconv.Itoa(i), -5, 5)
		if err != nil {
			return 0, err
		}
		v += (x - 1) * (x - 1)
	}
	for i := 0; i < 2; i++ {
		x, err := t.SuggestLogFloat("l"+strconv.Itoa(i), 1e-5, 1e-1)
		if err != nil {
			return 0, err
		}
		v += (math.Log10(x) + 3) * (math.Log10(x) + 3)
	}
	for i := 0; i < 2; i++ {
		x, err := t.SuggestInt("i"+strconv.Itoa(i), 1, 64)
		if err != nil {
			return 0, err
		}
		v += float64((x-16)*(x-16)) / 100
	}
	for i := 0; i < 2; i++ {
		c, err := t.SuggestCategorical("c"+strconv.Itoa(i), []string{"a", "b", "c", "d"})
		if err != nil {
			return 0, err
		}
		v += float64(c[0] - 'a')
	}
	return v, nil
}

// tenDists are tenParams' distributions, for prefilling a study.
func tenDists() map[string]interface{} {
	d := map[string]interface{}{}
	for i := 0; i < 4; i++ {
		d["f"+strconv.Itoa(i)] = goptuna.UniformDistribution{Low: -5, High: 5}
	}
	for i := 0; i < 2; i++ {
		d["l"+strconv.Itoa(i)] = goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-1}
		d["i"+strconv.Itoa(i)] = goptuna.IntUniformDistribution{Low: 1, High: 64}
		d["c"+strconv.Itoa(i)] = goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c", "d"}}
	}
	return d
}

// prefill adds n finished trials with random params, one transaction each
// (CloneTrial), which is faster than n ask/tell rounds and gives the sampler
// the same history.
func prefill(store *storage.Store, studyID, n int, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 1))
	dists := tenDists()
	for i := 0; i < n; i++ {
		internal := map[string]float64{}
		ext := map[string]interface{}{}
		var v float64
		for name, d := range dists {
			var x float64
			switch d := d.(type) {
			case goptuna.UniformDistribution:
				x = d.Low + r.Float64()*(d.High-d.Low)
				ext[name] = x
			case goptuna.LogUniformDistribution:
				x = math.Exp(math.Log(d.Low) + r.Float64()*(math.Log(d.High)-math.Log(d.Low)))
				ext[name] = x
			case goptuna.IntUniformDistribution:
				x = float64(d.Low + r.IntN(d.High-d.Low+1))
				ext[name] = int(x)
			case goptuna.CategoricalDistribution:
				x = float64(r.IntN(len(d.Choices)))
				ext[name] = d.Choices[int(x)]
			}
			internal[name] = x
			v += x
		}
		now := time.Now()
		_, err := store.CloneTrial(studyID, goptuna.FrozenTrial{
			StudyID: studyID, State: goptuna.TrialStateComplete, Value: v,
			IntermediateValues: map[int]float64{}, DatetimeStart: now, DatetimeComplete: now,
			InternalParams: internal, Params: ext, Distributions: dists,
			UserAttrs: map[string]string{}, SystemAttrs: map[string]string{},
		})
		if err != nil {
			return fmt.Errorf("prefill trial %d: %w", i, err)
		}
	}
	return nil
}

// askTell runs one trial as the controller does, minus training: claim,
// suggest the 10 params through the study's sampler, tell the value.
func askTell(ctx context.Context, store *storage.Store, study *goptuna.Study) error {
	claim, err := store.Claim(ctx, study.ID, 0)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	t := goptuna.Trial{Study: study, ID: claim.TrialID}
	v, err := tenParams(&t)
	if err != nil {
		return fmt.Errorf("suggest: %w", err)
	}
	if err := store.SetTrialValue(claim.TrialID, v); err != nil {
		return fmt.Errorf("tell value: %w", err)
	}
	return store.SetTrialState(claim.TrialID, goptuna.TrialStateComplete)
}

// openStudy opens dsn and creates a study with a name unique to this run,
// so a shared PostgreSQL database can be reused.
func openStudy(ctx context.Context, dsn, name string, sampler goptuna.Sampler) (*storage.Store, *goptuna.Study, error) {
	store, err := storage.Open(ctx, dsn)
	if err != nil {
		return nil, nil, err
	}
	name = fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	study, err := goptuna.CreateStudy(name, goptuna.StudyOptionStorage(store), goptuna.StudyOptionSampler(sampler),
		goptuna.StudyOptionLogger(nil), goptuna.StudyOptionDirection(goptuna.StudyDirectionMinimize))
	if err != nil {
		store.Close()
		return nil, nil, fmt.Errorf("create study: %w", err)
	}
	return store, study, nil
}

// OverheadPoint is one measurement: ms per trial (ask + 10 suggests + tell)
// with N finished trials in the study.
type OverheadPoint struct {
	Tool     string  `json:"tool"`
	Storage  string  `json:"storage"`
	N        int     `json:"n"`
	Measured int     `json:"measured"`
	MeanMS   float64 `json:"mean_ms"`
	MedianMS float64 `json:"median_ms"`
	PrefillS float64 `json:"prefill_s"`
}

// ThroughputPoint is the storage throughput of W workers.
type ThroughputPoint struct {
	Workers      int     `json:"workers"`
	Trials       int     `json:"trials"`
	Seconds      float64 `json:"seconds"`
	TrialsPerSec float64 `json:"trials_per_sec"`
}

// OverheadRaw is the overhead study's raw output.
type OverheadRaw struct {
	Points     []OverheadPoint   `json:"points"`
	Throughput []ThroughputPoint `json:"throughput"`
}

func lorasweepOverhead(ctx context.Context, dsn, kind string, n, measure int) (OverheadPoint, error) {
	store, study, err := openStudy(ctx, dsn, fmt.Sprintf("overhead-%d", n), tpe.NewSampler(tpe.Options{Seed: 1, ConstantLiar: true, Local: true, StartupTrials: 25}))
	if err != nil {
		return OverheadPoint{}, err
	}
	defer store.Close()
	start := time.Now()
	if err := prefill(store, study.ID, n, uint64(n)); err != nil {
		return OverheadPoint{}, err
	}
	pt := OverheadPoint{Tool: "lorasweep TPE", Storage: kind, N: n, Measured: measure, PrefillS: time.Since(start).Seconds()}
	// The first ask warms the worker's cache of finished trials, as in a
	// running sweep; it is not counted.
	if err := askTell(ctx, store, study); err != nil {
		return pt, err
	}
	var times []float64
	for i := 0; i < measure; i++ {
		t0 := time.Now()
		if err := askTell(ctx, store, study); err != nil {
			return pt, err
		}
		times = append(times, float64(time.Since(t0).Microseconds())/1000)
	}
	pt.MeanMS, _ = MeanSE(times)
	sort.Float64s(times)
	pt.MedianMS = times[len(times)/2]
	return pt, nil
}

// throughput runs workers goroutines, each with its own connection pool
// (Store), doing ask/tell rounds with the random sampler (so the storage, not
// the sampler, is measured) on one study of n prefilled trials.
func throughput(ctx context.Context, dsn string, workers, n, each int) (ThroughputPoint, error) {
	store, study, err := openStudy(ctx, dsn, fmt.Sprintf("throughput-%d", workers), sampling.NewRandom(sampling.RandomOptions{Seed: 1}))
	if err != nil {
		return ThroughputPoint{}, err
	}
	name, err := store.GetStudyNameFromID(study.ID)
	if err != nil {
		return ThroughputPoint{}, fmt.Errorf("read study name: %w", err)
	}
	defer store.Close()
	if err := prefill(store, study.ID, n, 7); err != nil {
		return ThroughputPoint{}, err
	}
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s, err := storage.Open(ctx, dsn)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			st, err := goptuna.LoadStudy(name, goptuna.StudyOptionStorage(s), goptuna.StudyOptionLogger(nil),
				goptuna.StudyOptionSampler(sampling.NewRandom(sampling.RandomOptions{Seed: int64(w)})))
			if err != nil {
				errs <- err
				return
			}
			for i := 0; i < each; i++ {
				if err := askTell(ctx, s, st); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return ThroughputPoint{}, fmt.Errorf("worker: %w", err)
	}
	secs := time.Since(start).Seconds()
	return ThroughputPoint{Workers: workers, Trials: workers * each, Seconds: secs, TrialsPerSec: float64(workers*each) / secs}, nil
}

// Overhead is study 4: time per trial (ask + 10 suggestions + tell, no
// training) with 100 / 1,000 / 5,000 finished trials and 10 parameters,
// lorasweep (TPE, SQLite and PostgreSQL) against Optuna 3.1 (TPESampler,
// SQLite through RDBStorage); and storage throughput with 1 and 8 workers on
// PostgreSQL. Quick: 100 and 1,000 only. The PostgreSQL studies live in a
// scratch schema (storage.ScratchSchema) dropped when the study returns.
func Overhead(ctx context.Context, c Config) (res Result, err error) {
	sizes, measure := []int{100, 1000, 5000}, 30
	if c.Quick {
		sizes, measure = []int{100, 1000}, 15
	}
	pg := ""
	if c.Postgres != "" {
		var drop func() error
		if pg, drop, err = storage.ScratchSchema(ctx, c.Postgres); err != nil {
			return Result{}, err
		}
		defer func() {
			if derr := drop(); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	var raw OverheadRaw
	for _, n := range sizes {
		pt, err := lorasweepOverhead(ctx, "sqlite://"+filepath.Join(c.WorkDir, fmt.Sprintf("overhead-%d.db", n)), "SQLite", n, measure)
		if err != nil {
			return Result{}, fmt.Errorf("lorasweep on SQLite, N=%d: %w", n, err)
		}
		raw.Points = append(raw.Points, pt)
		if pg != "" {
			pt, err := lorasweepOverhead(ctx, pg, "PostgreSQL", n, measure)
			if err != nil {
				return Result{}, fmt.Errorf("lorasweep on PostgreSQL, N=%d: %w", n, err)
			}
			raw.Points = append(raw.Points, pt)
		}
		if !c.SkipOptuna {
			var out struct {
				Mean    float64 `json:"ms_per_trial_mean"`
				Median  float64 `json:"ms_per_trial_median"`
				Prefill float64 `json:"prefill_s"`
			}
			db := filepath.Join(c.WorkDir, fmt.Sprintf("optuna-%d.db", n))
			if err := c.runOptuna(ctx, &out, "overhead", "--storage", "sqlite:///"+db, "--n", strconv.Itoa(n), "--measure", strconv.Itoa(measure)); err != nil {
				return Result{}, err
			}
			raw.Points = append(raw.Points, OverheadPoint{Tool: "Optuna TPE", Storage: "SQLite", N: n, Measured: measure, MeanMS: out.Mean, MedianMS: out.Median, PrefillS: out.Prefill})
		}
	}
	if pg != "" {
		each := 100
		if c.Quick {
			each = 25
		}
		for _, w := range []int{1, 8} {
			tp, err := throughput(ctx, pg, w, 1000, each)
			if err != nil {
				return Result{}, fmt.Errorf("throughput, %d workers: %w", w, err)
			}
			raw.Throughput = append(raw.Throughput, tp)
		}
	}
	t := Table{
		Title:  "Overhead: ms per trial (ask + 10 suggestions + tell), 10 parameters",
		Note:   fmt.Sprintf("Median of %d trials after N finished ones (mean in brackets); no training. lorasweep: its TPE on its storage (Claim, SetTrialParam ×10, SetTrialValue, SetTrialState). Optuna: TPESampler on RDBStorage, study.optimize(n_trials=1). Both studies are prefilled with N random finished trials outside the timing (lorasweep: CloneTrial; Optuna: one bulk SQLite insert after a first add_trial).", measure),
		Header: []string{"N finished"},
	}
	var cols []string
	seen := map[string]bool{}
	for _, p := range raw.Points {
		k := p.Tool + ", " + p.Storage
		if !seen[k] {
			seen[k] = true
			cols = append(cols, k)
		}
	}
	t.Header = append(t.Header, cols...)
	for _, n := range sizes {
		row := []string{strconv.Itoa(n)}
		for _, col := range cols {
			cell := "—"
			for _, p := range raw.Points {
				if p.N == n && p.Tool+", "+p.Storage == col {
					cell = fmt.Sprintf("%.1f (%.1f)", p.MedianMS, p.MeanMS)
				}
			}
			row = append(row, cell)
		}
		t.Rows = append(t.Rows, row)
	}
	tables := []Table{t}
	if len(raw.Throughput) > 0 {
		tt := Table{
			Title:  "Storage throughput on PostgreSQL (random sampler, 1,000 trials prefilled)",
			Note:   "Each worker has its own Store (connection pool) and runs ask/tell rounds on one shared study.",
			Header: []string{"workers", "trials", "seconds", "trials/s"},
		}
		for _, p := range raw.Throughput {
			tt.Rows = append(tt.Rows, []string{strconv.Itoa(p.Workers), strconv.Itoa(p.Trials), fmt.Sprintf("%.2f", p.Seconds), fmt.Sprintf("%.0f", p.TrialsPerSec)})
		}
		tables = append(tables, tt)
	}
	return Result{Study: "overhead", Tables: tables, Raw: raw}, nil
}
