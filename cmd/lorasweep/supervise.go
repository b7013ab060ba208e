package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/internal/proc"
)

// newSuperviseCmd is the hidden `supervise --grace D -- ARGV...` command: the
// runner re-executes lorasweep this way to hold each trainer's process group
// and kill it when lorasweep goes away, even by SIGKILL (see proc.Supervise).
// It exits with the trainer's exit code.
func newSuperviseCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "supervise --grace D -- ARGV...",
		Short:              "Hold a trainer's process group (internal)",
		Hidden:             true,
		DisableFlagParsing: true,
		SilenceUsage:       true,
		SilenceErrors:      true,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(proc.Supervise(args, cmd.ErrOrStderr()))
			return nil
		},
	}
}
