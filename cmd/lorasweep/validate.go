package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/kohya"
	"github.com/lorasweep/lorasweep/objective"
	"github.com/lorasweep/lorasweep/sweep"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate SPEC",
		Short: "Check a sweep spec; print its search space and trial 0's kohya TOML",
		Long: `Check a sweep spec and print the resolved search space, the sampler, pruner,
objective and budget, and the kohya TOML trial 0 (the base config, the
baseline every trial is compared with) would be trained with. Every error
in the spec is reported at once, each with its file, line and field.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Describe lists the spec's warnings itself.
			spec, err := loadSpec(io.Discard, args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := spec.Describe(out); err != nil {
				return err
			}
			if line, warn := samplingLoad(spec); line != "" {
				fmt.Fprintf(out, "sampling    %s\n", line)
				if warn != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", warn)
				}
			}
			toml, err := kohya.WriteTOML(spec.TrialConfig(spec.ParamsFromConfig(spec.Base)))
			if err != nil {
				return fmt.Errorf("render trial 0 config: %w", err)
			}
			fmt.Fprintf(out, "\n# trial 0 (baseline) config; the runner adds output_dir, output_name, logging_dir and sample_prompts per trial\n%s", toml)
			return nil
		},
	}
}

// samplingLoad estimates a trial's sampling cost against its training cost
// from the base config: prompts × sampled epochs at the prompts' sizes and
// steps, against steps × batch at the training resolution. It returns "" when
// the config does not sample or its files are not there yet (the demo).
func samplingLoad(spec *sweep.Spec) (line, warning string) {
	if spec.Trainer.Kind == "builtin" {
		// The built-in generator renders a sample in one pass: its
		// sampling cost is negligible and the estimate would mislead.
		return "", ""
	}
	base := kohya.Config(spec.Base)
	promptFile, _ := base["sample_prompts"].(string)
	every := intValue(base["sample_every_n_epochs"])
	if promptFile == "" || every <= 0 {
		return "", ""
	}
	prompts, err := kohya.ParsePromptFile(promptFile)
	if err != nil || len(prompts) == 0 {
		return "", ""
	}
	epochs := intValue(base["max_train_epochs"])
	for _, p := range spec.Search {
		if p.Name == "max_train_epochs" {
			epochs = int(p.High) // the most expensive trial
		}
	}
	if epochs <= 0 {
		return "", ""
	}
	sampled := epochs / every
	if b, _ := base["sample_at_first"].(bool); b {
		sampled++
	}
	var cost objective.Cost
	for _, p := range prompts {
		c := objective.SamplingCost(1, 1, sampled, p.Width, p.Height, p.Steps)
		cost.Images += c.Images
		cost.Evals += c.Evals
	}
	w, h := parseResolution(base["resolution"])
	batch := max(1, intValue(base["train_batch_size"]))
	images := 0
	if dir, ok := base["train_data_dir"].(string); ok {
		ext, _ := base["caption_extension"].(string)
		subsets, _, err := kohya.ScanDreamBoothDir(dir, false, ext)
		if err == nil {
			for _, s := range subsets {
				images += len(s.Images) * s.Repeats
			}
		}
	}
	if reg, ok := base["reg_data_dir"].(string); ok && reg != "" {
		images *= 2 // sd-scripts repeats reg images up to the train count
	}
	if images == 0 {
		return fmt.Sprintf("%d images per trial (%d prompts × %d sampled epochs)", cost.Images, len(prompts), sampled), ""
	}
	steps := epochs * ((images + batch - 1) / batch)
	train := objective.TrainingEvals(steps, batch, w, h)
	line = fmt.Sprintf("%d images per trial (%d prompts × %d sampled epochs), about %.0f%% of a trial's GPU time (estimate)",
		cost.Images, len(prompts), sampled, 100*cost.Share(train))
	return line, cost.Warning(train)
}

func intValue(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case int:
		return x
	case float64:
		return int(x)
	}
	return 0
}

// parseResolution reads sd-scripts' "W,H" or "N" resolution string.
func parseResolution(v any) (int, int) {
	s, _ := v.(string)
	a, b, found := strings.Cut(s, ",")
	w, err := strconv.Atoi(strings.TrimSpace(a))
	if err != nil || w <= 0 {
		return 512, 512
	}
	if !found {
		return w, w
	}
	h, err := strconv.Atoi(strings.TrimSpace(b))
	if err != nil || h <= 0 {
		return w, w
	}
	return w, h
}
