package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// lifelineFD is the descriptor on which the supervisor inherits the read end
// of its parent's lifeline pipe (the first of exec.Cmd.ExtraFiles).
const lifelineFD = 3

// Supervise is the body of `lorasweep supervise --grace D -- ARGV...`. It is
// started by Start as the leader of a new process group and runs ARGV in that
// same group. It exists because Linux's parent-death signal reaches only the
// direct child of the dying process (and Go ties it to the forking thread):
// when the lifeline pipe from lorasweep closes — lorasweep exited or was
// killed, even with SIGKILL — the supervisor sends SIGTERM to the group,
// waits the grace period and sends SIGKILL to the group, itself included.
//
// SIGTERM/SIGINT/SIGHUP sent to the group reach the trainer directly; the
// supervisor survives them to enforce the grace period even if lorasweep dies
// between its SIGTERM and its SIGKILL. It returns the trainer's exit code
// (128+signal when the trainer died of a signal) for the caller to exit with.
// stderr receives the supervisor's own errors.
func Supervise(args []string, stderr io.Writer) int {
	grace := DefaultGrace
	for len(args) > 0 && args[0] != "--" {
		switch args[0] {
		case "--grace":
			if len(args) < 2 {
				fmt.Fprintln(stderr, "supervise: --grace needs a duration")
				return 2
			}
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 {
				fmt.Fprintf(stderr, "supervise: invalid --grace %q\n", args[1])
				return 2
			}
			grace = d
			args = args[2:]
		default:
			fmt.Fprintf(stderr, "supervise: unknown flag %q (usage: supervise --grace D -- ARGV...)\n", args[0])
			return 2
		}
	}
	if len(args) < 2 {
		fmt.Fprintln(stderr, "supervise: missing command (usage: supervise --grace D -- ARGV...)")
		return 2
	}
	argv := args[1:]

	// Catch (not ignore) the stop signals: an ignored disposition would be
	// inherited by the trainer across exec, a caught one is reset.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "supervise: start %s: %v\n", argv[0], err)
		return 127
	}

	lifeline := make(chan struct{})
	if f := os.NewFile(lifelineFD, "lifeline"); f != nil {
		go func() {
			_, _ = io.Copy(io.Discard, f)
			close(lifeline)
		}()
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	pgid := syscall.Getpgrp()
	var killAt <-chan time.Time
	escalate := func() {
		if killAt == nil {
			killAt = time.After(grace)
		}
	}
	for {
		select {
		case err := <-exited:
			if lifeline == nil {
				// lorasweep is gone (the trainer often dies first, of
				// SIGPIPE on its output): take the stragglers down now,
				// as nobody else will.
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			return exitCode(cmd, err)
		case <-sigs:
			escalate()
		case <-lifeline:
			lifeline = nil
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			escalate()
		case <-killAt:
			// Kills the supervisor too: nobody is left to report to.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

func exitCode(cmd *exec.Cmd, err error) int {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 1
	}
	st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && st.Signaled() {
		return 128 + int(st.Signal())
	}
	return cmd.ProcessState.ExitCode()
}
