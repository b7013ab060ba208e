package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// ProcStat is how long a command ran and its peak resident memory.
type ProcStat struct {
	WallSeconds float64 `json:"wall_s"`
	// PeakRSSKB is the process's own resident high-water mark (VmHWM), in
	// KiB, polled while it runs; 0 where /proc is missing.
	PeakRSSKB int64 `json:"peak_rss_kib"`
}

// measureCmd runs name with args in dir and reports its wall time and peak
// RSS. The peak is read from /proc/PID/status (VmHWM) every 20 ms, not from
// wait4's ru_maxrss: Go starts children with CLONE_VFORK|CLONE_VM, and the
// kernel carries the parent's high-water mark into the child at exec, so
// ru_maxrss reports at least the harness's own peak. VmHWM is a high-water
// mark, so polling misses only growth in the last 20 ms of a run.
func measureCmd(ctx context.Context, dir, name string, args ...string) (ProcStat, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return ProcStat{}, fmt.Errorf("start %s: %w", name, err)
	}
	peak := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		var max int64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb, ok := vmHWM(cmd.Process.Pid); ok && kb > max {
				max = kb
			}
			select {
			case <-done:
				peak <- max
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	st := ProcStat{WallSeconds: time.Since(start).Seconds(), PeakRSSKB: <-peak}
	if err != nil {
		return st, fmt.Errorf("run %s %v: %w: %s", name, args, err, lastLines(out.String(), 8))
	}
	return st, nil
}

// vmHWM reads a live process's peak resident set size in KiB.
func vmHWM(pid int) (int64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}
