package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/valkey-io/valkey-go"
)

// countHook counts the round trips and commands of a go-redis client (a
// pipeline is one round trip).
type countHook struct {
	names nameCounter
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.names.trip(cmd.Name())
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, c := range cmds {
			names[i] = c.Name()
		}
		h.names.trip(names...)
		return next(ctx, cmds)
	}
}

const asynqType = "bench:task"

// enqueueAsynq enqueues n tasks on asynq's default queue, 16 at a time.
func enqueueAsynq(ctx context.Context, rdb redis.UniversalClient, n int, payload []byte) error {
	client := asynq.NewClientFromRedisClient(rdb)
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first error
		once  sync.Once
	)
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask(asynqType, payload)); err != nil {
					once.Do(func() { first = fmt.Errorf("asynq enqueue: %w", err) })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// drainAsynq starts an asynq server with the given concurrency on the
// pre-enqueued tasks and times it from Start until the n-th task is
// acknowledged (its handler returned and asynq's active list is empty).
// Before the server is shut down, stats (when not nil) is called, so that
// INFO commandstats can be read for the drain alone.
func drainAsynq(ctx context.Context, rdb redis.UniversalClient, probe valkey.Client, n, concurrency int, stats func() error) (drainResult, error) {
	var handled atomic.Int64
	last := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: concurrency,
		LogLevel:    asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(asynqType, func(ctx context.Context, t *asynq.Task) error {
		if handled.Add(1) == int64(n) {
			close(last)
		}
		return nil
	})
	start := time.Now()
	if err := srv.Start(mux); err != nil {
		return drainResult{}, fmt.Errorf("asynq server: %w", err)
	}
	defer srv.Shutdown()
	select {
	case <-last:
	case <-ctx.Done():
		return drainResult{}, ctx.Err()
	}
	// the n-th handler returned; wait for its acknowledgement
	for {
		k, err := probe.Do(ctx, probe.B().Llen().Key("asynq:{default}:active").Build()).AsInt64()
		if err != nil {
			return drainResult{}, err
		}
		if k == 0 {
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	r := drainResult{N: n, Elapsed: time.Since(start)}
	if stats != nil {
		if err := stats(); err != nil {
			return drainResult{}, err
		}
	}
	return r, nil
}
