package embedded_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

func start(t testing.TB, opts ...embedded.Option) (*embedded.Server, valkey.Client) {
	t.Helper()
	s, err := embedded.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return s, c
}

func do(t testing.TB, c valkey.Client, args ...string) valkey.ValkeyResult {
	t.Helper()
	return c.Do(context.Background(), c.B().Arbitrary(args...).Build())
}

func load(t testing.TB, c valkey.Client, src string) {
	t.Helper()
	if err := do(t, c, "FUNCTION", "LOAD", "REPLACE", src).Error(); err != nil {
		t.Fatalf("FUNCTION LOAD: %v", err)
	}
}

// The whole FlowFabric library loads and answers through the generated client.
func TestFlowFabricLibrary(t *testing.T) {
	_, c := start(t)
	ctx := context.Background()
	if err := ffscripts.Load(ctx, c); err != nil {
		t.Fatalf("ffscripts.Load: %v", err)
	}
	got, err := ffscripts.New(c).Version(ctx, ffscripts.VersionKeys{}, ffscripts.VersionArgs{})
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if got != ffscripts.LibraryVersion {
		t.Errorf("Version = %q, want %q", got, ffscripts.LibraryVersion)
	}
	// A second Load finds the version in place and changes nothing.
	if err := ffscripts.Load(ctx, c); err != nil {
		t.Fatalf("second ffscripts.Load: %v", err)
	}
}

const counterLib = `#!lua name=counter
redis.register_function('bump', function(keys, args)
  -- read, compute, write: only atomic if nothing runs in between
  local v = tonumber(redis.call('GET', keys[1]) or '0')
  redis.call('SET', keys[1], v + 1)
  redis.call('RPUSH', keys[2], v + 1)
  return v + 1
end)
`

// Concurrent clients: every FCALL is atomic, so no increment is lost and the
// log holds each value exactly once. Run with -race.
func TestAtomicUnderConcurrency(t *testing.T) {
	s, c := start(t)
	load(t, c, counterLib)
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Half the workers use their own client (own connections).
			cl := c
			if w%2 == 1 {
				var err error
				cl, err = valkey.NewClient(s.ClientOption())
				if err != nil {
					errs <- err
					return
				}
				defer cl.Close()
			}
			for range perWorker {
				if err := cl.Do(context.Background(), cl.B().Fcall().Function("bump").Numkeys(2).Key("n", "log").Build()).Error(); err != nil {
					errs <- err
					return
				}
				// Plain commands interleave with functions.
				if err := cl.Do(context.Background(), cl.B().Get().Key("n").Build()).Error(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n, err := do(t, c, "GET", "n").AsInt64()
	if err != nil || n != workers*perWorker {
		t.Fatalf("GET n = %d, %v; want %d", n, err, workers*perWorker)
	}
	logged, err := do(t, c, "LRANGE", "log", "0", "-1").AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]string, workers*perWorker)
	for i := range want {
		want[i] = fmt.Sprint(i + 1)
	}
	if diff := cmp.Diff(want, logged); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}

// A runtime error keeps the writes made before it (no rollback), like Valkey.
func TestNoRollback(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=nr\nredis.register_function('f', function(keys) redis.call('SET', keys[1], 'written') error('late failure') end)")
	err := do(t, c, "FCALL", "f", "1", "k").Error()
	if err == nil || !strings.Contains(err.Error(), "late failure") {
		t.Fatalf("FCALL error = %v, want the late failure", err)
	}
	if got, _ := do(t, c, "GET", "k").ToString(); got != "written" {
		t.Errorf("GET k = %q, want the write made before the error", got)
	}
}

const leaseLib = `#!lua name=lease
redis.register_function('now_ms', function()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end)
redis.register_function('take', function(keys, args)
  return redis.call('SET', keys[1], args[1], 'NX', 'PX', args[2]) and 1 or 0
end)
`

// The clock drives TIME and key expiry, so lease expiry needs no sleeping.
func TestClock(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, c := start(t, embedded.WithTime(t0))
	load(t, c, leaseLib)
	now := func() int64 {
		t.Helper()
		n, err := do(t, c, "FCALL", "now_ms", "0").AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := now(); got != t0.UnixMilli() {
		t.Fatalf("now_ms = %d, want %d", got, t0.UnixMilli())
	}
	take := func(owner string) int64 {
		t.Helper()
		n, err := do(t, c, "FCALL", "take", "1", "lease", owner, "30000").AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if take("a") != 1 {
		t.Fatal("first take failed")
	}
	s.FastForward(29 * time.Second)
	if take("b") != 0 {
		t.Fatal("lease taken over before it expired")
	}
	if got, want := s.Now(), t0.Add(29*time.Second); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	s.FastForward(2 * time.Second)
	if take("b") != 1 {
		t.Fatal("lease not free after its TTL")
	}
	if got := now(); got != t0.Add(31*time.Second).UnixMilli() {
		t.Errorf("now_ms after FastForward = %d, want %d", got, t0.Add(31*time.Second).UnixMilli())
	}
	s.SetTime(t0.Add(time.Hour))
	if take("c") != 1 {
		t.Fatal("lease not free after SetTime past its TTL")
	}
}

// A runaway function is stopped at the busy limit; the server keeps serving.
func TestBusyLimit(t *testing.T) {
	_, c := start(t, embedded.WithBusyLimit(50*time.Millisecond))
	load(t, c, "#!lua name=busy\nredis.register_function('spin', function() while true do end end)\nredis.register_function('spin_pcall', function() while true do pcall(function() while true do end end) end end)\nredis.register_function('ok', function() return 1 end)")
	for _, fn := range []string{"spin", "spin_pcall"} {
		err := do(t, c, "FCALL", fn, "0").Error()
		if err == nil || !strings.Contains(err.Error(), "busy limit") {
			t.Errorf("FCALL %s error = %v, want the busy-limit error", fn, err)
		}
	}
	if n, err := do(t, c, "FCALL", "ok", "0").AsInt64(); err != nil || n != 1 {
		t.Errorf("FCALL ok after a killed function = %d, %v", n, err)
	}
}

func TestLogs(t *testing.T) {
	var out strings.Builder
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	s, c := start(t, embedded.WithLogger(logger))
	load(t, c, "#!lua name=logs\nredis.register_function('f', function() redis.log(redis.LOG_WARNING, 'lease', 42) redis.log(redis.LOG_DEBUG, 'x') end)")
	if err := do(t, c, "FCALL", "f", "0").Error(); err != nil && !valkey.IsValkeyNil(err) {
		t.Fatal(err)
	}
	want := []embedded.LogRecord{{Level: 3, Message: "lease 42"}, {Level: 0, Message: "x"}}
	if diff := cmp.Diff(want, s.Logs()); diff != "" {
		t.Errorf("Logs (-want +got):\n%s", diff)
	}
	wantText := "level=WARN msg=\"lease 42\" source=redis.log\nlevel=DEBUG msg=x source=redis.log\n"
	if diff := cmp.Diff(wantText, out.String()); diff != "" {
		t.Errorf("slog output (-want +got):\n%s", diff)
	}
	s.ClearLogs()
	if got := s.Logs(); len(got) != 0 {
		t.Errorf("Logs after ClearLogs = %v", got)
	}
}

// Bad input gets an error reply, never a panic or a dead connection.
func TestBadInput(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=bad\nredis.register_function('echo', function(keys, args) return redis.call(unpack(args)) end)\nredis.register_function('deep', function() local t = {} t[1] = t return t end)\n"+
		"redis.register_function('huge', function() return string.rep('x', 2^40) end)\n"+
		"redis.register_function('wide', function() return string.format('%999999999d', 1) end)\n"+
		"redis.register_function('unpack', function() return select('#', unpack({}, 1, 1e8)) end)")
	cases := [][]string{
		{"FUNCTION", "LOAD", ""},
		{"FUNCTION", "LOAD", "#!lua name=x\n\x00\xff"},
		{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name={}, callback=1}"},
		{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='a', callback=function() end, flags='no-writes'}"},
		{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='a', callback=function() end, flags={1}}"},
		{"FUNCTION", "LOAD", "#!lua name=x\nlocal function f() return f() + 1 end f()"},
		{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function()"},
		{"FUNCTION"},
		{"FUNCTION", "NOPE"},
		{"FUNCTION", "DELETE"},
		{"FUNCTION", "LIST", "LIBRARYNAME"},
		{"FCALL"},
		{"FCALL", "echo"},
		{"FCALL", "echo", "99999999999999999999"},
		{"FCALL", "echo", "0"},
		{"FCALL", "echo", "0", "nosuchcmd"},
		{"FCALL", "echo", "0", "SET"},
		{"FCALL", "echo", "0", "HSET", "h", "f"},
		{"FCALL", "echo", "0", "BLPOP", "l", "0"},
		{"FCALL", "echo", "0", "MULTI"},
		{"FCALL_RO", "echo", "0", "GET", "x"},
		{"FCALL", "huge", "0"},
		{"FCALL", "wide", "0"},
		{"FCALL", "unpack", "0"},
	}
	for _, cmd := range cases {
		err := do(t, c, cmd...).Error()
		if err == nil {
			t.Errorf("%q: no error", cmd)
			continue
		}
		if _, ok := valkey.IsValkeyErr(err); !ok {
			t.Errorf("%q: transport error %v", cmd, err)
		}
	}
	// A table that contains itself converts to nested arrays down to a
	// depth limit, then an error element, as Valkey's stack limit does.
	if _, err := do(t, c, "FCALL", "deep", "0").ToArray(); err != nil {
		t.Errorf("FCALL deep: %v", err)
	}
	if err := do(t, c, "PING").Error(); err != nil {
		t.Fatalf("server unusable after bad input: %v", err)
	}
}

// Functions run on the caller's SELECTed database.
func TestSelectedDB(t *testing.T) {
	s, _ := start(t)
	c, err := valkey.NewClient(func() valkey.ClientOption {
		o := s.ClientOption()
		o.SelectDB = 3
		return o
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	load(t, c, "#!lua name=db\nredis.register_function('set', function(keys) return redis.call('SET', keys[1], 'v') end)")
	if err := do(t, c, "FCALL", "set", "1", "k").Error(); err != nil {
		t.Fatal(err)
	}
	if n, _ := do(t, c, "EXISTS", "k").AsInt64(); n != 1 {
		t.Errorf("key not in db 3")
	}
	other, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n, _ := do(t, other, "EXISTS", "k").AsInt64(); n != 0 {
		t.Errorf("key leaked into db 0")
	}
}

func TestStartTCP(t *testing.T) {
	s, err := embedded.New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{s.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	load(t, c, "#!lua name=tcp\nredis.register_function('f', function() return 'over tcp' end)")
	if got, err := do(t, c, "FCALL", "f", "0").ToString(); err != nil || got != "over tcp" {
		t.Errorf("FCALL over TCP = %q, %v", got, err)
	}
}

// Close returns even while a client waits in a blocking command.
func TestCloseWithBlockedClient(t *testing.T) {
	s, err := embedded.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() {
		done <- c.Do(context.Background(), c.B().Blpop().Key("never").Timeout(0).Build()).Error()
	}()
	// A round trip on another connection gives the BLPOP time to reach the
	// server; Close must return whether or not it is blocked there yet.
	if err := do(t, c, "PING").Error(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := <-done; err == nil {
		t.Error("BLPOP returned no error after Close")
	}
}

// SELECT inside a function lasts for that call only.
func TestSelectInsideFunction(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=sel\nredis.register_function('f', function(keys) redis.call('SELECT', 1) redis.call('SET', keys[1], 'db1') end)\nredis.register_function('g', function(keys) return redis.call('GET', keys[1]) end)")
	if err := do(t, c, "FCALL", "f", "1", "k").Error(); err != nil && !valkey.IsValkeyNil(err) {
		t.Fatal(err)
	}
	if err := do(t, c, "FCALL", "g", "1", "k").Error(); !valkey.IsValkeyNil(err) {
		t.Errorf("GET k on db 0 after a function selected db 1: %v, want nil", err)
	}
	if n, _ := do(t, c, "EXISTS", "k").AsInt64(); n != 0 {
		t.Errorf("key written to db 0")
	}
}

// Servers share compiled library bodies; running them side by side is safe.
func TestServersShareCompiledLibrary(t *testing.T) {
	var clients []valkey.Client
	for range 3 {
		_, c := start(t)
		clients = append(clients, c)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ffscripts.Load(context.Background(), c); err != nil {
				t.Error(err)
				return
			}
			for range 20 {
				if _, err := ffscripts.New(c).Version(context.Background(), ffscripts.VersionKeys{}, ffscripts.VersionArgs{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// With the wall clock, keys expire as real time passes (the engine advances
// TTLs itself, at millisecond resolution).
func TestWallClockExpiry(t *testing.T) {
	_, c := start(t)
	if err := do(t, c, "SET", "k", "v", "PX", "1").Error(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // only needs to exceed the 1ms TTL
	if n, _ := do(t, c, "EXISTS", "k").AsInt64(); n != 0 {
		t.Error("key with PX 1 still exists 5ms later")
	}
}

// TTLs follow FastForward, and PEXPIREAT is measured against the set clock.
func TestFrozenClockTTL(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s, c := start(t, embedded.WithTime(t0))
	do(t, c, "SET", "a", "1", "EX", "30")
	do(t, c, "SET", "b", "1")
	do(t, c, "PEXPIREAT", "b", fmt.Sprint(t0.Add(time.Minute).UnixMilli()))
	s.FastForward(10 * time.Second)
	got := []int64{}
	for _, k := range []string{"a", "b"} {
		n, err := do(t, c, "PTTL", k).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if diff := cmp.Diff([]int64{20000, 50000}, got); diff != "" {
		t.Errorf("PTTL after FastForward (-want +got):\n%s", diff)
	}
}
