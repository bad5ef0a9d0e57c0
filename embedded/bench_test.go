package embedded_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/valkey-io/valkey-go"
)

// benchLib is a small claim-like function: a few hash and sorted-set commands.
func benchLib(lib, fn string) string {
	return "#!lua name=" + lib + "\n" + `redis.register_function('` + fn + `', function(keys, args)
  redis.call('HSET', keys[1], 'state', 'claimed', 'owner', args[1], 'epoch', args[2])
  local n = redis.call('HINCRBY', keys[1], 'claims', 1)
  redis.call('ZADD', keys[2], args[2], args[1])
  local score = redis.call('ZSCORE', keys[2], args[1])
  redis.call('ZREM', keys[2], 'nobody')
  return {n, score}
end)`
}

type benchTarget struct {
	name string
	c    valkey.Client
	fn   string
}

// benchTargets returns the embedded engine (in-memory and over loopback TCP)
// and, when VALKEY_ADDR is set, the real server, each with the library loaded.
func benchTargets(b *testing.B) []benchTarget {
	ctx := context.Background()
	suffix := strconv.Itoa(os.Getpid())
	var out []benchTarget
	add := func(name string, c valkey.Client, lib, fn string) {
		if err := c.Do(ctx, c.B().FunctionLoad().Replace().FunctionCode(benchLib(lib, fn)).Build()).Error(); err != nil {
			b.Fatalf("%s: FUNCTION LOAD: %v", name, err)
		}
		b.Cleanup(func() { c.Do(ctx, c.B().FunctionDelete().LibraryName(lib).Build()) })
		out = append(out, benchTarget{name: name, c: c, fn: fn})
	}
	s, err := embedded.New()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	mem, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mem.Close)
	add("embedded", mem, "bench", "bench")
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	tcp, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tcp.Close)
	out = append(out, benchTarget{name: "embedded-tcp", c: tcp, fn: "bench"})
	if addr := os.Getenv("VALKEY_ADDR"); addr != "" {
		c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(c.Close)
		add("valkey", c, "embbench"+suffix, "embbench"+suffix)
	} else {
		b.Log("VALKEY_ADDR is not set: benchmarking the embedded engine only")
	}
	return out
}

func benchCall(b *testing.B, t benchTarget, worker int, i int) {
	key := fmt.Sprintf("{embbench%d}", worker)
	err := t.c.Do(context.Background(), t.c.B().Fcall().Function(t.fn).Numkeys(2).
		Key(key+":h", key+":z").Arg("w"+strconv.Itoa(i%64), strconv.Itoa(i)).Build()).Error()
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFCALL compares the engines in the same run: one client calling
// sequentially, and 16 goroutines sharing the client.
func BenchmarkFCALL(b *testing.B) {
	for _, t := range benchTargets(b) {
		b.Run(t.name+"/sequential", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				benchCall(b, t, 0, i)
			}
		})
		b.Run(t.name+"/parallel16", func(b *testing.B) {
			// RunParallel starts parallelism*GOMAXPROCS goroutines.
			b.SetParallelism(max(1, 16/runtimeProcs()))
			var next int64
			var mu = make(chan struct{}, 1)
			b.RunParallel(func(pb *testing.PB) {
				mu <- struct{}{}
				next++
				w := int(next)
				<-mu
				for i := 0; pb.Next(); i++ {
					benchCall(b, t, w, i)
				}
			})
		})
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkLoadFlowFabric is FUNCTION LOAD REPLACE of the whole FlowFabric
// library (compiled once per process, then taken from the proto cache).
func BenchmarkLoadFlowFabric(b *testing.B) {
	_, c := start(b)
	for b.Loop() {
		if err := c.Do(context.Background(), c.B().FunctionLoad().Replace().FunctionCode(ffscripts.Source()).Build()).Error(); err != nil {
			b.Fatal(err)
		}
	}
}
