package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
	"github.com/lorasweep/lorasweep/sweep/sampling"
)

// Lease is a slot (CPU or GPU set) held by one trial.
type Lease interface {
	GPUs() []string
	Slot() int
	Release()
}

// Runner trains trials. runner.Pool satisfies it through a small adapter in
// the CLI; tests use fakes.
type Runner interface {
	// Acquire blocks until a slot is free.
	Acquire(ctx context.Context) (Lease, error)
	// Run trains job on lease, reporting events in order, and returns how it
	// ended. It stops the trainer when ctx is done; context.Cause(ctx) ==
	// runner.ErrPruned makes the outcome ReasonPruned.
	Run(ctx context.Context, lease Lease, job runner.Job, onEvent func(runner.Event)) runner.Outcome
}

// Scorer scores one saved epoch of a trial. objective.Objective satisfies it.
type Scorer interface {
	ScoreEpoch(ctx context.Context, in objective.EpochInput) (objective.Result, error)
	// NeedsSamples is false when the objective uses only loss values, so
	// epochs can be scored from the epoch lines alone.
	NeedsSamples() bool
}

// System attribute keys the controller writes on trials. Samplers read
// attrFailReason and attrOutsideSpace; reports read the rest.
const (
	attrParams       = "lorasweep:params"
	attrFailReason   = sampling.AttrFailReason
	attrEnqueued     = "lorasweep:enqueued"
	attrBaseline     = "lorasweep:baseline"
	attrOutsideSpace = sampling.AttrOutsideSpace
	attrBestEpoch    = AttrBestEpoch
	// attrBestStep is set instead of attrBestEpoch when the best candidate
	// is a saved-and-sampled step.
	attrBestStep = AttrBestStep
	// attrPartial ("k/n") marks a trial whose value comes from a candidate
	// scored on k of its n expected sample images: it had no complete one.
	attrPartial = AttrPartial
	// attrWarnings (JSON list) is what the trial's run warned about.
	attrWarnings    = "lorasweep:warnings"
	attrStopReason  = AttrStopReason
	attrFirstStart  = AttrFirstStart
	attrOOMRetryOf  = "lorasweep:oom_retry_of"
	attrRepeatOf    = "lorasweep:repeat_of"
	attrRepeatIndex = "lorasweep:repeat_index"
	attrFreedBytes  = "lorasweep:freed_bytes"
)

// Kinds of enqueued trials (system attr lorasweep:enqueued).
const (
	EnqueuedBaseline = "baseline"
	EnqueuedFile     = "enqueue"
	EnqueuedOOMRetry = "oom-retry"
	EnqueuedRepeat   = "repeat"
)

// Stored attribute names other packages read: the study's stop reason and
// first start (reports), and the trial a retry copies (storage writes it
// when it re-enqueues an interrupted trial; listings show it).
const (
	AttrStopReason = "lorasweep:stop_reason"
	AttrFirstStart = "lorasweep:first_started_at"
	AttrRetryOf    = "lorasweep:retry_of"
)

// StopReason says why a sweep stopped launching trials.
type StopReason string

// Reasons a sweep stops launching trials.
const (
	StopBudget   StopReason = "budget reached"
	StopDeadline StopReason = "deadline reached"
	StopDrained  StopReason = "drained on request"
	StopAborted  StopReason = "aborted on request"
	StopFailures StopReason = "too many failures in a row"
	// StopDiskFull: a trial could not write its outputs. Every later trial
	// would fail the same way within seconds and burn the budget.
	StopDiskFull StopReason = "disk full: free space, then run again to resume"
	// StopUnwritable: lorasweep could not create a trial's folder or files
	// (read-only filesystem, permissions). Every later trial would fail
	// the same way.
	StopUnwritable StopReason = "trial folders not writable: fix the output root's permissions or mount, then run again to resume"
	// StopStorageFull: the storage's disk is full; nothing more can be
	// recorded. Trials left RUNNING are re-run on resume.
	StopStorageFull StopReason = "storage disk full: free space where the database lives, then run again to resume"
)

// Failed reports whether the sweep stopped because trials kept failing or
// its environment broke (rather than finishing, a deadline or a request):
// the command exits non-zero then.
func (r StopReason) Failed() bool {
	switch r {
	case StopFailures, StopDiskFull, StopUnwritable, StopStorageFull:
		return true
	}
	return false
}

// ErrStorageFull marks a storage write that failed because the database's
// disk is full (storage wraps the driver's error with it).
var ErrStorageFull = errors.New("storage disk full")

// Controller runs a sweep: for every free slot it claims a trial within the
// budget, proposes its params, trains it, scores each saved epoch, prunes
// hopeless trials and records the result. Any number of controllers (on any
// number of machines) may work on one sweep through a shared Store.
type Controller struct {
	Spec    *Spec
	Store   Store
	Runner  Runner
	Scorer  Scorer
	Sampler goptuna.Sampler
	Pruner  goptuna.Pruner // nil: no pruning
	Logger  *slog.Logger
	// WorkerID and Host identify this process in run records; WorkerID must
	// be unique per process start (NewWorkerID). Its "host:pid" part lets a
	// later start on the same host reap this process's RUNNING trials at
	// once when the pid is dead (see Alive).
	WorkerID string
	Host     string
	// Alive, if set, reports whether a process of this host is alive. On
	// start, RUNNING trials whose run names this Host and a worker pid for
	// which Alive is false are failed as interrupted immediately, instead of
	// after StaleAfter. Nil disables the check (stale heartbeats only).
	Alive func(pid int) bool
	// Parallel is the number of trials this controller runs at once (the
	// pool's slots, capped by the budget's parallel).
	Parallel int
	// HeartbeatEvery is how often a running trial's heartbeat is touched;
	// StaleAfter is how old a heartbeat may get before the trial is reaped.
	HeartbeatEvery time.Duration
	StaleAfter     time.Duration
	// Join makes Run work on an existing sweep only (a worker): the study
	// must exist and its stored spec is left as it is.
	Join bool
	// AllowObjectiveChange and AllowTrainerChange let Run resume a sweep
	// whose objective or trainer config differs from the stored one (a new
	// objective version; see OpenStudyWith); OnObjectiveChange hears of it.
	AllowObjectiveChange bool
	AllowTrainerChange   bool
	OnObjectiveChange    func(version int, changes []string, rescored, apart int)
	// Sequential makes each proposal wait until this controller's earlier
	// trials are recorded. Without it the next trial is proposed while the
	// previous one is still being scored, and whether the sampler sees that
	// trial's value or a constant-liar placeholder depends on how fast the
	// scorer ran: two runs of one seeded sequential sweep diverged from the
	// first model-based proposal on. The price is that one slot's final
	// scoring no longer overlaps the next trial's training.
	Sequential bool
	// Drain, when closed, stops launching new trials; running ones finish.
	Drain <-chan struct{}
	// Now is the clock (tests set it).
	Now func() time.Time
	// OnTrialStart, if set, is called when a trial's trainer is launched.
	OnTrialStart func(number int, gpus []string, params map[string]any)
	// OnTrialDone, if set, is called after each trial is recorded.
	OnTrialDone func(TrialSummary)
	// OnEvent, if set, sees every runner event with its trial number (live
	// status).
	OnEvent func(number int, ev runner.Event)
	// OnPhase, if set, is told when the sweep enters a phase ("repeats":
	// the best configs are re-trained with new seeds).
	OnPhase func(phase string)
	// OnFreed, if set, is told each time the retention policy deletes
	// checkpoints: the files removed and their bytes.
	OnFreed func(paths []string, bytes int64)

	study    *goptuna.Study
	deadline time.Time

	mu           sync.Mutex
	failsInARow  int
	durations    []time.Duration
	stop         StopReason
	stopFailures bool
	freed        int64
	cleaned      map[int]bool // trials the retention policy is done with
	repeatMu     sync.Mutex   // serialises this process's repeat enqueueing
	// trialEnded is closed (and replaced) each time one of this process's
	// trials is recorded, waking slots that wait for running trials.
	trialEnded chan struct{}
	inflight   int // trials between claim and record in this process
}

// ended returns the channel that closes when this process next records a
// finished trial.
func (c *Controller) ended() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trialEnded == nil {
		c.trialEnded = make(chan struct{})
	}
	return c.trialEnded
}

// signalEnded wakes every slot waiting in wait.
func (c *Controller) signalEnded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trialEnded != nil {
		close(c.trialEnded)
	}
	c.trialEnded = make(chan struct{})
}

// TrialSummary is a finished trial as this controller saw it.
type TrialSummary struct {
	Number    int
	State     goptuna.TrialState
	Value     float64
	HasValue  bool
	BestEpoch int
	// Best labels the best candidate ("epoch 3", "step 1600"); Partial is
	// "k/n" when it was scored on part of its images.
	Best     string
	Partial  string
	Reason   string
	Detail   string
	Warnings []string
	Params   map[string]any
	Duration time.Duration
	Baseline bool
}

// Result is what Run reports when it returns.
type Result struct {
	StudyID int
	Stop    StopReason
	Trials  []TrialSummary // trials this controller ran
	// FreedBytes is what the retention policy deleted during this run.
	FreedBytes int64
}

func (c *Controller) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Controller) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Run works on the sweep until the budget is spent, the deadline passes, too
// many trials fail in a row, Drain is closed, or ctx is cancelled (abort:
// running trials are stopped, failed as interrupted and re-enqueued). It
// returns once every trial it started is recorded.
func (c *Controller) Run(ctx context.Context, allowSpaceChange bool) (Result, error) {
	if c.HeartbeatEvery <= 0 {
		c.HeartbeatEvery = 5 * time.Second
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 6 * c.HeartbeatEvery
	}
	parallel := c.Parallel
	if parallel <= 0 {
		parallel = 1
	}
	// Trial folders must be writable before any trial is claimed: otherwise
	// every trial fails in its first millisecond and burns the budget.
	if err := checkWritableDir(c.Spec.OutputRoot); err != nil {
		return Result{}, err
	}
	study, err := openStudy(ctx, c.Store, c.Spec, StudyOptions{
		AllowSpaceChange: allowSpaceChange, AllowObjectiveChange: c.AllowObjectiveChange,
		AllowTrainerChange: c.AllowTrainerChange, Scorer: c.Scorer, Report: c.OnObjectiveChange,
	}, c.Join)
	if err != nil {
		return Result{}, err
	}
	study.Sampler = c.Sampler
	study.Pruner = c.Pruner
	c.study = study
	if err := c.Store.CheckWritable(ctx, study.ID); err != nil {
		if errors.Is(err, ErrStorageFull) {
			c.setStop(StopStorageFull)
			return Result{StudyID: study.ID, Stop: StopStorageFull}, fmt.Errorf("storage is not writable: %w", err)
		}
		return Result{StudyID: study.ID}, fmt.Errorf("storage is not writable: %w", err)
	}

	if err := c.reconcile(ctx); err != nil {
		return Result{}, err
	}
	if c.deadline, err = c.resolveDeadline(ctx); err != nil {
		return Result{}, err
	}

	// Reap while running, not only at start: a worker that dies during the
	// night leaves RUNNING trials that the survivors must fail and re-run
	// then, not on their next start.
	reapDone := make(chan struct{})
	reaperStopped := make(chan struct{})
	go func() {
		defer close(reaperStopped)
		c.reapLoop(ctx, reapDone)
	}()
	defer func() {
		close(reapDone)
		<-reaperStopped
	}()

	var (
		wg      sync.WaitGroup
		resMu   sync.Mutex
		summary []TrialSummary
		loopErr error
	)
	for slot := 0; slot < parallel; slot++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, ok, err := c.runOne(ctx)
				if ok || err != nil {
					c.signalEnded()
				}
				if err != nil {
					resMu.Lock()
					if loopErr == nil {
						loopErr = err
					}
					resMu.Unlock()
					if errors.Is(err, ErrStorageFull) {
						c.setStop(StopStorageFull)
					}
					c.setStop(StopAborted)
					return
				}
				if !ok {
					return
				}
				resMu.Lock()
				summary = append(summary, s)
				resMu.Unlock()
				if c.OnTrialDone != nil {
					c.OnTrialDone(s)
				}
			}
		}()
	}
	wg.Wait()

	stop := c.stopReason()
	if ctx.Err() != nil && stop != StopStorageFull {
		stop = StopAborted
	}
	if stop != "" {
		// Recorded for `status` and the report; a failure to record it must
		// not hide the sweep's own result.
		_ = c.Store.SetStudySystemAttr(study.ID, attrStopReason, string(stop))
	}
	c.mu.Lock()
	freed := c.freed
	c.mu.Unlock()
	return Result{StudyID: study.ID, Stop: stop, Trials: summary, FreedBytes: freed}, loopErr
}

// Deadline is the time after which no trial starts (zero: none). It is
// resolved when Run starts; hooks called by Run may read it.
func (c *Controller) Deadline() time.Time { return c.deadline }

func (c *Controller) setStop(r StopReason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop == "" {
		c.stop = r
	}
}

func (c *Controller) stopReason() StopReason {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop
}

// reconcile fails the trials of workers that died (stale heartbeats) and
// re-enqueues them by the retry policy, so a crashed sweep resumes cleanly.
func (c *Controller) reconcile(ctx context.Context) error {
	// Trials whose run had ended are finished from their records first:
	// failing them as interrupted would throw a trained, scored trial away.
	if err := c.finishRecorded(ctx); err != nil {
		return err
	}
	reaped, err := c.Store.ReapStaleLimit(ctx, c.study.ID, c.StaleAfter, c.deathRetries())
	if err != nil {
		return fmt.Errorf("reap stale trials: %w", err)
	}
	for _, r := range reaped {
		c.log().Warn("trial interrupted by a dead worker", "trial", r.Number, "requeued", r.RetryID != 0)
	}
	return c.reapDeadLocal(ctx)
}

// deathRetries is the retry limit for trials whose worker died (kill -9,
// a crash, a machine gone): the trainer did nothing wrong, so the re-run
// spends no retry and the interrupted attempt stops counting against the
// budget, however often lorasweep is killed. Only retries: 0 (never re-run
// interrupted trials) holds them back. A trial a live lorasweep stops
// (abort) spends one of budget.retries.
func (c *Controller) deathRetries() int {
	if c.Spec.Budget.Retries == 0 {
		return 0
	}
	return -1
}

// reapLoop runs the stale-heartbeat reaper every HeartbeatEvery until done
// is closed. A failed reap is logged and tried again next tick: the reaper
// is a safety net, and the slots surface a storage that is really gone.
func (c *Controller) reapLoop(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(c.HeartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := c.finishRecorded(ctx); err != nil && ctx.Err() == nil {
			c.log().Warn("finish trials from their records", "err", err)
		}
		reaped, err := c.Store.ReapStaleExcept(ctx, c.study.ID, c.StaleAfter, c.deathRetries(), c.WorkerID)
		if err != nil {
			if ctx.Err() == nil {
				c.log().Warn("reap stale trials", "err", err)
			}
			continue
		}
		for _, r := range reaped {
			c.log().Warn("trial interrupted: its worker stopped sending heartbeats", "trial", r.Number, "requeued", r.RetryID != 0)
		}
	}
}

// awaitOthers is called when the budget is fully claimed. While trials of
// the sweep are still RUNNING — on other workers, or this one's other slots
// — one of them may yet be reaped (its worker died) and re-enqueued, so the
// slot waits and claims again rather than leaving that retry to a start
// that may never come. It returns a granted claim, or none once nothing is
// RUNNING or launching must stop.
func (c *Controller) awaitOthers(ctx context.Context) (ClaimResult, error) {
	for {
		// Taken before the look at the trials, so a trial recorded in
		// between still wakes the wait below.
		ended := c.ended()
		trials, err := c.Store.GetAllTrials(c.study.ID)
		if err != nil {
			return ClaimResult{}, fmt.Errorf("read trials: %w", err)
		}
		running := 0
		for _, t := range trials {
			if t.State == goptuna.TrialStateRunning {
				running++
			}
		}
		if running == 0 {
			return ClaimResult{}, nil
		}
		if err := c.wait(ctx, ended); err != nil || !c.mayLaunch(ctx) {
			return ClaimResult{}, nil
		}
		claim, err := c.Store.ClaimAs(ctx, c.study.ID, c.Spec.Budget.Trials, c.WorkerID, c.Host)
		if err != nil || claim.Granted {
			return claim, err
		}
	}
}

// mayLaunch says whether a new trial may start now, setting the stop reason
// when it may not.
func (c *Controller) mayLaunch(ctx context.Context) bool {
	if ctx.Err() != nil {
		c.setStop(StopAborted)
		return false
	}
	select {
	case <-c.Drain:
		c.setStop(StopDrained)
		return false
	default:
	}
	c.mu.Lock()
	stopFailures := c.stopFailures
	predicted := meanDuration(c.durations)
	c.mu.Unlock()
	if stopFailures {
		c.setStop(StopFailures)
		return false
	}
	if !c.deadline.IsZero() && c.now().Add(predicted).After(c.deadline) {
		c.setStop(StopDeadline)
		return false
	}
	return c.stopReason() == ""
}

func meanDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}

// runOne acquires a slot, claims a trial and runs it. ok is false when no
// more trials should be started by this slot.
func (c *Controller) runOne(ctx context.Context) (TrialSummary, bool, error) {
	if !c.mayLaunch(ctx) {
		return TrialSummary{}, false, nil
	}
	lease, err := c.Runner.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			c.setStop(StopAborted)
			return TrialSummary{}, false, nil
		}
		return TrialSummary{}, false, fmt.Errorf("acquire slot: %w", err)
	}
	held := &onceLease{Lease: lease}
	defer held.Release()
	if c.Sequential {
		if err := c.awaitOwnTrials(ctx); err != nil {
			c.setStop(StopAborted)
			return TrialSummary{}, false, nil
		}
	}
	// Checked again: the wait for a slot may have outlasted the deadline or
	// a drain request.
	if !c.mayLaunch(ctx) {
		return TrialSummary{}, false, nil
	}
	claim, err := c.Store.ClaimAs(ctx, c.study.ID, c.Spec.Budget.Trials, c.WorkerID, c.Host)
	if err != nil {
		return TrialSummary{}, false, err
	}
	if !claim.Granted && c.Spec.Budget.RepeatTop > 0 && c.Spec.Budget.Trials > 0 {
		if claim, err = c.claimRepeat(ctx); err != nil {
			return TrialSummary{}, false, err
		}
		if !claim.Granted && c.stopReason() != "" {
			return TrialSummary{}, false, nil
		}
	}
	if !claim.Granted && c.Spec.Budget.RepeatTop == 0 {
		if claim, err = c.awaitOthers(ctx); err != nil {
			return TrialSummary{}, false, err
		}
		if !claim.Granted && c.stopReason() != "" {
			return TrialSummary{}, false, nil
		}
	}
	if !claim.Granted {
		c.setStop(StopBudget)
		return TrialSummary{}, false, nil
	}
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight--
		c.mu.Unlock()
	}()
	s, err := c.execute(ctx, held, claim)
	return s, err == nil, err
}

// awaitOwnTrials blocks until none of this process's trials is between
// claim and record (see Sequential).
func (c *Controller) awaitOwnTrials(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.inflight == 0 {
			c.mu.Unlock()
			return nil
		}
		if c.trialEnded == nil {
			c.trialEnded = make(chan struct{})
		}
		ch := c.trialEnded
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// onceLease lets a trial give its slot back as soon as its trainer exits
// while the slot loop still releases it on every other path.
type onceLease struct {
	Lease
	once sync.Once
}

func (l *onceLease) Release() { l.once.Do(l.Lease.Release) }

// trialParams proposes (or, for an enqueued trial, reads) the trial's
// user-facing params and records them on the trial.
func (c *Controller) trialParams(claim ClaimResult) (map[string]any, map[string]string, error) {
	attrs, err := c.Store.GetTrialSystemAttrs(claim.TrialID)
	if err != nil {
		return nil, nil, fmt.Errorf("read trial %d attrs: %w", claim.Number, err)
	}
	if raw, ok := attrs[attrParams]; ok {
		// Enqueued configs (the baseline, --enqueue, retries) run with their
		// own values, even outside the space; only the in-space ones enter
		// the sampler's history.
		params, err := decodeParams(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("trial %d: enqueued params: %w", claim.Number, err)
		}
		params = c.Spec.canonicalParams(params)
		internal, inside, err := c.internalFromParams(params)
		if err != nil {
			return nil, nil, fmt.Errorf("trial %d: %w", claim.Number, err)
		}
		// A repeat would enter the sampler's history as a second (third…)
		// observation of one point; it exists to measure noise, not to guide.
		if attrs[attrEnqueued] == EnqueuedRepeat {
			inside = false
		}
		if !inside {
			if err := c.Store.SetTrialSystemAttr(claim.TrialID, attrOutsideSpace, "true"); err != nil {
				return nil, nil, err
			}
			attrs[attrOutsideSpace] = "true"
		} else {
			dists := c.Spec.Distributions()
			for name, v := range internal {
				if err := c.Store.SetTrialParam(claim.TrialID, name, v, dists[name]); err != nil {
					return nil, nil, fmt.Errorf("trial %d: record param %s: %w", claim.Number, name, err)
				}
			}
		}
		return params, attrs, nil
	}
	t := goptuna.Trial{Study: c.study, ID: claim.TrialID}
	params, err := c.Spec.SuggestParams(t)
	if err != nil {
		return nil, nil, fmt.Errorf("trial %d: suggest params: %w", claim.Number, err)
	}
	raw, err := encodeParams(params)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Store.SetTrialSystemAttr(claim.TrialID, attrParams, string(raw)); err != nil {
		return nil, nil, fmt.Errorf("trial %d: record params: %w", claim.Number, err)
	}
	return params, attrs, nil
}

// trialDir returns a directory for the trial that holds nothing yet: outputs
// of an earlier sweep under the same root are never overwritten.
func trialDir(root string, number int) (string, error) {
	base := filepath.Join(root, fmt.Sprintf("trial-%04d", number))
	dir := base
	for i := 2; ; i++ {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
			return dir, nil
		}
		if err != nil {
			// An unreadable output root (a file in its place, no
			// permission) is the trial's environment failure, not the
			// sweep's: the runner fails to create the folder and records
			// the trial as unwritable, which stops launching. Nothing is
			// overwritten: every write there fails.
			return dir, nil
		}
		dir = fmt.Sprintf("%s.%d", base, i)
	}
}

// checkWritableDir creates dir (the output root) if needed and writes and
// removes a file in it, so an unwritable output root is reported before the
// first trial rather than as every trial's failure.
func checkWritableDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output root %s is not writable: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".lorasweep-write-check-*")
	if err != nil {
		return fmt.Errorf("output root %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("ok\n"))
	cerr := f.Close()
	_ = os.Remove(name)
	if werr != nil {
		return fmt.Errorf("output root %s is not writable: %w", dir, werr)
	}
	if cerr != nil {
		return fmt.Errorf("output root %s is not writable: %w", dir, cerr)
	}
	return nil
}
