package storage

import (
	"context"
	"errors"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
)

// An objective change switches the direction and marks trials apart in one
// step; re-scoring a finished trial rewrites its scores, clears the mark and
// is seen at once by this Store's cached reads and by GetBestTrial.
func TestChangeObjectiveAndRescore(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "obj", goptuna.StudyDirectionMaximize)
		a, b := mustTrial(t, s, sid), mustTrial(t, s, sid)
		for _, id := range []int{a, b} {
			if err := s.StartRun(ctx, sweep.RunRecord{TrialID: id}); err != nil {
				t.Fatal(err)
			}
			if err := s.SetTrialIntermediateValue(id, 500, 0.1); err != nil {
				t.Fatal(err)
			}
		}
		finish(t, s, a, 0.9, goptuna.TrialStateComplete)
		finish(t, s, b, 0.4, goptuna.TrialStateComplete)
		v := 0.9
		if err := s.RecordEpoch(ctx, sweep.EpochRecord{TrialID: a, Epoch: 2, Fraction: 1, Value: &v, Components: `[]`}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetAllTrials(sid); err != nil { // fill the cache
			t.Fatal(err)
		}

		err := s.ChangeObjective(ctx, sid, goptuna.StudyDirectionMinimize,
			map[string]string{"lorasweep:objective_version": "2"}, map[int]string{a: "maximize", b: "maximize"})
		if err != nil {
			t.Fatal(err)
		}
		if dir, _ := s.GetStudyDirection(sid); dir != goptuna.StudyDirectionMinimize {
			t.Errorf("direction %v after the change, want minimize", dir)
		}
		if attrs, _ := s.GetStudySystemAttrs(sid); attrs["lorasweep:objective_version"] != "2" {
			t.Errorf("study attrs %v", attrs)
		}
		trials, _ := s.GetAllTrials(sid)
		for _, tr := range trials {
			if tr.SystemAttrs[sweep.AttrSuperseded] != "maximize" {
				t.Errorf("trial %d attrs %v: want it marked superseded (maximize)", tr.Number, tr.SystemAttrs)
			}
		}
		if _, err := s.GetBestTrial(sid); !errors.Is(err, goptuna.ErrNoCompletedTrials) {
			t.Errorf("best trial with every trial superseded: %v, want ErrNoCompletedTrials", err)
		}

		nv := 0.1
		err = s.RescoreTrial(ctx, sweep.RescoredTrial{TrialID: a, Version: 2, Value: 0.1, BestEpoch: 2, Checkpoint: "c2",
			Intermediate: map[int]float64{1000: 0.1},
			Epochs:       []sweep.EpochRecord{{TrialID: a, Epoch: 2, Value: &nv, Components: `[{"name":"x"}]`, ObjectiveVersion: 2}}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetTrial(a)
		if err != nil {
			t.Fatal(err)
		}
		if got.Value != 0.1 || got.SystemAttrs[sweep.AttrSuperseded] != "" || got.SystemAttrs[sweep.AttrObjectiveVersion] != "2" ||
			got.SystemAttrs[sweep.AttrBestEpoch] != "2" || len(got.IntermediateValues) != 1 || got.IntermediateValues[1000] != 0.1 {
			t.Errorf("re-scored trial: value %v attrs %v intermediate %v", got.Value, got.SystemAttrs, got.IntermediateValues)
		}
		eps, _ := s.Epochs(ctx, a)
		if len(eps) != 1 || *eps[0].Value != 0.1 || eps[0].ObjectiveVersion != 2 || eps[0].Components != `[{"name":"x"}]` {
			t.Errorf("epochs after re-score %+v", eps)
		}
		if run, _ := s.GetRun(ctx, a); run.BestEpoch == nil || *run.BestEpoch != 2 || run.Checkpoint != "c2" {
			t.Errorf("run after re-score %+v", run)
		}
		if best, err := s.GetBestTrial(sid); err != nil || best.ID != a {
			t.Errorf("best %v %v, want the re-scored trial %d", best.ID, err, a)
		}

		// Only finished trials with a value are re-scored, and only this study's are marked.
		c := mustTrial(t, s, sid)
		if err := s.RescoreTrial(ctx, sweep.RescoredTrial{TrialID: c, Version: 2, Value: 1}); !errors.Is(err, goptuna.ErrTrialCannotBeUpdated) {
			t.Errorf("re-score of a running trial: %v, want ErrTrialCannotBeUpdated", err)
		}
		other := mustStudy(t, s, "other", goptuna.StudyDirectionMaximize)
		if err := s.ChangeObjective(ctx, other, goptuna.StudyDirectionMaximize, nil, map[int]string{a: "minimize"}); !errors.Is(err, goptuna.ErrInvalidTrialID) {
			t.Errorf("marking another study's trial: %v, want ErrInvalidTrialID", err)
		}
		if tr, _ := s.GetTrial(a); tr.SystemAttrs[sweep.AttrSuperseded] != "" {
			t.Error("a refused change marked a trial")
		}
	})
}

// Another process's Store (serve, a worker) caches finished trials; it sees
// a re-scored trial on its next read, not after a restart.
func TestRescoreSeenByOtherStores(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		other := openT(t, dsn)
		sid := mustStudy(t, s, "seen", goptuna.StudyDirectionMaximize)
		a := mustTrial(t, s, sid)
		finish(t, s, a, 0.9, goptuna.TrialStateComplete)
		if all, _ := other.GetAllTrials(sid); len(all) != 1 || all[0].Value != 0.9 {
			t.Fatalf("before: %+v", all)
		}
		if err := s.ChangeObjective(ctx, sid, goptuna.StudyDirectionMaximize, nil, map[int]string{a: "maximize"}); err != nil {
			t.Fatal(err)
		}
		if all, _ := other.GetAllTrials(sid); all[0].SystemAttrs[sweep.AttrSuperseded] != "maximize" {
			t.Errorf("other store missed the superseded mark: %v", all[0].SystemAttrs)
		}
		if err := s.RescoreTrial(ctx, sweep.RescoredTrial{TrialID: a, Version: 2, Value: 0.3, BestEpoch: 1}); err != nil {
			t.Fatal(err)
		}
		all, err := other.GetAllTrials(sid)
		if err != nil || all[0].Value != 0.3 || all[0].SystemAttrs[sweep.AttrSuperseded] != "" {
			t.Errorf("other store after re-score: %+v %v", all, err)
		}
	})
}
