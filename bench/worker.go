package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffgo/worker"
	"github.com/valkey-io/valkey-go"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var workerSeq atomic.Int64

// connectWorker connects a worker.Worker for lane with the given concurrency.
// The library is already loaded, so it is managed.
func connectWorker(ctx context.Context, db valkey.Client, lane string, concurrency int) (*worker.Worker, error) {
	w, err := worker.Connect(ctx, db, worker.Options{
		WorkerID:           "bench",
		InstanceID:         fmt.Sprintf("bench-w-%d", workerSeq.Add(1)),
		Lanes:              []string{lane},
		MaxConcurrentTasks: concurrency,
		ManagedLibrary:     true,
		Logger:             quiet,
	})
	if err != nil {
		return nil, fmt.Errorf("worker.Connect: %w", err)
	}
	return w, nil
}

// drainWorker drains the lane with worker.Run and MaxConcurrentTasks =
// workers. The handler completes its task itself, so the n-th completion is
// seen when its reply arrives. Latency is handler start → completion
// acknowledged (Run's claim is not visible from a handler).
func drainWorker(ctx context.Context, db valkey.Client, l ffLane, n, workers int) (drainResult, error) {
	w, err := connectWorker(ctx, db, l.lane, workers)
	if err != nil {
		return drainResult{}, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	var (
		mu    sync.Mutex
		lats  = make([]time.Duration, 0, n)
		done  atomic.Int64
		end   atomic.Int64
		first error
		once  sync.Once
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	defer progress("drain", n, &done)()
	runErr := make(chan error, 1)
	go func() {
		runErr <- w.Run(runCtx, func(ctx context.Context, t *worker.Task) error {
			t0 := time.Now()
			if err := t.Complete(ctx, []byte("ok")); err != nil {
				once.Do(func() { first = err; stop() })
				return err
			}
			d := time.Since(t0)
			mu.Lock()
			lats = append(lats, d)
			mu.Unlock()
			if done.Add(1) == int64(n) {
				end.Store(int64(time.Since(start)))
				stop()
			}
			return nil
		})
	}()
	if err := <-runErr; err != nil {
		return drainResult{}, fmt.Errorf("worker.Run: %w", err)
	}
	if first != nil {
		return drainResult{}, first
	}
	if got := done.Load(); got != int64(n) {
		return drainResult{}, fmt.Errorf("drained %d executions, want %d", got, n)
	}
	return drainResult{N: n, Elapsed: time.Duration(end.Load()), Lat: summarize(lats)}, nil
}

// drainWorkerClaim drains the lane with workers goroutines that each loop
// over Worker.ClaimNext and Task.Complete. Latency is claim sent → completion
// acknowledged.
func drainWorkerClaim(ctx context.Context, db valkey.Client, l ffLane, n, workers int) (drainResult, error) {
	w, err := connectWorker(ctx, db, l.lane, workers)
	if err != nil {
		return drainResult{}, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	return drainLoop(ctx, n, workers, func() (bool, error) {
		t, err := w.ClaimNext(ctx)
		if errors.Is(err, worker.ErrNoTask) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, t.Complete(ctx, []byte("ok"))
	}, nil)
}
