package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// fakeRunner is a hand-written trainer pool: each trial "trains" for
// epochs epochs, emitting the events a kohya-style trainer would, unless
// behave says otherwise.
type fakeRunner struct {
	slots  chan int
	epochs int
	// behave may return a failure outcome for a job (nil: train normally).
	behave func(job runner.Job) *runner.Outcome
	// block makes Run wait for ctx before finishing epoch 1 (abort tests).
	block bool
	// started is signalled when a trial starts, if non-nil.
	started chan int
	// epochTime is how long an epoch "trains" (default 20ms).
	epochTime time.Duration

	mu  sync.Mutex
	ran []int
}

type fakeLease struct {
	r        *fakeRunner
	slot     int
	released bool
}

func (l *fakeLease) GPUs() []string { return []string{fmt.Sprintf("cpu%d", l.slot)} }
func (l *fakeLease) Slot() int      { return l.slot }
func (l *fakeLease) Release() {
	if l.released {
		panic("lease released twice")
	}
	l.released = true
	l.r.slots <- l.slot
}

func newFakeRunner(slots, epochs int) *fakeRunner {
	r := &fakeRunner{slots: make(chan int, slots), epochs: epochs}
	for i := 0; i < slots; i++ {
		r.slots <- i
	}
	return r
}

func (r *fakeRunner) Acquire(ctx context.Context) (sweep.Lease, error) {
	select {
	case s := <-r.slots:
		return &fakeLease{r: r, slot: s}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *fakeRunner) Run(ctx context.Context, lease sweep.Lease, job runner.Job, onEvent func(runner.Event)) runner.Outcome {
	r.mu.Lock()
	r.ran = append(r.ran, job.Number)
	r.mu.Unlock()
	if r.started != nil {
		r.started <- job.Number
	}
	if err := os.MkdirAll(job.Dir, 0o755); err != nil {
		return runner.Outcome{Reason: runner.ReasonCrash, Detail: err.Error()}
	}
	if r.behave != nil {
		if out := r.behave(job); out != nil {
			return *out
		}
	}
	stopped := func() runner.Outcome {
		reason := runner.ReasonInterrupted
		if errors.Is(context.Cause(ctx), runner.ErrPruned) {
			reason = runner.ReasonPruned
		}
		return runner.Outcome{Reason: reason, ExitCode: -1}
	}
	steps := 10
	for e := 1; e <= r.epochs; e++ {
		onEvent(runner.Event{Kind: runner.EventEpoch, Epoch: e, Epochs: r.epochs})
		for s := 1; s <= steps; s++ {
			onEvent(runner.Event{Kind: runner.EventProgress, Step: (e-1)*steps + s, Total: r.epochs * steps, Loss: 0.1})
		}
		if r.block {
			<-ctx.Done()
		}
		// Give the scorer time to prune between epochs, as a real trainer
		// would spend it training.
		select {
		case <-ctx.Done():
			return stopped()
		case <-time.After(r.epochDuration()):
		}
		path := filepath.Join(job.Dir, fmt.Sprintf("e%d.png", e))
		writeTestPNG(path)
		onEvent(runner.Event{Kind: runner.EventSamples, Epoch: e, Samples: []runner.Sample{{Path: path, Epoch: e, Prompt: "p"}}})
		if e < r.epochs {
			onEvent(runner.Event{Kind: runner.EventCheckpoint, Epoch: e, Path: filepath.Join(job.Dir, fmt.Sprintf("m-%06d.safetensors", e))})
		}
	}
	onEvent(runner.Event{Kind: runner.EventModelSaved})
	return runner.Outcome{OK: true, ModelPath: filepath.Join(job.Dir, "m.safetensors")}
}

func (r *fakeRunner) epochDuration() time.Duration {
	if r.epochTime > 0 {
		return r.epochTime
	}
	return 20 * time.Millisecond
}

// fakeScorer scores an epoch from the trial's x param: best at x = 0.3,
// and epoch 2 is each trial's best epoch.
type fakeScorer struct{}

func (fakeScorer) NeedsSamples() bool { return true }
func (fakeScorer) ScoreEpoch(_ context.Context, in objective.EpochInput) (objective.Result, error) {
	x, _ := in.Params["x"].(float64)
	v := 1 - (x-0.3)*(x-0.3) - 0.1*math.Abs(float64(in.Epoch-2))
	return objective.Result{Value: v, Components: []objective.Component{{Name: "fake", Raw: v, Normalized: v, Weight: 1}}}, nil
}

// alwaysPrune prunes every trial at its first intermediate value.
type alwaysPrune struct{}

func (alwaysPrune) Prune(*goptuna.Study, goptuna.FrozenTrial) (bool, error) { return true, nil }

func writeSpec(t *testing.T, dir, name string, trials int, extra string) *sweep.Spec {
	t.Helper()
	yaml := fmt.Sprintf(`name: %s
output_root: ./runs
trainer:
  kind: command
  command: [trainer, "{config}", "{x}"]
search:
  x: {float: [0.0, 1.0]}
  mode: {choice: [a, b]}
sampler: {kind: random, seed: 3}
objective: {direction: maximize, scorers: [{kind: loss}]}
budget: {trials: %d, parallel: 2, retries: 1%s}
gpus: none
baseline: false
`, name, trials, extra)
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := sweep.ParseSpecFile(path)
	if err != nil {
		t.Fatalf("parse spec: %v", err)
	}
	return spec
}

func openStore(t *testing.T, dir string) *storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), "sqlite://"+filepath.Join(dir, "sweep.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newController(spec *sweep.Spec, st *storage.Store, r sweep.Runner) *sweep.Controller {
	return &sweep.Controller{
		Spec:     spec,
		Store:    st,
		Runner:   r,
		Scorer:   fakeScorer{},
		Sampler:  sampling.NewRandom(sampling.RandomOptions{Seed: spec.Sampler.Seed}),
		WorkerID: "test",
		Host:     "test",
		Parallel: 3,
	}
}

func trialsOf(t *testing.T, st *storage.Store, id int) []goptuna.FrozenTrial {
	t.Helper()
	trials, err := st.GetAllTrials(id)
	if err != nil {
		t.Fatal(err)
	}
	return trials
}

func TestControllerRunsBudgetRecordsBestEpochAndResumes(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "budget", 5, "")
	r := newFakeRunner(2, 3)
	res, err := newController(spec, st, r).Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != sweep.StopBudget {
		t.Errorf("stop = %q, want %q", res.Stop, sweep.StopBudget)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 5 {
		t.Fatalf("got %d trials, want 5", len(trials))
	}
	for i, tr := range trials {
		if tr.Number != i {
			t.Errorf("trial %d has number %d", i, tr.Number)
		}
		if tr.State != goptuna.TrialStateComplete {
			t.Errorf("trial %d state %v, want complete", i, tr.State)
			continue
		}
		x := tr.Params["x"].(float64)
		if want := 1 - (x-0.3)*(x-0.3); math.Abs(tr.Value-want) > 1e-9 {
			t.Errorf("trial %d value %v, want best epoch's %v", i, tr.Value, want)
		}
		if got := tr.SystemAttrs["lorasweep:best_epoch"]; got != "2" {
			t.Errorf("trial %d best epoch %q, want 2", i, got)
		}
		if len(tr.IntermediateValues) != 3 {
			t.Errorf("trial %d has %d intermediate values, want 3 (one per epoch)", i, len(tr.IntermediateValues))
		}
		epochs, err := st.Epochs(context.Background(), tr.ID)
		if err != nil || len(epochs) != 3 {
			t.Errorf("trial %d: %d epoch records (err %v), want 3", i, len(epochs), err)
		}
		run, err := st.GetRun(context.Background(), tr.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.BestEpoch == nil || *run.BestEpoch != 2 || filepath.Base(run.Checkpoint) != "m-000002.safetensors" {
			t.Errorf("trial %d run: best epoch %v checkpoint %q, want epoch 2's checkpoint", i, run.BestEpoch, run.Checkpoint)
		}
		samples, err := st.Samples(context.Background(), tr.ID)
		if err != nil || len(samples) != 3 {
			t.Errorf("trial %d: %d samples (err %v), want 3", i, len(samples), err)
		}
	}

	// Resuming a finished sweep starts nothing and changes nothing.
	res2, err := newController(spec, st, newFakeRunner(2, 3)).Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Trials) != 0 || res2.Stop != sweep.StopBudget {
		t.Errorf("resume of a finished sweep ran %d trials (stop %q)", len(res2.Trials), res2.Stop)
	}

	// A larger budget continues the numbering.
	spec = writeSpec(t, dir, "budget", 7, "")
	if _, err := newController(spec, st, newFakeRunner(2, 3)).Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	after := trialsOf(t, st, res.StudyID)
	if len(after) != 7 || after[6].Number != 6 {
		t.Fatalf("after raising the budget: %d trials", len(after))
	}
	for i := range trials {
		if after[i].Value != trials[i].Value || after[i].State != trials[i].State {
			t.Errorf("finished trial %d changed on resume", i)
		}
	}
}

func TestControllerAbortInterruptsAndRequeues(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "abort", 3, "")
	r := newFakeRunner(1, 2)
	r.block = true
	r.started = make(chan int, 10)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-r.started; cancel() }()
	ctl := newController(spec, st, r)
	ctl.Parallel = 1
	res, err := ctl.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stop != sweep.StopAborted {
		t.Errorf("stop = %q, want aborted", res.Stop)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 2 {
		t.Fatalf("want the interrupted trial and its re-enqueued copy, got %d trials", len(trials))
	}
	if trials[0].State != goptuna.TrialStateFail || trials[0].SystemAttrs["lorasweep:fail_reason"] != "interrupted" {
		t.Errorf("trial 0: state %v reason %q, want fail/interrupted", trials[0].State, trials[0].SystemAttrs["lorasweep:fail_reason"])
	}
	if trials[1].State != goptuna.TrialStateWaiting {
		t.Errorf("trial 1 state %v, want waiting (the retry)", trials[1].State)
	}

	// The next run re-runs the interrupted config first and fills the budget.
	res, err = newController(spec, st, newFakeRunner(1, 2)).Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	trials = trialsOf(t, st, res.StudyID)
	counted, _, err := st.CountTrials(context.Background(), res.StudyID)
	if err != nil {
		t.Fatal(err)
	}
	if counted != 3 {
		t.Errorf("budget-counted trials = %d, want 3", counted)
	}
	if trials[1].State != goptuna.TrialStateComplete || trials[1].Params["x"] != trials[0].Params["x"] {
		t.Errorf("retry: state %v x=%v, want complete with the interrupted trial's x=%v", trials[1].State, trials[1].Params["x"], trials[0].Params["x"])
	}
}

func TestControllerFailuresAndPruning(t *testing.T) {
	cases := []struct {
		name       string
		extra      string
		behave     func(job runner.Job) *runner.Outcome
		pruner     goptuna.Pruner
		epochTime  time.Duration
		wantTrials int
		wantStop   sweep.StopReason
		check      func(t *testing.T, trials []goptuna.FrozenTrial)
	}{
		{
			name: "nan fails the trial with its params kept",
			behave: func(runner.Job) *runner.Outcome {
				return &runner.Outcome{Reason: runner.ReasonNaN, Detail: "avr_loss=nan"}
			},
			wantTrials: 3, wantStop: sweep.StopBudget,
			check: func(t *testing.T, trials []goptuna.FrozenTrial) {
				for _, tr := range trials {
					if tr.State != goptuna.TrialStateFail || tr.SystemAttrs["lorasweep:fail_reason"] != "nan" {
						t.Errorf("trial %d: %v %q, want fail/nan", tr.Number, tr.State, tr.SystemAttrs["lorasweep:fail_reason"])
					}
					if _, ok := tr.Params["x"]; !ok {
						t.Errorf("trial %d lost its params", tr.Number)
					}
				}
			},
		},
		{
			name:       "failures in a row stop the sweep",
			extra:      ", max_failures_in_a_row: 2",
			behave:     func(runner.Job) *runner.Outcome { return &runner.Outcome{Reason: runner.ReasonCrash} },
			wantTrials: 2, wantStop: sweep.StopFailures,
		},
		{
			name:   "a pruned trial keeps its best epoch's value",
			pruner: alwaysPrune{},
			// Long enough that the prune lands before the trial ends even
			// under the race detector on a loaded machine.
			epochTime:  time.Second,
			wantTrials: 3, wantStop: sweep.StopBudget,
			check: func(t *testing.T, trials []goptuna.FrozenTrial) {
				for _, tr := range trials {
					// Epochs completed before the prune took effect were
					// scored; the value is the best of them, never epoch 3.
					best := math.Inf(-1)
					for step, v := range tr.IntermediateValues {
						if step == 1000 {
							t.Errorf("trial %d reached the end of its schedule although pruned", tr.Number)
						}
						best = math.Max(best, v)
					}
					if tr.State != goptuna.TrialStatePruned || tr.Value != best {
						t.Errorf("trial %d: %v value %v, want pruned with its best epoch's %v", tr.Number, tr.State, tr.Value, best)
					}
				}
			},
		},
		{
			name:       "a trained trial without samples is unscorable",
			behave:     func(runner.Job) *runner.Outcome { return &runner.Outcome{OK: true} },
			wantTrials: 3, wantStop: sweep.StopBudget,
			check: func(t *testing.T, trials []goptuna.FrozenTrial) {
				for _, tr := range trials {
					if tr.State != goptuna.TrialStateFail || tr.SystemAttrs["lorasweep:fail_reason"] != "unscorable" {
						t.Errorf("trial %d: %v %q, want fail/unscorable", tr.Number, tr.State, tr.SystemAttrs["lorasweep:fail_reason"])
					}
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := openStore(t, dir)
			spec := writeSpec(t, dir, "f", 3, tc.extra)
			r := newFakeRunner(1, 3)
			r.behave = tc.behave
			r.epochTime = tc.epochTime
			ctl := newController(spec, st, r)
			ctl.Parallel = 1
			ctl.Pruner = tc.pruner
			res, err := ctl.Run(context.Background(), false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Stop != tc.wantStop {
				t.Errorf("stop = %q, want %q", res.Stop, tc.wantStop)
			}
			trials := trialsOf(t, st, res.StudyID)
			if len(trials) != tc.wantTrials {
				t.Fatalf("%d trials, want %d", len(trials), tc.wantTrials)
			}
			if tc.check != nil {
				tc.check(t, trials)
			}
		})
	}
}

func TestControllerRefusesChangedSpace(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "space", 1, "")
	if _, err := newController(spec, st, newFakeRunner(1, 1)).Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	changed := *spec
	changed.Search = append([]sweep.Param(nil), spec.Search...)
	changed.Search[0].High = 2
	_, err := newController(&changed, st, newFakeRunner(1, 1)).Run(context.Background(), false)
	var sce *sweep.SpaceChangedError
	if !errors.As(err, &sce) || len(sce.Diff) == 0 {
		t.Fatalf("err = %v, want a SpaceChangedError with the difference", err)
	}
	if _, err := newController(&changed, st, newFakeRunner(1, 1)).Run(context.Background(), true); err != nil {
		t.Fatalf("with allowSpaceChange: %v", err)
	}
}

func TestParseDeadline(t *testing.T) {
	loc := time.UTC
	first := time.Date(2026, 11, 26, 23, 30, 0, 0, loc)
	cases := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"07:00", time.Date(2026, 11, 27, 7, 0, 0, 0, loc)}, // crosses midnight
		{"23:45", time.Date(2026, 11, 26, 23, 45, 0, 0, loc)},
		{"8h", first.Add(8 * time.Hour)},
		{"2026-11-27T06:00:00Z", time.Date(2026, 11, 27, 6, 0, 0, 0, loc)},
	}
	for _, tc := range cases {
		got, err := sweep.ParseDeadline(tc.in, first)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseDeadline(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if _, err := sweep.ParseDeadline("7am", first); err == nil {
		t.Error("ParseDeadline(7am) succeeded, want an error naming the valid forms")
	}
}

func TestRankOrdersByDirectionThenState(t *testing.T) {
	mk := func(n int, s goptuna.TrialState, v float64) goptuna.FrozenTrial {
		return goptuna.FrozenTrial{Number: n, State: s, Value: v, SystemAttrs: map[string]string{}}
	}
	trials := []goptuna.FrozenTrial{
		mk(0, goptuna.TrialStateFail, 0), mk(1, goptuna.TrialStateComplete, 0.5),
		mk(2, goptuna.TrialStatePruned, 0.9), mk(3, goptuna.TrialStateRunning, 0),
		mk(4, goptuna.TrialStateComplete, 0.9), mk(5, goptuna.TrialStateComplete, math.NaN()),
	}
	var got []int
	for _, r := range sweep.Rank(trials, goptuna.StudyDirectionMaximize) {
		got = append(got, r.Number)
	}
	// Complete trials first (a pruned trial's value is from part of its
	// schedule), then pruned, running, failed.
	want := []int{4, 1, 2, 3, 0, 5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("maximize order %v, want %v", got, want)
	}
	got = got[:0]
	for _, r := range sweep.Rank(trials, goptuna.StudyDirectionMinimize) {
		got = append(got, r.Number)
	}
	if want := []int{1, 4, 2, 3, 0, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("minimize order %v, want %v", got, want)
	}
}

// When the budget is fully claimed a slot waits for trials still running
// (one may yet be reaped and re-run); it must notice this process's own
// trials ending at once, not a heartbeat interval later.
func TestControllerEndsWhenLastTrialEnds(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "prompt", 2, "")
	ctl := newController(spec, st, newFakeRunner(2, 1))
	ctl.HeartbeatEvery = time.Minute
	start := time.Now()
	if _, err := ctl.Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run took %v for two 20 ms trials: slots waited out the poll interval", d)
	}
}

// A trial that another worker's reaper fails while it trains (this process
// stalled past the stale timeout) keeps that verdict; this worker logs it
// and goes on with the sweep instead of aborting on the refused write.
func TestControllerAcceptsTrialReapedElsewhere(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "reaped", 2, "")
	r := newFakeRunner(1, 2)
	r.behave = func(job runner.Job) *runner.Outcome {
		if job.Number != 0 {
			return nil
		}
		studyID, err := st.GetStudyIDFromName("reaped")
		if err != nil {
			t.Errorf("find study: %v", err)
			return nil
		}
		trials, err := st.GetAllTrials(studyID)
		if err != nil || len(trials) == 0 {
			t.Errorf("read trials: %v", err)
			return nil
		}
		if _, err := st.FailInterruptedLimit(context.Background(), trials[0].ID, 1); err != nil {
			t.Errorf("reap: %v", err)
		}
		return nil // the trainer itself goes on and finishes
	}
	ctl := newController(spec, st, r)
	ctl.Parallel = 1
	res, err := ctl.Run(context.Background(), false)
	if err != nil {
		t.Fatalf("Run: %v; want the sweep to go on", err)
	}
	trials := trialsOf(t, st, res.StudyID)
	if trials[0].State != goptuna.TrialStateFail || trials[0].SystemAttrs["lorasweep:fail_reason"] != "interrupted" {
		t.Errorf("trial 0: %v %q, want the reaper's fail/interrupted", trials[0].State, trials[0].SystemAttrs["lorasweep:fail_reason"])
	}
	complete := 0
	for _, tr := range trials {
		if tr.State == goptuna.TrialStateComplete {
			complete++
		}
	}
	if complete != 2 {
		t.Errorf("%d complete trials, want 2 (the budget, the reaped config re-run)", complete)
	}
}

// writeTestPNG writes a small real PNG: a candidate is scored only on
// images that exist and decode.
func writeTestPNG(path string) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		panic(err)
	}
}
