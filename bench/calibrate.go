package main

import (
	"context"
	"fmt"

	"github.com/valkey-io/valkey-go"
)

// calibration is a tiny function library of this program's own, loaded next
// to flowfabric so that every run also measures two reference functions on
// the same server at the same moment: bench_noop (returns 1) and
// bench_claimish (TIME, HGETALL, HSET of 4 fields, ZADD, XADD MAXLEN ~), the
// shapes of ecosystem.md §D.3. Their cost shows how loaded the machine was and
// what a lean function costs per nested command.
const calibration = `#!lua name=ffgobench
redis.register_function('bench_noop', function(keys, args) return 1 end)
redis.register_function('bench_claimish', function(keys, args)
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  redis.call('HGETALL', keys[1])
  redis.call('HSET', keys[1], 'state', 'active', 'owner', args[1], 'lease', args[2], 'at', now)
  redis.call('ZADD', keys[2], now, args[1])
  redis.call('XADD', keys[3], 'MAXLEN', '~', '1000', '*', 'event', 'acquired', 'owner', args[1])
  return 1
end)
`

func loadCalibration(ctx context.Context, c valkey.Client) error {
	err := c.Do(ctx, c.B().FunctionLoad().Replace().FunctionCode(calibration).Build()).Error()
	if err != nil {
		return fmt.Errorf("load calibration library: %w", err)
	}
	return nil
}

// calibrate measures bench_noop and bench_claimish, m calls each.
func calibrate(ctx context.Context, db valkey.Client, m, workers int) ([]fnCost, error) {
	var out []fnCost
	for _, fn := range []string{"bench_noop", "bench_claimish"} {
		fc, err := measure(ctx, db, fn+" (reference)", func() error {
			return parallel(m, workers, func(i int) error {
				w := i % workers
				return db.Do(ctx, db.B().Fcall().Function(fn).Numkeys(3).
					Key(fmt.Sprintf("bench:cal:h:%d", w), "bench:cal:z", "bench:cal:s").
					Arg(fmt.Sprintf("o%d", i), "l").Build()).Error()
			})
		})
		if err != nil {
			return nil, err
		}
		out = append(out, fc)
	}
	return out, nil
}
