package embedded_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/google/go-cmp/cmp"
)

// Pins for the entries of KNOWN_DIFFERENCES.md that the differential table
// cannot express (they need no Valkey). Each test names its entry.

func errText(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	return err.Error()
}

// Entry "blocking commands in scripts".
func TestKnownBlockingInScript(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=blk\nredis.register_function('f', function(keys) return redis.call('BLPOP', keys[1], 0) end)")
	got := errText(t, do(t, c, "FCALL", "f", "1", "l").Error())
	want := "blocking commands are not supported from scripts by the embedded engine script: f, on @user_function:2."
	if got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// Entry "DUMP".
func TestKnownDump(t *testing.T) {
	_, c := start(t)
	do(t, c, "HSET", "h", "b", "2", "a", "1")
	got, err := do(t, c, "DUMP", "h").ToString()
	if err != nil {
		t.Fatal(err)
	}
	if want := "ffgo-embedded-dump:hash:*4;1:a;1:1;1:b;1:2;"; got != want {
		t.Errorf("DUMP = %q, want %q", got, want)
	}
	// RESTORE takes the embedded format back (and only the embedded engine does).
	if err := do(t, c, "RESTORE", "h2", "0", got).Error(); err != nil {
		t.Fatalf("RESTORE: %v", err)
	}
	m, err := do(t, c, "HGETALL", "h2").AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2"}, m); diff != "" {
		t.Errorf("restored hash (-want +got):\n%s", diff)
	}
	if err := do(t, c, "RESTORE", "h2", "0", got).Error(); err == nil || !strings.Contains(err.Error(), "BUSYKEY") {
		t.Errorf("RESTORE onto an existing key = %v, want BUSYKEY", err)
	}
}

// Entry "FUNCTION DUMP, RESTORE, STATS".
func TestKnownFunctionSubcommands(t *testing.T) {
	_, c := start(t)
	for _, sub := range []string{"DUMP", "RESTORE", "STATS"} {
		got := errText(t, do(t, c, "FUNCTION", sub).Error())
		if want := "FUNCTION " + sub + " is not supported by the embedded engine (ffgo/embedded)"; got != want {
			t.Errorf("FUNCTION %s = %q, want %q", sub, got, want)
		}
	}
}

// Entry "FUNCTION LIST order".
func TestKnownFunctionListOrder(t *testing.T) {
	_, c := start(t)
	for _, lib := range []string{"zeta", "alpha", "mid"} {
		load(t, c, "#!lua name="+lib+"\nredis.register_function('"+lib+"_f', function() return 1 end)")
	}
	libs, err := do(t, c, "FUNCTION", "LIST").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range libs {
		m, err := l.AsMap()
		if err != nil {
			t.Fatal(err)
		}
		v := m["library_name"]
		n, _ := v.ToString()
		names = append(names, n)
	}
	if diff := cmp.Diff([]string{"alpha", "mid", "zeta"}, names); diff != "" {
		t.Errorf("FUNCTION LIST order (-want +got):\n%s", diff)
	}
}

// Entry "busy limit": the library body is bounded by the same limit at load.
func TestKnownLoadTimeout(t *testing.T) {
	_, c := start(t, embedded.WithBusyLimit(30*time.Millisecond))
	got := errText(t, do(t, c, "FUNCTION", "LOAD", "#!lua name=slow\nlocal i = 0 while true do i = i + 1 end").Error())
	if want := "Error registering functions: ERR FUNCTION LOAD stopped: the library body ran longer than the busy limit (30ms)"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// Entry "os.clock".
func TestKnownOsClock(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=clk\nredis.register_function('f', function() local a = os.clock() local b = os.clock() return {a >= 0 and 1 or 0, b >= a and 1 or 0} end)")
	got, err := do(t, c, "FCALL", "f", "0").AsIntSlice()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 1}, got); diff != "" {
		t.Errorf("os.clock (-want +got):\n%s", diff)
	}
}

// Entry "reply nesting": a reply nested deeper than 1000 levels ends in an
// error element.
func TestKnownReplyDepth(t *testing.T) {
	_, c := start(t)
	load(t, c, "#!lua name=deep\nredis.register_function('f', function() local t = {} t[1] = t return t end)")
	m, err := do(t, c, "FCALL", "f", "0").ToMessage()
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for m.IsArray() {
		a, _ := m.ToArray()
		if len(a) != 1 {
			t.Fatalf("level %d has %d elements", depth, len(a))
		}
		m = a[0]
		depth++
	}
	if got := errText(t, m.Error()); !strings.Contains(got, "reached lua stack limit") || depth != 1001 {
		t.Errorf("innermost = %q at depth %d, want the stack-limit error at depth 1001", got, depth)
	}
}

// Entry "function names differing in case": Valkey 8.0.1 accepts them in one
// library and then fails an assertion on FUNCTION DELETE (the server exits);
// the embedded engine refuses the second name at load.
func TestKnownCaseVariantFunctions(t *testing.T) {
	_, c := start(t)
	got := errText(t, do(t, c, "FUNCTION", "LOAD", "#!lua name=cv\nredis.register_function('ab_x', function() end)\nredis.register_function('ab_X', function() end)").Error())
	if want := "Error registering functions: ERR Function already exists in the library"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// KNOWN_DIFFERENCES.md "TTL in MULTI": a TTL queued in a transaction is
// answered by miniredis, which rounds down to whole seconds.
func TestKnownTTLInMulti(t *testing.T) {
	_, c := start(t, embedded.WithTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)))
	do(t, c, "SET", "k", "v", "PX", "1500")
	res := c.DoMulti(context.Background(), c.B().Multi().Build(), c.B().Ttl().Key("k").Build(),
		c.B().Pttl().Key("k").Build(), c.B().Exec().Build())
	got, err := res[len(res)-1].AsIntSlice()
	if err != nil {
		t.Fatal(err)
	}
	// Valkey: [2 1500]; outside MULTI the engine answers 2 as well.
	if diff := cmp.Diff([]int64{1, 1500}, got); diff != "" {
		t.Errorf("TTL, PTTL in MULTI (-pinned +got):\n%s", diff)
	}
	if n, _ := do(t, c, "TTL", "k").AsInt64(); n != 2 {
		t.Errorf("TTL outside MULTI = %d, want 2", n)
	}
}

// KNOWN_DIFFERENCES.md "BLMOVE TTL": miniredis's BLMOVE gives a new
// destination the source's TTL; Valkey's does not (nor does LMOVE here).
func TestKnownBlmoveTTL(t *testing.T) {
	_, c := start(t, embedded.WithTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)))
	do(t, c, "RPUSH", "src", "x", "y")
	do(t, c, "PEXPIRE", "src", "100000")
	if err := do(t, c, "BLMOVE", "src", "dst", "LEFT", "LEFT", "0").Error(); err != nil {
		t.Fatal(err)
	}
	if n, _ := do(t, c, "PTTL", "dst").AsInt64(); n != 100000 {
		t.Errorf("PTTL of the destination = %d, pinned 100000 (Valkey: -1)", n)
	}
}
