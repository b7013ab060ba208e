package storage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/c-bata/goptuna"

	"github.com/lorasweep/lorasweep/sweep"
)

// Environment of the re-executed test binary.
const (
	helperMode  = "LORASWEEP_STORAGE_HELPER"
	helperDSN   = "LORASWEEP_STORAGE_HELPER_DSN"
	helperStudy = "LORASWEEP_STORAGE_HELPER_STUDY"
	helperGo    = "LORASWEEP_STORAGE_HELPER_GOROUTINES"
	helperBudg  = "LORASWEEP_STORAGE_HELPER_BUDGET"
)

// TestHelperProcess is not a test: it is the worker process the
// multi-process tests start (the test binary re-executed).
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperMode)
	if mode == "" {
		t.Skip("helper process only")
	}
	if err := helperMain(mode); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

func helperMain(mode string) error {
	ctx := context.Background()
	s, err := Open(ctx, os.Getenv(helperDSN))
	if err != nil {
		return err
	}
	defer s.Close()
	sid, err := s.GetStudyIDFromName(os.Getenv(helperStudy))
	if err != nil {
		return err
	}
	dist := goptuna.UniformDistribution{Low: 0, High: 1}
	// work claims and finishes trials until the shared budget is spent.
	work := func() (int, error) {
		budget, _ := strconv.Atoi(os.Getenv(helperBudg))
		r, err := s.Claim(ctx, sid, budget)
		if err != nil || !r.Granted {
			return -1, err
		}
		if err := s.SetTrialParam(r.TrialID, "x", float64(r.Number)/1e4, dist); err != nil {
			return -1, err
		}
		if err := s.SetTrialIntermediateValue(r.TrialID, 0, 1); err != nil {
			return -1, err
		}
		if err := s.SetTrialValue(r.TrialID, float64(r.Number)); err != nil {
			return -1, err
		}
		return r.Number, s.SetTrialState(r.TrialID, goptuna.TrialStateComplete)
	}
	switch mode {
	case "work":
		g, _ := strconv.Atoi(os.Getenv(helperGo))
		errs := make(chan error, g)
		for i := 0; i < g; i++ {
			go func() {
				for {
					n, err := work()
					if err != nil || n < 0 {
						errs <- err
						return
					}
				}
			}()
		}
		for i := 0; i < g; i++ {
			if err := <-errs; err != nil {
				return err
			}
		}
		return nil
	case "crash":
		// Report each finished trial; the parent kills us mid-stream. A
		// second goroutine keeps a transaction open most of the time.
		go func() {
			for {
				id, err := s.CreateNewTrial(sid)
				if err != nil {
					return
				}
				// The parent kills only once a trial is left RUNNING.
				fmt.Printf("running %d\n", id)
				for step := 0; step < 20; step++ {
					s.SetTrialIntermediateValue(id, step, float64(step))
				}
			}
		}()
		for {
			n, err := work()
			if err != nil {
				return err
			}
			fmt.Printf("done %d\n", n)
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func helperCmd(t *testing.T, mode, dsn, study string, goroutines, budget int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperMode+"="+mode, helperDSN+"="+dsn, helperStudy+"="+study,
		helperGo+"="+strconv.Itoa(goroutines), helperBudg+"="+strconv.Itoa(budget))
	return cmd
}

// TestConcurrentProcesses: several OS processes × goroutines claim and
// finish trials of one study under one budget: every number 0..N-1 exactly
// once, all COMPLETE, no "database is locked".
func TestConcurrentProcesses(t *testing.T) {
	cases := []struct {
		backend    backend
		procs, gor int
		trials     int
	}{
		{backend{"sqlite", sqliteDSN}, 4, 2, 200},
		{backend{"postgres", pgDSN}, 3, 8, 600},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s_%dx%d", c.backend.name, c.procs, c.gor), func(t *testing.T) {
			dsn := c.backend.dsn(t)
			s := openT(t, dsn)
			sid := mustStudy(t, s, "conc", goptuna.StudyDirectionMinimize)
			var wg sync.WaitGroup
			outs := make([]string, c.procs)
			errs := make([]error, c.procs)
			for i := 0; i < c.procs; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					out, err := helperCmd(t, "work", dsn, "conc", c.gor, c.trials).CombinedOutput()
					outs[i], errs[i] = string(out), err
				}(i)
			}
			wg.Wait()
			for i := range errs {
				if errs[i] != nil || strings.Contains(outs[i], "locked") {
					t.Errorf("process %d: %v\n%s", i, errs[i], outs[i])
				}
			}
			checkContiguousComplete(t, s, sid, c.trials)
		})
	}
}

func checkContiguousComplete(t *testing.T, s *Store, sid, n int) {
	t.Helper()
	all, err := s.GetAllTrials(sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("%d trials, want %d", len(all), n)
	}
	for i, tr := range all {
		if tr.Number != i || tr.State != goptuna.TrialStateComplete || tr.Value != float64(i) || len(tr.Params) != 1 {
			t.Errorf("trial %d: number %d state %v value %v params %v", i, tr.Number, tr.State, tr.Value, tr.Params)
		}
	}
}

// TestCrashMidWrite: a worker killed with SIGKILL while writing leaves a
// database that opens, passes integrity_check and holds every trial it
// reported finished.
func TestCrashMidWrite(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			s := openT(t, dsn)
			sid := mustStudy(t, s, "crash", goptuna.StudyDirectionMinimize)
			s.Close()

			cmd := helperCmd(t, "crash", dsn, "crash", 1, 0)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill when the helper has reported 40 finished trials and left
			// at least one RUNNING: conditions it announces, not a time.
			var done []int
			running := 0
			sc := bufio.NewScanner(out)
			for (len(done) < 40 || running == 0) && sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "running "); ok {
					if _, err := strconv.Atoi(v); err == nil {
						running++
					}
					continue
				}
				if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "done ")); err == nil {
					done = append(done, n)
				}
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if len(done) < 40 || running == 0 {
				t.Fatalf("helper reported %d finished and %d running trials before dying: %s", len(done), running, stderr.String())
			}

			s2 := openT(t, dsn)
			if s2.Driver() == DriverSQLite {
				var res string
				if err := s2.db.Get(&res, `PRAGMA integrity_check`); err != nil || res != "ok" {
					t.Fatalf("integrity_check: %q %v", res, err)
				}
			}
			all, err := s2.GetAllTrials(sid)
			if err != nil {
				t.Fatal(err)
			}
			byNum := map[int]goptuna.FrozenTrial{}
			for i, tr := range all {
				if tr.Number != i {
					t.Fatalf("numbers not contiguous at %d", i)
				}
				byNum[tr.Number] = tr
			}
			for _, n := range done {
				if tr, ok := byNum[n]; !ok || tr.State != goptuna.TrialStateComplete || tr.Value != float64(n) {
					t.Errorf("reported trial %d: %+v", n, tr)
				}
			}
			// The killed worker's RUNNING trials are found by the next one:
			// dead, it beats no more, so they go stale however slow the
			// machine (a deadline only bounds a broken reaper).
			var reaped []sweep.ReapedTrial
			for deadline := time.Now().Add(30 * time.Second); len(reaped) == 0 && time.Now().Before(deadline); {
				reaped, err = s2.ReapStale(context.Background(), sid, time.Millisecond, false)
				if err != nil {
					t.Fatal(err)
				}
				if len(reaped) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
			if len(reaped) == 0 {
				t.Error("no RUNNING trial of the killed worker was reaped")
			}
		})
	}
}
