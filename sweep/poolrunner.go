package sweep

import (
	"context"

	"github.com/lorasweep/lorasweep/runner"
)

// PoolRunner adapts a *runner.Pool to the controller's Runner interface
// (the pool hands out concrete *runner.Lease values).
type PoolRunner struct{ Pool *runner.Pool }

// Acquire blocks until one of the pool's slots is free.
func (r PoolRunner) Acquire(ctx context.Context) (Lease, error) {
	l, err := r.Pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Run trains job on a lease this PoolRunner handed out.
func (r PoolRunner) Run(ctx context.Context, lease Lease, job runner.Job, onEvent func(runner.Event)) runner.Outcome {
	return r.Pool.Run(ctx, lease.(*runner.Lease), job, onEvent)
}
