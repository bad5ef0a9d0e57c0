package main

import (
	"context"
	"fmt"

	"github.com/valkey-io/valkey-go"
)

// The raw baseline: no engine at all. Payloads are RPUSHed to one list; each
// worker goroutine pops one with BLMPOP and acknowledges it with INCR.
const (
	rawList    = "bench:raw:list"
	rawCounter = "bench:raw:done"
	rawStop    = "stop"
)

func fillRaw(ctx context.Context, c valkey.Client, n int, payload []byte) error {
	const batch = 500
	p := valkey.BinaryString(payload)
	for done := 0; done < n; {
		m := min(batch, n-done)
		cmd := c.B().Rpush().Key(rawList).Element(p)
		for range m - 1 {
			cmd = cmd.Element(p)
		}
		if err := c.Do(ctx, cmd.Build()).Error(); err != nil {
			return fmt.Errorf("RPUSH: %w", err)
		}
		done += m
	}
	return nil
}

// drainRaw pops n items with workers goroutines; each pop is followed by an
// INCR. When the n-th INCR answers, it pushes one stop item per worker.
func drainRaw(ctx context.Context, c valkey.Client, n, workers int) (drainResult, error) {
	return drainLoop(ctx, n, workers, func() (bool, error) {
		v, err := popOne(ctx, c)
		if err != nil || v == rawStop {
			return v == rawStop, err
		}
		return false, c.Do(ctx, c.B().Incr().Key(rawCounter).Build()).Error()
	}, func() error {
		stop := c.B().Rpush().Key(rawList).Element(rawStop)
		for range workers - 1 {
			stop = stop.Element(rawStop)
		}
		return c.Do(ctx, stop.Build()).Error()
	})
}

// popOne runs BLMPOP 5 1 list LEFT COUNT 1 and returns the element.
func popOne(ctx context.Context, c valkey.Client) (string, error) {
	arr, err := c.Do(ctx, c.B().Blmpop().Timeout(5).Numkeys(1).Key(rawList).Left().Count(1).Build()).ToArray()
	if err != nil {
		return "", fmt.Errorf("BLMPOP: %w", err)
	}
	if len(arr) != 2 {
		return "", fmt.Errorf("BLMPOP: reply of %d elements", len(arr))
	}
	v, err := arr[1].AsStrSlice()
	if err != nil || len(v) != 1 {
		return "", fmt.Errorf("BLMPOP: elements %v: %v", v, err)
	}
	return v[0], nil
}
