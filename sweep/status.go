package sweep

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/c-bata/goptuna"
)

// Status is a sweep's state as storage knows it, for `lorasweep status` on
// any machine.
type Status struct {
	Name   string
	Budget int
	// Counts by state; Counted is what the budget has spent.
	Complete, Pruned, Failed, Running, Waiting, Counted int
	// Best is the best trial so far (nil before any has a value).
	Best *TrialRow
	// Deadline is when no more trials start (zero: none).
	Deadline time.Time
	// Stop is the recorded reason the sweep last stopped ("" while running
	// or never stopped).
	Stop string
	// FreedBytes is what the retention policy has deleted.
	FreedBytes int64
	// Active are the RUNNING trials.
	Active []ActiveTrial
	// Repeats ranks the repeated configs by mean (repeat_top).
	Repeats []RepeatGroup
}

// ActiveTrial is a RUNNING trial as its run record and last scores show it.
type ActiveTrial struct {
	Number    int
	Host      string
	WorkerID  string
	GPUs      []string
	Started   time.Time
	Heartbeat time.Time
	// Last is the last scored candidate (epoch or step; nil: none yet);
	// Step and Loss the last recorded training step.
	Last *EpochRecord
	Step int
	Loss float64
}

// ReadStatus reads the sweep's status from storage.
func ReadStatus(ctx context.Context, store Store, studyID int, spec *Spec) (Status, error) {
	st := Status{Name: spec.Name, Budget: spec.Budget.Trials}
	trials, err := store.GetAllTrials(studyID)
	if err != nil {
		return st, fmt.Errorf("read trials: %w", err)
	}
	dir, err := store.GetStudyDirection(studyID)
	if err != nil {
		return st, fmt.Errorf("read direction: %w", err)
	}
	counted, _, err := store.CountTrials(ctx, studyID)
	if err != nil {
		return st, fmt.Errorf("count trials: %w", err)
	}
	st.Counted = counted
	running := map[int]int{}
	for _, t := range trials {
		switch t.State {
		case goptuna.TrialStateComplete:
			st.Complete++
		case goptuna.TrialStatePruned:
			st.Pruned++
		case goptuna.TrialStateFail:
			st.Failed++
		case goptuna.TrialStateRunning:
			st.Running++
			running[t.ID] = t.Number
		case goptuna.TrialStateWaiting:
			st.Waiting++
		}
	}
	if rows := Rank(trials, dir); len(rows) > 0 && rows[0].Value != nil {
		best := rows[0]
		st.Best = &best
	}
	st.Repeats = RankRepeats(trials, dir)
	attrs, err := store.GetStudySystemAttrs(studyID)
	if err != nil {
		return st, fmt.Errorf("read sweep attrs: %w", err)
	}
	st.Stop = attrs[attrStopReason]
	st.FreedBytes, _ = strconv.ParseInt(attrs[attrFreedBytes], 10, 64)
	if first, err := time.Parse(time.RFC3339Nano, attrs[attrFirstStart]); err == nil {
		st.Deadline, _ = ParseDeadline(spec.Budget.Deadline, first)
	}
	if len(running) == 0 {
		return st, nil
	}
	runs, err := store.Runs(ctx, studyID)
	if err != nil {
		return st, fmt.Errorf("list runs: %w", err)
	}
	for _, r := range runs {
		n, ok := running[r.TrialID]
		if !ok {
			continue
		}
		a := ActiveTrial{Number: n, Host: r.Host, WorkerID: r.WorkerID, GPUs: r.GPUs, Started: r.Started, Heartbeat: r.Heartbeat}
		if eps, err := store.Epochs(ctx, r.TrialID); err == nil {
			// Epochs lists candidates in schedule order (a trial has epoch
			// or step candidates): the last valued one is the latest.
			for i := range eps {
				if v := eps[i].Value; v != nil && !math.IsNaN(*v) {
					a.Last = &eps[i]
				}
			}
		}
		if pts, err := store.Metrics(ctx, r.TrialID); err == nil && len(pts) > 0 {
			a.Step, a.Loss = pts[len(pts)-1].Step, pts[len(pts)-1].Loss
		}
		st.Active = append(st.Active, a)
	}
	return st, nil
}
