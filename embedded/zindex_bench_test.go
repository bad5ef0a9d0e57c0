package embedded

import (
	"fmt"
	"strconv"
	"testing"
)

// zBenchLib fills a sorted set, and claims the way the library does: read
// the head, take it out, put it back at the tail.
const zBenchLib = `#!lua name=zbench
redis.register_function('fill', function(keys, args)
  for i = 1, tonumber(args[1]) do
    redis.call('ZADD', keys[1], i, 'e' .. i)
  end
  return tonumber(args[1])
end)
redis.register_function('claim', function(keys, args)
  local head = redis.call('ZRANGE', keys[1], 0, 0)[1]
  redis.call('ZREM', keys[1], head)
  redis.call('ZADD', keys[1], args[1], head)
  return head
end)
`

// BenchmarkZRange measures each sorted-set range read on a set of n members,
// answered from the engine's index and (miniredis) by miniredis itself, as
// before the index existed.
func BenchmarkZRange(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		mid := strconv.Itoa(n / 2)
		reads := []struct {
			name string
			args []string
		}{
			{"head", []string{"ZRANGE", "z", "0", "15"}},
			{"middle", []string{"ZRANGE", "z", mid, strconv.Itoa(n/2 + 15)}},
			{"rev_withscores", []string{"ZREVRANGE", "z", "0", "15", "WITHSCORES"}},
			{"byscore_limit", []string{"ZRANGE", "z", "-inf", mid, "BYSCORE", "LIMIT", "0", "16"}},
			{"revbyscore", []string{"ZREVRANGEBYSCORE", "z", mid, "(" + strconv.Itoa(n/2-16)}},
			{"rank", []string{"ZRANK", "z", "e" + mid}},
			{"count", []string{"ZCOUNT", "z", "(0", mid}},
		}
		for _, mode := range []string{"index", "miniredis"} {
			b.Run(fmt.Sprintf("n=%d/%s", n, mode), func(b *testing.B) {
				s, e := newEmbeddedEngine(b)
				call := func(args ...string) string {
					out, err := e.raw.do(args...)
					if err != nil {
						b.Fatal(err)
					}
					return out
				}
				call("FUNCTION", "LOAD", zBenchLib)
				call("FCALL", "fill", "1", "z", strconv.Itoa(n))
				if mode == "miniredis" {
					s.mu.Lock()
					s.z.busy++ // no index is used while busy
					s.mu.Unlock()
				}
				for _, r := range reads {
					b.Run(r.name, func(b *testing.B) {
						for b.Loop() {
							call(r.args...)
						}
					})
				}
				b.Run("claim", func(b *testing.B) {
					for i := n + 1; b.Loop(); i++ {
						call("FCALL", "claim", "1", "z", strconv.Itoa(i))
					}
				})
			})
		}
	}
}
