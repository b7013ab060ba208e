package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/sweep"
)

func newStatusCmd() *cobra.Command {
	var (
		dsn, name string
		watch     bool
		every     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status --sweep NAME",
		Short: "Show a sweep's progress from storage, from any machine",
		Long: `Show a sweep's progress as the storage records it: one line per running
trial (host, GPUs, last scored epoch or step, last recorded step and loss, elapsed),
and totals (complete, pruned, failed, waiting, budget spent, best so far,
time to the deadline, disk freed by the retention policy). --watch redraws
it until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			store, spec, id, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			defer store.Close()
			out := cmd.OutOrStdout()
			tty := isTerminal(out)
			for {
				st, err := sweep.ReadStatus(cmd.Context(), store, id, spec)
				if err != nil {
					return err
				}
				if watch && tty {
					fmt.Fprint(out, "\x1b[H\x1b[2J")
				}
				writeStatus(out, st, spec, time.Now())
				if !watch {
					return nil
				}
				select {
				case <-cmd.Context().Done():
					return nil
				case <-time.After(every):
				}
			}
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "sweep name")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "redraw every --every until interrupted")
	cmd.Flags().DurationVar(&every, "every", 2*time.Second, "refresh interval for --watch")
	return cmd
}

// writeStatus renders a Status as text.
func writeStatus(w io.Writer, st sweep.Status, spec *sweep.Spec, now time.Time) {
	budget := "unlimited"
	if st.Budget > 0 {
		budget = fmt.Sprintf("%d/%d", st.Counted, st.Budget)
	}
	fmt.Fprintf(w, "sweep %q: budget %s, complete %d, pruned %d, failed %d, running %d, waiting %d\n",
		st.Name, budget, st.Complete, st.Pruned, st.Failed, st.Running, st.Waiting)
	if st.Best != nil {
		fmt.Fprintf(w, "best: trial %d = %.4g", st.Best.Number, *st.Best.Value)
		if c := st.Best.BestCandidate(); c != "" {
			fmt.Fprintf(w, " at %s", c)
		}
		if st.Best.Partial != "" {
			fmt.Fprintf(w, " (partial %s: scored on part of its sample images, as no trial has a complete candidate yet)", st.Best.Partial)
		}
		fmt.Fprintf(w, ": %s\n", spec.FormatTrainedParams(st.Best.Params))
		for _, warn := range st.Best.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
	}
	if !st.Deadline.IsZero() {
		if d := st.Deadline.Sub(now); d > 0 {
			fmt.Fprintf(w, "deadline: %s (in %s)\n", st.Deadline.Format("2006-01-02 15:04"), d.Round(time.Minute))
		} else {
			fmt.Fprintf(w, "deadline: %s (passed)\n", st.Deadline.Format("2006-01-02 15:04"))
		}
	}
	if st.Stop != "" && st.Running == 0 {
		fmt.Fprintf(w, "stopped: %s\n", st.Stop)
	}
	if st.FreedBytes > 0 {
		fmt.Fprintf(w, "retention freed %s\n", formatBytes(st.FreedBytes))
	}
	for _, a := range st.Active {
		gpus := strings.Join(a.GPUs, ",")
		if gpus == "" {
			gpus = "cpu"
		}
		line := fmt.Sprintf("  trial %-4d %s %-8s running %s", a.Number, a.Host, gpus, now.Sub(a.Started).Round(time.Second))
		if e := a.Last; e != nil {
			line += fmt.Sprintf("  %s scored %.4g", e.Candidate(), *e.Value)
			if c := e.Completeness(); c != "" {
				line += " (" + c + ")"
			}
		}
		if a.Step > 0 {
			line += fmt.Sprintf("  step %d loss %.4g", a.Step, a.Loss)
		}
		if age := now.Sub(a.Heartbeat); age > time.Minute {
			line += fmt.Sprintf("  (no heartbeat for %s)", age.Round(time.Second))
		}
		fmt.Fprintln(w, line)
	}
	writeRepeats(w, spec, st.Repeats)
}
