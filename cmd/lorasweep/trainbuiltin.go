package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/runner/builtin"
)

// newTrainBuiltinCmd is the hidden `train-builtin` command: the built-in CPU
// trainer with sd-scripts' own command line, passed through untouched (the
// runner launches it exactly as it launches train_network.py). It exits with
// the trainer's code: 0, 1, or 2 for argument errors.
func newTrainBuiltinCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "train-builtin --config_file FILE [--ARG VALUE ...]",
		Short:              "Run the built-in CPU LoRA trainer (sd-scripts interface)",
		Hidden:             true,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := builtin.Main(args, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}
