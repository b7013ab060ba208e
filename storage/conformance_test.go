package storage

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
)

func mustStudy(t *testing.T, s *Store, name string, dir goptuna.StudyDirection) int {
	t.Helper()
	id, err := s.CreateStudyCtx(context.Background(), name, dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func mustTrial(t *testing.T, s *Store, studyID int) int {
	t.Helper()
	id, err := s.CreateNewTrial(studyID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func finish(t *testing.T, s *Store, id int, v float64, st goptuna.TrialState) {
	t.Helper()
	if err := s.SetTrialValue(id, v); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTrialState(id, st); err != nil {
		t.Fatal(err)
	}
}

func TestStudies(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ string) {
		id, err := s.CreateNewStudy("a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateNewStudy("a"); !errors.Is(err, ErrStudyExists) {
			t.Errorf("duplicate name: got %v, want ErrStudyExists", err)
		}
		if _, err := s.GetStudyIDFromName("missing"); err == nil {
			t.Error("missing study name: want an error (LoadStudy depends on it)")
		}
		if got, _ := s.GetStudyIDFromName("a"); got != id {
			t.Errorf("GetStudyIDFromName = %d, want %d", got, id)
		}
		if dir, _ := s.GetStudyDirection(id); dir != goptuna.StudyDirectionMinimize {
			t.Errorf("default direction %q", dir)
		}
		if err := s.SetStudyDirection(id, goptuna.StudyDirectionMaximize); err != nil {
			t.Fatal(err)
		}
		if dir, _ := s.GetStudyDirection(id); dir != goptuna.StudyDirectionMaximize {
			t.Errorf("direction %q after set", dir)
		}
		if name, _ := s.GetStudyNameFromID(id); name != "a" {
			t.Errorf("name %q", name)
		}
		for _, kv := range [][2]string{{"k", "v1"}, {"k", "v2"}} {
			if err := s.SetStudyUserAttr(id, kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetStudySystemAttr(id, "sys", "x"); err != nil {
			t.Fatal(err)
		}
		ua, _ := s.GetStudyUserAttrs(id)
		sa, _ := s.GetStudySystemAttrs(id)
		if !reflect.DeepEqual(ua, map[string]string{"k": "v2"}) || !reflect.DeepEqual(sa, map[string]string{"sys": "x"}) {
			t.Errorf("attrs user=%v system=%v", ua, sa)
		}
		anon, err := s.CreateNewStudy("")
		if err != nil {
			t.Fatal(err)
		}
		if name, _ := s.GetStudyNameFromID(anon); !strings.HasPrefix(name, goptuna.DefaultStudyNamePrefix) {
			t.Errorf("empty name became %q", name)
		}
		tid := mustTrial(t, s, id)
		finish(t, s, tid, 2, goptuna.TrialStateComplete)
		sums, err := s.GetAllStudySummaries()
		if err != nil || len(sums) != 2 || sums[0].BestTrial.ID != tid || sums[0].DatetimeStart.IsZero() {
			t.Errorf("summaries %+v, %v", sums, err)
		}
		if sid, _ := s.GetStudyIDFromTrialID(tid); sid != id {
			t.Errorf("study of trial %d", sid)
		}
		if err := s.DeleteStudy(id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetTrial(tid); err != goptuna.ErrInvalidTrialID {
			t.Errorf("trial of deleted study: %v", err)
		}
		invalid := []struct {
			name string
			err  error
		}{
			{"DeleteStudy", s.DeleteStudy(id)},
			{"SetStudyDirection", s.SetStudyDirection(id, goptuna.StudyDirectionMinimize)},
			{"SetStudyUserAttr", s.SetStudyUserAttr(id, "k", "v")},
			{"GetStudyDirection", second(s.GetStudyDirection(id))},
			{"GetStudyNameFromID", second(s.GetStudyNameFromID(id))},
			{"CreateNewTrial", second(s.CreateNewTrial(id))},
			{"GetAllTrials", second(s.GetAllTrials(id))},
		}
		for _, c := range invalid {
			if c.err != goptuna.ErrInvalidStudyID {
				t.Errorf("%s on deleted study: %v, want goptuna.ErrInvalidStudyID unwrapped", c.name, c.err)
			}
		}
	})
}

func second[T any](_ T, err error) error { return err }

func TestTrialParamsAndReads(t *testing.T) {
	dists := []struct {
		name     string
		dist     interface{}
		internal float64
		external interface{}
	}{
		{"uniform", goptuna.UniformDistribution{Low: 0, High: 1}, 0.25, 0.25},
		{"log", goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-2}, 3e-4, 3e-4},
		{"int", goptuna.IntUniformDistribution{Low: 1, High: 8}, 4, 4},
		{"stepint", goptuna.StepIntUniformDistribution{Low: 0, High: 10, Step: 2}, 6, 6},
		{"discrete", goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.25}, 0.5, 0.5},
		{"categorical", goptuna.CategoricalDistribution{Choices: []string{"cosine", "linear"}}, 1, "linear"},
	}
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "p", goptuna.StudyDirectionMinimize)
		for i := 0; i < 3; i++ {
			id := mustTrial(t, s, sid)
			if n, _ := s.GetTrialNumberFromID(id); n != i {
				t.Errorf("trial %d has number %d", i, n)
			}
		}
		id := mustTrial(t, s, sid)
		for _, d := range dists {
			if err := s.SetTrialParam(id, d.name, d.internal, d.dist); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
		}
		if err := s.SetTrialParam(id, "uniform", 0.25, dists[0].dist); err != nil {
			t.Errorf("same param again: %v", err)
		}
		if err := s.SetTrialParam(id, "uniform", 0.5, dists[0].dist); !errors.Is(err, ErrParamConflict) {
			t.Errorf("param changed: %v, want ErrParamConflict", err)
		}
		if err := s.SetTrialParam(id, "ptr", 0.5, &goptuna.UniformDistribution{High: 1}); err == nil {
			t.Error("pointer distribution accepted")
		}
		for _, step := range []int{0, 1, 1} {
			if err := s.SetTrialIntermediateValue(id, step, float64(step)+0.5); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetTrialIntermediateValue(id, 2, math.NaN()); err != nil {
			t.Fatal(err)
		}
		s.SetTrialUserAttr(id, "u", "1")
		s.SetTrialSystemAttr(id, "s", "2")
		got, err := s.GetTrial(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dists {
			t.Run(d.name, func(t *testing.T) {
				if reflect.TypeOf(got.Distributions[d.name]) != reflect.TypeOf(d.dist) {
					t.Errorf("distribution type %T, want %T", got.Distributions[d.name], d.dist)
				}
				if got.InternalParams[d.name] != d.internal || got.Params[d.name] != d.external {
					t.Errorf("internal %v external %#v", got.InternalParams[d.name], got.Params[d.name])
				}
				if v, _ := s.GetTrialParam(id, d.name); v != d.internal {
					t.Errorf("GetTrialParam %v", v)
				}
			})
		}
		if _, err := s.GetTrialParam(id, "nope"); err == nil {
			t.Error("missing param: no error")
		}
		if got.IntermediateValues[0] != 0.5 || got.IntermediateValues[1] != 1.5 || !math.IsNaN(got.IntermediateValues[2]) {
			t.Errorf("intermediate %v", got.IntermediateValues)
		}
		if got.UserAttrs["u"] != "1" || got.SystemAttrs["s"] != "2" || got.Number != 3 || got.State != goptuna.TrialStateRunning {
			t.Errorf("trial %+v", got)
		}
		// Fresh maps: mutating a returned trial changes nothing stored.
		finish(t, s, id, 1, goptuna.TrialStateComplete)
		all, _ := s.GetAllTrials(sid)
		delete(all[3].Params, "int")
		all[3].SystemAttrs["x"] = "y"
		again, _ := s.GetAllTrials(sid)
		p, _ := s.GetTrialParams(id)
		if len(again[3].Params) != len(dists) || len(p) != len(dists) || again[3].SystemAttrs["x"] != "" {
			t.Error("GetAllTrials returned shared maps")
		}
		for i, tr := range again {
			if tr.Number != i {
				t.Errorf("GetAllTrials[%d] has number %d", i, tr.Number)
			}
		}
		for name, err := range map[string]error{
			"GetTrial":             second(s.GetTrial(99999)),
			"GetTrialNumberFromID": second(s.GetTrialNumberFromID(99999)),
			"GetTrialParams":       second(s.GetTrialParams(99999)),
			"GetTrialUserAttrs":    second(s.GetTrialUserAttrs(99999)),
			"GetTrialSystemAttrs":  second(s.GetTrialSystemAttrs(99999)),
			"GetStudyIDFromTrial":  second(s.GetStudyIDFromTrialID(99999)),
			"SetTrialState":        s.SetTrialState(99999, goptuna.TrialStateComplete),
			"SetTrialValue":        s.SetTrialValue(99999, 1),
		} {
			if err != goptuna.ErrInvalidTrialID {
				t.Errorf("%s(unknown): %v, want goptuna.ErrInvalidTrialID unwrapped", name, err)
			}
		}
	})
}

func TestStateCompareAndSet(t *testing.T) {
	cases := []struct {
		name  string
		from  goptuna.TrialState
		to    goptuna.TrialState
		allow bool
	}{
		{"running to complete", goptuna.TrialStateRunning, goptuna.TrialStateComplete, true},
		{"running to pruned", goptuna.TrialStateRunning, goptuna.TrialStatePruned, true},
		{"running to fail", goptuna.TrialStateRunning, goptuna.TrialStateFail, true},
		{"running to running", goptuna.TrialStateRunning, goptuna.TrialStateRunning, false},
		{"waiting to running", goptuna.TrialStateWaiting, goptuna.TrialStateRunning, true},
		{"waiting to waiting", goptuna.TrialStateWaiting, goptuna.TrialStateWaiting, false},
		{"complete to fail", goptuna.TrialStateComplete, goptuna.TrialStateFail, false},
		{"fail to running", goptuna.TrialStateFail, goptuna.TrialStateRunning, false},
		{"pruned to complete", goptuna.TrialStatePruned, goptuna.TrialStateComplete, false},
	}
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "cas", goptuna.StudyDirectionMinimize)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id, err := s.CloneTrial(sid, goptuna.FrozenTrial{State: c.from, Value: 1})
				if err != nil {
					t.Fatal(err)
				}
				err = s.SetTrialState(id, c.to)
				if c.allow && err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				if !c.allow && err != goptuna.ErrTrialCannotBeUpdated {
					t.Fatalf("got %v, want goptuna.ErrTrialCannotBeUpdated unwrapped", err)
				}
				got, _ := s.GetTrial(id)
				if c.allow && got.State != c.to || !c.allow && got.State != c.from {
					t.Errorf("state %v", got.State)
				}
				if got.State.IsFinished() && got.DatetimeComplete.IsZero() {
					t.Error("finished without DatetimeComplete")
				}
			})
		}
	})
}

func TestFinishedTrialsImmutable(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "imm", goptuna.StudyDirectionMinimize)
		id := mustTrial(t, s, sid)
		dist := goptuna.UniformDistribution{Low: 0, High: 1}
		if err := s.SetTrialParam(id, "x", 0.5, dist); err != nil {
			t.Fatal(err)
		}
		finish(t, s, id, 3, goptuna.TrialStateComplete)
		before, _ := s.GetTrial(id)
		writes := []struct {
			name string
			do   func() error
		}{
			{"SetTrialValue", func() error { return s.SetTrialValue(id, 1) }},
			{"SetTrialIntermediateValue", func() error { return s.SetTrialIntermediateValue(id, 0, 1) }},
			{"SetTrialParam", func() error { return s.SetTrialParam(id, "y", 0.1, dist) }},
			{"SetTrialState", func() error { return s.SetTrialState(id, goptuna.TrialStateFail) }},
			{"SetTrialUserAttr", func() error { return s.SetTrialUserAttr(id, "k", "v") }},
			{"SetTrialSystemAttr", func() error { return s.SetTrialSystemAttr(id, "k", "v") }},
			{"Heartbeat", func() error { return s.Heartbeat(context.Background(), id) }},
			{"StartRun", func() error { return s.StartRun(context.Background(), sweep.RunRecord{TrialID: id}) }},
			{"FailInterrupted", func() error { return second(s.FailInterrupted(context.Background(), id, true)) }},
		}
		for _, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				if err := w.do(); err != goptuna.ErrTrialCannotBeUpdated {
					t.Errorf("got %v, want goptuna.ErrTrialCannotBeUpdated unwrapped", err)
				}
			})
		}
		after, _ := s.GetTrial(id)
		if !reflect.DeepEqual(before, after) {
			t.Errorf("finished trial changed:\n%+v\n%+v", before, after)
		}
	})
}

func TestNaNPolicy(t *testing.T) {
	cases := []struct {
		name  string
		value float64
		state goptuna.TrialState
	}{
		{"nan complete", math.NaN(), goptuna.TrialStateComplete},
		{"+inf complete", math.Inf(1), goptuna.TrialStateComplete},
		{"-inf complete", math.Inf(-1), goptuna.TrialStateComplete},
		{"nan pruned", math.NaN(), goptuna.TrialStatePruned},
	}
	for _, dir := range []goptuna.StudyDirection{goptuna.StudyDirectionMaximize, goptuna.StudyDirectionMinimize} {
		t.Run(string(dir), func(t *testing.T) {
			forEach(t, func(t *testing.T, s *Store, _ string) {
				sid := mustStudy(t, s, "nan", dir)
				if _, err := s.GetBestTrial(sid); err != goptuna.ErrNoCompletedTrials {
					t.Errorf("empty study best: %v, want goptuna.ErrNoCompletedTrials unwrapped", err)
				}
				for _, c := range cases {
					t.Run(c.name, func(t *testing.T) {
						id := mustTrial(t, s, sid)
						finish(t, s, id, c.value, c.state)
						got, _ := s.GetTrial(id)
						if got.State != goptuna.TrialStateFail || got.SystemAttrs[AttrFailReason] != ReasonNaN || !math.IsNaN(got.Value) {
							t.Errorf("state %v reason %q value %v", got.State, got.SystemAttrs[AttrFailReason], got.Value)
						}
						cl, err := s.CloneTrial(sid, goptuna.FrozenTrial{State: c.state, Value: c.value})
						if err != nil {
							t.Fatal(err)
						}
						if got, _ := s.GetTrial(cl); got.State != goptuna.TrialStateFail {
							t.Errorf("cloned %v", got.State)
						}
					})
				}
				if _, err := s.GetBestTrial(sid); err != goptuna.ErrNoCompletedTrials {
					t.Errorf("only non-finite trials, best: %v", err)
				}
				var want int
				for i, v := range []float64{3, 1, 5, 1} {
					id := mustTrial(t, s, sid)
					finish(t, s, id, v, goptuna.TrialStateComplete)
					if dir == goptuna.StudyDirectionMaximize && i == 2 || dir == goptuna.StudyDirectionMinimize && i == 1 {
						want = id
					}
				}
				best, err := s.GetBestTrial(sid)
				if err != nil || best.ID != want {
					t.Errorf("best %d (%v), want %d", best.ID, err, want)
				}
			})
		})
	}
}

// TestGoptunaStudy drives the storage through goptuna's own Study: create,
// enqueue, optimise from several goroutines, load from a second Store.
func TestGoptunaStudy(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		study, err := goptuna.CreateStudy("g", goptuna.StudyOptionStorage(s), goptuna.StudyOptionLogger(nil),
			goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize))
		if err != nil {
			t.Fatal(err)
		}
		if err := study.EnqueueTrial(map[string]float64{"x": 0.75, "c": 1}); err != nil {
			t.Fatal(err)
		}
		obj := func(tr goptuna.Trial) (float64, error) {
			x, err := tr.SuggestFloat("x", 0, 1)
			if err != nil {
				return 0, err
			}
			c, err := tr.SuggestCategorical("c", []string{"a", "b"})
			if err != nil {
				return 0, err
			}
			if err := tr.ShouldPrune(0, x); err != nil {
				return 0, err
			}
			if c == "b" {
				return x + 1, nil
			}
			return x, nil
		}
		done := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() { done <- study.Optimize(obj, 4) }()
		}
		for i := 0; i < 3; i++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		s2 := openT(t, dsn)
		loaded, err := goptuna.LoadStudy("g", goptuna.StudyOptionStorage(s2), goptuna.StudyOptionLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		trials, _ := loaded.GetTrials()
		if len(trials) != 12 { // the enqueued trial is one of the 3×4
			t.Fatalf("%d trials, want 12", len(trials))
		}
		if trials[0].Params["x"] != 0.75 || trials[0].Params["c"] != "b" || trials[0].State != goptuna.TrialStateComplete {
			t.Errorf("enqueued trial %+v", trials[0])
		}
		if v, err := loaded.GetBestValue(); err != nil || v < 1.75 {
			t.Errorf("best %v %v", v, err)
		}
	})
}

// TestCacheSeesOtherWriters: a trial finished through another Store (another
// worker) is seen by GetAllTrials of the first, which had it RUNNING.
func TestCacheSeesOtherWriters(t *testing.T) {
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		other := openT(t, dsn)
		sid := mustStudy(t, s, "c", goptuna.StudyDirectionMinimize)
		a, b := mustTrial(t, s, sid), mustTrial(t, s, sid)
		finish(t, s, b, 2, goptuna.TrialStateComplete)
		if all, _ := s.GetAllTrials(sid); all[0].State != goptuna.TrialStateRunning || all[1].State != goptuna.TrialStateComplete {
			t.Fatalf("initial %v %v", all[0].State, all[1].State)
		}
		finish(t, other, a, 1, goptuna.TrialStateComplete)
		c := mustTrial(t, other, sid)
		all, err := s.GetAllTrials(sid)
		if err != nil || len(all) != 3 || all[0].State != goptuna.TrialStateComplete || all[0].Value != 1 || all[2].ID != c {
			t.Fatalf("after other writer: %+v %v", all, err)
		}
	})
}

func TestClaimBudget(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "b", goptuna.StudyDirectionMinimize)
		enq, err := s.CloneTrial(sid, goptuna.FrozenTrial{State: goptuna.TrialStateWaiting,
			SystemAttrs: map[string]string{AttrFixedParams: `{"x":0.5}`}})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			name     string
			granted  bool
			enqueued bool
		}{
			{"waiting first", true, true},
			{"new", true, false},
			{"new again", true, false},
			{"budget spent", false, false},
		}
		var first sweep.ClaimResult
		for i, st := range steps {
			r, err := s.Claim(ctx, sid, 3)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = r
			}
			if r.Granted != st.granted || r.Enqueued != st.enqueued {
				t.Errorf("%s: %+v", st.name, r)
			}
		}
		if first.TrialID != enq || first.Number != 0 {
			t.Errorf("claimed %+v, want the enqueued trial %d", first, enq)
		}
		if c, f, _ := s.CountTrials(ctx, sid); c != 3 || f != 0 {
			t.Errorf("counted %d finished %d", c, f)
		}
		// An interrupted trial that is re-enqueued costs the budget once.
		retryID, err := s.FailInterrupted(ctx, first.TrialID, true)
		if err != nil || retryID == 0 {
			t.Fatalf("fail interrupted: %d %v", retryID, err)
		}
		r, err := s.Claim(ctx, sid, 3)
		if err != nil || !r.Granted || r.TrialID != retryID || !r.Enqueued {
			t.Fatalf("claim of retry: %+v %v", r, err)
		}
		if r, _ := s.Claim(ctx, sid, 3); r.Granted {
			t.Error("budget exceeded")
		}
		if r, _ := s.Claim(ctx, sid, 0); !r.Granted {
			t.Error("unlimited budget refused")
		}
		if _, err := s.Claim(ctx, 9999, 3); err != goptuna.ErrInvalidStudyID {
			t.Errorf("unknown study: %v", err)
		}
	})
}

// lastSeen sets a RUNNING trial's (and its run's) last heartbeat to at: the
// reaper tests age a trial by its record, not by sleeping, so no load on the
// machine can move a trial across the staleness line.
func lastSeen(t *testing.T, s *Store, trialID int, at time.Time) {
	t.Helper()
	for _, q := range []string{`UPDATE trials SET heartbeat = ? WHERE trial_id = ?`, `UPDATE runs SET heartbeat = ? WHERE trial_id = ?`} {
		if _, err := s.db.Exec(s.rebind(q), micro(at), trialID); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHeartbeatAndReaper(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "r", goptuna.StudyDirectionMinimize)
		stale := mustTrial(t, s, sid)
		dist := goptuna.CategoricalDistribution{Choices: []string{"a", "b"}}
		s.SetTrialParam(stale, "c", 1, dist)
		s.SetTrialSystemAttr(stale, "lorasweep:baseline", "true")
		started := time.UnixMicro(time.Now().Add(-3 * time.Hour).UnixMicro())
		if err := s.StartRun(ctx, sweep.RunRecord{TrialID: stale, WorkerID: "w1", Host: "h", GPUs: []string{"0"}, Started: started}); err != nil {
			t.Fatal(err)
		}
		// Last seen two hours ago; the other trial beats now.
		seen := time.UnixMicro(time.Now().Add(-2 * time.Hour).UnixMicro())
		lastSeen(t, s, stale, seen)
		alive := mustTrial(t, s, sid)
		if err := s.Heartbeat(ctx, alive); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ReapStale(ctx, sid, 3*time.Hour, true); len(got) != 0 {
			t.Errorf("fresh trials reaped: %+v", got)
		}
		reaped, err := s.ReapStaleLimit(ctx, sid, time.Hour, 1)
		if err != nil || len(reaped) != 1 || reaped[0].TrialID != stale || reaped[0].RetryID == 0 {
			t.Fatalf("reaped %+v %v", reaped, err)
		}
		old, _ := s.GetTrial(stale)
		if old.State != goptuna.TrialStateFail || old.SystemAttrs[AttrFailReason] != ReasonInterrupted {
			t.Errorf("reaped trial %v %v", old.State, old.SystemAttrs)
		}
		// It ended when last seen, not when reaped: its duration is an hour,
		// not three.
		if !old.DatetimeComplete.Equal(seen) {
			t.Errorf("reaped trial completed at %v, want its last heartbeat %v", old.DatetimeComplete, seen)
		}
		if run, _ := s.GetRun(ctx, stale); run.Reason != ReasonInterrupted || run.Ended == nil || !run.Ended.Equal(seen) {
			t.Errorf("run %+v, want ended at the last heartbeat %v", run, seen)
		}
		cp, _ := s.GetTrial(reaped[0].RetryID)
		want := map[string]string{AttrFixedParams: `{"c":1}`, AttrRetryOf: "0", AttrRetryCount: "1", "lorasweep:baseline": "true"}
		if cp.State != goptuna.TrialStateWaiting || !reflect.DeepEqual(cp.SystemAttrs, want) {
			t.Errorf("retry %v %v", cp.State, cp.SystemAttrs)
		}
		if err := s.Heartbeat(ctx, stale); err != goptuna.ErrTrialCannotBeUpdated {
			t.Errorf("heartbeat of reaped trial: %v", err)
		}
		// The retry, claimed and gone stale again, is not retried past the limit.
		r, _ := s.Claim(ctx, sid, 0)
		if r.TrialID != cp.ID {
			t.Fatalf("claimed %+v", r)
		}
		lastSeen(t, s, cp.ID, seen)
		s.Heartbeat(ctx, alive)
		again, err := s.ReapStaleLimit(ctx, sid, time.Hour, 1)
		if err != nil || len(again) != 1 || again[0].TrialID != cp.ID || again[0].RetryID != 0 {
			t.Errorf("second reap %+v %v", again, err)
		}
		if st, _ := s.GetTrial(alive); st.State != goptuna.TrialStateRunning {
			t.Error("live trial reaped")
		}
	})
}

// A worker's own reaper spares its trials however stale their heartbeat:
// the worker running the reaper is alive, so are its trials.
func TestReapStaleExceptSparesOwnTrials(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "own", goptuna.StudyDirectionMinimize)
		mine, err := s.ClaimAs(ctx, sid, 0, "host:1", "host")
		if err != nil || !mine.Granted {
			t.Fatalf("claim: %+v %v", mine, err)
		}
		theirs, err := s.ClaimAs(ctx, sid, 0, "other:2", "other")
		if err != nil || !theirs.Granted {
			t.Fatalf("claim: %+v %v", theirs, err)
		}
		time.Sleep(30 * time.Millisecond)
		reaped, err := s.ReapStaleExcept(ctx, sid, 20*time.Millisecond, 0, "host:1")
		if err != nil || len(reaped) != 1 || reaped[0].TrialID != theirs.TrialID {
			t.Fatalf("reaped %+v %v, want only the other worker's trial %d", reaped, err, theirs.TrialID)
		}
		if tr, _ := s.GetTrial(mine.TrialID); tr.State != goptuna.TrialStateRunning {
			t.Errorf("own trial is %v, want still running", tr.State)
		}
		// Without the exception it is reaped like any other.
		if again, err := s.ReapStaleLimit(ctx, sid, 20*time.Millisecond, 0); err != nil || len(again) != 1 || again[0].TrialID != mine.TrialID {
			t.Errorf("plain reap %+v %v", again, err)
		}
	})
}

func TestRecords(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, _ string) {
		sid := mustStudy(t, s, "rec", goptuna.StudyDirectionMinimize)
		id := mustTrial(t, s, sid)
		start := time.UnixMicro(time.Now().UnixMicro())
		// the run starts before its trainer: no pid yet
		run := sweep.RunRecord{TrialID: id, WorkerID: "w", Host: "box", GPUs: []string{"0", "2"},
			TrialDir: "/d", LogPath: "/d/trial.log", Started: start, Heartbeat: start}
		if err := s.StartRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		run.PID, run.PGID = 10, 10
		code, epoch := 1, 2
		end := start.Add(time.Second)
		run.ExitCode, run.Reason, run.Detail, run.LogTail, run.Ended, run.BestEpoch = &code, "oom", "CUDA", "tail", &end, &epoch
		run.Warnings = []string{"ss_lr_scheduler is adafactor:0.0001, the trial asked for cosine"}
		run.ModelPath, run.Checkpoint = "/d/m.safetensors", "/d/m-000002.safetensors"
		if err := s.FinishRun(ctx, run); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRun(ctx, id)
		if err != nil || !reflect.DeepEqual(got, run) {
			t.Errorf("run\n got %+v\nwant %+v (%v)", got, run, err)
		}
		if runs, _ := s.Runs(ctx, sid); len(runs) != 1 {
			t.Errorf("runs %d", len(runs))
		}
		if _, err := s.GetRun(ctx, 9999); !errors.Is(err, ErrNoRun) {
			t.Errorf("missing run: %v", err)
		}
		v := 0.5
		eps := []sweep.EpochRecord{
			{TrialID: id, Epoch: 1, Fraction: 0.5, Value: &v, Components: `{"a":1}`, Checkpoint: "c1", ObjectiveVersion: 1},
			{TrialID: id, Epoch: 2, Fraction: 1, Unscorable: true, Reason: "black", Deleted: true, ObjectiveVersion: 3},
		}
		for _, e := range eps {
			if err := s.RecordEpoch(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.Epochs(ctx, id); !reflect.DeepEqual(got, eps) {
			t.Errorf("epochs %+v", got)
		}
		sm := []sweep.SampleRecord{{TrialID: id, Epoch: 1, Path: "/s/a.png", Prompt: "a cat", PromptIndex: 0, Seed: 42, Scores: `{}`}}
		if err := s.RecordSamples(ctx, append(sm, sm...)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Samples(ctx, id); !reflect.DeepEqual(got, sm) {
			t.Errorf("samples %+v", got)
		}
		pts := []sweep.MetricPoint{{Step: 1, Loss: 0.2, LR: 1e-4}, {Step: 2, Loss: math.NaN(), LR: 1e-4}}
		if err := s.RecordMetrics(ctx, id, pts); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Metrics(ctx, id); len(got) != 2 || got[0] != pts[0] || !math.IsNaN(got[1].Loss) {
			t.Errorf("metrics %+v", got)
		}
		other := id
		rid, err := s.AddRating(ctx, sweep.Rating{TrialID: id, Stars: 4, Rater: "me", Created: start})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddRating(ctx, sweep.Rating{TrialID: id, Other: &other, Created: start}); err != nil {
			t.Fatal(err)
		}
		rs, _ := s.Ratings(ctx, sid)
		if len(rs) != 2 || rs[0].ID != rid || rs[0].Stars != 4 || *rs[1].Other != id || !rs[0].Created.Equal(start) {
			t.Errorf("ratings %+v", rs)
		}
		if _, err := s.AddRating(ctx, sweep.Rating{TrialID: 9999}); err != goptuna.ErrInvalidTrialID {
			t.Errorf("rating of unknown trial: %v", err)
		}
	})
}

func TestStudySpec(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		sid := mustStudy(t, s, "spec", goptuna.StudyDirectionMinimize)
		if _, err := s.StudySpec(ctx, sid); !errors.Is(err, ErrNoSpec) {
			t.Errorf("no spec: %v", err)
		}
		spec := []byte(`{"name":"spec","search":[]}`)
		if err := s.SetStudySpec(ctx, sid, spec); err != nil {
			t.Fatal(err)
		}
		got, err := openT(t, dsn).StudySpec(ctx, sid)
		if err != nil || string(got) != string(spec) {
			t.Errorf("spec %s %v", got, err)
		}
	})
}

func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	forEach(t, func(t *testing.T, s *Store, dsn string) {
		if s.Driver() != map[bool]string{true: DriverSQLite, false: DriverPostgres}[strings.HasPrefix(dsn, "sqlite")] {
			t.Errorf("driver %q", s.Driver())
		}
		openT(t, dsn) // reopening applies nothing and fails nothing
		ms, err := loadMigrations(s.Driver())
		if err != nil {
			t.Fatal(err)
		}
		var n, top int
		if err := s.db.Get(&n, `SELECT COUNT(*) FROM schema_version`); err != nil || n != len(ms) {
			t.Errorf("schema_version rows %d (%v), want %d", n, err, len(ms))
		}
		if err := s.db.Get(&top, `SELECT MAX(version) FROM schema_version`); err != nil || top != SchemaVersion() {
			t.Errorf("newest schema version %d (%v), want %d", top, err, SchemaVersion())
		}
		if _, err := s.db.Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, dsn)
		if !errors.Is(err, ErrSchemaTooNew) {
			t.Errorf("newer schema: %v, want ErrSchemaTooNew", err)
		}
	})
}
