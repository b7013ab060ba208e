package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
)

// Config says how big each study is and where its helpers are.
type Config struct {
	// Quick shrinks every study to run in about a minute on two cores;
	// the full sizes are what BENCHMARKS.md reports.
	Quick bool
	// Python is the interpreter with optuna (default /usr/bin/python3);
	// empty Optuna columns are written as "—" when SkipOptuna is set.
	Python     string
	SkipOptuna bool
	// PythonDir holds optuna_bench.py and problems.py (default bench/python
	// beside this file's package, found from the working directory).
	PythonDir string
	// Lorasweep is a built lorasweep binary: the trainer studies' runner
	// re-executes it (supervisor, built-in trainer) and Optuna calls its
	// `eval`.
	Lorasweep string
	// Postgres is a DSN of an empty-able PostgreSQL database; studies that
	// need it are skipped when it is empty.
	Postgres string
	// WorkDir is a scratch directory for databases, demo data and trials.
	WorkDir string
}

func (c Config) python() string {
	if c.Python != "" {
		return c.Python
	}
	return "/usr/bin/python3"
}

func (c Config) pythonDir() string {
	if c.PythonDir != "" {
		return c.PythonDir
	}
	return filepath.Join("bench", "python")
}

// runOptuna runs optuna_bench.py with args and decodes its JSON into out.
func (c Config) runOptuna(ctx context.Context, out any, args ...string) error {
	script := filepath.Join(c.pythonDir(), "optuna_bench.py")
	cmd := exec.CommandContext(ctx, c.python(), append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run optuna %v: %w: %s", args, err, lastLines(stderr.String(), 5))
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		return fmt.Errorf("decode optuna output: %w", err)
	}
	return nil
}

func lastLines(s string, n int) string {
	b := []byte(s)
	count := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			count++
			if count > n {
				return string(b[i+1:])
			}
		}
	}
	return s
}

// Machine describes where the numbers were measured.
func Machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}
