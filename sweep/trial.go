package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
)

// reasonUnscorable marks a trial that trained but whose epochs could not be
// scored (no samples, undecodable images, scorer crash).
const reasonUnscorable = "unscorable"

// epochScore is the scored state of one saved epoch.
type epochScore struct {
	epoch    int
	fraction float64
	result   objective.Result
}

// trialRun follows one trial's events: it collects losses and samples,
// scores each epoch once its samples are complete, reports intermediate
// values and asks the pruner whether to stop.
type trialRun struct {
	c       *Controller
	ctx     context.Context
	cancel  context.CancelCauseFunc
	trialID int
	number  int
	params  map[string]any
	gpus    []string

	mu          sync.Mutex
	losses      []float64
	metrics     []MetricPoint
	lastStep    int
	totalSteps  int         // the schedule's steps, from progress lines
	endStep     map[int]int // epoch → the last step seen in it
	epochs      int         // total epochs, from the epoch lines
	current     int         // epoch in progress
	samples     map[int][]runner.Sample
	checkpoints map[int]string
	scored      map[int]bool
	scores      []epochScore
	pruned      bool
	exited      bool // the trainer is gone: nothing left to prune
	storeErr    error

	pending []int         // epochs ready to score, in order
	closed  bool          // no more epochs will be queued
	wake    chan struct{} // signals scoreLoop that pending or closed changed
	done    chan struct{}
}

func (c *Controller) execute(ctx context.Context, lease *onceLease, claim ClaimResult) (TrialSummary, error) {
	start := c.now()
	sum := TrialSummary{Number: claim.Number}
	params, attrs, err := c.trialParams(claim)
	if err != nil {
		return sum, err
	}
	sum.Params = params
	sum.Baseline = attrs[attrBaseline] == "true"

	dir, err := trialDir(c.Spec.OutputRoot, claim.Number)
	if err != nil {
		return sum, err
	}
	cfg, err := c.trialConfig(dir, params)
	if err != nil {
		return sum, fmt.Errorf("trial %d: %w", claim.Number, err)
	}
	job := runner.Job{
		Number:  claim.Number,
		Dir:     dir,
		Config:  cfg,
		Params:  params,
		Timeout: c.Spec.Budget.TrialTimeout.D(),
	}
	run := RunRecord{
		TrialID:   claim.TrialID,
		WorkerID:  c.WorkerID,
		Host:      c.Host,
		GPUs:      lease.GPUs(),
		TrialDir:  dir,
		LogPath:   filepath.Join(dir, "trial.log"),
		Started:   start,
		Heartbeat: start,
	}
	if err := c.Store.StartRun(ctx, run); err != nil {
		return sum, fmt.Errorf("trial %d: record run start: %w", claim.Number, err)
	}
	c.log().Info("trial started", "trial", claim.Number, "slot", lease.Slot(), "gpus", strings.Join(lease.GPUs(), ","), "params", FormatParams(params))
	if c.OnTrialStart != nil {
		c.OnTrialStart(claim.Number, lease.GPUs(), params)
	}

	trialCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tr := &trialRun{
		c: c, ctx: trialCtx, cancel: cancel,
		trialID: claim.TrialID, number: claim.Number, params: params, gpus: lease.GPUs(),
		samples: map[int][]runner.Sample{}, checkpoints: map[int]string{}, scored: map[int]bool{}, endStep: map[int]int{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go tr.scoreLoop()
	stopHeartbeat := c.heartbeat(ctx, claim.TrialID, func() { cancel(errReapedElsewhere) })

	outcome := c.Runner.Run(trialCtx, lease.Lease, job, tr.onEvent)
	// The trainer's own verdict counts before the slot is handed on: a stop
	// it triggers (failures in a row, a full disk) must hold back the next
	// launch, which would otherwise start while this trial is being scored.
	c.noteOutcome(outcome)
	// The slot is free as soon as the trainer is gone; the remaining
	// scoring and bookkeeping do not hold it.
	lease.Release()
	tr.finish(outcome)
	stopHeartbeat()

	sum.Duration = c.now().Sub(start)
	if tr.storeErr != nil {
		return sum, tr.storeErr
	}
	return c.tell(ctx, tr, outcome, run, sum)
}

// errReapedElsewhere stops a trial that another worker's reaper failed as
// interrupted: its copy is being re-run, so this run only holds a GPU.
var errReapedElsewhere = errors.New("trial reaped by another worker")

// heartbeat touches the trial's heartbeat until the returned func is called.
// When the storage says the trial is no longer RUNNING (another worker's
// reaper judged this process dead and failed it), lost is called once and
// the heartbeat stops.
func (c *Controller) heartbeat(ctx context.Context, trialID int, lost func()) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				err := c.Store.Heartbeat(context.WithoutCancel(ctx), trialID)
				if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
					c.log().Warn("trial was reaped by another worker (its heartbeat went stale): stopping it", "trial_id", trialID)
					lost()
					return
				}
				if err != nil {
					c.log().Warn("heartbeat failed", "trial_id", trialID, "err", err)
				}
			}
		}
	}()
	return func() { close(stop); <-done }
}

func (tr *trialRun) onEvent(ev runner.Event) {
	if tr.c.OnEvent != nil {
		tr.c.OnEvent(tr.number, ev)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch ev.Kind {
	case runner.EventProgress:
		if ev.Total > 0 {
			tr.totalSteps = ev.Total
		}
		step := ev.Step
		if step == 0 {
			// Trainers whose lines carry no step number (command trainers
			// without a step group): each loss line is the next step.
			step = tr.lastStep + 1
		}
		if step > tr.lastStep && !math.IsNaN(ev.Loss) {
			tr.losses = append(tr.losses, ev.Loss)
			tr.metrics = append(tr.metrics, MetricPoint{Step: step, Loss: ev.Loss, LR: ev.LR})
			tr.lastStep = step
		}
	case runner.EventEpoch:
		if ev.Epochs > 0 {
			tr.epochs = ev.Epochs
		}
		// Epoch N starting means epoch N-1 (and its samples) is complete.
		prev := tr.current
		if prev > 0 && tr.lastStep > 0 {
			tr.endStep[prev] = tr.lastStep
		}
		tr.current = ev.Epoch
		for e := 1; e < ev.Epoch && e <= prev; e++ {
			tr.enqueueLocked(e)
		}
	case runner.EventCheckpoint:
		if ev.Epoch > 0 {
			tr.checkpoints[ev.Epoch] = ev.Path
		}
	case runner.EventSamples:
		for _, s := range ev.Samples {
			if s.Epoch <= 0 {
				// epoch 0 is the base model (sample_at_first) and step-based
				// samples have no epoch: neither is a candidate epoch.
				continue
			}
			tr.samples[s.Epoch] = append(tr.samples[s.Epoch], s)
		}
		for e := range tr.samples {
			if e < tr.current {
				tr.enqueueLocked(e)
			}
		}
	}
}

// enqueueLocked schedules an epoch for scoring once. With a sample-based
// objective an epoch without samples waits (its samples may still be found
// at exit).
func (tr *trialRun) enqueueLocked(epoch int) {
	if tr.scored[epoch] {
		return
	}
	if tr.c.Scorer.NeedsSamples() && len(tr.samples[epoch]) == 0 {
		return
	}
	tr.scored[epoch] = true
	tr.pending = append(tr.pending, epoch)
	tr.signalLocked()
}

func (tr *trialRun) signalLocked() {
	select {
	case tr.wake <- struct{}{}:
	default:
	}
}

// scoreLoop scores queued epochs one at a time, off the event goroutine, so
// reading the trainer's output never waits for a scorer.
func (tr *trialRun) scoreLoop() {
	defer close(tr.done)
	for {
		tr.mu.Lock()
		if len(tr.pending) == 0 {
			closed := tr.closed
			tr.mu.Unlock()
			if closed {
				return
			}
			<-tr.wake
			continue
		}
		epoch := tr.pending[0]
		tr.pending = tr.pending[1:]
		tr.mu.Unlock()
		tr.scoreEpoch(epoch)
	}
}

func (tr *trialRun) scoreEpoch(epoch int) {
	tr.mu.Lock()
	total := tr.epochs
	if total <= 0 {
		total = epoch
	}
	in := objective.EpochInput{
		TrialNumber: tr.number,
		Epoch:       epoch,
		Fraction:    tr.fractionLocked(epoch, total),
		Losses:      append([]float64(nil), tr.losses...),
		Params:      tr.params,
		GPUs:        tr.gpus,
	}
	samples := append([]runner.Sample(nil), tr.samples[epoch]...)
	checkpoint := tr.checkpoints[epoch]
	metrics := tr.metrics
	tr.metrics = nil
	tr.mu.Unlock()
	for _, s := range samples {
		in.Samples = append(in.Samples, objective.Sample{Path: s.Path, Prompt: s.Prompt, PromptIndex: s.PromptIndex, Seed: s.Seed, Epoch: s.Epoch})
	}

	// Scoring and recording survive an abort of the trial: what was trained
	// is worth keeping.
	ctx := context.WithoutCancel(tr.ctx)
	store := tr.c.Store
	if len(metrics) > 0 {
		if err := store.RecordMetrics(ctx, tr.trialID, metrics); err != nil {
			tr.fail(fmt.Errorf("trial %d: record metrics: %w", tr.number, err))
		}
	}
	res, err := tr.c.Scorer.ScoreEpoch(ctx, in)
	if err != nil {
		res = objective.Result{Unscorable: true, Reason: err.Error()}
	}
	if !res.Unscorable && (math.IsNaN(res.Value) || math.IsInf(res.Value, 0)) {
		res.Unscorable, res.Reason = true, fmt.Sprintf("score is %v", res.Value)
	}
	comps, _ := json.Marshal(res.Components)
	rec := EpochRecord{TrialID: tr.trialID, Epoch: epoch, Fraction: in.Fraction, Components: string(comps),
		Checkpoint: checkpoint, Unscorable: res.Unscorable, Reason: res.Reason}
	if !res.Unscorable {
		v := res.Value
		rec.Value = &v
	}
	if err := store.RecordEpoch(ctx, rec); err != nil {
		tr.fail(fmt.Errorf("trial %d: record epoch %d: %w", tr.number, epoch, err))
	}
	if len(samples) > 0 {
		recs := make([]SampleRecord, 0, len(samples))
		for _, s := range samples {
			recs = append(recs, SampleRecord{TrialID: tr.trialID, Epoch: epoch, Path: s.Path, Prompt: s.Prompt,
				PromptIndex: s.PromptIndex, Seed: s.Seed, Scores: sampleScores(res, s.Path)})
		}
		if err := store.RecordSamples(ctx, recs); err != nil {
			tr.fail(fmt.Errorf("trial %d: record samples: %w", tr.number, err))
		}
	}
	if res.Unscorable {
		tr.c.log().Warn("epoch unscorable", "trial", tr.number, "epoch", epoch, "reason", res.Reason)
		return
	}
	tr.mu.Lock()
	tr.scores = append(tr.scores, epochScore{epoch: epoch, fraction: in.Fraction, result: res})
	tr.mu.Unlock()
	tr.c.log().Info("epoch scored", "trial", tr.number, "epoch", epoch, "value", res.Value)

	step := int(math.Round(in.Fraction * 1000))
	if err := store.SetTrialIntermediateValue(tr.trialID, step, res.Value); err != nil {
		// A duplicate step (two epochs at one fraction) is harmless.
		tr.c.log().Debug("intermediate value not stored", "trial", tr.number, "step", step, "err", err)
	}
	tr.mu.Lock()
	skip := tr.pruned || tr.exited
	tr.mu.Unlock()
	if tr.c.Pruner == nil || in.Fraction >= 1 || skip {
		return
	}
	frozen, err := store.GetTrial(tr.trialID)
	if err != nil {
		tr.fail(fmt.Errorf("trial %d: read for pruning: %w", tr.number, err))
		return
	}
	prune, err := tr.c.Pruner.Prune(tr.c.study, frozen)
	if err != nil {
		tr.c.log().Warn("pruner failed", "trial", tr.number, "err", err)
		return
	}
	if prune {
		tr.mu.Lock()
		stop := !tr.exited && !tr.pruned
		tr.pruned = true
		tr.mu.Unlock()
		if stop {
			tr.c.log().Info("pruning trial", "trial", tr.number, "epoch", epoch, "value", res.Value)
			tr.cancel(runner.ErrPruned)
		}
	}
}

// fractionLocked is how much of its schedule the trial had completed at
// the end of epoch: step/total from the progress lines when both are known
// (trials with other epoch counts or batch sizes are at other points of
// their LR schedules, so this is what compares across trials), else
// epoch/epochs.
func (tr *trialRun) fractionLocked(epoch, epochs int) float64 {
	if step, ok := tr.endStep[epoch]; ok && tr.totalSteps > 0 {
		return math.Min(1, float64(step)/float64(tr.totalSteps))
	}
	return math.Min(1, float64(epoch)/float64(epochs))
}

func (tr *trialRun) fail(err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.storeErr == nil {
		tr.storeErr = err
	}
}

// finish scores what the trainer left behind (the last epoch's samples are
// only complete at exit) and waits for scoring to end.
func (tr *trialRun) finish(out runner.Outcome) {
	tr.mu.Lock()
	tr.exited = true
	if tr.current > 0 && tr.lastStep > 0 {
		if _, ok := tr.endStep[tr.current]; !ok {
			tr.endStep[tr.current] = tr.lastStep
		}
	}
	for _, s := range out.Samples {
		if s.Epoch <= 0 || containsSample(tr.samples[s.Epoch], s.Path) {
			continue
		}
		tr.samples[s.Epoch] = append(tr.samples[s.Epoch], s)
	}
	for e, p := range out.Checkpoints {
		tr.checkpoints[e] = p
	}
	last := tr.current
	if out.OK && tr.epochs > 0 {
		last = tr.epochs
	}
	if out.OK && last > 0 && out.ModelPath != "" {
		// The final epoch's weights are the final model file.
		tr.checkpoints[last] = out.ModelPath
	}
	if out.OK || out.Reason == runner.ReasonPruned {
		var epochs []int
		for e := range tr.samples {
			epochs = append(epochs, e)
		}
		if !tr.c.Scorer.NeedsSamples() && out.OK {
			for e := 1; e <= last; e++ {
				epochs = append(epochs, e)
			}
		}
		sort.Ints(epochs)
		for _, e := range epochs {
			// After a prune only epochs already complete count.
			if out.Reason == runner.ReasonPruned && e >= tr.current {
				continue
			}
			tr.enqueueLocked(e)
		}
	}
	tr.closed = true
	tr.signalLocked()
	tr.mu.Unlock()
	<-tr.done
}

func containsSample(ss []runner.Sample, path string) bool {
	for _, s := range ss {
		if s.Path == path {
			return true
		}
	}
	return false
}

// best returns the best scored epoch by the study's direction.
func (tr *trialRun) best(maximize bool) (epochScore, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var best epochScore
	found := false
	for _, s := range tr.scores {
		if !found || (maximize && s.result.Value > best.result.Value) || (!maximize && s.result.Value < best.result.Value) ||
			(s.result.Value == best.result.Value && s.epoch < best.epoch) {
			best, found = s, true
		}
	}
	return best, found
}

// tell records how the trial ended: its value (best epoch), state and run.
func (c *Controller) tell(ctx context.Context, tr *trialRun, out runner.Outcome, run RunRecord, sum TrialSummary) (TrialSummary, error) {
	ctx = context.WithoutCancel(ctx)
	maximize := c.study.Direction() == goptuna.StudyDirectionMaximize
	best, hasBest := tr.best(maximize)

	end := c.now()
	run.Ended = &end
	exit := out.ExitCode
	run.ExitCode = &exit
	run.PID = out.PID
	run.ModelPath = out.ModelPath
	run.LogTail = strings.Join(out.LogTail, "\n")
	run.Detail = out.Detail
	if out.LogPath != "" {
		run.LogPath = out.LogPath
	}

	state := goptuna.TrialStateFail
	reason := string(out.Reason)
	switch {
	case out.Reason == runner.ReasonPruned && hasBest:
		state = goptuna.TrialStatePruned
		reason = ""
	case out.OK && hasBest:
		state = goptuna.TrialStateComplete
		reason = ""
	case out.OK || out.Reason == runner.ReasonPruned:
		reason = reasonUnscorable
		if run.Detail == "" {
			run.Detail = "no saved epoch could be scored (no samples found, or every image failed to decode)"
		}
	case reason == "":
		reason = string(runner.ReasonCrash)
	}
	run.Reason = reason
	if hasBest {
		e := best.epoch
		run.BestEpoch = &e
		run.Checkpoint = tr.checkpoints[best.epoch]
		sum.BestEpoch = e
	}
	if err := c.Store.FinishRun(ctx, run); err != nil {
		return sum, fmt.Errorf("trial %d: record run end: %w", tr.number, err)
	}

	if out.Reason == runner.ReasonInterrupted {
		_, err := c.Store.FailInterruptedLimit(ctx, tr.trialID, c.Spec.Budget.Retries)
		if err != nil && !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			return sum, fmt.Errorf("trial %d: record interruption: %w", tr.number, err)
		}
		sum.State, sum.Reason, sum.Detail = goptuna.TrialStateFail, reason, run.Detail
		return sum, nil
	}

	if err := c.recordEnd(tr, state, reason, best, hasBest); err != nil {
		if !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			return sum, fmt.Errorf("trial %d: %w", tr.number, err)
		}
		// Another worker's reaper judged this trial dead (this process
		// stalled past the stale timeout) and failed it as interrupted; its
		// verdict stands, and its re-enqueued copy trains the config again.
		c.log().Warn("trial was already finished elsewhere: its heartbeat went stale", "trial", tr.number)
		sum.State, sum.Reason, sum.Detail = goptuna.TrialStateFail, string(runner.ReasonInterrupted), "reaped as stale by another worker"
		return sum, nil
	}
	if state != goptuna.TrialStateFail {
		sum.Value, sum.HasValue = best.result.Value, true
	}
	sum.State, sum.Reason, sum.Detail = state, reason, run.Detail

	c.mu.Lock()
	if state != goptuna.TrialStateFail {
		c.durations = append(c.durations, sum.Duration)
	} else if reason == reasonUnscorable {
		// Trained, then failed in scoring: noteOutcome counted a success.
		c.countFailureLocked()
	}
	c.mu.Unlock()
	c.log().Info("trial finished", "trial", tr.number, "state", state.String(), "value", sum.Value, "best_epoch", sum.BestEpoch, "reason", reason)
	if state == goptuna.TrialStateFail && out.Reason == runner.ReasonOOM {
		if err := c.retryOOM(ctx, tr); err != nil {
			return sum, err
		}
	}
	if err := c.applyRetention(ctx); err != nil {
		// Deleting files is housekeeping: a failure must not stop the sweep.
		c.log().Warn("retention policy failed", "trial", tr.number, "err", err)
	}
	return sum, nil
}

// noteOutcome updates the failures-in-a-row count and the disk-full stop
// from how the trainer ended. A trial that trained (complete or pruned)
// ends a run of failures; an interrupted one says nothing about its params.
func (c *Controller) noteOutcome(out runner.Outcome) {
	if out.Reason == runner.ReasonInterrupted {
		return
	}
	if out.Reason == runner.ReasonDiskFull {
		c.setStop(StopDiskFull)
	}
	if out.Reason == runner.ReasonUnwritable {
		c.setStop(StopUnwritable)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if out.OK || out.Reason == runner.ReasonPruned {
		c.failsInARow = 0
		return
	}
	c.countFailureLocked()
}

func (c *Controller) countFailureLocked() {
	c.failsInARow++
	if m := c.Spec.Budget.MaxFailuresInARow; m > 0 && c.failsInARow >= m {
		c.stopFailures = true
	}
}

// recordEnd writes the trial's best epoch, failure reason or value, then its
// final state. ErrTrialCannotBeUpdated comes back unwrapped when the trial was
// finished elsewhere meanwhile.
func (c *Controller) recordEnd(tr *trialRun, state goptuna.TrialState, reason string, best epochScore, hasBest bool) error {
	if hasBest {
		if err := c.Store.SetTrialSystemAttr(tr.trialID, attrBestEpoch, fmt.Sprint(best.epoch)); err != nil {
			return fmt.Errorf("record best epoch: %w", err)
		}
	}
	if state == goptuna.TrialStateFail {
		if err := c.Store.SetTrialSystemAttr(tr.trialID, attrFailReason, reason); err != nil {
			return fmt.Errorf("record failure reason: %w", err)
		}
	} else if err := c.Store.SetTrialValue(tr.trialID, best.result.Value); err != nil {
		return fmt.Errorf("record value: %w", err)
	}
	if err := c.Store.SetTrialState(tr.trialID, state); err != nil {
		return fmt.Errorf("record state: %w", err)
	}
	return nil
}

// sampleScores extracts one image's per-component scores as JSON.
func sampleScores(res objective.Result, path string) string {
	m := map[string]float64{}
	for _, comp := range res.Components {
		for _, im := range comp.Images {
			if im.Path == path {
				m[comp.Name] = im.Score
			}
		}
	}
	if len(m) == 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// FormatParams renders params as "k=v k=v" in name order for log lines.
func FormatParams(p map[string]any) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", k, FormatValue(p[k]))
	}
	return b.String()
}

// FormatValue renders a param value compactly: floats with 4 significant
// digits, others as they print.
func FormatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return fmt.Sprintf("%.4g", x)
	case float32:
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprint(v)
}
