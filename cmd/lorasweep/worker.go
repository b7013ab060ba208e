package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
)

func newWorkerCmd() *cobra.Command {
	var (
		dsn, name, outputRoot string
		quiet, verbose        bool
		staleAfter            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "worker --storage DSN --sweep NAME",
		Short: "Join a running sweep and train its trials on this machine's GPUs",
		Long: `Join the sweep NAME from another machine (or another set of GPUs) and
train its trials here. The spec comes from the storage, so this machine needs
only the DSN (--storage or LORASWEEP_STORAGE, normally postgres://…), the
trainer installed at the same paths, and the dataset at the same paths (or a
shared filesystem). The budget holds across every worker: each trial is
claimed atomically and runs exactly once.

Ctrl-C drains (running trials finish), a second Ctrl-C aborts (they are
recorded as interrupted and re-enqueued), as with run. A hangup drains and
never aborts; a closed console pipe is dropped, as with run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			outliveConsole()
			store, spec, _, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			store.Close()
			if outputRoot != "" {
				abs, err := filepath.Abs(outputRoot)
				if err != nil {
					return fmt.Errorf("resolve --output-root: %w", err)
				}
				spec.OutputRoot = abs
			}
			return runSweep(cmd, spec, resolveDSN(dsn, nil), sweepOptions{quiet: quiet, verbose: verbose, worker: true, staleAfter: staleAfter})
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "name of the sweep to join")
	cmd.Flags().StringVar(&outputRoot, "output-root", "", "directory for this worker's trial folders (default: the sweep's output_root, best on a shared filesystem)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only warnings and the final ranking")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every epoch scored and every trainer start and exit")
	addStaleAfterFlag(cmd, &staleAfter)
	return cmd
}
