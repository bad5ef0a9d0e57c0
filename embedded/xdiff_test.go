package embedded

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// streamLib is a library for the stream differentials: f runs its arguments
// as a command; fill recreates a stream from (id, number of fields, field,
// value ...) groups in one call; layout shows where the stream's nodes end,
// destroying it: for each live entry in order, XTRIM MINID ~ <its ID>
// removes the nodes that end before it, so a non-zero count marks the start
// of a node.
const streamLib = `
redis.register_function('{f}', function(keys, args) return redis.call(unpack(args)) end)
redis.register_function('{f}fill', function(keys, args)
  redis.call('DEL', keys[1])
  local i = 1
  while i <= #args do
    local cmd = {'XADD', keys[1], args[i]}
    for j = 1, 2 * tonumber(args[i + 1]) do cmd[#cmd + 1] = args[i + 1 + j] end
    redis.call(unpack(cmd))
    i = i + 2 + 2 * tonumber(args[i + 1])
  end
  return redis.call('XLEN', keys[1])
end)
redis.register_function('{f}layout', function(keys, args)
  local out = {}
  for _, e in ipairs(redis.call('XRANGE', keys[1], '-', '+')) do
    out[#out + 1] = redis.call('XTRIM', keys[1], 'MINID', '~', e[1])
  end
  return out
end)`

// streamEngines loads streamLib on Valkey and on the embedded engine.
func streamEngines(t *testing.T) (engines []*engine, fn, key string) {
	valkeyEngine := newValkeyEngine(t)
	_, emb := newEmbeddedEngine(t)
	r := placeholders(len(diffCases) + 2)
	lib, fn, key := r.Replace("{lib}"), r.Replace("{f}"), r.Replace("{k}")
	src := "#!lua name=" + lib + "\n" + strings.ReplaceAll(streamLib, "{f}", fn)
	engines = []*engine{valkeyEngine, emb}
	for _, e := range engines {
		if out := e.rawDo(t, "FUNCTION", "LOAD", "REPLACE", src); !strings.HasPrefix(out, "$") {
			t.Fatalf("%s: FUNCTION LOAD: %q", e.name, out)
		}
		t.Cleanup(func() { e.rawDo(t, "FUNCTION", "DELETE", lib); e.rawDo(t, "DEL", key) })
	}
	return engines, fn, key
}

// sameOnBoth runs cmds on each engine in turn and fails on the first
// command whose replies differ.
func sameOnBoth(t *testing.T, engines []*engine, what string, cmds ...[]string) {
	t.Helper()
	var want []string
	for i, e := range engines {
		var out []string
		for _, c := range cmds {
			out = append(out, e.rawDo(t, c...))
		}
		if i == 0 {
			want = out
		} else if d := cmp.Diff(want, out); d != "" {
			t.Fatalf("%s: replies to %.300q differ (-valkey +embedded):\n%s", what, cmds, d)
		}
	}
}

// TestDifferentialStreamNodes pins the engine's listpack byte count: a
// stream is filled with entries of one shape after a first entry whose value
// grows a byte at a time, so the first node ends one byte later each time
// and every byte count a node can reach at its limit (4096) is crossed; the
// layout must be Valkey's for each. The shapes cover each element encoding
// (integers of every width, non-canonical numbers kept as strings, the
// string size classes, back-lengths over 127), fields the same as the
// node's first entry's or not, and ID deltas of every width, negative ones
// included.
func TestDifferentialStreamNodes(t *testing.T) {
	if raceEnabled {
		// One connection, one command at a time: nothing for the race
		// detector, which makes the sweep four times slower (make test runs
		// it in its main pass).
		t.Skip("sequential byte sweep: run without -race")
	}
	engines, fn, key := streamEngines(t)
	type shape struct {
		name   string
		values []string // the fill entries' values, fields f0, f1 ... and a 40-byte "pad"
		same   bool     // the first entry has the fill entries' fields (else one field "a")
		msGap  uint64   // the fill entries' ID steps: ms, then seq (restarting at seqGap
		seqGap uint64   // when msGap > 0)
	}
	rep := strings.Repeat
	shapes := []shape{
		{"strings", []string{"some-text"}, true, 0, 1},
		{"strings, other fields than the first entry", []string{"some-text", "x"}, false, 0, 1},
		{"7 and 13-bit ints", []string{"-4096", "4095", "127", "128", "0"}, true, 1, 0},
		{"16-bit ints", []string{"4096", "-4097", "32767", "-32768"}, false, 200, 0},
		{"24-bit ints", []string{"32768", "-32769", "8388607", "-8388608"}, true, 5000, 3},
		{"32-bit ints", []string{"8388608", "-8388609", "2147483647", "-2147483648"}, false, 40000, 0},
		{"64-bit ints", []string{"2147483648", "-2147483649", "9223372036854775807", "-9223372036854775808"}, true, 9000000, 0},
		{"numbers kept as strings", []string{"007", "-0", "+1", "12345678901234567890", "9223372036854775808", " 1", "1.5", "-"}, false, 3000000000, 0},
		{"62 to 65-byte strings", []string{rep("s", 62), rep("s", 63), rep("s", 64), rep("s", 65)}, true, 0, 130},
		{"back-length of 1 and 2 bytes", []string{rep("t", 124), rep("t", 125), rep("t", 126)}, false, 1, 0},
		{"2000-byte strings", []string{rep("u", 2000)}, true, 0, 1},
	}
	for _, sh := range shapes {
		fill := func(values []string) []string {
			out := []string{strconv.Itoa(len(values) + 1)}
			for i, v := range values {
				out = append(out, "f"+strconv.Itoa(i), v)
			}
			return append(out, "pad", rep("p", 40))
		}
		for size := range 131 {
			// The first ID's ms is a 64-bit integer, its delta to
			// the next ones is not.
			args := []string{"FCALL", fn + "fill", "1", key, "5000000000-5", "1", "a", rep("x", size)}
			if sh.same {
				first := fill(sh.values)
				first[len(first)-1] = rep("x", size)
				args = append(args[:5], first...)
			}
			ms, seq := uint64(5000000000), uint64(5)
			for range 150 {
				if sh.msGap > 0 {
					ms, seq = ms+sh.msGap, sh.seqGap
				} else {
					seq += sh.seqGap
				}
				args = append(args, fmt.Sprintf("%d-%d", ms, seq))
				args = append(args, fill(sh.values)...)
			}
			sameOnBoth(t, engines, fmt.Sprintf("%s, first entry %d bytes", sh.name, size),
				args, []string{"FCALL", fn + "layout", "1", key})
		}
	}
}

// TestDifferentialStreamTrim runs random XADD, XDEL and XTRIM sequences,
// from a client and from a function, and requires the same replies and the
// same entries after every command, and the same node layout at the end:
// entries marked deleted by XDEL or by an exact trim, LIMIT, NOMKSTREAM,
// trims in XADD.
func TestDifferentialStreamTrim(t *testing.T) {
	engines, fn, key := streamEngines(t)
	for seed := uint64(1); seed <= 30; seed++ {
		// Odd seeds write small entries only: their nodes end at 100
		// entries, deleted ones included, not at 4096 bytes.
		cmds := streamSequence(rand.New(rand.NewPCG(seed, 11)), key, fn, 250, seed%2 == 1)
		sameOnBoth(t, engines, "reset", []string{"DEL", key})
		for i, c := range cmds {
			sameOnBoth(t, engines, fmt.Sprintf("seed %d, command %d", seed, i),
				c, []string{"XLEN", key}, []string{"XRANGE", key, "-", "+"})
		}
		sameOnBoth(t, engines, fmt.Sprintf("seed %d, layout", seed), []string{"FCALL", fn + "layout", "1", key})
	}

	// A node whose entries are all deleted goes at once: the next entry
	// starts a new one (100 entries more fit in it).
	cmds := [][]string{{"DEL", key}}
	for i := 1; i <= 160; i++ {
		id := strconv.Itoa(i)
		cmds = append(cmds, []string{"XADD", key, id, "a", "1"})
		if i <= 50 {
			cmds = append(cmds, []string{"XDEL", key, id})
		}
	}
	sameOnBoth(t, engines, "node emptied by XDEL", append(cmds, []string{"FCALL", fn + "layout", "1", key})...)

	// Deleted entries still fill their node; TTL commands and RENAME keep
	// the layout.
	sameOnBoth(t, engines, "layout kept", append(holedStream(key),
		[]string{"PEXPIRE", key, "100000"}, []string{"PERSIST", key}, []string{"RENAME", key, key + "2"},
		[]string{"RENAME", key + "2", key}, []string{"XADD", key, "1000", "a", "1"},
		[]string{"FCALL", fn + "layout", "1", key})...)
}

// holedStream makes a stream of 150 small entries whose first node holds 20
// deleted ones.
func holedStream(key string) [][]string {
	cmds := [][]string{{"DEL", key}}
	for i := 1; i <= 150; i++ {
		cmds = append(cmds, []string{"XADD", key, strconv.Itoa(i), "a", "1"})
	}
	for i := 30; i < 50; i++ {
		cmds = append(cmds, []string{"XDEL", key, strconv.Itoa(i)})
	}
	return cmds
}

// Pins the "stream layout rebuilt" entry of KNOWN_DIFFERENCES.md: after a
// write the engine does not follow (here COPY), the layout is rebuilt from
// the live entries, so the entries deleted from the first node no longer
// take room in it. On Valkey the copy keeps its nodes: the first still ends
// after entry 100, so XTRIM MINID ~ 101 removes it (80 live entries).
func TestKnownStreamLayoutRebuilt(t *testing.T) {
	_, e := newEmbeddedEngine(t)
	for _, c := range holedStream("s") {
		e.rawDo(t, c...)
	}
	if got := e.rawDo(t, "XTRIM", "s", "MINID", "~", "101"); got != ":80\r\n" {
		t.Errorf("XTRIM MINID ~ 101 on the tracked stream = %q, want :80 (as Valkey)", got)
	}
	for _, c := range holedStream("s") {
		e.rawDo(t, c...)
	}
	e.rawDo(t, "COPY", "s", "c")
	// Rebuilt: the first node holds the first 100 live entries (1..120).
	if got := e.rawDo(t, "XTRIM", "c", "MINID", "~", "101"); got != ":0\r\n" {
		t.Errorf("XTRIM MINID ~ 101 on the copy = %q, want :0 (the rebuilt layout)", got)
	}
	if got := e.rawDo(t, "XTRIM", "c", "MINID", "~", "121"); got != ":100\r\n" {
		t.Errorf("XTRIM MINID ~ 121 on the copy = %q, want :100 (the rebuilt layout)", got)
	}
	// In a transaction miniredis trims, exactly: Valkey would keep the
	// whole last node (150 - 120 = 30 entries).
	e.rawDo(t, "MULTI")
	e.rawDo(t, "XTRIM", "c", "MAXLEN", "~", "1")
	if got := e.rawDo(t, "EXEC"); got != "*1\r\n:29\r\n" {
		t.Errorf("XTRIM MAXLEN ~ 1 in MULTI = %q, want *1 :29 (an exact trim)", got)
	}
}

// streamSequence makes n commands on one stream with explicit, increasing IDs
// (small: entries of a few bytes).
func streamSequence(rng *rand.Rand, key, fn string, n int, small bool) [][]string {
	fieldSets := [][]string{{"a"}, {"a", "b"}, {"frame_type", "ts", "payload", "encoding", "source", "mode"}, {"b", "a"}}
	values := []string{"", "x", "0", "7", "127", "128", "-1", "-4096", "-4097", "4095", "4096", "32767", "32768",
		"-32769", "8388607", "8388608", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
		"-9223372036854775808", "9223372036854775808", "18446744073709551616", "007", "-0", "+5", " 1", "1.5",
		"12345678901234567890", strings.Repeat("v", 62), strings.Repeat("v", 63), strings.Repeat("v", 64),
		strings.Repeat("w", 200), strings.Repeat("y", 1500), strings.Repeat("z", 4094)}
	if small {
		fieldSets, values = fieldSets[:2], values[:10]
	}
	gaps := []uint64{0, 1, 2, 100, 128, 4096, 40000, 9000000, 3000000000}
	var ms, seq uint64 = 1, 0
	var ids []string
	var cmds [][]string
	trimClause := func() []string {
		var c []string
		if rng.IntN(3) == 0 && len(ids) > 0 {
			c = append(c, "MINID")
		} else {
			c = append(c, "MAXLEN")
		}
		mode := []string{"~", "=", ""}[rng.IntN(3)]
		if mode != "" {
			c = append(c, mode)
		}
		if c[0] == "MINID" {
			c = append(c, ids[rng.IntN(len(ids))])
		} else {
			c = append(c, strconv.Itoa([]int{0, 1, 5, 50, 99, 100, 101, 150, 250, 1000}[rng.IntN(10)]))
		}
		if mode == "~" && rng.IntN(3) == 0 {
			c = append(c, "LIMIT", strconv.Itoa([]int{0, 10, 100, 150, 300}[rng.IntN(5)]))
		}
		return c
	}
	for len(cmds) < n {
		var c []string
		switch k := rng.IntN(20); {
		case k < 14: // XADD, usually without a trim, so the stream grows
			if rng.IntN(4) == 0 {
				ms += gaps[rng.IntN(len(gaps))]
			}
			if g := gaps[rng.IntN(4)]; rng.IntN(3) == 0 {
				ms, seq = ms+1, g
			} else {
				seq++
			}
			id := fmt.Sprintf("%d-%d", ms, seq)
			ids = append(ids, id)
			c = []string{"XADD", key}
			if rng.IntN(8) == 0 {
				c = append(c, "NOMKSTREAM")
			}
			if rng.IntN(6) == 0 {
				c = append(c, trimClause()...)
			}
			c = append(c, id)
			for _, fld := range fieldSets[rng.IntN(len(fieldSets))] {
				c = append(c, fld, values[rng.IntN(len(values))])
			}
		case k < 17 && len(ids) > 0:
			c = []string{"XDEL", key}
			for range 1 + rng.IntN(3) {
				c = append(c, ids[rng.IntN(len(ids))])
			}
		default:
			c = append([]string{"XTRIM", key}, trimClause()...)
		}
		if rng.IntN(5) == 0 {
			c = append([]string{"FCALL", fn, "0"}, c...)
		}
		cmds = append(cmds, c)
	}
	return cmds
}
