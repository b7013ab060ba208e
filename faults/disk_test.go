package faults

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// TestDiskFull runs a sweep whose output root is a 2 MiB tmpfs (mounted in
// a private mount namespace, so nothing outside the test sees it); trial 0
// fills it. That trial must fail as disk-full with the reason recorded, and
// the sweep must stop launching instead of burning its budget on trials that
// cannot write. Needs root (unshare -m); skipped otherwise.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -m and a tmpfs mount")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	const budget = 6
	s := newSweep(t, specOpts{name: "diskfull", trials: budget, budget: ", max_failures_in_a_row: 50"})
	s.setFault(0, "fillreal")
	if err := os.MkdirAll(s.runs, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := `mount -t tmpfs -o size=2m tmpfs "$1" && exec "$2" run "$3"`
	cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", script, "sh", s.runs, bin, s.spec)
	cmd.Dir = s.dir
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "mount:") {
		t.Skipf("cannot mount a tmpfs here: %s", out)
	}
	t.Logf("run: err=%v\n%s", err, out)
	trials := s.trials()
	if len(trials) == 0 {
		t.Fatal("no trial recorded")
	}
	first := trials[0]
	if first.State != goptuna.TrialStateFail || first.Reason != "disk-full" {
		t.Errorf("trial 0: state %v reason %q, want fail disk-full", first.State, first.Reason)
	}
	if first.Run != nil && !strings.Contains(first.Run.LogTail+first.Run.Detail, "No space left on device") {
		t.Errorf("trial 0's record does not say why: detail %q tail %q", first.Run.Detail, first.Run.LogTail)
	}
	for _, tv := range trials[1:] {
		if tv.State == goptuna.TrialStateFail && tv.Reason != "disk-full" {
			t.Errorf("trial %d failed as %q on a full disk", tv.Number, tv.Reason)
		}
	}
	if len(trials) >= budget {
		t.Errorf("the sweep kept launching on a full disk: %d trials of budget %d, all disk-full", len(trials), budget)
	}
	s.noLeftovers(5 * time.Second)
}
