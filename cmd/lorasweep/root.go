package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/storage"
	"github.com/lorasweep/lorasweep/sweep"
)

const (
	envStorage     = "LORASWEEP_STORAGE"
	defaultStorage = "sqlite://lorasweep.db"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "lorasweep",
		Short: "Hyperparameter sweeps for kohya-ss sd-scripts LoRA training",
		Long: `lorasweep runs overnight hyperparameter sweeps of LoRA training with kohya-ss
sd-scripts (or its built-in CPU trainer): it proposes each trial's settings,
trains trials on the available GPUs, scores their sample images per saved
epoch, prunes bad trials early and ranks the rest.

Commands that read a sweep take --storage DSN or the LORASWEEP_STORAGE
environment variable (default sqlite://lorasweep.db).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newRunCmd(),
		newValidateCmd(),
		newDoctorCmd(),
		newTrialsCmd(),
		newDemoCmd(),
		newTrainBuiltinCmd(),
		newInspectLogCmd(),
		newGPUsCmd(),
		newSuperviseCmd(),
		newWorkerCmd(),
		newStatusCmd(),
		newEvalCmd(),
		newReportCmd(),
		newExportCmd(),
		newServeCmd(),
	)
	return root
}

// resolveDSN picks the storage: the flag, then LORASWEEP_STORAGE, then the
// spec's storage key, then the embedded default.
func resolveDSN(flag string, spec *sweep.Spec) string {
	if flag != "" {
		return flag
	}
	if env := os.Getenv(envStorage); env != "" {
		return env
	}
	if spec != nil && spec.Storage != "" {
		return spec.Storage
	}
	return defaultStorage
}

// addStorageFlag registers --storage on a command.
func addStorageFlag(cmd *cobra.Command, dsn *string) {
	cmd.Flags().StringVar(dsn, "storage", "", "storage DSN: sqlite://PATH or postgres://USER@HOST:PORT/DB (default $"+envStorage+", then "+defaultStorage+")")
}

// openSweep opens the storage and finds the named sweep.
func openSweep(cmd *cobra.Command, dsn, name string) (*storage.Store, *sweep.Spec, int, error) {
	if name == "" {
		return nil, nil, 0, usageError{fmt.Errorf("--sweep NAME is required")}
	}
	store, err := storage.OpenExisting(cmd.Context(), resolveDSN(dsn, nil))
	if err != nil {
		return nil, nil, 0, err
	}
	spec, id, err := sweep.LoadStoredSpec(store, name)
	if err != nil {
		store.Close()
		return nil, nil, 0, err
	}
	return store, spec, id, nil
}
