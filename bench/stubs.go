package bench

import (
	"context"
	"errors"
)

var errTODO = errors.New("not yet")

func Trainer(ctx context.Context, c Config) (Result, error)     { return Result{}, errTODO }
func Pruning(ctx context.Context, c Config) (Result, error)     { return Result{}, errTODO }
func Utilisation(ctx context.Context, c Config) (Result, error) { return Result{}, errTODO }
