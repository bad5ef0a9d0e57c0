package embedded_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/valkey-io/valkey-go"
)

// fillLib creates many keys with a TTL in one command, so that filling does
// not itself pay for expiry on every command.
const fillLib = `#!lua name=fill
redis.register_function('fill', function(keys, args)
  for i = 1, tonumber(args[1]) do
    redis.call('SET', 'fill:' .. i, 'v', 'PX', args[2])
  end
  return tonumber(args[1])
end)
`

// BenchmarkExpiryKeys measures one command (SET with PX on a rotating key)
// on a server that holds n keys with an hour-long TTL. Expiry should cost
// what expires, not what exists: ns/op must not grow with n.
//
//   - wall: the clock follows the wall clock (the demo's and users' case).
//   - frozen: the clock is frozen and moved 1ms before every command, the
//     way tests drive lease expiry.
func BenchmarkExpiryKeys(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		for _, mode := range []string{"wall", "frozen"} {
			b.Run(fmt.Sprintf("keys=%d/%s", n, mode), func(b *testing.B) {
				var opts []embedded.Option
				if mode == "frozen" {
					opts = append(opts, embedded.WithTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
				}
				s, c := start(b, opts...)
				ctx := context.Background()
				load(b, c, fillLib)
				if err := do(b, c, "FCALL", "fill", "0", strconv.Itoa(n), "3600000").Error(); err != nil {
					b.Fatal(err)
				}
				cmd := func(i int) valkey.Completed {
					return c.B().Set().Key("bench:" + strconv.Itoa(i%1000)).Value("v").Px(time.Hour).Build()
				}
				for i := 0; b.Loop(); i++ {
					if mode == "frozen" {
						s.FastForward(time.Millisecond)
					}
					if err := c.Do(ctx, cmd(i)).Error(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
