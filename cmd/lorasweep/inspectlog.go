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
			trialCfg, _ := kohya.ReadConfigFile(filepath.Join(dir, runner.ConfigFile))
			if outputName == "" {
				outputName, _ = trialCfg["output_name"].(string)
			}
			if outputName == "" {
				// sd-scripts' checkpoint names carry it (printed even when
				// console_log_level hides INFO lines)
				outputName = sum.OutputName
			}
			entries, _ := os.ReadDir(sampleDir)
			if outputName == "" {
				// no checkpoint was named yet: the samples' own prefix,
				// when they all share one
				names := map[string]bool{}
				for _, e := range entries {
					if n, ok := kohya.SampleOutputName(e.Name()); ok {
						names[n] = true
					}
				}
				if len(names) == 1 {
					for n := range names {
						outputName = n
					}
				}
			}
			if entries != nil {
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
			case rep.ModelSaved && rep.Failure != "":
				rep.Outcome = "ok"
				rep.Detail = "crashed after `model saved.` (the model was written; a crash at teardown): " + rep.FailureLine
			case rep.ModelSaved:
				rep.Outcome = "ok"
			case rep.Failure != "":
				rep.Outcome, rep.Reason, rep.Detail = "failed", rep.Failure, rep.FailureLine
				if rep.Failure == kohya.FailCrash && rep.Exception != "" {
					rep.Detail = rep.Exception
				}
			default:
				rep.Outcome, rep.Reason, rep.Detail = noModelSavedLine(sum, finalModelCandidates(sum, dir, trialCfg, outputName))
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

// finalModelCandidates lists where the run's final model may be on this
// machine: the path of the log's final `saving checkpoint:` line, and the
// trial's output/<output_name>.<save_model_as> next to the log.
func finalModelCandidates(sum kohya.LogSummary, dir string, cfg kohya.Config, outputName string) []string {
	var out []string
	if sum.FinalModel != "" {
		out = append(out, sum.FinalModel)
	}
	if outputName != "" {
		ext, _ := cfg["save_model_as"].(string)
		if ext == "" {
			ext = "safetensors"
		}
		outDir, _ := cfg["output_dir"].(string)
		if outDir == "" {
			outDir = filepath.Join(dir, "output")
		}
		out = append(out, filepath.Join(outDir, outputName+"."+ext))
	}
	return out
}

// noModelSavedLine judges a log with neither `model saved.` nor an error.
// console_log_level above INFO (or console_log_file) hides sd-scripts' INFO
// lines, `model saved.` among them, so the final model file decides, as it
// does for a running trial (whose exit status is known too).
func noModelSavedLine(sum kohya.LogSummary, candidates []string) (outcome, reason, detail string) {
	for _, path := range candidates {
		if _, err := os.Stat(path); err != nil {
			continue
		}
		if err := runner.CheckModelFile(path); err != nil {
			return "failed", kohya.FailCrash, "no `model saved.` line, and the final model " + err.Error()
		}
		return "ok", "", "no `model saved.` line (console_log_level above INFO or console_log_file hides it); the final model " + path + " is present and readable"
	}
	switch {
	case sum.FinalModel != "":
		return "incomplete", "", "the final model's save began (saving checkpoint: " + sum.FinalModel + ") but there is no `model saved.` line: console_log_level above INFO or console_log_file hides it, or the trainer died while saving; the file is not here to check"
	case sum.Total > 0 && sum.Step >= sum.Total:
		return "incomplete", "", fmt.Sprintf("all %d steps ran but there is no `model saved.` line and no final model here: console_log_level above INFO or console_log_file hides it, or the trainer died while saving", sum.Total)
	}
	return "incomplete", "", "no `model saved.` and no error in the log: still running, killed, or hung"
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
