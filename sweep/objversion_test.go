package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
)

// Trials scored under an older objective rank below every trial of the
// current one, newest version first, each version by its own direction.
func TestRankOlderObjectiveApart(t *testing.T) {
	mk := func(n int, s goptuna.TrialState, v float64, version int, superseded string) goptuna.FrozenTrial {
		attrs := map[string]string{sweep.AttrObjectiveVersion: fmt.Sprint(version)}
		if superseded != "" {
			attrs[sweep.AttrSuperseded] = superseded
		}
		return goptuna.FrozenTrial{Number: n, State: s, Value: v, SystemAttrs: attrs}
	}
	trials := []goptuna.FrozenTrial{
		mk(0, goptuna.TrialStateComplete, 0.99, 1, "maximize"),
		mk(1, goptuna.TrialStateComplete, 0.3, 2, "minimize"),
		mk(2, goptuna.TrialStateComplete, 0.2, 2, "minimize"),
		mk(3, goptuna.TrialStateComplete, 0.5, 3, ""),
		mk(4, goptuna.TrialStatePruned, 0.1, 3, ""),
		mk(5, goptuna.TrialStateFail, 0, 3, ""),
		mk(6, goptuna.TrialStateRunning, 0, 3, ""),
		mk(7, goptuna.TrialStateComplete, 0.7, 3, ""),
	}
	var got []int
	var ranked []bool
	for _, r := range sweep.Rank(trials, goptuna.StudyDirectionMinimize) {
		got = append(got, r.Number)
		ranked = append(ranked, sweep.Ranked(r))
	}
	if want := []int{3, 7, 4, 2, 1, 0, 6, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
	if want := []bool{true, true, true, false, false, false, false, false}; fmt.Sprint(ranked) != fmt.Sprint(want) {
		t.Errorf("ranked %v, want %v", ranked, want)
	}
	if rows := sweep.Rank(trials[:3], goptuna.StudyDirectionMaximize); !rows[0].OlderObjective || !strings.Contains(sweep.OlderObjectiveNote(rows[0]), "v2") {
		t.Errorf("older rows: %+v", rows[0])
	}
}

// A trial that was running when another process changed the objective is
// scored under the version it started with and marked apart.
func TestObjectiveChangedWhileTrialRuns(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "midway", 1, "")
	changed := *spec
	changed.Objective.Direction = "minimize"
	ctl := newController(spec, st, newFakeRunner(1, 2))
	ctl.Parallel = 1
	var changeErr error
	ctl.OnTrialStart = func(int, []string, map[string]any) {
		_, changeErr = sweep.OpenStudyWith(context.Background(), st, &changed, sweep.StudyOptions{})
		var ce *sweep.ChangedError
		if !errors.As(changeErr, &ce) || len(ce.Objective) != 1 || !strings.Contains(ce.Objective[0], "direction: maximize → minimize") {
			t.Errorf("resume with another direction: %v, want a ChangedError naming it", changeErr)
		}
		_, changeErr = sweep.OpenStudyWith(context.Background(), st, &changed, sweep.StudyOptions{AllowObjectiveChange: true, Scorer: fakeScorer{}})
	}
	res, err := ctl.Run(context.Background(), false)
	if err != nil || changeErr != nil {
		t.Fatalf("run: %v; change: %v", err, changeErr)
	}
	if changed.ObjectiveVersion != 2 || spec.ObjectiveVersion != 1 {
		t.Errorf("versions: running spec %d, changed spec %d; want 1 and 2", spec.ObjectiveVersion, changed.ObjectiveVersion)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 1 || trials[0].State != goptuna.TrialStateComplete {
		t.Fatalf("trials %+v", trials)
	}
	if a := trials[0].SystemAttrs; a[sweep.AttrObjectiveVersion] != "1" || a[sweep.AttrSuperseded] != "maximize" {
		t.Errorf("trial attrs %v: want version 1, superseded (maximize)", a)
	}
	if dir, _ := st.GetStudyDirection(res.StudyID); dir != goptuna.StudyDirectionMinimize {
		t.Errorf("study direction %v, want minimize", dir)
	}
	if rows := sweep.Rank(trials, goptuna.StudyDirectionMinimize); sweep.Ranked(rows[0]) {
		t.Errorf("a trial of objective v1 is ranked under v2: %+v", rows[0])
	}
	// Resuming with the spec now stored changes nothing: the trial stays
	// apart until the objective changes again.
	if _, err := sweep.OpenStudyWith(context.Background(), st, &changed, sweep.StudyOptions{AllowObjectiveChange: true, Scorer: fakeScorer{}}); err != nil {
		t.Fatal(err)
	}
	if a := trialsOf(t, st, res.StudyID)[0].SystemAttrs; a[sweep.AttrSuperseded] != "maximize" {
		t.Errorf("an unchanged resume touched the trial: %v", a)
	}
}

// A worker joining after a change runs the stored spec's version: its
// trials rank with the current objective's.
func TestWorkerJoinsCurrentObjectiveVersion(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "join", 1, "")
	if _, err := newController(spec, st, newFakeRunner(1, 2)).Run(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	changed := *spec
	changed.Objective.Direction = "minimize"
	changed.Budget.Trials = 2
	if _, err := sweep.OpenStudyWith(context.Background(), st, &changed, sweep.StudyOptions{AllowObjectiveChange: true, Scorer: fakeScorer{}}); err != nil {
		t.Fatal(err)
	}
	stored, _, err := sweep.LoadStoredSpec(st, "join")
	if err != nil || stored.ObjectiveVersion != 2 {
		t.Fatalf("stored spec version %v (%v), want 2", stored.ObjectiveVersion, err)
	}
	w := newController(stored, st, newFakeRunner(1, 2))
	w.Join = true
	res, err := w.Run(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	trials := trialsOf(t, st, res.StudyID)
	if len(trials) != 2 {
		t.Fatalf("%d trials, want 2", len(trials))
	}
	for _, tr := range trials {
		if tr.SystemAttrs[sweep.AttrObjectiveVersion] != "2" || tr.SystemAttrs[sweep.AttrSuperseded] != "" {
			t.Errorf("trial %d attrs %v: want version 2, not apart (the first one was scored again)", tr.Number, tr.SystemAttrs)
		}
	}
}
