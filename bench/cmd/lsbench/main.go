// Command lsbench runs lorasweep's comparison benchmarks (package bench) and
// writes each study's Markdown table and raw JSON to --out.
//
//	go build -o /tmp/lorasweep ./cmd/lorasweep
//	go run ./bench/cmd/lsbench --quick --lorasweep /tmp/lorasweep all
//
// Run it from the repository root (it finds bench/python there). The
// randseednop=0 debug setting below lets rand.Seed reseed the global source
// that goptuna's stock TPE draws from, so its runs repeat.

//go:debug randseednop=0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/lorasweep/lorasweep/bench"
	"github.com/lorasweep/lorasweep/storage"
)

type study func(context.Context, bench.Config) (bench.Result, error)

func studies() map[string]study {
	return map[string]study{
		"efficiency":  bench.Efficiency,
		"ablation":    bench.Ablation,
		"parallel":    bench.Parallel,
		"trainer":     bench.Trainer,
		"pruning":     bench.Pruning,
		"overhead":    bench.Overhead,
		"utilisation": bench.Utilisation,
		"report":      bench.Report,
	}
}

// order is the order "all" runs them in: cheapest first.
var order = []string{"parallel", "ablation", "efficiency", "overhead", "utilisation", "report", "pruning", "trainer"}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lsbench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("lsbench", flag.ContinueOnError)
	var c bench.Config
	out := fs.String("out", "bench-results", "directory for <study>.md and <study>.json")
	fs.BoolVar(&c.Quick, "quick", false, "small sizes (about a minute per study on two cores) instead of the full ones")
	fs.StringVar(&c.Python, "python", "/usr/bin/python3", "interpreter with optuna (Debian: apt-get install python3-optuna)")
	fs.BoolVar(&c.SkipOptuna, "no-optuna", false, "leave out Optuna's columns")
	fs.StringVar(&c.PythonDir, "python-dir", "bench/python", "directory of optuna_bench.py")
	fs.StringVar(&c.Lorasweep, "lorasweep", "", "a built lorasweep binary (trainer, pruning, utilisation studies)")
	fs.StringVar(&c.Postgres, "postgres", os.Getenv("LORASWEEP_BENCH_POSTGRES"), "PostgreSQL DSN for the overhead study (default $LORASWEEP_BENCH_POSTGRES; empty: skipped)")
	fs.Usage = func() {
		names := make([]string, 0, len(studies()))
		for n := range studies() {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(fs.Output(), "usage: lsbench [flags] all|%s...\n", strings.Join(names, "|"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		fs.Usage()
		return errors.New("name a study, or all")
	}
	if len(names) == 1 && names[0] == "all" {
		names = order
	}
	work, err := os.MkdirTemp("", "lsbench-")
	if err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(work)
	c.WorkDir = work
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var all strings.Builder
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = storage.Redact(a) // a DSN's password never reaches the results
	}
	fmt.Fprintf(&all, "Machine: %s. Command: lsbench %s\n\n", bench.Machine(), strings.Join(shown, " "))
	for _, n := range names {
		s, ok := studies()[n]
		if !ok {
			return fmt.Errorf("unknown study %q", n)
		}
		start := time.Now()
		res, err := s(ctx, c)
		if err != nil {
			return fmt.Errorf("study %s: %w", n, err)
		}
		if err := res.Write(*out); err != nil {
			return err
		}
		for _, t := range res.Tables {
			if err := t.Markdown(&all); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "study %s done in %s\n", n, time.Since(start).Round(time.Second))
	}
	if err := os.WriteFile(*out+"/summary.md", []byte(all.String()), 0o644); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	_, err = io.WriteString(stdout, all.String())
	return err
}
