package embedded

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDifferentialZRange runs the sorted-set range reads the engine answers
// from its index (zindex.go) on Valkey and on the embedded engine, from a
// client (RESP2 and RESP3) and from a function, and requires identical
// replies. The set has ties (ordered by member bytes), infinities and
// members that are prefixes of others; it is read, then changed through
// ZADD flags, ZINCRBY and ZREM (the writes the index follows itself), and
// read again.
func TestDifferentialZRange(t *testing.T) {
	valkeyEngine := newValkeyEngine(t)
	_, emb := newEmbeddedEngine(t)
	r := placeholders(len(diffCases) + 1)
	lib, f, key := r.Replace("{lib}"), r.Replace("{f}"), r.Replace("{k}")
	src := "#!lua name=" + lib + "\nredis.register_function('" + f + "', function(keys, args) return redis.call(unpack(args)) end)"

	scores := []string{"-inf", "-2", "-1.5", "0", "1", "1", "1", "2.5", "3", "+inf"}
	fill := []string{"ZADD", key}
	for i := range 30 {
		m := "m" + strconv.Itoa(i%13)
		if i >= 13 {
			m += "x" + strconv.Itoa(i)
		}
		fill = append(fill, scores[i%len(scores)], m)
	}
	writes := [][]string{
		{"ZADD", key, "NX", "5", "m1", "7", "new"},
		{"ZADD", key, "XX", "CH", "-1", "m2", "4", "absent"},
		{"ZADD", key, "GT", "0", "m3", "9", "m4"},
		{"ZADD", key, "LT", "-9", "m5", "9", "m6"},
		{"ZADD", key, "INCR", "2", "m7"},
		{"ZINCRBY", key, "-3", "m8"},
		{"ZREM", key, "m9", "m10", "nope"},
	}

	var reads [][]string
	idx := []string{"-100", "-31", "-30", "-5", "-1", "0", "1", "5", "29", "30", "100"}
	for _, a := range idx {
		for _, b := range idx {
			reads = append(reads, []string{"ZRANGE", key, a, b}, []string{"ZREVRANGE", key, a, b},
				[]string{"ZRANGE", key, a, b, "REV", "WITHSCORES"})
		}
	}
	// Exclusive infinities are left out: miniredis reads "(+inf" as "+inf".
	bounds := []string{"-inf", "-2", "(-2", "-1.7", "0", "(0", "1", "(1", "2.5", "(3", "+inf"}
	for _, a := range bounds {
		for _, b := range bounds {
			reads = append(reads, []string{"ZRANGEBYSCORE", key, a, b}, []string{"ZREVRANGEBYSCORE", key, b, a, "WITHSCORES"},
				[]string{"ZRANGE", key, a, b, "BYSCORE"}, []string{"ZRANGE", key, b, a, "BYSCORE", "REV"})
		}
	}
	for _, lim := range [][2]string{{"0", "1"}, {"2", "3"}, {"0", "-1"}, {"5", "-1"}, {"-1", "2"}, {"40", "1"}, {"3", "0"}} {
		reads = append(reads, []string{"ZRANGEBYSCORE", key, "-inf", "+inf", "LIMIT", lim[0], lim[1]},
			[]string{"ZREVRANGEBYSCORE", key, "+inf", "(0", "WITHSCORES", "LIMIT", lim[0], lim[1]},
			[]string{"ZRANGE", key, "(-2", "3", "BYSCORE", "LIMIT", lim[0], lim[1], "WITHSCORES"},
			[]string{"ZRANGE", key, "3", "-inf", "BYSCORE", "REV", "LIMIT", lim[0], lim[1]})
	}
	for _, m := range []string{"m0", "m1", "m12", "m3x16", "m9", "new", "nope"} {
		reads = append(reads, []string{"ZRANK", key, m}, []string{"ZREVRANK", key, m},
			[]string{"ZRANK", key, m, "WITHSCORE"}, []string{"ZREVRANK", key, m, "WITHSCORE"})
	}
	for _, a := range bounds {
		for _, b := range bounds {
			reads = append(reads, []string{"ZCOUNT", key, a, b})
		}
	}
	// Errors and forms left to miniredis must still agree.
	reads = append(reads, []string{"ZRANGE", key, "x", "1"}, []string{"ZRANGE", key, "0", "1", "LIMIT", "0", "1"},
		[]string{"ZRANGEBYSCORE", key, "a", "1"}, []string{"ZRANGE", key + "missing", "0", "-1"},
		[]string{"ZRANGEBYSCORE", key, "0", "1", "LIMIT", "x", "1"}, []string{"ZRANGE", key, "0", "1", "BOGUS"})

	run := func(e *engine) (client []any, raw []string, fn []any) {
		if out := e.rawDo(t, "FUNCTION", "LOAD", "REPLACE", src); !strings.HasPrefix(out, "$") {
			t.Fatalf("%s: FUNCTION LOAD: %q", e.name, out)
		}
		defer e.rawDo(t, "FUNCTION", "DELETE", lib)
		defer e.rawDo(t, "DEL", key, key+"missing")
		e.rawDo(t, "DEL", key)
		e.rawDo(t, fill...)
		for round := range 2 {
			for _, q := range reads {
				raw = append(raw, e.rawDo(t, q...))
				if !hasWord(q, "WITHSCORES") {
					// Valkey nests WITHSCORES pairs in RESP3, miniredis
					// does not (raw RESP2 and functions compare them).
					client = append(client, e.do(t, q...))
				}
				fn = append(fn, e.do(t, append([]string{"FCALL", f, "0"}, q...)...))
			}
			if round == 0 {
				for _, w := range writes {
					raw = append(raw, e.rawDo(t, w...))
				}
			}
		}
		return client, raw, fn
	}
	wantClient, wantRaw, wantFn := run(valkeyEngine)
	gotClient, gotRaw, gotFn := run(emb)
	if d := cmp.Diff(wantRaw, gotRaw); d != "" {
		t.Errorf("RESP2 replies differ (-valkey +embedded):\n%s", d)
	}
	if d := cmp.Diff(wantClient, gotClient); d != "" {
		t.Errorf("RESP3 replies differ (-valkey +embedded):\n%s", d)
	}
	if d := cmp.Diff(wantFn, gotFn); d != "" {
		t.Errorf("function replies differ (-valkey +embedded):\n%s", d)
	}
}

// Pins the entries "zset withscores resp3", "zset exclusive inf" and
// "zset nan" of KNOWN_DIFFERENCES.md: miniredis's answers, which the index
// repeats so that a read gives the same reply whichever path serves it.
func TestKnownSortedSetQuirks(t *testing.T) {
	_, e := newEmbeddedEngine(t)
	e.rawDo(t, "ZADD", "z", "1", "a", "+inf", "b", "-inf", "c")
	flat := map[string]any{"Type": "array", "Value": []any{
		map[string]any{"Type": "blob string", "Value": "a"},
		map[string]any{"Type": "float64", "Value": "1"},
	}}
	if d := cmp.Diff(flat, e.do(t, "ZRANGE", "z", "1", "1", "WITHSCORES")); d != "" {
		t.Errorf("RESP3 WITHSCORES (-pinned +got):\n%s", d)
	}
	for _, q := range [][]string{{"ZRANGEBYSCORE", "z", "(-inf", "(+inf"}, {"ZRANGE", "z", "(-inf", "(+inf", "BYSCORE"}} {
		if got := e.rawDo(t, q...); got != "*3\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n" {
			t.Errorf("%q = %q, want the infinities included", q, got)
		}
	}
	if got := e.rawDo(t, "ZADD", "z", "INCR", "-inf", "b"); got != "$4\r\n-nan\r\n" {
		t.Errorf("ZADD INCR -inf on +inf = %q, want a NaN score", got)
	}
	if got := e.rawDo(t, "ZINCRBY", "z", "+inf", "c"); got != "$4\r\n-nan\r\n" {
		t.Errorf("ZINCRBY +inf on -inf = %q, want a NaN score", got)
	}
	e.rawDo(t, "ZADD", "p", "+inf", "m")
	e.rawDo(t, "ZADD", "n", "-inf", "m")
	e.rawDo(t, "ZUNIONSTORE", "u", "2", "p", "n")
	if got := e.rawDo(t, "ZSCORE", "u", "m"); !strings.Contains(got, "nan") {
		t.Errorf("ZUNIONSTORE of +inf and -inf: ZSCORE = %q, want a NaN score", got)
	}
}
