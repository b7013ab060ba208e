package faults

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// killPoint is a moment of a sweep's life, observed from outside, at which
// TestKillNineResume kill -9s `lorasweep run`.
type killPoint struct {
	name string
	// ready reports, from files and storage, that the sweep reached the
	// phase; after is extra delay before the kill.
	ready func(s *sweepDir, out string) bool
	after time.Duration
}

// trialDirs lists the sweep's trial folders, oldest number first.
func (s *sweepDir) trialDirs() []string {
	var dirs []string
	_ = filepath.WalkDir(s.runs, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.HasPrefix(d.Name(), "trial-") {
			dirs = append(dirs, p)
			return filepath.SkipDir
		}
		return nil
	})
	sort.Strings(dirs)
	return dirs
}

// newestLog returns the newest trial's log text ("" when none yet).
func (s *sweepDir) newestLog() string {
	dirs := s.trialDirs()
	if len(dirs) == 0 {
		return ""
	}
	data, _ := os.ReadFile(filepath.Join(dirs[len(dirs)-1], "trial.log"))
	return string(data)
}

func logHas(sub string) func(*sweepDir, string) bool {
	return func(s *sweepDir, _ string) bool { return strings.Contains(s.newestLog(), sub) }
}

// finished counts COMPLETE trials without opening the storage from the
// test at every poll: the trial folders of finished trials are stable, so
// the storage is read only when a folder holds a finished log.
func (s *sweepDir) finished() int {
	if !strings.Contains(s.newestLog(), "training finished") && len(s.trialDirs()) < 2 {
		return 0
	}
	return countStates(s.trials())[goptuna.TrialStateComplete]
}

// TestKillNineResume kill -9s `lorasweep run` at ten points covering each
// phase of a trial's life and of the sweep (startup and reconcile, asking
// and preparing, training, scoring, telling, writing the final ranking),
// runs the same command again each time, and checks: every finished trial
// is intact (state and value unchanged), no trainer process outlives its
// sweep, interrupted trials are re-run, and the final count is exact.
func TestKillNineResume(t *testing.T) {
	const budget = 7
	// Every kill interrupts the same retry chain again: allow many retries.
	s := newSweep(t, specOpts{trials: budget, parallel: 2, epochs: 3, step: "0.08", retries: 50})
	points := []killPoint{
		{name: "startup (storage opened, reconcile, first ask)", ready: func(s *sweepDir, _ string) bool {
			_, err := os.Stat(filepath.Join(s.dir, "sweep.db"))
			return err == nil
		}},
		{name: "preparing (trial folder created)", ready: func(s *sweepDir, _ string) bool { return len(s.trialDirs()) > 0 }},
		{name: "training started", ready: logHas("fault trainer:")},
		{name: "training mid-epoch", ready: logHas("epoch 2/3")},
		{name: "scoring epoch 2", ready: logHas("epoch 3/3"), after: 5 * time.Millisecond},
		{name: "telling (trainer exited, final epoch scored and recorded)", ready: logHas("training finished")},
		{name: "resume: reconcile of the previous kill", ready: func(*sweepDir, string) bool { return true }, after: 30 * time.Millisecond},
		{name: "between trials (a trial complete, the next asked)", ready: func(s *sweepDir, _ string) bool { return s.finished() >= 3 }},
		{name: "last trials training", ready: func(s *sweepDir, _ string) bool {
			return s.finished() >= budget-2 && strings.Contains(s.newestLog(), "epoch 2/3")
		}},
		// The ranking follows the stop line on stdout; the process may
		// finish before the kill lands, which counts as not reached.
		{name: "writing the final ranking", ready: func(_ *sweepDir, out string) bool { return strings.Contains(out, "stopped: budget reached") }},
	}
	finishedBefore := map[int]trialView{}
	kills := 0
	for _, kp := range points {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		cmd := s.command(ctx, "run", s.spec)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		killed := false
	poll:
		for {
			select {
			case <-exited:
				break poll
			case <-time.After(3 * time.Millisecond):
			}
			if kp.ready(s, out.String()) {
				time.Sleep(kp.after)
				// Only the sweep's own pid: its supervisors must take the
				// trainers down by themselves.
				if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err == nil {
					killed = true
				}
				<-exited
				break poll
			}
		}
		cancel()
		if killed {
			kills++
		}
		t.Logf("kill point %-60q killed=%v", kp.name, killed)
		if !killed {
			t.Logf("run ended by itself:\n%s", out.String())
		}
		s.noLeftovers(5 * time.Second)
		// Finished trials are immutable: whatever was finished before any
		// kill is still there, unchanged.
		now := s.trials()
		for n, before := range finishedBefore {
			if n >= len(now) || now[n].State != before.State || now[n].Value != before.Value {
				t.Fatalf("after %q: finished trial %d changed: %+v → %+v", kp.name, n, before, now[n])
			}
		}
		for _, tv := range now {
			if tv.State != goptuna.TrialStateRunning && tv.State != goptuna.TrialStateWaiting {
				finishedBefore[tv.Number] = tv
			}
		}
	}
	out, code := s.run(2*time.Minute, "run", s.spec)
	if code != 0 {
		t.Fatalf("final resume exited %d:\n%s", code, out)
	}
	s.noLeftovers(5 * time.Second)
	trials := s.trials()
	// A trial claimed but killed before its run was recorded (the asking
	// phase) has no worker on record, so the resume cannot see that its
	// worker is dead; only the stale-heartbeat reaper (30 s) frees it. Such
	// a trial fails the test (see RELIABILITY.md); the test then waits for
	// the reaper and resumes once more, so the final count is still checked
	// exactly.
	var orphans []int
	for _, tv := range trials {
		if tv.State != goptuna.TrialStateRunning {
			continue
		}
		if tv.Run != nil {
			t.Errorf("trial %d of a dead worker still running after resume (run recorded by %s)", tv.Number, tv.Run.WorkerID)
		}
		orphans = append(orphans, tv.Number)
	}
	if len(orphans) > 0 {
		t.Errorf("trials %v were claimed but killed before their run was recorded; the immediate resume left them running", orphans)
		time.Sleep(31 * time.Second)
		if out, code := s.run(2*time.Minute, "run", s.spec); code != 0 {
			t.Fatalf("resume after the stale window exited %d:\n%s", code, out)
		}
		trials = s.trials()
	}
	states := countStates(trials)
	if states[goptuna.TrialStateComplete] != budget {
		t.Errorf("complete trials: %d, want exactly %d (states %v)", states[goptuna.TrialStateComplete], budget, states)
	}
	if states[goptuna.TrialStateRunning]+states[goptuna.TrialStateWaiting] != 0 {
		t.Errorf("trials left running or waiting: %v", states)
	}
	retried := map[string]bool{}
	for _, tv := range trials {
		if r := tv.Attrs["lorasweep:retry_of"]; r != "" {
			retried[r] = true
		}
	}
	interrupted := 0
	for _, tv := range trials {
		if tv.State != goptuna.TrialStateFail {
			continue
		}
		interrupted++
		if tv.Reason != "interrupted" {
			t.Errorf("trial %d failed %q: only interruptions were injected", tv.Number, tv.Reason)
		}
		if !retried[itoa(tv.Number)] {
			t.Errorf("interrupted trial %d was not re-run", tv.Number)
		}
	}
	t.Logf("%d kills; %d trials interrupted and re-run; %d complete of budget %d; %d trials in all", kills, interrupted, states[goptuna.TrialStateComplete], budget, len(trials))
	if kills < 8 {
		t.Errorf("only %d of %d kill points were reached", kills, len(points))
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
