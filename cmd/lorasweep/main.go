// Command lorasweep runs overnight hyperparameter sweeps of kohya-ss
// sd-scripts LoRA training: it proposes each trial's settings, trains trials
// on the available GPUs (or the built-in CPU trainer), scores their sample
// images per epoch, prunes bad trials and ranks the rest.
//
// This package only wires the others together: flags, config decoding,
// signals and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// Exit codes: 0 success, 1 a runtime failure, 2 bad input (usage, spec).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks errors caused by the user's input rather than the run.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	root := newRootCmd()
	err := root.ExecuteContext(context.Background())
	if err == nil {
		os.Exit(exitOK)
	}
	fmt.Fprintln(os.Stderr, "lorasweep:", err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(exitUsage)
	}
	os.Exit(exitFailure)
}
