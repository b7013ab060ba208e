package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/reports"
	"github.com/lorasweep/lorasweep/sweep"
)

func newTrialsCmd() *cobra.Command {
	var dsn, name, format string
	cmd := &cobra.Command{
		Use:   "trials --sweep NAME",
		Short: "List a sweep's trials, best first",
		Long: `List a sweep's trials, best first: number, state, value, best candidate
(epoch or step, and "partial k/n" when it was scored on k of its n sample
images), params as trained (a ratio_of param as its value, the ratio
beside it), duration and failure reason. --format json|csv adds every
candidate each trial was scored at. Works from any directory and machine
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
			out := cmd.OutOrStdout()
			if format != "table" {
				// The same listing `export --format csv|json` writes.
				listing, err := reports.ListTrials(cmd.Context(), store, spec, id)
				if err != nil {
					return err
				}
				if format == "json" {
					return reports.WriteTrialsJSON(out, listing)
				}
				return reports.WriteTrialsCSV(out, spec, listing)
			}
			trials, err := store.GetAllTrials(id)
			if err != nil {
				return fmt.Errorf("read trials: %w", err)
			}
			dir, err := store.GetStudyDirection(id)
			if err != nil {
				return fmt.Errorf("read direction: %w", err)
			}
			rows := sweep.Rank(trials, dir)
			return writeTrialsTable(out, rows, spec)
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "sweep name")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, json or csv")
	return cmd
}

func formatOptFloat(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'g', 5, 64)
}

// bestCell is the trial's best candidate as tables show it: "epoch 3",
// "step 1600 partial 2/9".
func bestCell(r sweep.TrialRow) string {
	if s := r.BestLabel(); s != "" {
		return s
	}
	return "-"
}

func trialNote(r sweep.TrialRow) string {
	return strings.Join(sweep.TrialNotes(r), ", ")
}

// writeTrialsTable prints the ranking as an aligned table.
func writeTrialsTable(w io.Writer, rows []sweep.TrialRow, spec *sweep.Spec) error {
	params := make([]map[string]any, len(rows))
	for i, r := range rows {
		params[i] = r.Params
	}
	names := sweep.ParamColumns(spec, params)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"rank", "trial", "state", "value", "best"}
	header = append(header, names...)
	header = append(header, "time", "note")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for i, r := range rows {
		rank := "-"
		if sweep.Ranked(r) {
			rank = strconv.Itoa(i + 1)
		}
		cells := []string{rank, strconv.Itoa(r.Number), r.State, formatOptFloat(r.Value), bestCell(r)}
		for _, n := range names {
			v, ok := spec.FormatTrainedParam(r.Params, n)
			if !ok {
				v = "-"
			}
			cells = append(cells, v)
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
