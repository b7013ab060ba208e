package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/runner"
)

// inspectReport is what `inspect-log` prints.
type inspectReport struct {
	kohya.LogSummary
	// The losses shadow the summary's so NaN and ±Inf print as strings
	// (JSON has no NaN; a NaN loss is exactly what a user looks for).
	LastLoss       any      `json:"last_loss"`
	MinLoss        any      `json:"min_loss"`
	ValidationLoss any      `json:"validation_loss"`
	Samples        []string `json:"samples"`
	Outcome        string   `json:"outcome"` // ok, failed, incomplete
	Reason         string   `json:"reason,omitempty"`
	Detail         string   `json:"detail,omitempty"`
}

// newInspectLogCmd is `lorasweep inspect-log --trainer kohya FILE`: what the
// runner's parser makes of a saved console log, as JSON.
func newInspectLogCmd() *cobra.Command {
	var trainer, sampleDir, outputName string
	cmd := &cobra.Command{
		Use:   "inspect-log --trainer kohya FILE",
		Short: "Show what lorasweep reads from a trainer's console log (steps, loss, epochs, outcome)",
		Long: `inspect-log parses a saved console log (a trial's trial.log, or any sd-scripts
output) as the runner does while a trial runs, and prints as JSON: steps and
total, last and minimum loss, epochs, checkpoints, samples, and the outcome with
its reason. Samples are looked up in --sample-dir, by default output/sample next
to the log (a trial directory).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if trainer != runner.KindKohya && trainer != runner.KindBuiltin {
				return fmt.Errorf("--trainer %q: inspect-log reads kohya and builtin logs", trainer)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("inspect log: %w", err)
			}
			defer f.Close()
			var p kohya.LogParser
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 0, 64<<10), kohya.MaxLogLine+1)
			sc.Split(kohya.ScanLogLines)
			for sc.Scan() {
				p.Feed(sc.Text())
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("inspect log: %w", err)
			}
			sum := p.Summary()
			rep := inspectReport{LogSummary: sum, Samples: []string{},
				LastLoss: jsonFloat(sum.LastLoss), MinLoss: jsonFloat(sum.MinLoss), ValidationLoss: jsonFloat(sum.ValidationLoss)}
			dir := filepath.Dir(args[0])
			if sampleDir == "" {
				sampleDir = filepath.Join(dir, "output", "sample")
			}
			if outputName == "" {
				if cfg, err := kohya.ReadConfigFile(filepath.Join(dir, runner.ConfigFile)); err == nil {
					outputName, _ = cfg["output_name"].(string)
				}
			}
			if entries, err := os.ReadDir(sampleDir); err == nil {
				for _, e := range entries {
					if _, ok := kohya.ParseSampleName(e.Name(), outputName); ok {
						rep.Samples = append(rep.Samples, filepath.Join(sampleDir, e.Name()))
					}
				}
				sort.Strings(rep.Samples)
			}
			if rep.Checkpoints == nil {
				rep.Checkpoints = []string{}
			}
			switch {
			case rep.ModelSaved:
				rep.Outcome = "ok"
				if rep.Failure != "" {
					rep.Detail = "after `model saved.`: " + rep.FailureLine
				}
			case rep.Failure != "":
				rep.Outcome, rep.Reason, rep.Detail = "failed", rep.Failure, rep.FailureLine
				if rep.Failure == kohya.FailCrash && rep.Exception != "" {
					rep.Detail = rep.Exception
				}
			default:
				rep.Outcome, rep.Reason, rep.Detail = "incomplete", "", "no `model saved.` and no error in the log: still running, killed, or hung"
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(rep)
		},
	}
	cmd.Flags().StringVar(&trainer, "trainer", runner.KindKohya, "trainer whose log this is: kohya or builtin")
	cmd.Flags().StringVar(&sampleDir, "sample-dir", "", "where the sample images are (default: output/sample next to the log)")
	cmd.Flags().StringVar(&outputName, "output-name", "", "output_name of the samples (default: from trial.toml next to the log)")
	return cmd
}

// jsonFloat is nil for nil, the number when finite, else "nan"/"inf"/"-inf".
func jsonFloat(f *float64) any {
	switch {
	case f == nil:
		return nil
	case math.IsNaN(*f) || math.IsInf(*f, 0):
		return strconv.FormatFloat(*f, 'g', -1, 64)
	}
	return *f
}
