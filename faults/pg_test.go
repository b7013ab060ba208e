package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/storage"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// pgServer is a private PostgreSQL cluster a test starts itself, so that
// stopping or restarting it cannot disturb any other test.
type pgServer struct {
	t    *testing.T
	data string
	dir  string
	port int
	// dsn connects as postgres with a password that trust auth ignores: it
	// is there so tests can check it is never shown.
	dsn string
}

// pgPassword is the password every private server's DSN carries.
const pgPassword = "pg-Secret-4471"

// startPG initdb's and starts a private server on a free loopback port,
// stopped at the test's end. initdb refuses to run as root, so the cluster
// belongs to the postgres user; the test skips when it is not root or the
// binaries are missing.
func startPG(t *testing.T) *pgServer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("private PostgreSQL needs root (runuser -u postgres)")
	}
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		t.Skipf("PostgreSQL 15 binaries missing: %v", err)
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	// t.TempDir's parent is 0700 root: let postgres through it.
	if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &pgServer{t: t, dir: dir, data: filepath.Join(dir, "data"), port: port,
		dsn: fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", pgPassword, port)}
	s.pg("initdb", "-D", s.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	s.start()
	t.Cleanup(func() {
		out, err := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"), "-D", s.data, "-m", "immediate", "-w", "stop").CombinedOutput()
		if err != nil && !strings.Contains(string(out), "not running") {
			t.Logf("stop private PostgreSQL: %v\n%s", err, out)
		}
	})
	return s
}

// pg runs one of the server's programs as the postgres user.
func (s *pgServer) pg(prog string, args ...string) {
	s.t.Helper()
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgBin, prog)}, args...)...)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		s.t.Fatalf("%s %s: %v\n%s\nserver log:\n%s", prog, strings.Join(args, " "), err, out, log)
	}
}

func (s *pgServer) start() {
	s.t.Helper()
	s.pg("pg_ctl", "-D", s.data, "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "30", "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", s.port, s.dir), "start")
}

// stop shuts the server down the way an operator's restart does: open
// connections are terminated.
func (s *pgServer) stop() { s.t.Helper(); s.pg("pg_ctl", "-D", s.data, "-m", "fast", "-w", "stop") }

// pgSweep is a sweep on a private server: trainer steps are slow enough
// that several processes share the work.
func pgSweep(t *testing.T, pg *pgServer, name string, trials int, step string) *sweepDir {
	t.Helper()
	return newSweep(t, specOpts{name: name, dsn: pg.dsn, trials: trials, step: step})
}

// startProc starts `lorasweep args...` (optionally on another "machine": a
// UTS namespace whose hostname is host) and returns it with its output.
func (s *sweepDir) startProc(ctx context.Context, host string, args ...string) (*exec.Cmd, *strings.Builder) {
	s.t.Helper()
	var cmd *exec.Cmd
	if host != "" {
		// unshare execs the shell, which execs lorasweep: the pid we hold is
		// the worker's own, so kill -9 hits it and nothing in between.
		cmd = exec.CommandContext(ctx, "unshare", append([]string{"--uts", "sh", "-c", `hostname "$0" && exec "$@"`, host, bin}, args...)...)
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), s.extraE...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
	} else {
		cmd = s.command(ctx, args...)
	}
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start lorasweep %v: %v", args, err)
	}
	return cmd, out
}

// waitStudy waits until the sweep exists in storage (a worker can only join
// an existing sweep).
func (s *sweepDir) waitStudy(timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st, err := storage.Open(context.Background(), s.dsn)
		if err == nil {
			_, err = st.GetStudyIDFromName(s.name)
			st.Close()
			if err == nil {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("sweep %s not created within %v", s.name, timeout)
}

// launches counts how often the trainer was started for each trial number.
func (s *sweepDir) launches() map[int]int {
	data, _ := os.ReadFile(filepath.Join(s.plan, "pids"))
	m := map[int]int{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.Atoi(f[1]); err == nil {
			m[n]++
		}
	}
	return m
}

// waitExit waits for a started process and fails the test on a non-zero
// exit.
func waitExit(t *testing.T, what string, cmd *exec.Cmd, out *strings.Builder) {
	t.Helper()
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: %v\n%s", what, err, out.String())
	}
}

// checkExactlyOnce checks the promise the PostgreSQL tests share: the
// budget's trials completed, every trial number ran its trainer once except
// the interrupted ones, which ran once each too (their retries are new
// numbers), and nothing is left running.
func checkExactlyOnce(t *testing.T, s *sweepDir, budget int) []trialView {
	t.Helper()
	ts := s.trials()
	complete := 0
	for _, tv := range ts {
		switch {
		case tv.State == goptuna.TrialStateComplete:
			complete++
		case tv.State == goptuna.TrialStateFail && tv.Reason == "interrupted":
		default:
			t.Errorf("trial %d: state %v reason %q", tv.Number, tv.State, tv.Reason)
		}
	}
	if complete != budget {
		t.Errorf("%d trials complete, want exactly the budget %d", complete, budget)
	}
	for n, c := range s.launches() {
		if c != 1 {
			t.Errorf("trial %d trained %d times", n, c)
		}
	}
	s.noLeftovers(5 * time.Second)
	return ts
}

// TestPostgresWorkersShareBudget: one `run` and two `worker`s on one
// PostgreSQL sweep finish the budget exactly once, and each process trains
// some of it.
func TestPostgresWorkersShareBudget(t *testing.T) {
	pg := startPG(t)
	const budget = 9
	s := pgSweep(t, pg, "pgshare", budget, "0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run, runOut := s.startProc(ctx, "", "run", "-q", s.spec)
	s.waitStudy(20 * time.Second)
	w1, w1Out := s.startProc(ctx, "", "worker", "-q", "--sweep", s.name, "--storage", s.dsn)
	w2, w2Out := s.startProc(ctx, "", "worker", "-q", "--sweep", s.name, "--storage", s.dsn)
	waitExit(t, "run", run, runOut)
	waitExit(t, "worker 1", w1, w1Out)
	waitExit(t, "worker 2", w2, w2Out)
	ts := checkExactlyOnce(t, s, budget)
	if len(ts) != budget {
		t.Errorf("%d trials recorded, want %d", len(ts), budget)
	}
	workers := map[string]int{}
	for _, tv := range ts {
		if tv.Run != nil {
			workers[tv.Run.WorkerID]++
		}
	}
	if len(workers) < 3 {
		t.Errorf("trials per worker %v: want all three processes to train", workers)
	}
	t.Logf("trials per worker: %v", workers)
}

// TestPostgresDeadWorkerReaped: three processes on three "machines" (UTS
// namespaces with their own hostnames, so the same-host dead-pid fast path
// cannot apply); the one on machine-b is killed -9 while training. The
// survivors' stale-heartbeat reaper, running periodically (not only at
// start), fails its trial as interrupted and they re-run it.
func TestPostgresDeadWorkerReaped(t *testing.T) {
	pg := startPG(t)
	const budget = 8
	s := pgSweep(t, pg, "pgdead", budget, "0.15")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	stale := []string{"--stale-after", "3s"}
	run, runOut := s.startProc(ctx, "machine-a", append([]string{"run", "-q"}, append(stale, s.spec)...)...)
	s.waitStudy(20 * time.Second)
	victim, victimOut := s.startProc(ctx, "machine-b", append([]string{"worker", "-q", "--sweep", s.name, "--storage", s.dsn}, stale...)...)
	w, wOut := s.startProc(ctx, "machine-c", append([]string{"worker", "-q", "--sweep", s.name, "--storage", s.dsn}, stale...)...)

	// Kill machine-b's worker once its trainer is running.
	victimTrial := -1
	deadline := time.Now().Add(30 * time.Second)
	for victimTrial < 0 && time.Now().Before(deadline) {
		started := s.launches()
		for _, tv := range s.trials() {
			if tv.State == goptuna.TrialStateRunning && tv.Run != nil && tv.Run.Host == "machine-b" && started[tv.Number] > 0 {
				victimTrial = tv.Number
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if victimTrial < 0 {
		t.Fatalf("machine-b never trained a trial:\n%s", victimOut)
	}
	if err := syscall.Kill(victim.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = victim.Wait()
	killedAt := time.Now()

	waitExit(t, "run (machine-a)", run, runOut)
	waitExit(t, "worker (machine-c)", w, wOut)
	ts := checkExactlyOnce(t, s, budget)
	var victimView *trialView
	retried := false
	for i := range ts {
		if ts[i].Number == victimTrial {
			victimView = &ts[i]
		}
		if ts[i].Attrs["lorasweep:retry_of"] == strconv.Itoa(victimTrial) && ts[i].State == goptuna.TrialStateComplete {
			retried = true
			if h := ts[i].Run.Host; h != "machine-a" && h != "machine-c" {
				t.Errorf("retry of trial %d ran on %q, want a survivor", victimTrial, h)
			}
		}
	}
	if victimView == nil || victimView.State != goptuna.TrialStateFail || victimView.Reason != "interrupted" {
		t.Errorf("killed worker's trial %d: %+v, want FAIL(interrupted)", victimTrial, victimView)
	}
	if !retried {
		t.Errorf("killed worker's trial %d was not re-run by a survivor", victimTrial)
	}
	t.Logf("trial %d killed with machine-b; survivors finished %v later", victimTrial, time.Since(killedAt).Round(100*time.Millisecond))
}

// TestPostgresRestart: the private server is restarted (fast shutdown:
// connections terminated, a few seconds down) while a run and a worker
// train; both retry with backoff and continue, and no trial is lost or
// duplicated.
func TestPostgresRestart(t *testing.T) {
	pg := startPG(t)
	const budget = 8
	s := pgSweep(t, pg, "pgrestart", budget, "0.15")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	run, runOut := s.startProc(ctx, "", "run", "-q", s.spec)
	s.waitStudy(20 * time.Second)
	w, wOut := s.startProc(ctx, "", "worker", "-q", "--sweep", s.name, "--storage", s.dsn)
	deadline := time.Now().Add(30 * time.Second)
	for len(s.launches()) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	pg.stop()
	time.Sleep(3 * time.Second) // down long enough for every process to notice
	pg.start()
	waitExit(t, "run", run, runOut)
	waitExit(t, "worker", w, wOut)
	ts := checkExactlyOnce(t, s, budget)
	if len(ts) != budget {
		t.Errorf("%d trials recorded, want %d (none interrupted, none duplicated)", len(ts), budget)
	}
}
