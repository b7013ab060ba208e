// Package proc starts external processes so that they always die cleanly:
// each in its own process group, stopped with SIGTERM, a grace period and
// SIGKILL to the whole group (grandchildren included), and optionally held by
// a supervisor process that kills the group when its parent goes away, even if
// the parent was killed with SIGKILL.
//
// It is the only package of lorasweep that uses os/exec. It knows nothing of
// trainers, GPUs, logs or trials.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is the time between SIGTERM and SIGKILL when Spec.Grace is 0.
const DefaultGrace = 10 * time.Second

// Spec describes a process to start.
type Spec struct {
	// Argv is the program and its arguments; Argv[0] is looked up in PATH
	// when it has no slash.
	Argv []string
	// Env is the complete environment; nil means the current one.
	Env []string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Supervisor, when set, is the command that re-executes lorasweep as a
	// supervisor ([self, "supervise"]); Start appends "--grace", the grace,
	// "--" and Argv. Empty starts Argv directly (no protection against the
	// parent dying).
	Supervisor []string
	// Grace is the time between SIGTERM and SIGKILL; 0 means DefaultGrace.
	Grace time.Duration
	// Hold are open files the started process inherits (the supervisor,
	// and the trainer it starts) only to keep them open while they live:
	// flocked lease files stay locked until the trainer is gone, even if
	// the parent dies first.
	Hold []*os.File
}

// Process is a started process group. Its combined stdout and stderr are
// read from Output; they share one pipe so the order of lines written by the
// process is kept.
type Process struct {
	cmd      *exec.Cmd
	pgid     int
	grace    time.Duration
	lifeline *os.File // write end held open while we live; nil without supervisor
	out      *os.File

	stopOnce sync.Once
	done     chan struct{}
	waitErr  error
	code     int
	stopped  bool
	mu       sync.Mutex
}

// Start starts spec in a new process group. The returned Process must be
// waited on with Wait. Output must be drained by the caller, or the process
// blocks once the pipe buffer is full.
func Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("start process: empty argv")
	}
	grace := spec.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	argv := spec.Argv
	if len(spec.Supervisor) > 0 {
		argv = append(append(append([]string(nil), spec.Supervisor...), "--grace", grace.String(), "--"), spec.Argv...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start process: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var lifeR, lifeW *os.File
	if len(spec.Supervisor) > 0 {
		lifeR, lifeW, err = os.Pipe()
		if err != nil {
			pr.Close()
			pw.Close()
			return nil, fmt.Errorf("start process: %w", err)
		}
		cmd.ExtraFiles = []*os.File{lifeR} // fd 3 in the supervisor
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, spec.Hold...)
	err = cmd.Start()
	pw.Close()
	if lifeR != nil {
		lifeR.Close()
	}
	if err != nil {
		pr.Close()
		if lifeW != nil {
			lifeW.Close()
		}
		return nil, fmt.Errorf("start process %s: %w", argv[0], err)
	}
	p := &Process{cmd: cmd, pgid: cmd.Process.Pid, grace: grace, lifeline: lifeW, out: pr, done: make(chan struct{})}
	go p.wait()
	return p, nil
}

// Output is the combined stdout and stderr of the group. It reaches EOF when
// every process holding it has exited.
func (p *Process) Output() io.Reader { return p.out }

// PID returns the process id of the group leader (the supervisor when there
// is one), which is also the process group id.
func (p *Process) PID() int { return p.pgid }

func (p *Process) wait() {
	err := p.cmd.Wait()
	code := -1
	if p.cmd.ProcessState != nil {
		code = p.cmd.ProcessState.ExitCode()
	}
	// Stragglers (a grandchild that outlived the trainer) must not keep the
	// output pipe open or the GPU busy. The group cannot be reused while any
	// member lives, so this reaches only our own processes.
	_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
	if p.lifeline != nil {
		p.lifeline.Close()
	}
	p.mu.Lock()
	p.code = code
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		p.waitErr = err
	}
	p.mu.Unlock()
	close(p.done)
}

// KillOutputHolders ends the output of a group whose leader has exited but
// whose pipe is still held open by processes outside the group: a
// descendant that called setsid (a daemonised dataloader, a server the
// trainer spawned) escapes the group kill, and Output would never reach EOF.
// It SIGKILLs every other process holding the pipe, then closes the read
// end so a blocked Read returns. It returns the pids it killed.
func (p *Process) KillOutputHolders() []int {
	var killed []int
	if fi, err := p.out.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			killed = killPipeHolders(st.Ino)
		}
	}
	_ = p.out.Close()
	return killed
}

// killPipeHolders SIGKILLs every process but this one with a descriptor on
// the pipe with inode ino, found through /proc/PID/fd.
func killPipeHolders(ino uint64) []int {
	want := "pipe:[" + strconv.FormatUint(ino, 10) + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var killed []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := "/proc/" + e.Name() + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == want {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = append(killed, pid)
				}
				break
			}
		}
	}
	return killed
}

// Done is closed when the group leader has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the group leader to exit and returns its exit code (-1 when
// it was killed by a signal). The error is non-nil only when waiting itself
// failed, never for a non-zero exit.
func (p *Process) Wait() (int, error) {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code, p.waitErr
}

// Stopped reports whether Stop was called.
func (p *Process) Stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// Stop sends SIGTERM to the group and SIGKILL after the grace period if the
// leader has not exited by then. It returns once the leader has exited. It
// is safe to call more than once and from several goroutines.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		_ = syscall.Kill(-p.pgid, syscall.SIGTERM)
		t := time.NewTimer(p.grace)
		defer t.Stop()
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		}
	})
	<-p.done
}

// StopContext stops the process when ctx is done and returns once it has
// exited, or returns at once when the process exits first.
func (p *Process) StopContext(ctx context.Context) {
	select {
	case <-ctx.Done():
		p.Stop()
	case <-p.done:
	}
}

// Output runs argv to completion and returns its stdout; stderr is included
// in the error when it fails. It is for short queries such as nvidia-smi or
// `script --help`, not for trainers.
func Output(ctx context.Context, env []string, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("run command: empty argv")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if s := stderr.String(); s != "" {
			return out, fmt.Errorf("run %s: %w: %s", argv[0], err, s)
		}
		return out, fmt.Errorf("run %s: %w", argv[0], err)
	}
	return out, nil
}

// LookPath reports where argv0 would be found, as exec does.
func LookPath(argv0 string) (string, error) { return exec.LookPath(argv0) }

// limitedBuffer keeps the last 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 4096 {
		l.b = l.b[len(l.b)-4096:]
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// Alive reports whether pid names a live process (a zombie counts as dead).
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// state is the field after the parenthesised command name.
	for i := len(data) - 1; i >= 0; i-- {
		if data[i] == ')' {
			if i+2 < len(data) {
				return data[i+2] != 'Z' && data[i+2] != 'X'
			}
			break
		}
	}
	return true
}
