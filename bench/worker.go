package main

import (
	"context"
	"errors"

	"github.com/valkey-io/valkey-go"
)

// drainWorker will drain the lane with the worker package's Run loop once
// that package builds; until then -ffgo=worker is refused.
func drainWorker(ctx context.Context, db valkey.Client, l ffLane, n, workers int) (drainResult, error) {
	return drainResult{}, errors.New("-ffgo=worker: the worker package does not build yet; use -ffgo=scripts")
}
