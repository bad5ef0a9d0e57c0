// Package valkeytest gives tests a client of the real Valkey servers that `make test`
// starts: VALKEY_ADDR (standalone) and VALKEY_CLUSTER_ADDRS (a 3-primary cluster). Tests
// that need one are skipped, with the variable named, when it is unset.
package valkeytest

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/valkey-io/valkey-go"
)

// Standalone returns a client of VALKEY_ADDR, closed when the test ends.
func Standalone(tb testing.TB) valkey.Client {
	tb.Helper()
	return connect(tb, "VALKEY_ADDR")
}

// Cluster returns a cluster client of VALKEY_CLUSTER_ADDRS, closed when the test ends.
func Cluster(tb testing.TB) valkey.Client {
	tb.Helper()
	return connect(tb, "VALKEY_CLUSTER_ADDRS")
}

func connect(tb testing.TB, env string) valkey.Client {
	tb.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		tb.Skipf("%s is not set: run `make test`, or start Valkey (`make valkey-up`) and export %s", env, env)
	}
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: strings.Split(addr, ","), DisableCache: true})
	if err != nil {
		tb.Fatalf("connecting to %s=%s: %v", env, addr, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// CountingClient wraps a valkey.Client and counts the commands sent through it, by their
// first word or, for container commands, first two words ("FCALL", "FUNCTION LOAD"),
// including those sent through the clients its Nodes returns.
type CountingClient struct {
	valkey.Client
	c *counter
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Counting wraps c.
func Counting(c valkey.Client) *CountingClient {
	return &CountingClient{Client: c, c: &counter{n: map[string]int{}}}
}

// Count returns how many commands named name were sent.
func (cc *CountingClient) Count(name string) int {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	return cc.c.n[name]
}

// Total returns how many commands were sent.
func (cc *CountingClient) Total() int {
	cc.c.mu.Lock()
	defer cc.c.mu.Unlock()
	t := 0
	for _, n := range cc.c.n {
		t += n
	}
	return t
}

func (cc *CountingClient) add(cmd valkey.Completed) {
	words := cmd.Commands()
	name := strings.ToUpper(words[0])
	if (name == "FUNCTION" || name == "CLIENT" || name == "CLUSTER") && len(words) > 1 {
		name += " " + strings.ToUpper(words[1])
	}
	cc.c.mu.Lock()
	cc.c.n[name]++
	cc.c.mu.Unlock()
}

// Do counts cmd and sends it.
func (cc *CountingClient) Do(ctx context.Context, cmd valkey.Completed) valkey.ValkeyResult {
	cc.add(cmd)
	return cc.Client.Do(ctx, cmd)
}

// DoMulti counts cmds and sends them.
func (cc *CountingClient) DoMulti(ctx context.Context, cmds ...valkey.Completed) []valkey.ValkeyResult {
	for _, cmd := range cmds {
		cc.add(cmd)
	}
	return cc.Client.DoMulti(ctx, cmds...)
}

// Nodes wraps every node's client so its commands are counted too.
func (cc *CountingClient) Nodes() map[string]valkey.Client {
	out := map[string]valkey.Client{}
	for addr, n := range cc.Client.Nodes() {
		out[addr] = &CountingClient{Client: n, c: cc.c}
	}
	return out
}
