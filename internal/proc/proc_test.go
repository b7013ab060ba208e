package proc

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary plays several roles, chosen by LORASWEEP_PROC_ROLE:
//
//	trainer     a fake trainer: prints progress, ignores SIGTERM, forks a
//	            grandchild (itself, role grandchild) and records both pids
//	grandchild  a dataloader-like worker that ignores SIGTERM and sleeps
//	parent      a lorasweep stand-in that starts a supervised trainer and
//	            waits forever (the test SIGKILLs it)
//	exit        prints a line and exits with LORASWEEP_PROC_CODE
const roleEnv = "LORASWEEP_PROC_ROLE"

// superviseEnv makes the test binary the supervisor, whatever its role.
const superviseEnv = "LORASWEEP_PROC_SUPERVISE"

func TestMain(m *testing.M) {
	if os.Getenv(superviseEnv) != "" {
		// The trainer it starts must play its own role, not this one.
		os.Unsetenv(superviseEnv)
		os.Exit(Supervise(os.Args[1:], os.Stderr))
	}
	switch os.Getenv(roleEnv) {
	case "":
		os.Exit(m.Run())
	case "trainer":
		fakeTrainer()
	case "grandchild":
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case "parent":
		fakeParent()
	case "exit":
		fmt.Println("bye")
		code, _ := strconv.Atoi(os.Getenv("LORASWEEP_PROC_CODE"))
		os.Exit(code)
	}
	os.Exit(3)
}

func self() string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return exe
}

func roleEnvList(role string, extra ...string) []string {
	return append(append(os.Environ(), roleEnv+"="+role), extra...)
}

func fakeTrainer() {
	signal.Ignore(syscall.SIGTERM)
	// A plain fork stays in our group, as a dataloader worker forked by
	// Python would.
	gc := exec.Command(self())
	gc.Env = roleEnvList("grandchild")
	gc.Stdout = os.Stdout
	if err := gc.Start(); err != nil {
		os.Exit(5)
	}
	pidFile := os.Getenv("LORASWEEP_PROC_PIDS")
	_ = os.WriteFile(pidFile+".tmp", []byte(fmt.Sprintf("%d %d\n", os.Getpid(), gc.Process.Pid)), 0o644)
	_ = os.Rename(pidFile+".tmp", pidFile)
	for i := 0; ; i++ {
		fmt.Printf("steps: %d/1000 [avr_loss=0.1]\r", i)
		time.Sleep(20 * time.Millisecond)
	}
}

func fakeParent() {
	p, err := Start(Spec{
		Argv:       []string{self()},
		Env:        roleEnvList("trainer"),
		Supervisor: []string{os.Getenv("LORASWEEP_PROC_SUPERVISOR")},
		Grace:      300 * time.Millisecond,
	})
	if err != nil {
		os.Exit(4)
	}
	go func() { _, _ = io.Copy(io.Discard, p.Output()) }()
	time.Sleep(time.Hour)
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(path)
		if err == nil {
			var pids []int
			for _, f := range strings.Fields(string(data)) {
				n, _ := strconv.Atoi(f)
				pids = append(pids, n)
			}
			return pids
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("fake trainer never wrote %s", path)
	return nil
}

func waitGone(t *testing.T, pids []int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		alive := false
		for _, pid := range pids {
			alive = alive || Alive(pid)
		}
		if !alive {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, pid := range pids {
		if Alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("pid %d still alive %v after stop", pid, within)
		}
	}
}

// writeSupervisor writes a wrapper script that runs the test binary in its
// supervise role, as `lorasweep supervise` would run.
func writeSupervisor(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "supervise.sh")
	script := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", superviseEnv, self())
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStopKillsGroup(t *testing.T) {
	const grace = 300 * time.Millisecond
	for _, tc := range []struct {
		name       string
		supervised bool
	}{
		{name: "direct", supervised: false},
		{name: "supervised", supervised: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "pids")
			spec := Spec{
				Argv:  []string{self()},
				Env:   roleEnvList("trainer", "LORASWEEP_PROC_PIDS="+pidFile),
				Grace: grace,
			}
			if tc.supervised {
				spec.Supervisor = []string{writeSupervisor(t, dir)}
			}
			p, err := Start(spec)
			if err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				sc := bufio.NewScanner(p.Output())
				sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
					for i, b := range data {
						if b == '\r' || b == '\n' {
							return i + 1, data[:i], nil
						}
					}
					if atEOF && len(data) > 0 {
						return len(data), data, nil
					}
					return 0, nil, nil
				})
				for sc.Scan() {
					select {
					case lines <- sc.Text():
					default:
					}
				}
				close(lines)
			}()
			pids := readPids(t, pidFile)
			if got := <-lines; !strings.HasPrefix(got, "steps:") {
				t.Errorf("first line %q, want progress", got)
			}
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			p.StopContext(ctx)
			waitGone(t, append(pids, p.PID()), grace+2*time.Second)
			if el := time.Since(start); el > grace+2*time.Second {
				t.Errorf("stop took %v", el)
			}
			if !p.Stopped() {
				t.Error("Stopped() = false after Stop")
			}
			for range lines { // the pipe must reach EOF once the group is gone
			}
		})
	}
}

func TestParentSIGKILLKillsTrainer(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pids")
	parent, err := Start(Spec{
		Argv: []string{self()},
		Env: roleEnvList("parent", "LORASWEEP_PROC_PIDS="+pidFile,
			"LORASWEEP_PROC_SUPERVISOR="+writeSupervisor(t, dir)),
		Grace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, parent.Output()) }()
	pids := readPids(t, pidFile)
	// SIGKILL only the parent, not its group: the supervised trainer lives in
	// a group of its own and must be taken down by its supervisor.
	if err := syscall.Kill(parent.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = parent.Wait()
	waitGone(t, pids, 300*time.Millisecond+3*time.Second)
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		code       int
		supervised bool
	}{
		{"zero", 0, false},
		{"one", 1, false},
		{"supervised zero", 0, true},
		{"supervised two", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{Argv: []string{self()}, Env: roleEnvList("exit", "LORASWEEP_PROC_CODE="+strconv.Itoa(tc.code))}
			if tc.supervised {
				spec.Supervisor = []string{writeSupervisor(t, t.TempDir())}
			}
			p, err := Start(spec)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(p.Output())
			code, err := p.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || strings.TrimSpace(string(out)) != "bye" {
				t.Errorf("code %d output %q, want %d bye", code, out, tc.code)
			}
		})
	}
}

func TestOutput(t *testing.T) {
	out, err := Output(context.Background(), roleEnvList("exit", "LORASWEEP_PROC_CODE=0"), self())
	if err != nil || strings.TrimSpace(string(out)) != "bye" {
		t.Errorf("Output = %q, %v", out, err)
	}
	if _, err := Output(context.Background(), nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing binary: no error")
	}
}

// TestKillOutputHolders: a child that calls setsid leaves the group (the
// group kill misses it) and keeps the output open after the leader exits.
// KillOutputHolders kills it and ends the output.
func TestKillOutputHolders(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	mark := filepath.Join(t.TempDir(), "escaped")
	// The shell (the leader) exits once the child is out of the group.
	script := `setsid sh -c 'echo $$; : > "$0"; exec sleep 60' "$0" & while [ ! -e "$0" ]; do sleep 0.01; done`
	p, err := Start(Spec{Argv: []string{"sh", "-c", script, mark}})
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(p.Output())
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	escaped, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("pid line %q", line)
	}
	// The leader (the shell) exits at once; the group kill that follows
	// does not reach the setsid'd sleep.
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if !Alive(escaped) {
		t.Fatal("the escaped process died with the group: the test shows nothing")
	}
	killed := p.KillOutputHolders()
	if len(killed) != 1 || killed[0] != escaped {
		t.Errorf("killed %v, want [%d]", killed, escaped)
	}
	// The output ends (EOF, or an error from the closed read end): a read
	// no longer blocks.
	_, _ = io.ReadAll(r)
	for i := 0; Alive(escaped); i++ {
		if i > 500 {
			t.Fatalf("process %d still alive", escaped)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
