package faults

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
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

// TestTrainerEscapesGroup: a trainer starts a descendant that calls setsid
// (leaving the process group the supervisor kills) and keeps the output
// pipe open. Whether the trainer then finishes (setsid) or hangs
// (setsidhang: stopped as hung, its group killed), the trial must end
// within the kill grace of the trainer's exit, the escaped process must
// be killed, and the sweep must go on. The read loop used to wait for that
// pipe forever, past the trial timeout and the hang timeout.
func TestTrainerEscapesGroup(t *testing.T) {
	for _, tc := range []struct{ mode, state, reason string }{
		{mode: "setsid", state: "Complete"},
		{mode: "setsidhang", state: "Fail", reason: "hung"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			s := newSweep(t, specOpts{name: "escape", trials: 2})
			s.setFault(0, tc.mode)
			start := time.Now()
			out, code := s.run(60*time.Second, "run", s.spec)
			took := time.Since(start)
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, out)
			}
			trials := s.trials()
			if len(trials) != 2 {
				t.Fatalf("%d trials, want 2:\n%s", len(trials), out)
			}
			if got := trials[0].State.String(); got != tc.state || trials[0].Reason != tc.reason {
				t.Errorf("trial 0: %s %q, want %s %q", got, trials[0].Reason, tc.state, tc.reason)
			}
			if trials[1].State != goptuna.TrialStateComplete {
				t.Errorf("trial 1 after the escape: %v", trials[1].State)
			}
			// hang_timeout 2s, kill_grace 1s: the drain ends a grace after
			// the trainer's exit.
			if took > 20*time.Second {
				t.Errorf("sweep took %v", took)
			}
			t.Logf("%s: trial 0 %v %q; sweep %.1fs", tc.mode, trials[0].State, trials[0].Reason, took.Seconds())
			s.noLeftovers(5 * time.Second)
		})
	}
}

// TestReapedTrialStops: while a trial trains, another worker's reaper
// fails it as interrupted (done here through the storage, as that reaper
// does). The trial's own heartbeat learns it at its next beat and stops
// the trainer at once instead of keeping its slot to the end while the
// re-enqueued copy trains again; the copy then runs and the sweep ends.
func TestReapedTrialStops(t *testing.T) {
	s := newSweep(t, specOpts{name: "reaped", trials: 1, epochs: 2})
	s.setFault(0, "slow")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := s.command(ctx, "run", s.spec, "--stale-after", "3s")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.newestLog(), "still training") {
		if time.Now().After(deadline) {
			t.Fatalf("trial 0 never reached its slow epoch:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	pids := s.recordedPids()
	st := s.open()
	trials := s.trials()
	if _, err := st.FailInterruptedLimit(context.Background(), s.trialID(st, trials[0].Number), -1); err != nil {
		t.Fatal(err)
	}
	st.Close()
	reaped := time.Now()
	for _, p := range pids {
		for alive(p) {
			if time.Since(reaped) > 10*time.Second {
				t.Fatalf("trainer %d still runs %v after its trial was reaped elsewhere:\n%s", p, time.Since(reaped), out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	stopped := time.Since(reaped)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	states := countStates(s.trials())
	if states[goptuna.TrialStateComplete] != 1 || states[goptuna.TrialStateFail] != 1 {
		t.Errorf("states %v, want the reaped trial failed and its copy complete", states)
	}
	t.Logf("trainer stopped %.1fs after the reap (heartbeat every 0.5s); states %v", stopped.Seconds(), states)
	s.noLeftovers(5 * time.Second)
}

// TestScorerDiesWithLorasweep: a command scorer (which may hold a GPU) is
// still scoring when `lorasweep run` is killed -9. It runs under the same
// supervisor as trainers, so it must die with lorasweep.
func TestScorerDiesWithLorasweep(t *testing.T) {
	dir := t.TempDir()
	script := dir + "/scorer.sh"
	pidFile := dir + "/scorer.pid"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSweep(t, specOpts{name: "scorer", trials: 1,
		scorer: "    - {kind: command, run: [sh, " + script + "], timeout: 5m, weight: 1}\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := s.command(ctx, "run", s.spec)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(30 * time.Second)
	for pid == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the scorer never started:\n%s", out)
		}
		data, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	for alive(pid) {
		if time.Since(killed) > 15*time.Second {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("scorer %d outlived lorasweep by %v", pid, time.Since(killed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("scorer gone %.1fs after lorasweep's kill -9", time.Since(killed).Seconds())
}

// open opens the sweep's storage for a test that writes to it as another
// worker would.
func (s *sweepDir) open() *storage.Store {
	s.t.Helper()
	st, err := storage.Open(context.Background(), s.dsn)
	if err != nil {
		s.t.Fatalf("open storage: %v", err)
	}
	return st
}

// trialID returns the storage ID of the sweep's trial number n.
func (s *sweepDir) trialID(st *storage.Store, n int) int {
	s.t.Helper()
	id, err := st.GetStudyIDFromName(s.name)
	if err != nil {
		s.t.Fatal(err)
	}
	all, err := st.GetAllTrials(id)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, ft := range all {
		if ft.Number == n {
			return ft.ID
		}
	}
	s.t.Fatalf("no trial %d", n)
	return 0
}

// TestStorageDiskFull puts the SQLite database on a 1 MiB tmpfs (a private
// mount namespace) that trial 1's trainer fills mid-training. lorasweep
// must say the storage's disk is full (it used to say "aborted on
// request"), exit non-zero, and, once space is freed, resume: the trial it
// could not record is re-run and the budget completes.
func TestStorageDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for unshare -m and a tmpfs mount")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	const budget = 4
	s := newSweep(t, specOpts{name: "dbfull", trials: budget, dsn: "sqlite://db/sweep.db"})
	db := filepath.Join(s.dir, "db")
	if err := os.MkdirAll(db, 0o755); err != nil {
		t.Fatal(err)
	}
	s.setFault(1, "filldb")
	listing := filepath.Join(s.dir, "trials.json")
	script := `mount -t tmpfs -o size=8m tmpfs "$1" || { echo "mount: failed"; exit 0; }
"$2" run "$3"; echo "FIRST_EXIT=$?"
rm -f "$1/filler"
"$2" run "$3"; echo "SECOND_EXIT=$?"
"$2" trials --sweep dbfull --storage "sqlite://$1/sweep.db" --format json > "$4"`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", script, "sh", db, bin, s.spec, listing)
	cmd.Dir = s.dir
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if strings.Contains(out, "mount:") {
		t.Skipf("cannot mount a tmpfs here: %s", out)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	first, second, _ := strings.Cut(out, "FIRST_EXIT=")
	if strings.HasPrefix(second, "0") {
		t.Errorf("the run whose storage filled up exited 0:\n%s", first)
	}
	if !strings.Contains(first, "storage disk full") {
		t.Errorf("the run does not say the storage's disk is full:\n%s", first)
	}
	if strings.Contains(first, "aborted on request") {
		t.Errorf("a full storage disk is reported as an abort:\n%s", first)
	}
	if !strings.Contains(second, "SECOND_EXIT=0") {
		t.Errorf("the resume after freeing space failed:\n%s", second)
	}
	data, err := os.ReadFile(listing)
	if err != nil {
		t.Fatal(err)
	}
	var trials []struct {
		Number int    `json:"number"`
		State  string `json:"state"`
	}
	if err := json.Unmarshal(data, &trials); err != nil {
		t.Fatalf("trials listing: %v\n%s", err, data)
	}
	states := map[string]int{}
	for _, tr := range trials {
		states[tr.State]++
	}
	if states["complete"] != budget || states["running"] != 0 {
		t.Errorf("after the resume: %v, want %d complete and none running", states, budget)
	}
	t.Logf("first run:\n%s\nfinal states %v", lastLines(first, 4), states)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestUnwritableOutputRoot: trial folders that cannot be written must not
// burn the budget (10 of 20 trials used to fail as crash in their first
// millisecond, and run exited 0). An output root that is unwritable from
// the start (a read-only mount as root, a file in its place otherwise) is
// refused before the first trial; one that breaks during the sweep fails
// the next trial as unwritable and stops the sweep at once; both exit
// non-zero.
func TestUnwritableOutputRoot(t *testing.T) {
	t.Run("at start", func(t *testing.T) {
		s := newSweep(t, specOpts{name: "rostart", trials: 6})
		var out string
		var code int
		if os.Geteuid() == 0 && func() bool { _, err := exec.LookPath("unshare"); return err == nil }() {
			if err := os.MkdirAll(s.runs, 0o755); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", `mount --bind -o ro "$1" "$1" && exec "$2" run "$3"`, "sh", s.runs, bin, s.spec)
			cmd.Dir = s.dir
			raw, _ := cmd.CombinedOutput()
			out, code = string(raw), cmd.ProcessState.ExitCode()
			if strings.Contains(out, "mount:") {
				t.Skipf("cannot bind-mount here: %s", out)
			}
		} else {
			if err := os.WriteFile(s.runs, []byte("not a folder"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, code = s.run(time.Minute, "run", s.spec)
		}
		if code == 0 {
			t.Errorf("run exited 0 with an unwritable output root:\n%s", out)
		}
		if !strings.Contains(out, "is not writable") {
			t.Errorf("the error does not say the output root is not writable:\n%s", out)
		}
		if n := len(s.trials()); n != 0 {
			t.Errorf("%d trials claimed with an unwritable output root, want 0:\n%s", n, out)
		}
		t.Logf("exit %d: %s", code, lastLines(out, 1))
	})
	t.Run("during the sweep", func(t *testing.T) {
		const budget = 6
		s := newSweep(t, specOpts{name: "robreak", trials: budget, budget: ", max_failures_in_a_row: 50"})
		s.setFault(0, "breakroot")
		out, code := s.run(time.Minute, "run", s.spec)
		if code == 0 {
			t.Errorf("run exited 0 after its trial folders became unwritable:\n%s", out)
		}
		if !strings.Contains(out, "trial folders not writable") {
			t.Errorf("the stop reason does not say why:\n%s", out)
		}
		trials := s.trials()
		if len(trials) != 2 || trials[1].State != goptuna.TrialStateFail || trials[1].Reason != "unwritable" {
			t.Errorf("trials %+v, want trial 1 failed unwritable and nothing launched after it:\n%s", trials, out)
		}
		t.Logf("exit %d; %d trials of budget %d; trial 1 %q", code, len(trials), budget, trials[len(trials)-1].Reason)
	})
	t.Run("failures in a row", func(t *testing.T) {
		s := newSweep(t, specOpts{name: "fails", trials: 6, budget: ", max_failures_in_a_row: 2"})
		s.setFault(0, "exit1")
		s.setFault(1, "exit1")
		out, code := s.run(time.Minute, "run", s.spec)
		if code == 0 || !strings.Contains(out, "too many failures in a row") {
			t.Errorf("exit %d, want non-zero with the stop reason:\n%s", code, out)
		}
		if n := len(s.trials()); n != 2 {
			t.Errorf("%d trials, want 2", n)
		}
	})
}

// TestFinishedRunIsNotRetrained: lorasweep was killed between recording a
// trial's run end (exit code, best epoch; every epoch scored) and setting
// the trial's state. The storage is put in exactly that state through its
// public API — a window of milliseconds no outside kill can aim at — by a
// worker of this host whose pid is dead. The resume must finish that trial
// at once from its records (COMPLETE with its best epoch's value), not fail
// it as interrupted and train it again.
func TestFinishedRunIsNotRetrained(t *testing.T) {
	const budget = 2
	s := newSweep(t, specOpts{name: "recorded", trials: budget})
	ctx := context.Background()
	spec, err := sweep.ParseSpecFile(s.spec)
	if err != nil {
		t.Fatal(err)
	}
	st := s.open()
	study, err := sweep.OpenStudy(ctx, st, spec, false)
	if err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	worker := sweep.NewWorkerID(host, gone.ProcessState.Pid())
	claim, err := st.ClaimAs(ctx, study.ID, budget, worker, host)
	if err != nil || !claim.Granted {
		t.Fatalf("claim: %+v %v", claim, err)
	}
	params := map[string]any{"x": 0.25, "y": "b"}
	internal, _, err := spec.InternalFromParams(params)
	if err != nil {
		t.Fatal(err)
	}
	dists := spec.Distributions()
	for name, v := range internal {
		if err := st.SetTrialParam(claim.TrialID, name, v, dists[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetTrialSystemAttr(claim.TrialID, "lorasweep:params", `{"x":0.25,"y":"b"}`); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-10 * time.Second)
	dir := filepath.Join(s.runs, s.name, "trial-0000")
	if err := st.StartRun(ctx, sweep.RunRecord{TrialID: claim.TrialID, WorkerID: worker, Host: host, GPUs: []string{"cpu0"},
		TrialDir: dir, LogPath: filepath.Join(dir, "trial.log"), Started: start, Heartbeat: start}); err != nil {
		t.Fatal(err)
	}
	for i, v := range []float64{0.4, 0.9, 0.6} {
		v := v
		if err := st.RecordEpoch(ctx, sweep.EpochRecord{TrialID: claim.TrialID, Epoch: i + 1, Fraction: float64(i+1) / 3, Value: &v}); err != nil {
			t.Fatal(err)
		}
	}
	ended, exit, best := time.Now(), 0, 2
	if err := st.FinishRun(ctx, sweep.RunRecord{TrialID: claim.TrialID, Ended: &ended, ExitCode: &exit, BestEpoch: &best}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	began := time.Now()
	out, code := s.run(time.Minute, "run", s.spec)
	took := time.Since(began)
	if code != 0 {
		t.Fatalf("resume exited %d:\n%s", code, out)
	}
	trials := s.trials()
	if len(trials) != budget {
		t.Errorf("%d trials, want %d: the finished trial must not be trained again:\n%s", len(trials), budget, out)
	}
	first := trials[0]
	if first.State != goptuna.TrialStateComplete || first.Value != 0.9 || first.Attrs["lorasweep:best_epoch"] != "2" {
		t.Errorf("trial 0: %v value %v best epoch %q, want complete 0.9 at epoch 2 (attrs %v)", first.State, first.Value, first.Attrs["lorasweep:best_epoch"], first.Attrs)
	}
	for _, tv := range trials {
		if tv.Attrs["lorasweep:retry_of"] != "" {
			t.Errorf("trial %d re-runs trial %s", tv.Number, tv.Attrs["lorasweep:retry_of"])
		}
	}
	if took > 20*time.Second {
		t.Errorf("the resume took %v: it waited for the stale reaper", took)
	}
	t.Logf("resume in %.1fs: trial 0 %v %.2f at epoch %s; %d trials", took.Seconds(), first.State, first.Value, first.Attrs["lorasweep:best_epoch"], len(trials))
}

// TestTwoRunsShareOneGPU starts two `lorasweep run`s of two sweeps at once
// on a host with one (fake) GPU and `gpus: auto`. Every lorasweep of a host
// leases cards through one folder of flocked files, so their trials take
// turns on the card: no trainer ever starts while another holds it (the
// trainers check with a lock folder of their own), and both sweeps finish.
func TestTwoRunsShareOneGPU(t *testing.T) {
	env, gpuLock := oneFakeGPU(t)
	const budget = 3
	var sweeps []*sweepDir
	var cmds []*exec.Cmd
	var outs []*syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, name := range []string{"first", "second"} {
		s := newSweep(t, specOpts{name: name, trials: budget, step: "0.1", gpus: "auto", env: ", GPULOCK: " + gpuLock})
		s.extraE = env
		cmd := s.command(ctx, "run", s.spec)
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		sweeps, cmds, outs = append(sweeps, s), append(cmds, cmd), append(outs, out)
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, outs[i])
		}
	}
	if data, err := os.ReadFile(filepath.Join(gpuLock, "overlaps")); err == nil {
		t.Errorf("trainers started on a card another trainer held:\n%s", data)
	}
	seen, _ := os.ReadFile(filepath.Join(gpuLock, "seen"))
	if got := strings.Fields(string(seen)); len(got) != 2*budget || strings.Trim(strings.Join(got, ""), "0") != "" {
		t.Errorf("trainers saw CUDA_VISIBLE_DEVICES %q, want GPU 0 for each of %d trials", got, 2*budget)
	}
	for i, s := range sweeps {
		if n := countStates(s.trials())[goptuna.TrialStateComplete]; n != budget {
			t.Errorf("sweep %s: %d complete, want %d:\n%s", s.name, n, budget, outs[i])
		}
	}
	t.Logf("%d trials of 2 sweeps on one card, none overlapping", len(strings.Fields(string(seen))))
}

// oneFakeGPU makes a host with one GPU for lorasweep processes: a fake
// nvidia-smi first on PATH and a lease folder of the test's own. It returns
// their environment and the folder where the fault trainers (GPULOCK)
// flock the card they were given and record overlaps.
func oneFakeGPU(t *testing.T) (env []string, gpuLock string) {
	t.Helper()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock (util-linux) not installed: the trainers check overlaps with it")
	}
	shared := t.TempDir()
	smiDir := filepath.Join(shared, "bin")
	if err := os.MkdirAll(smiDir, 0o755); err != nil {
		t.Fatal(err)
	}
	smi := "#!/bin/sh\necho '0, GPU-0f0f0f0f, NVIDIA Fake 4090, 24564, 3'\n"
	if err := os.WriteFile(filepath.Join(smiDir, "nvidia-smi"), []byte(smi), 0o755); err != nil {
		t.Fatal(err)
	}
	gpuLock = filepath.Join(shared, "gpulock")
	if err := os.MkdirAll(gpuLock, 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{"PATH=" + smiDir + string(os.PathListSeparator) + os.Getenv("PATH"), "LORASWEEP_LEASE_DIR=" + filepath.Join(shared, "leases")}, gpuLock
}

// TestKilledRunKeepsItsCard kill -9s a `run` whose trainer ignores SIGTERM
// (its supervisor kills it a kill_grace later) and starts a second sweep on
// the same one-GPU host at once. The card stays leased until the killed
// run's trainer is gone — its supervisor holds the lease — so the second
// sweep's first trainer never starts on a card that is still in use.
func TestKilledRunKeepsItsCard(t *testing.T) {
	env, gpuLock := oneFakeGPU(t)
	a := newSweep(t, specOpts{name: "killed", trials: 1, gpus: "auto", env: ", GPULOCK: " + gpuLock})
	a.extraE = env
	a.setFault(0, "ignore_term")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := a.command(ctx, "run", a.spec)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.newestLog(), "epoch 2/3") {
		if time.Now().After(deadline) {
			t.Fatalf("trial never reached epoch 2:\n%s", out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b := newSweep(t, specOpts{name: "next", trials: 2, gpus: "auto", env: ", GPULOCK: " + gpuLock})
	b.extraE = env
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	res, code := b.run(time.Minute, "run", b.spec)
	if code != 0 {
		t.Fatalf("second sweep exited %d:\n%s", code, res)
	}
	if data, err := os.ReadFile(filepath.Join(gpuLock, "overlaps")); err == nil {
		t.Errorf("a trainer started on the card while the killed run's trainer still held it:\n%s", data)
	}
	if n := countStates(b.trials())[goptuna.TrialStateComplete]; n != 2 {
		t.Errorf("second sweep: %d complete, want 2:\n%s", n, res)
	}
	a.noLeftovers(5 * time.Second)
	t.Logf("second sweep done %.1fs after the kill, no overlap", time.Since(killed).Seconds())
}
