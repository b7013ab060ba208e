package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/kohya"
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
			spec, err := loadSpec(cmd.ErrOrStderr(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if err := spec.Describe(out); err != nil {
				return err
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
