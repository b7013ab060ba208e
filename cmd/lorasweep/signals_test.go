package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowSpec trains with a command trainer that takes about two seconds, so
// a signal can arrive while a trial runs.
const slowSpec = `name: slow
storage: sqlite://sweep.db
output_root: ./runs
trainer:
  kind: command
  command: [sh, -c, "for e in 1 2; do echo epoch $e/2; echo loss={x}; sleep 1; done"]
  epoch_regex: '^epoch (\d+)/(\d+)'
  loss_regex: 'loss=([0-9.]+)'
search:
  x: {float: [0.1, 0.9]}
sampler: {kind: random, seed: 1}
objective: {direction: minimize, scorers: [{kind: loss, stat: final}]}
budget: {trials: 3, parallel: 1, retries: 1}
gpus: none
baseline: false
`

// startRun starts `lorasweep run` in dir and returns it with its stderr.
func startRun(t *testing.T, dir string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(lorasweepBinary(t), "run", "slow.yaml")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LORASWEEP_STORAGE=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &bytes.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

// waitForFile polls until path exists (a trial's log: its trainer started).
func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func waitExit(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run exited with %v\n%s", err, stderr.String())
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("run did not exit after the signal\n%s", stderr.String())
	}
}

// TestSignalsDrainThenAbortThenResume sends one SIGINT (drain: the running
// trial finishes, nothing new starts), then two (abort: the running trial is
// stopped, recorded as interrupted and re-enqueued), then resumes to the
// budget with a real process each time.
func TestSignalsDrainThenAbortThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary with a two-second trainer")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "slow.yaml"), []byte(slowSpec), 0o644); err != nil {
		t.Fatal(err)
	}

	// Drain: one SIGINT while trial 0 trains.
	cmd, stderr := startRun(t, dir)
	waitForFile(t, filepath.Join(dir, "runs", "slow", "trial-0000", "trial.log"))
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, cmd, stderr)
	if !strings.Contains(stderr.String(), "draining") {
		t.Errorf("no drain message:\n%s", stderr)
	}
	trials := listTrialsOf(t, dir, "slow")
	if len(trials) != 1 || trials[0].State != "complete" {
		t.Fatalf("after drain: %+v, want trial 0 complete and nothing else", trials)
	}

	// Abort: two SIGINTs while trial 1 trains.
	cmd, stderr = startRun(t, dir)
	waitForFile(t, filepath.Join(dir, "runs", "slow", "trial-0001", "trial.log"))
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd, stderr)
	if !strings.Contains(stderr.String(), "aborting") {
		t.Errorf("no abort message:\n%s", stderr)
	}
	byNumber := map[int]trialJSON{}
	for _, tr := range listTrialsOf(t, dir, "slow") {
		byNumber[tr.Number] = tr
	}
	if tr := byNumber[1]; tr.State != "fail" {
		t.Errorf("aborted trial 1 is %q, want fail (interrupted)", tr.State)
	}
	if tr := byNumber[2]; tr.State != "waiting" || tr.Params["x"] != byNumber[1].Params["x"] {
		t.Errorf("trial 2 = %+v, want a waiting retry with trial 1's params %v", tr, byNumber[1].Params)
	}

	// Resume: the retry and the rest of the budget run.
	stdout, errOut, code := runCLI(t, dir, "run", "slow.yaml")
	if code != 0 {
		t.Fatalf("resume exited %d: %s\n%s", code, errOut, stdout)
	}
	final := listTrialsOf(t, dir, "slow")
	complete := 0
	for _, tr := range final {
		if tr.State == "complete" {
			complete++
		}
	}
	if len(final) != 4 || complete != 3 {
		t.Errorf("after resume: %d trials, %d complete; want 4 trials (3 complete + the interrupted one)", len(final), complete)
	}
}

func listTrialsOf(t *testing.T, dir, sweep string) []trialJSON {
	t.Helper()
	stdout, stderr, code := runCLI(t, dir, "trials", "--sweep", sweep, "--storage", "sqlite://"+filepath.Join(dir, "sweep.db"), "--format", "json")
	if code != 0 {
		t.Fatalf("trials exited %d: %s", code, stderr)
	}
	return decodeTrials(t, stdout)
}
