package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// ProcStat is how long a command ran and its peak resident memory.
type ProcStat struct {
	WallSeconds float64 `json:"wall_s"`
	// PeakRSSKB is the kernel's ru_maxrss for the process as reaped: the
	// largest resident set of it and of any child it waited for, in KiB.
	PeakRSSKB int64 `json:"peak_rss_kib"`
}

// measureCmd runs name with args in dir and reports its wall time and peak
// RSS (wait4's rusage, so no /usr/bin/time is needed).
func measureCmd(ctx context.Context, dir, name string, args ...string) (ProcStat, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	st := ProcStat{WallSeconds: time.Since(start).Seconds()}
	if err != nil {
		return st, fmt.Errorf("run %s %v: %w: %s", name, args, err, lastLines(out.String(), 8))
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.PeakRSSKB = ru.Maxrss
	}
	return st, nil
}
