package faults

import (
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// TestTrainerFaults runs one sweep whose trials misbehave in every way a
// trainer can, one fault per trial, on a single slot: each must end as a
// FAIL with the right reason and a log tail, its processes must be gone, and
// the healthy trials after it must still run (the slot was freed). A full
// disk is the exception: TestTrainerFillsDisk.
func TestTrainerFaults(t *testing.T) {
	faults := []struct {
		mode   string
		reason string
		tail   string // a line the log tail must hold
	}{
		{"exit1", "crash", "RuntimeError: injected crash"},
		{"nan", "nan", "loss=nan"},
		{"hung", "hung", "epoch 2/3"},
		{"ignore_term", "hung", "epoch 2/3"},
		{"fork", "crash", "leaving a grandchild behind"},
		{"garbage", "crash", "garbage done"},
		{"nosamples", "unscorable", "training finished"},
		{"corruptpng", "unscorable", "training finished"},
	}
	// Trial 0 and the last trial are healthy; the faults sit between them.
	s := newSweep(t, specOpts{trials: len(faults) + 2, parallel: 1, budget: ", max_failures_in_a_row: 50"})
	for i, f := range faults {
		s.setFault(i+1, f.mode)
	}
	start := time.Now()
	out, code := s.run(3*time.Minute, "run", s.spec)
	t.Logf("sweep of %d trials took %v", len(faults)+2, time.Since(start).Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("run exited %d:\n%s", code, out)
	}
	trials := s.trials()
	if len(trials) != len(faults)+2 {
		t.Fatalf("got %d trials, want %d:\n%s", len(trials), len(faults)+2, out)
	}
	for _, n := range []int{0, len(faults) + 1} {
		if trials[n].State != goptuna.TrialStateComplete {
			t.Errorf("healthy trial %d: state %v reason %q, want complete", n, trials[n].State, trials[n].Reason)
		}
	}
	for i, f := range faults {
		tv := trials[i+1]
		t.Run(f.mode, func(t *testing.T) {
			if tv.State != goptuna.TrialStateFail {
				t.Fatalf("state %v, want fail", tv.State)
			}
			if tv.Reason != f.reason {
				t.Errorf("reason %q, want %q (detail %q)", tv.Reason, f.reason, tv.Run.Detail)
			}
			if tv.Run == nil {
				t.Fatal("no run record")
			}
			if !strings.Contains(tv.Run.LogTail, f.tail) {
				t.Errorf("log tail lacks %q:\n%.2000s", f.tail, tv.Run.LogTail)
			}
			if len(tv.Run.LogTail) > 200<<10 {
				t.Errorf("log tail is %d bytes: an enormous line was kept whole", len(tv.Run.LogTail))
			}
		})
	}
	s.noLeftovers(3 * time.Second)
}

// TestTrainerFillsDisk: a trainer that cannot write (ENOSPC) fails as
// disk-full with its log tail, and the sweep stops launching at once —
// every later trial would fail the same way — saying why.
func TestTrainerFillsDisk(t *testing.T) {
	s := newSweep(t, specOpts{trials: 3, parallel: 1, budget: ", max_failures_in_a_row: 50"})
	s.setFault(0, "fill")
	out, code := s.run(time.Minute, "run", s.spec)
	if code != 1 {
		t.Errorf("run exited %d, want 1: the sweep stopped on a failure:\n%s", code, out)
	}
	if !strings.Contains(out, "disk full") {
		t.Errorf("the stop reason does not say the disk is full:\n%s", out)
	}
	trials := s.trials()
	if len(trials) != 1 {
		t.Fatalf("got %d trials, want 1: nothing launched after the full disk:\n%s", len(trials), out)
	}
	tv := trials[0]
	if tv.State != goptuna.TrialStateFail || tv.Reason != "disk-full" {
		t.Errorf("state %v reason %q, want fail/disk-full", tv.State, tv.Reason)
	}
	if tv.Run == nil || !strings.Contains(tv.Run.LogTail, "No space left on device") {
		t.Errorf("log tail lacks the ENOSPC line: %+v", tv.Run)
	}
	s.noLeftovers(3 * time.Second)
}
