package sweep_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lorasweep/lorasweep/sweep"
)

// TestControllerDeadlineAcrossMidnight: a sweep first started at 23:58 with
// deadline "00:01" runs until 00:01 of the next day — not "already past" —
// and launches no trial after it. The controller's clock runs 120× fast:
// the 3 simulated minutes take 1.5 s, so even trials slowed tenfold by the
// race detector on a loaded machine (predicted durations are what gate a
// launch) leave launches on both sides of midnight.
func TestControllerDeadlineAcrossMidnight(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	spec := writeSpec(t, dir, "midnight", 500, `, deadline: "00:01"`)
	base := time.Date(2026, 3, 14, 23, 58, 0, 0, time.Local)
	// The sweep's clock moves on by one second each time the controller
	// reads it, not with the wall clock: how busy the machine is cannot
	// move a launch past the deadline between the controller's decision and
	// the test's record of it.
	var ticks atomic.Int64
	clock := func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * time.Second) }
	peek := func() time.Time { return base.Add(time.Duration(ticks.Load()) * time.Second) }
	ctl := newController(spec, st, newFakeRunner(1, 2))
	ctl.Now = clock
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	ctl.OnTrialStart = func(int, []string, map[string]any) {
		mu.Lock()
		starts = append(starts, peek())
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ctl.Run(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 3, 15, 0, 1, 0, 0, time.Local)
	if !ctl.Deadline().Equal(want) {
		t.Errorf("deadline %v, want %v (the next 00:01)", ctl.Deadline(), want)
	}
	if res.Stop != sweep.StopDeadline {
		t.Errorf("stop %q, want %q", res.Stop, sweep.StopDeadline)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(starts) == 0 {
		t.Fatal("no trial launched before a deadline three minutes away")
	}
	crossed := false
	for _, s := range starts {
		if s.After(want) {
			t.Errorf("trial launched at %v, after the deadline", s.Format(time.TimeOnly))
		}
		if s.Day() == 15 {
			crossed = true
		}
	}
	if !crossed {
		t.Errorf("no trial launched after midnight (%d launches, last %v): the sweep stopped early", len(starts), starts[len(starts)-1])
	}
}
