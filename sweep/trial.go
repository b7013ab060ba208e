package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // samples saved as .jpg by command trainers
	_ "image/png"
	"io"
	"math"
	"os"
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

// candidate is one saved-and-sampled point of a trial: an epoch (step 0)
// or, for a trial that samples by steps, a step (epoch 0).
type candidate struct{ epoch, step int }

func (c candidate) String() string { return CandidateLabel(c.epoch, c.step) }

// before orders candidates as the views list them: epochs, then steps.
func (c candidate) before(d candidate) bool {
	if (c.step > 0) != (d.step > 0) {
		return c.step == 0
	}
	return c.epoch < d.epoch || (c.epoch == d.epoch && c.step < d.step)
}

// candidateScore is the scored state of one candidate. A partial one was
// scored on fewer images than its prompts ask for: it is kept and shown,
// but never reported to the pruner and never preferred to a complete one.
type candidateScore struct {
	cand     candidate
	fraction float64
	result   objective.Result
	partial  bool
	images   int // scored on images of expected
	expected int
}

// sampleRecheckEvery is how often a candidate whose images are not all
// there (or not all decodable yet: a PNG still being written) is looked at
// again while its trainer runs.
const sampleRecheckEvery = 250 * time.Millisecond

// metricsFlushEvery bounds how long a printed loss waits before it is
// recorded when no candidate is scored meanwhile: a trial that dies keeps
// the curve it printed, and the live views see it.
const metricsFlushEvery = 2 * time.Second

// trialRun follows one trial's events: it collects losses and samples,
// scores each candidate once all its expected samples exist and decode,
// reports intermediate values and asks the pruner whether to stop.
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
	metrics     []MetricPoint // not recorded yet
	lastStep    int
	totalSteps  int         // the schedule's steps, from progress lines
	endStep     map[int]int // epoch → the last step seen in it
	epochs      int         // total epochs, from the epoch lines
	current     int         // epoch in progress
	expected    int         // images each sampled candidate must produce (0: unknown)
	samples     map[candidate][]runner.Sample
	checkpoints map[candidate]string
	due         map[candidate]bool // its trainer has moved past it
	queued      map[candidate]bool
	validation  map[int]float64 // epoch → the last validation loss printed in it
	warnings    []string        // the run's (and lost checkpoints'), recorded with the trial
	decoded     map[string]bool // sample paths that decoded whole
	records     map[candidate]EpochRecord
	removed     map[string]bool // checkpoints the trainer said it deleted
	keep        checkpointKeeper
	scores      []candidateScore
	pruned      bool
	exited      bool // the trainer is gone: nothing left to prune or wait for
	storeErr    error

	pending []candidate   // candidates ready to score, in order
	waiting []candidate   // due, but some images are missing or not decodable yet
	closed  bool          // no more candidates will be queued
	wake    chan struct{} // signals scoreLoop that pending, waiting or closed changed
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
		samples: map[candidate][]runner.Sample{}, checkpoints: map[candidate]string{}, due: map[candidate]bool{},
		queued: map[candidate]bool{}, validation: map[int]float64{}, decoded: map[string]bool{}, endStep: map[int]int{},
		records: map[candidate]EpochRecord{}, removed: map[string]bool{},
		keep: checkpointKeeper{dir: filepath.Join(dir, keptDir), links: map[string]string{}},
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
	case runner.EventPrepared:
		tr.expected = ev.Expected
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
		// A step sampled at S is behind the trainer once it reports a
		// later step.
		tr.stepsDueLocked(step - 1)
	case runner.EventValidation:
		tr.validationLocked(ev.Loss)
	case runner.EventEpoch:
		if ev.Epochs > 0 {
			tr.epochs = ev.Epochs
		}
		// Epoch N starting means epoch N-1 (and its samples) is behind it.
		prev := tr.current
		if prev > 0 && tr.lastStep > 0 {
			tr.endStep[prev] = tr.lastStep
		}
		tr.current = ev.Epoch
		tr.stepsDueLocked(tr.lastStep)
		for e := 1; e < ev.Epoch && e <= prev; e++ {
			c := candidate{epoch: e}
			tr.due[c] = true
			tr.enqueueLocked(c)
		}
	case runner.EventCheckpoint:
		switch {
		case ev.Step > 0:
			tr.checkpoints[candidate{step: ev.Step}] = ev.Path
		case ev.Epoch > 0:
			tr.checkpoints[candidate{epoch: ev.Epoch}] = ev.Path
		}
		// A link costs nothing while the trainer's file exists, and keeps
		// the weights if save_last_n_epochs deletes it before it is scored.
		tr.keep.link(ev.Path)
	case runner.EventCheckpointRemoved:
		tr.removed[ev.Path] = true
	case runner.EventSamples:
		tr.addSamplesLocked(ev.Samples)
		for c := range tr.samples {
			tr.enqueueLocked(c)
		}
		if len(tr.waiting) > 0 {
			tr.signalLocked()
		}
	}
}

// addSamplesLocked files samples under their candidates. Epoch 0 is the
// base model (sample_at_first): never a candidate.
func (tr *trialRun) addSamplesLocked(ss []runner.Sample) {
	for _, s := range ss {
		var c candidate
		switch {
		case s.Epoch > 0:
			c = candidate{epoch: s.Epoch}
		case s.Epoch < 0 && s.Step > 0:
			c = candidate{step: s.Step}
		default:
			continue
		}
		if !containsSample(tr.samples[c], s.Path) {
			tr.samples[c] = append(tr.samples[c], s)
		}
	}
}

// stepsDueLocked marks the step candidates at or before step as behind the
// trainer.
func (tr *trialRun) stepsDueLocked(step int) {
	for c := range tr.samples {
		if c.step > 0 && c.step <= step && !tr.due[c] {
			tr.due[c] = true
			tr.enqueueLocked(c)
		}
	}
}

// validationLocked keeps the epoch's validation loss: the last one printed
// before the epoch ends. tqdm re-draws the previous epoch's finished
// validation bar early in the next epoch with its old value; a first value
// in an epoch equal to the previous epoch's is that re-draw, not a score.
func (tr *trialRun) validationLocked(loss float64) {
	e := tr.current
	if _, seen := tr.validation[e]; !seen {
		if prev, ok := tr.validation[e-1]; ok && prev == loss {
			return
		}
	}
	tr.validation[e] = loss
}

// enqueueLocked schedules a candidate for scoring once, when its trainer
// has moved past it. With a sample-based objective a candidate without
// samples waits (its samples may still be found at exit).
func (tr *trialRun) enqueueLocked(c candidate) {
	if tr.queued[c] || !tr.due[c] {
		return
	}
	if tr.c.Scorer.NeedsSamples() && len(tr.samples[c]) == 0 {
		return
	}
	tr.queued[c] = true
	tr.pending = append(tr.pending, c)
	tr.signalLocked()
}

func (tr *trialRun) signalLocked() {
	select {
	case tr.wake <- struct{}{}:
	default:
	}
}

// scoreLoop scores queued candidates one at a time, off the event
// goroutine, so reading the trainer's output never waits for a scorer. A
// candidate whose images are not all there yet waits and is looked at
// again when samples arrive, every sampleRecheckEvery, and at exit.
func (tr *trialRun) scoreLoop() {
	defer close(tr.done)
	for {
		tr.mu.Lock()
		if len(tr.pending) == 0 {
			closed, waiting := tr.closed, len(tr.waiting) > 0
			if closed && waiting {
				// The trainer is gone: what is there is all there will be.
				tr.pending, tr.waiting = tr.waiting, nil
				tr.mu.Unlock()
				continue
			}
			tr.mu.Unlock()
			if closed {
				tr.flushMetrics()
				return
			}
			if !waiting {
				select {
				case <-tr.wake:
				case <-time.After(metricsFlushEvery):
					tr.flushMetrics()
				}
				continue
			}
			select {
			case <-tr.wake:
			case <-time.After(sampleRecheckEvery):
			}
			tr.mu.Lock()
			tr.pending, tr.waiting = append(tr.pending, tr.waiting...), nil
			tr.mu.Unlock()
			continue
		}
		c := tr.pending[0]
		tr.pending = tr.pending[1:]
		tr.mu.Unlock()
		tr.scoreCandidate(c)
	}
}

// flushMetrics records the losses seen since the last flush, so a trial
// that fails keeps the curve it printed.
func (tr *trialRun) flushMetrics() {
	tr.mu.Lock()
	metrics := tr.metrics
	tr.metrics = nil
	tr.mu.Unlock()
	if len(metrics) == 0 {
		return
	}
	if err := tr.c.Store.RecordMetrics(context.WithoutCancel(tr.ctx), tr.trialID, metrics); err != nil {
		tr.fail(fmt.Errorf("trial %d: record metrics: %w", tr.number, err))
	}
}

// evidence returns the candidate's samples that exist and decode whole,
// and whether they are all it will get: all expected images are there, or
// the trainer is gone. ok false means wait.
func (tr *trialRun) evidence(c candidate) (good []runner.Sample, expected int, ok bool) {
	tr.mu.Lock()
	samples := append([]runner.Sample(nil), tr.samples[c]...)
	expected, exited := tr.expected, tr.exited
	tr.mu.Unlock()
	if !tr.c.Scorer.NeedsSamples() {
		return samples, 0, true
	}
	if expected > 0 && len(samples) < expected && !exited {
		return nil, expected, false
	}
	for _, s := range samples {
		tr.mu.Lock()
		known := tr.decoded[s.Path]
		tr.mu.Unlock()
		if !known {
			if decodeErr(s.Path) != nil {
				continue
			}
			tr.mu.Lock()
			tr.decoded[s.Path] = true
			tr.mu.Unlock()
		}
		good = append(good, s)
	}
	if len(good) < len(samples) && !exited {
		return nil, expected, false
	}
	return good, expected, true
}

// decodeErr reports whether an image file decodes whole: a PNG the trainer
// is still writing does not.
func decodeErr(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = image.Decode(f)
	return err
}

func (tr *trialRun) scoreCandidate(c candidate) {
	samples, expected, ok := tr.evidence(c)
	if !ok {
		tr.mu.Lock()
		tr.waiting = append(tr.waiting, c)
		tr.mu.Unlock()
		return
	}
	partial := expected > 0 && len(samples) < expected
	tr.mu.Lock()
	total := tr.epochs
	if total <= 0 {
		total = max(c.epoch, 1)
	}
	in := objective.EpochInput{
		TrialNumber: tr.number,
		Epoch:       c.epoch,
		Fraction:    tr.fractionLocked(c, total),
		Losses:      append([]float64(nil), tr.losses...),
		Params:      tr.params,
		GPUs:        tr.gpus,
	}
	if v, ok := tr.validation[c.epoch]; ok && c.step == 0 {
		in.ValidationLoss = &v
	}
	checkpoint := tr.checkpoints[c]
	tr.mu.Unlock()
	for _, s := range samples {
		in.Samples = append(in.Samples, objective.Sample{Path: s.Path, Prompt: s.Prompt, PromptIndex: s.PromptIndex, Seed: s.Seed, Epoch: s.Epoch})
	}

	// Scoring and recording survive an abort of the trial: what was trained
	// is worth keeping.
	ctx := context.WithoutCancel(tr.ctx)
	store := tr.c.Store
	tr.flushMetrics()
	var res objective.Result
	var err error
	if tr.c.Scorer.NeedsSamples() && len(samples) == 0 {
		err = fmt.Errorf("none of its %d sample images exists and decodes", expected)
	} else {
		res, err = tr.c.Scorer.ScoreEpoch(ctx, in)
	}
	if err != nil {
		res = objective.Result{Unscorable: true, Reason: err.Error()}
	}
	if !res.Unscorable && (math.IsNaN(res.Value) || math.IsInf(res.Value, 0)) {
		res.Unscorable, res.Reason = true, fmt.Sprintf("score is %v", res.Value)
	}
	comps, _ := json.Marshal(res.Components)
	rec := EpochRecord{TrialID: tr.trialID, Epoch: c.epoch, Step: c.step, Fraction: in.Fraction, Components: string(comps),
		Checkpoint: checkpoint, Unscorable: res.Unscorable, Reason: res.Reason,
		Images: len(samples), Expected: expected, Partial: partial,
		ObjectiveVersion: tr.c.Spec.ObjectiveVersion}
	if !res.Unscorable {
		v := res.Value
		rec.Value = &v
	}
	if err := store.RecordEpoch(ctx, rec); err != nil {
		tr.fail(fmt.Errorf("trial %d: record %s: %w", tr.number, c, err))
	}
	tr.mu.Lock()
	tr.records[c] = rec
	all := append([]runner.Sample(nil), tr.samples[c]...)
	tr.mu.Unlock()
	if len(all) > 0 {
		// Every image found is kept with the candidate, those that did not
		// decode too (without scores): the report shows what was there.
		recs := make([]SampleRecord, 0, len(all))
		for _, s := range all {
			recs = append(recs, SampleRecord{TrialID: tr.trialID, Epoch: c.epoch, Step: c.step, Path: s.Path, Prompt: s.Prompt,
				PromptIndex: s.PromptIndex, Seed: s.Seed, Scores: sampleScores(res, s.Path)})
		}
		if err := store.RecordSamples(ctx, recs); err != nil {
			tr.fail(fmt.Errorf("trial %d: record samples: %w", tr.number, err))
		}
	}
	if res.Unscorable {
		tr.c.log().Warn("candidate unscorable", "trial", tr.number, "candidate", c.String(), "reason", res.Reason)
		return
	}
	tr.mu.Lock()
	tr.scores = append(tr.scores, candidateScore{cand: c, fraction: in.Fraction, result: res, partial: partial,
		images: len(samples), expected: expected})
	tr.mu.Unlock()
	tr.keepBest()
	if partial {
		tr.c.log().Warn("candidate scored on part of its samples", "trial", tr.number, "candidate", c.String(),
			"images", len(samples), "expected", expected, "value", res.Value)
		return
	}
	tr.c.log().Info("candidate scored", "trial", tr.number, "candidate", c.String(), "value", res.Value)

	step := int(math.Round(in.Fraction * 1000))
	if err := store.SetTrialIntermediateValue(tr.trialID, step, res.Value); err != nil {
		// A duplicate step (two candidates at one fraction) is harmless.
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
			tr.c.log().Info("pruning trial", "trial", tr.number, "candidate", c.String(), "value", res.Value)
			tr.cancel(runner.ErrPruned)
		}
	}
}

// fractionLocked is how much of its schedule the trial had completed at
// candidate c: for an epoch, step/total from the progress lines when both
// are known (trials with other epoch counts or batch sizes are at other
// points of their LR schedules, so this is what compares across trials),
// else epoch/epochs; for a step, step/total.
func (tr *trialRun) fractionLocked(c candidate, epochs int) float64 {
	if c.step > 0 {
		if tr.totalSteps > 0 {
			return math.Min(1, float64(c.step)/float64(tr.totalSteps))
		}
		return 0
	}
	if step, ok := tr.endStep[c.epoch]; ok && tr.totalSteps > 0 {
		return math.Min(1, float64(step)/float64(tr.totalSteps))
	}
	return math.Min(1, float64(c.epoch)/float64(epochs))
}

func (tr *trialRun) fail(err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.storeErr == nil {
		tr.storeErr = err
	}
}

// finish scores what the trainer left behind (the last candidate's samples
// are only complete at exit) and waits for scoring to end. A candidate the
// trainer left short — it crashed or was stopped while sampling — is
// scored on what is there, as partial.
func (tr *trialRun) finish(out runner.Outcome) {
	tr.mu.Lock()
	tr.exited = true
	if tr.current > 0 && tr.lastStep > 0 {
		if _, ok := tr.endStep[tr.current]; !ok {
			tr.endStep[tr.current] = tr.lastStep
		}
	}
	tr.addSamplesLocked(out.Samples)
	for e, p := range out.Checkpoints {
		if e > 0 {
			tr.checkpoints[candidate{epoch: e}] = p
		}
	}
	last := tr.current
	if out.OK && tr.epochs > 0 {
		last = tr.epochs
	}
	if out.OK && last > 0 && out.ModelPath != "" {
		// The final epoch's weights are the final model file.
		tr.checkpoints[candidate{epoch: last}] = out.ModelPath
	}
	if out.Reason != runner.ReasonInterrupted {
		var cands []candidate
		for c := range tr.samples {
			cands = append(cands, c)
		}
		if !tr.c.Scorer.NeedsSamples() && out.OK {
			for e := 1; e <= last; e++ {
				cands = append(cands, candidate{epoch: e})
			}
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].before(cands[j]) })
		for _, c := range cands {
			// After a prune, the epoch in progress was cut short by
			// lorasweep, not by the trainer: it is no candidate.
			if out.Reason == runner.ReasonPruned && c.step == 0 && c.epoch >= tr.current {
				continue
			}
			tr.due[c] = true
			tr.enqueueLocked(c)
		}
	}
	tr.closed = true
	tr.signalLocked()
	tr.mu.Unlock()
	<-tr.done
	tr.settleCheckpoints()
}

// keepBest keeps the linked copy of the best candidate's checkpoint so far
// and drops the others' links: whatever the trainer deletes later, the
// winner can be exported.
func (tr *trialRun) keepBest() {
	best, ok := tr.best(tr.c.study.Direction() == goptuna.StudyDirectionMaximize)
	tr.mu.Lock()
	want := ""
	if ok {
		want = tr.checkpoints[best.cand]
		tr.keep.link(want)
	}
	for _, s := range tr.scores {
		if p := tr.checkpoints[s.cand]; p != "" && p != want {
			tr.keep.drop(p)
		}
	}
	needCopy := want != "" && tr.keep.path(want) == ""
	tr.mu.Unlock()
	if !needCopy {
		return
	}
	// No link (another filesystem, a share without them): copy, which can
	// take seconds, outside the lock the console reader needs. Only this
	// goroutine drops kept copies, so the entry cannot go stale meanwhile.
	dst := tr.keep.target(want)
	if err := copyFile(want, dst); err != nil {
		tr.c.log().Warn("could not keep the best checkpoint", "trial", tr.number, "checkpoint", want, "err", err)
		return
	}
	tr.mu.Lock()
	tr.keep.links[want] = dst
	tr.mu.Unlock()
}

// settleCheckpoints runs once the trainer and scoring are done: each
// scored candidate whose checkpoint the trainer deleted (save_last_n_*)
// points at its kept link when there is one and is marked deleted
// otherwise; every other link is dropped.
func (tr *trialRun) settleCheckpoints() {
	ctx := context.WithoutCancel(tr.ctx)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	inUse := map[string]bool{} // trainer's paths whose kept copy a record now names
	for c, rec := range tr.records {
		orig := tr.checkpoints[c]
		if orig == "" {
			continue
		}
		if _, err := os.Stat(orig); err == nil {
			tr.keep.drop(orig)
			continue
		}
		if kept := tr.keep.path(orig); kept != "" {
			rec.Checkpoint = kept
			tr.checkpoints[c] = kept
			inUse[orig] = true
		} else {
			rec.Deleted = true
			why := "its checkpoint " + orig + " is gone"
			if tr.removed[orig] {
				why = "the trainer deleted its checkpoint " + orig + " (save_last_n_epochs/steps)"
			}
			tr.warnings = append(tr.warnings, fmt.Sprintf("%s: %s and no copy could be kept", c, why))
		}
		if rec != tr.records[c] {
			tr.records[c] = rec
			if err := tr.c.Store.RecordEpoch(ctx, rec); err != nil && tr.storeErr == nil {
				tr.storeErr = fmt.Errorf("trial %d: record %s's checkpoint: %w", tr.number, c, err)
			}
		}
	}
	// Links of checkpoints no scored candidate names (an epoch saved but
	// not sampled) would hold on to files the trainer meant to delete.
	for orig := range tr.keep.links {
		if !inUse[orig] {
			tr.keep.drop(orig)
		}
	}
	tr.keep.prune()
}

func containsSample(ss []runner.Sample, path string) bool {
	for _, s := range ss {
		if s.Path == path {
			return true
		}
	}
	return false
}

// best returns the best scored candidate by the study's direction (see
// bestCandidate).
func (tr *trialRun) best(maximize bool) (candidateScore, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return bestCandidate(tr.scores, maximize)
}

// bestCandidate is the one rule for a trial's best candidate, live,
// recovered from records or re-scored: among complete candidates when
// there is one, else among partial ones (the trial then ranks below every
// trial with complete evidence); by value in the direction; a tie keeps
// the earlier candidate.
func bestCandidate(scores []candidateScore, maximize bool) (candidateScore, bool) {
	var best candidateScore
	found := false
	for _, s := range scores {
		v := s.result.Value
		same := found && best.partial == s.partial
		better := !found || (best.partial && !s.partial) ||
			(same && ((maximize && v > best.result.Value) || (!maximize && v < best.result.Value))) ||
			(same && v == best.result.Value && s.cand.before(best.cand))
		if better {
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
	run.PGID = out.PID // the runner starts each trainer as the leader of its own process group
	run.ModelPath = out.ModelPath
	run.LogTail = strings.Join(out.LogTail, "\n")
	run.Detail = out.Detail
	// The trainer's warnings, then what settling the checkpoints found.
	tr.warnings = append(append([]string(nil), out.Warnings...), tr.warnings...)
	run.Warnings, sum.Warnings = tr.warnings, tr.warnings
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
		if best.cand.step == 0 {
			e := best.cand.epoch
			run.BestEpoch = &e
			sum.BestEpoch = e
		}
		run.Checkpoint = tr.checkpoints[best.cand]
		sum.Best = best.cand.String()
		if best.partial {
			sum.Partial = fmt.Sprintf("%d/%d", best.images, best.expected)
		}
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
func (c *Controller) recordEnd(tr *trialRun, state goptuna.TrialState, reason string, best candidateScore, hasBest bool) error {
	if hasBest {
		key, n := attrBestEpoch, best.cand.epoch
		if best.cand.step > 0 {
			key, n = attrBestStep, best.cand.step
		}
		if err := c.Store.SetTrialSystemAttr(tr.trialID, key, fmt.Sprint(n)); err != nil {
			return fmt.Errorf("record best %s: %w", best.cand, err)
		}
		if best.partial {
			if err := c.Store.SetTrialSystemAttr(tr.trialID, attrPartial, fmt.Sprintf("%d/%d", best.images, best.expected)); err != nil {
				return fmt.Errorf("record partial evidence: %w", err)
			}
		}
		if err := c.recordObjectiveVersion(tr.trialID); err != nil {
			return err
		}
	}
	if len(tr.warnings) > 0 {
		raw, _ := json.Marshal(tr.warnings)
		if err := c.Store.SetTrialSystemAttr(tr.trialID, attrWarnings, string(raw)); err != nil {
			return fmt.Errorf("record warnings: %w", err)
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

// keptDir is the folder in a trial's directory that holds hard links to
// its checkpoints, so that a trainer's own cleanup (save_last_n_epochs)
// never deletes the trial's best one. It costs no disk while the trainer's
// file exists; once the trainer deletes it, the best candidate's weights
// stay (one checkpoint per trial at most). Where links are impossible the
// best checkpoint is copied when it becomes the best.
const keptDir = "kept"

// checkpointKeeper holds the links of one trial's checkpoints.
type checkpointKeeper struct {
	dir   string
	links map[string]string // trainer's path → kept path
}

func (k *checkpointKeeper) target(orig string) string {
	return filepath.Join(k.dir, filepath.Base(orig))
}

// link hard-links orig into the kept folder; failing quietly is fine:
// keepBest copies the best one when there is no link.
func (k *checkpointKeeper) link(orig string) {
	if orig == "" || k.links[orig] != "" {
		return
	}
	if err := os.MkdirAll(k.dir, 0o755); err != nil {
		return
	}
	dst := k.target(orig)
	if err := os.Link(orig, dst); err == nil {
		k.links[orig] = dst
	}
}

func (k *checkpointKeeper) drop(orig string) {
	if p := k.links[orig]; p != "" {
		_ = os.Remove(p)
		delete(k.links, orig)
	}
}

// path is orig's kept copy, or "".
func (k *checkpointKeeper) path(orig string) string { return k.links[orig] }

// prune removes the kept folder when nothing is left in it.
func (k *checkpointKeeper) prune() { _ = os.Remove(k.dir) }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
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
