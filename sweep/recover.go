package sweep

import (
	"context"
	"errors"
	"fmt"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/runner"
)

// finishRecorded completes the RUNNING trials whose run already ended: their
// worker recorded the run's end (exit code, reason, best epoch — tell's
// FinishRun) and was killed before it set the trial's state. Everything the
// trial's outcome depends on is stored, so it is finished from its records
// by the rules of the live path (tell) instead of being failed as
// interrupted and trained again. A trial of a worker that is gone (a dead
// pid on this host, or an earlier start with our pid) is finished at once;
// one of any other worker once its run has been over for HeartbeatEvery, so
// a live worker between its two writes finishes its own trial.
func (c *Controller) finishRecorded(ctx context.Context) error {
	runs, err := c.Store.Runs(ctx, c.study.ID)
	if err != nil {
		return fmt.Errorf("list runs: %w", err)
	}
	maximize := c.study.Direction() == goptuna.StudyDirectionMaximize
	for _, r := range runs {
		if r.Ended == nil || r.ExitCode == nil || r.WorkerID == c.WorkerID {
			continue
		}
		if !c.workerGone(r) && c.now().Sub(*r.Ended) < c.HeartbeatEvery {
			continue
		}
		t, err := c.Store.GetTrial(r.TrialID)
		if err != nil {
			return fmt.Errorf("read trial of an ended run: %w", err)
		}
		if t.State != goptuna.TrialStateRunning {
			continue
		}
		if err := c.finishFromRecords(ctx, r, t, maximize); err != nil {
			return err
		}
	}
	return nil
}

// finishFromRecords sets the final state of trial t from its ended run r
// and its stored epochs.
func (c *Controller) finishFromRecords(ctx context.Context, r RunRecord, t goptuna.FrozenTrial, maximize bool) error {
	n := t.Number
	if r.Reason == string(runner.ReasonInterrupted) {
		// Its worker had stopped it (an abort) and died before saying so.
		_, err := c.Store.FailInterruptedLimit(ctx, r.TrialID, c.Spec.Budget.Retries)
		if err != nil && !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			return fmt.Errorf("trial %d: record interruption: %w", n, err)
		}
		return nil
	}
	state, reason := goptuna.TrialStateFail, r.Reason
	epochs, err := c.Store.Epochs(ctx, r.TrialID)
	if err != nil {
		return fmt.Errorf("trial %d: read epochs: %w", n, err)
	}
	best, hasBest := bestRecorded(epochs, maximize)
	if reason == "" {
		// tell records no reason for a trial that ends COMPLETE or PRUNED,
		// and always a best epoch.
		if !hasBest {
			// Not what tell writes: leave the trial to the reapers.
			c.log().Warn("ended run without a scored best epoch: left to the reaper", "trial", n)
			return nil
		}
		state = goptuna.TrialStateComplete
		if r.Detail == runner.DetailPruned {
			state = goptuna.TrialStatePruned
		}
	}
	err = c.recordEnd(&trialRun{trialID: r.TrialID, number: n, warnings: r.Warnings}, state, reason, best, hasBest)
	if errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
		return nil // finished by its worker or another one meanwhile
	}
	if err != nil {
		return fmt.Errorf("trial %d: finish from records: %w", n, err)
	}
	c.log().Warn("trial finished from its records: its worker died after the run ended", "trial", n, "state", state.String(), "best", best.cand.String(), "reason", reason)
	if state == goptuna.TrialStateFail && reason == string(runner.ReasonOOM) {
		// The on_oom policy, as tell applies it.
		params, err := decodeParams(t.SystemAttrs[attrParams])
		if err != nil {
			return fmt.Errorf("trial %d: decode params for the OOM retry: %w", n, err)
		}
		return c.retryOOM(ctx, &trialRun{trialID: r.TrialID, number: n, params: params})
	}
	return nil
}

// bestRecorded picks a trial's best candidate from its stored records by
// the live rule (bestCandidate).
func bestRecorded(epochs []EpochRecord, maximize bool) (candidateScore, bool) {
	var scores []candidateScore
	for _, e := range epochs {
		if e.Value != nil && !e.Unscorable {
			scores = append(scores, scoreOfRecord(e))
		}
	}
	return bestCandidate(scores, maximize)
}

// scoreOfRecord is a stored candidate as the best-candidate rule reads it.
func scoreOfRecord(e EpochRecord) candidateScore {
	return candidateScore{cand: candidate{e.Epoch, e.Step}, fraction: e.Fraction, result: objective.Result{Value: *e.Value},
		partial: e.Partial, images: e.Images, expected: e.Expected}
}

// workerGone reports whether the run's worker is known to be gone: it ran
// on this host and its pid is dead, or it is an earlier start of a process
// with our pid (a restarted container).
func (c *Controller) workerGone(r RunRecord) bool {
	if c.Alive == nil || c.Host == "" || r.Host != c.Host || r.WorkerID == c.WorkerID {
		return false
	}
	pid := workerPID(r.WorkerID)
	return pid != 0 && (pid == workerPID(c.WorkerID) || !c.Alive(pid))
}
