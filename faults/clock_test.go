package faults

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lorasweep/lorasweep/storage"
)

// TestResumeAfterDeadline: a sweep whose deadline (relative to its first
// start) has passed when it is resumed launches nothing, says why, and
// records the reason for status and the report.
func TestResumeAfterDeadline(t *testing.T) {
	s := newSweep(t, specOpts{name: "late", trials: 2, budget: ", deadline: 3s"})
	out, code := s.run(time.Minute, "run", s.spec)
	if code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, out)
	}
	before := len(s.trials())
	time.Sleep(3500 * time.Millisecond) // past first start + 3s
	// The morning after: more budget, same sweep, same deadline.
	s2 := newSweep(t, specOpts{name: "late", trials: 6, budget: ", deadline: 3s", dsn: s.dsn})
	start := time.Now()
	out, code = s2.run(time.Minute, "run", s2.spec)
	if code != 0 {
		t.Fatalf("resume exited %d:\n%s", code, out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("resume took %v: want it to stop launching at once", took)
	}
	if !strings.Contains(out, "deadline reached") {
		t.Errorf("resume does not say the deadline stopped it:\n%s", out)
	}
	if after := len(s.trials()); after != before {
		t.Errorf("%d trials after the resume, want %d: a trial launched past the deadline", after, before)
	}
	st, err := storage.Open(context.Background(), s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	id, err := st.GetStudyIDFromName("late")
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := st.GetStudySystemAttrs(id)
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs["lorasweep:stop_reason"]; got != "deadline reached" {
		t.Errorf("stored stop reason %q, want %q", got, "deadline reached")
	}
}
