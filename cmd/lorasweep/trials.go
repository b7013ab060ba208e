package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/sweep"
)

func newTrialsCmd() *cobra.Command {
	var dsn, name, format string
	cmd := &cobra.Command{
		Use:   "trials --sweep NAME",
		Short: "List a sweep's trials, best first",
		Long: `List a sweep's trials, best first: number, state, value, best epoch,
params, duration and failure reason. Works from any directory and machine
that reaches the storage (--storage or LORASWEEP_STORAGE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch format {
			case "table", "json", "csv":
			default:
				return usageError{fmt.Errorf("--format %q: use table, json or csv", format)}
			}
			store, spec, id, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			defer store.Close()
			trials, err := store.GetAllTrials(id)
			if err != nil {
				return fmt.Errorf("read trials: %w", err)
			}
			rows := sweep.Rank(trials, sweep.Direction(spec.Objective.Direction))
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "csv":
				return writeTrialsCSV(out, rows, spec)
			}
			return writeTrialsTable(out, rows, spec)
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "sweep name")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or csv")
	return cmd
}

// paramNames lists the search space's params in spec order, then any other
// param the trials carry (enqueued configs), sorted.
func paramNames(rows []sweep.TrialRow, spec *sweep.Spec) []string {
	seen := map[string]bool{}
	var names []string
	for _, p := range spec.Search {
		seen[p.Name] = true
		names = append(names, p.Name)
	}
	var extra []string
	for _, r := range rows {
		for k := range r.Params {
			if !seen[k] {
				seen[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(names, extra...)
}

func formatOptFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 5, 64)
}

func formatOptInt(v *int) string {
	if v == nil {
		return "-"
	}
	return strconv.Itoa(*v)
}

func trialNote(r sweep.TrialRow) string {
	var notes []string
	if r.Baseline {
		notes = append(notes, "baseline")
	} else if r.Enqueued != "" {
		notes = append(notes, r.Enqueued)
	}
	if r.Outside {
		notes = append(notes, "outside space")
	}
	if r.RetryOf != "" {
		notes = append(notes, "retry of "+r.RetryOf)
	}
	if r.Reason != "" {
		notes = append(notes, r.Reason)
	}
	return strings.Join(notes, ", ")
}

// writeTrialsTable prints the ranking as an aligned table.
func writeTrialsTable(w io.Writer, rows []sweep.TrialRow, spec *sweep.Spec) error {
	names := paramNames(rows, spec)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"rank", "trial", "state", "value", "epoch"}
	header = append(header, names...)
	header = append(header, "time", "note")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i, r := range rows {
		rank := "-"
		if r.Value != nil {
			rank = strconv.Itoa(i + 1)
		}
		cells := []string{rank, strconv.Itoa(r.Number), r.State, formatOptFloat(r.Value), formatOptInt(r.BestEpoch)}
		for _, n := range names {
			v, ok := r.Params[n]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, sweep.FormatValue(v))
		}
		dur := "-"
		if r.Duration > 0 {
			dur = fmt.Sprintf("%.1fs", r.Duration)
		}
		cells = append(cells, dur, trialNote(r))
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// writeTrialsCSV writes one row per trial with a column per param.
func writeTrialsCSV(w io.Writer, rows []sweep.TrialRow, spec *sweep.Spec) error {
	names := paramNames(rows, spec)
	cw := csv.NewWriter(w)
	header := append([]string{"number", "state", "value", "best_epoch"}, names...)
	header = append(header, "duration_s", "reason", "baseline")
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		val := ""
		if r.Value != nil {
			val = strconv.FormatFloat(*r.Value, 'g', -1, 64)
		}
		epoch := ""
		if r.BestEpoch != nil {
			epoch = strconv.Itoa(*r.BestEpoch)
		}
		rec := []string{strconv.Itoa(r.Number), r.State, val, epoch}
		for _, n := range names {
			if v, ok := r.Params[n]; ok {
				rec = append(rec, fmt.Sprint(v))
			} else {
				rec = append(rec, "")
			}
		}
		rec = append(rec, strconv.FormatFloat(r.Duration, 'f', 3, 64), r.Reason, strconv.FormatBool(r.Baseline))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
