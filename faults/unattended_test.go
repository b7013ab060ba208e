package faults

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
)

// The faults of an unattended night (issue 16): a container restarted under
// the same hostname, a console that goes away, kills that must not spend
// retries, trainers that escape their process group, unwritable outputs.

// needUnshare skips the test unless PID/UTS/mount namespaces can be made
// here (root and util-linux's unshare).
func needUnshare(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare --pid --uts --mount-proc")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--uts", "sh", "-c", "echo $$").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Skipf("cannot create a PID namespace here: %v %s", err, out)
	}
}

// containerCmd runs `lorasweep args...` as PID 1 of a fresh PID namespace
// with the hostname "sweepbox": what a container with a fixed hostname
// gives lorasweep on every start.
func (s *sweepDir) containerCmd(ctx context.Context, args ...string) *exec.Cmd {
	script := `hostname sweepbox && exec "$0" "$@"`
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--pid", "--fork", "--mount-proc", "--uts", "sh", "-c", script, bin}, args...)...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// childPID returns the first child of pid (unshare's forked child: the
// namespace's PID 1 as seen from outside), waiting for it to appear.
func childPID(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
		if f := strings.Fields(string(data)); len(f) > 0 {
			if c, err := strconv.Atoi(f[0]); err == nil {
				return c
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never forked", pid)
	return 0
}

// TestContainerRestartSameHostname runs a sweep as PID 1 of a PID namespace
// with a fixed hostname, kill -9s it mid-trial (the namespace dies with it,
// as a container does), and starts it again in a fresh namespace: same PID
// 1, same hostname. The new process must not take the dead one's RUNNING
// trial for its own: the trial is reaped (once its heartbeat is stale),
// re-run, and the sweep finishes. It used to wait for that trial forever.
func TestContainerRestartSameHostname(t *testing.T) {
	needUnshare(t)
	const budget = 3
	s := newSweep(t, specOpts{name: "container", trials: budget, epochs: 3, step: "0.3"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := s.containerCmd(ctx, "run", s.spec, "--stale-after", "3s")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	init := childPID(t, cmd.Process.Pid)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.newestLog(), "epoch 2/3") {
		if time.Now().After(deadline) {
			t.Fatalf("trial 0 never reached epoch 2:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(init, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	var dead string
	for _, tv := range s.trials() {
		if tv.State == goptuna.TrialStateRunning && tv.Run != nil {
			dead = tv.Run.WorkerID
		}
	}
	if dead != "sweepbox:1" && !strings.HasPrefix(dead, "sweepbox:1:") {
		t.Fatalf("want a RUNNING trial left by worker sweepbox:1:…, got worker %q (output:\n%s)", dead, out)
	}

	start := time.Now()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	again := s.containerCmd(ctx2, "run", s.spec, "--stale-after", "3s")
	res, err := again.CombinedOutput()
	if ctx2.Err() != nil {
		t.Fatalf("the restarted sweep hung (waiting for the dead run's trial):\n%s", res)
	}
	if err != nil {
		t.Fatalf("restarted sweep: %v\n%s", err, res)
	}
	trials := s.trials()
	states := countStates(trials)
	if states[goptuna.TrialStateComplete] != budget || states[goptuna.TrialStateRunning] != 0 {
		t.Errorf("after the restart: states %v, want %d complete and none running", states, budget)
	}
	for _, tv := range trials {
		if tv.Run != nil && tv.Run.WorkerID == dead && tv.State == goptuna.TrialStateFail && tv.Reason != "interrupted" {
			t.Errorf("dead run's trial %d failed %q, want interrupted", tv.Number, tv.Reason)
		}
		if tv.Run != nil && tv.State == goptuna.TrialStateComplete && tv.Run.WorkerID == dead {
			t.Errorf("trial %d completed under the dead worker's identity", tv.Number)
		}
	}
	// No leftover check by pid: the trainers' recorded pids are the
	// namespace's own, and a PID namespace dies with its PID 1.
	t.Logf("restart finished the sweep in %.1fs; dead worker %s; states %v", time.Since(start).Seconds(), dead, states)
}

// TestConsolePipeClosed runs a sweep whose stdout and stderr are a pipe
// whose reader (a pager, `tee`) exits after the first line. The sweep must
// go on to the budget and exit 0 with every trial recorded; it used to die
// of SIGPIPE (exit 141) on its next write, leaving its trial RUNNING.
func TestConsolePipeClosed(t *testing.T) {
	const budget = 3
	s := newSweep(t, specOpts{name: "pipe", trials: budget, step: "0.05"})
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := s.command(ctx, "run", s.spec)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The reader takes the first line and goes away, as `| head -1` does.
	buf := make([]byte, 1)
	var first []byte
	for {
		if _, err := r.Read(buf); err != nil || buf[0] == '\n' {
			break
		}
		first = append(first, buf[0])
	}
	r.Close()
	err = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("lorasweep died of signal %v once its console pipe closed (first line %q)", ws.Signal(), first)
	}
	if err != nil || code != 0 {
		t.Fatalf("lorasweep exited %d (%v) once its console pipe closed", code, err)
	}
	states := countStates(s.trials())
	if states[goptuna.TrialStateComplete] != budget || len(s.trials()) != budget {
		t.Errorf("states %v, want %d complete and nothing else", states, budget)
	}
	t.Logf("first line %q; after the reader left: exit %d, states %v", first, code, states)
	s.noLeftovers(5 * time.Second)
}

// TestHangupDrains sends SIGHUP (the terminal or SSH session closed) while
// trial 0 trains: the running trial finishes and is recorded, nothing new
// starts, lorasweep exits 0. It used to die at once (exit 129).
func TestHangupDrains(t *testing.T) {
	s := newSweep(t, specOpts{name: "hangup", trials: 3, step: "0.2"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := s.command(ctx, "run", s.spec)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.newestLog(), "epoch 1/3") {
		if time.Now().After(deadline) {
			t.Fatalf("trial 0 never started:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// A second hangup (the shell passing it on) must not turn into an abort.
	time.Sleep(50 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGHUP)
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("lorasweep died of %v on hangup:\n%s", ws.Signal(), out)
	}
	if err != nil {
		t.Fatalf("lorasweep exited %v on hangup:\n%s", err, out)
	}
	trials := s.trials()
	if len(trials) != 1 || trials[0].State != goptuna.TrialStateComplete {
		t.Errorf("after hangup: %+v, want trial 0 complete and nothing else", trials)
	}
	if !strings.Contains(out.String(), "draining") {
		t.Errorf("no drain message:\n%s", out)
	}
	s.noLeftovers(5 * time.Second)
}

// TestKillsSpendNoRetries kill -9s `lorasweep run` five times mid-training
// with the default `retries: 1`. Each kill interrupts the retry chain that
// runs (WAITING retries are claimed first), so before the fix the second
// kill of a chain left it FAIL(interrupted), counted against the budget.
// Now every interrupted trial is re-run without spending a retry, only the
// re-runs count, and the budget ends with exactly its number of complete
// trials.
func TestKillsSpendNoRetries(t *testing.T) {
	const budget, kills = 3, 5
	s := newSweep(t, specOpts{name: "retries", trials: budget, epochs: 3, step: "0.1", retries: 1})
	for k := 0; k < kills; k++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := s.command(ctx, "run", s.spec)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		before := len(s.trialDirs())
		deadline := time.Now().Add(30 * time.Second)
		for len(s.trialDirs()) == before || !strings.Contains(s.newestLog(), "epoch 2/3") {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("kill %d: no new trial reached epoch 2:\n%s", k, out)
			}
			time.Sleep(5 * time.Millisecond)
		}
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		cancel()
		s.noLeftovers(5 * time.Second)
	}
	out, code := s.run(2*time.Minute, "run", s.spec)
	if code != 0 {
		t.Fatalf("final resume exited %d:\n%s", code, out)
	}
	trials := s.trials()
	retried := map[string]bool{}
	for _, tv := range trials {
		if r := tv.Attrs["lorasweep:retry_of"]; r != "" {
			retried[r] = true
		}
	}
	states := countStates(trials)
	interrupted := 0
	for _, tv := range trials {
		if tv.State != goptuna.TrialStateFail {
			continue
		}
		interrupted++
		if tv.Reason != "interrupted" || !retried[itoa(tv.Number)] {
			t.Errorf("trial %d failed %q, re-run %v: every kill must be re-run for free", tv.Number, tv.Reason, retried[itoa(tv.Number)])
		}
		if n := tv.Attrs["lorasweep:retry_count"]; n != "" && n != "0" {
			t.Errorf("trial %d spent retries (retry_count %s) on kills of lorasweep", tv.Number, n)
		}
	}
	if states[goptuna.TrialStateComplete] != budget {
		t.Errorf("%d complete, want the whole budget %d (states %v)", states[goptuna.TrialStateComplete], budget, states)
	}
	t.Logf("%d kills: %d trials interrupted, each re-run; states %v", kills, interrupted, states)
}
