package embedded

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// zLib runs any command from a function, so the nested path (redis.call)
// writes and reads sorted sets too.
const zLib = "#!lua name=zt\nredis.register_function('z', function(keys, argv) return redis.call(unpack(argv)) end)\n" +
	"redis.register_function('z1', function(keys, argv) redis.call('SELECT', 1) return redis.call(unpack(argv)) end)"

// TestZIndexMatchesMiniredis runs random writes (sorted-set commands with
// their flags, DEL, RENAME, COPY, SET, SWAPDB, MOVE, EVAL, expiry, from
// clients, in MULTI and through redis.call in db 0 and after SELECT 1) and
// compares every accelerated read, over RESP2, RESP3 and from a function,
// with miniredis's own answer to the same read.
func TestZIndexMatchesMiniredis(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			zIndexProperty(t, seed, 600)
		})
	}
}

// FuzzZIndex is the same check from fuzzed seeds:
// go test -fuzz FuzzZIndex ./embedded
func FuzzZIndex(f *testing.F) {
	f.Add(uint64(0))
	f.Fuzz(func(t *testing.T, seed uint64) {
		zIndexProperty(t, seed, 200)
	})
}

func zIndexProperty(t *testing.T, seed uint64, steps int) {
	s, e := newEmbeddedEngine(t, WithTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if got := e.rawDo(t, "FUNCTION", "LOAD", zLib); got != "$2\r\nzt\r\n" {
		t.Fatalf("FUNCTION LOAD: %q", got)
	}
	r := rand.New(rand.NewPCG(seed, 7))
	keys := []string{"za", "zb", "str"}
	member := func() string { return "m" + strconv.Itoa(r.IntN(40)) }
	score := func() string {
		switch r.IntN(8) {
		case 0:
			return "-inf"
		case 1:
			return "+inf"
		case 2:
			return strconv.FormatFloat(r.Float64()*10-5, 'g', -1, 64)
		case 3:
			return "-0"
		}
		return strconv.Itoa(r.IntN(12) - 3) // many ties: order by member
	}
	bound := func() string {
		b := score()
		if r.IntN(3) == 0 {
			b = "(" + b
		}
		return b
	}
	// Increments stay finite: +inf plus -inf makes a NaN score in miniredis
	// (Valkey refuses it), and miniredis has no stable order for it.
	incr := func() string { return strconv.Itoa(r.IntN(7) - 3) }
	index := func() string { return strconv.Itoa(r.IntN(30) - 15) }
	key := func() string { return keys[r.IntN(len(keys))] }

	write := func() []string {
		k := key()
		switch r.IntN(14) {
		case 0, 1, 2, 3:
			args := []string{"ZADD", k}
			for _, f := range []string{"NX", "XX", "GT", "LT", "CH"} {
				if r.IntN(6) == 0 {
					args = append(args, f)
				}
			}
			for range 1 + r.IntN(4) {
				args = append(args, score(), member())
			}
			return args
		case 4:
			return []string{"ZADD", k, "INCR", incr(), member()}
		case 5, 6:
			args := []string{"ZREM", k}
			for range 1 + r.IntN(3) {
				args = append(args, member())
			}
			return args
		case 7:
			return []string{"ZINCRBY", k, incr(), member()}
		case 8:
			return []string{[]string{"ZPOPMIN", "ZPOPMAX"}[r.IntN(2)], k, strconv.Itoa(r.IntN(3))}
		case 9:
			return []string{"ZREMRANGEBYSCORE", k, bound(), bound()}
		case 10:
			return []string{[]string{"DEL", "RENAME", "COPY"}[r.IntN(3)], k, key()}
		case 11:
			// (not SUM: miniredis makes NaN of +inf plus -inf)
			return []string{"ZUNIONSTORE", k, "2", key(), key(), "AGGREGATE", []string{"MIN", "MAX"}[r.IntN(2)]}
		case 12:
			switch r.IntN(6) {
			case 0:
				return []string{"SWAPDB", "0", "1"}
			case 1:
				return []string{"MOVE", k, "1"}
			case 2:
				return []string{"PEXPIRE", k, strconv.Itoa(r.IntN(4))} // the loop moves the clock
			case 3:
				return []string{"EVAL", "return redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])", "1", k, score(), member()}
			case 4:
				return []string{"FCALL", "z1", "0", "ZADD", k, score(), member()} // in db 1
			}
			return []string{"SET", k, "v"}
		}
		return []string{"ZREMRANGEBYRANK", k, index(), index()}
	}
	read := func() []string {
		k := keys[r.IntN(2)]
		var args []string
		switch r.IntN(9) {
		case 6:
			return []string{"ZCOUNT", k, bound(), bound()}
		case 7, 8:
			args = []string{[]string{"ZRANK", "ZREVRANK"}[r.IntN(2)], k, member()}
			if r.IntN(2) == 0 {
				args = append(args, "WITHSCORE")
			}
			return args
		case 0:
			args = []string{"ZRANGE", k, index(), index()}
		case 1:
			args = []string{"ZREVRANGE", k, index(), index()}
		case 2:
			args = []string{"ZRANGEBYSCORE", k, bound(), bound()}
		case 3:
			args = []string{"ZREVRANGEBYSCORE", k, bound(), bound()}
		case 4:
			args = []string{"ZRANGE", k, bound(), bound(), "BYSCORE"}
		default:
			args = []string{"ZRANGE", k, index(), index()}
			if r.IntN(2) == 0 {
				args = append(args, "REV")
			}
		}
		if args[0] != "ZREVRANGE" && r.IntN(3) == 0 &&
			(args[0] != "ZRANGE" || slices.Contains(args, "BYSCORE")) {
			args = append(args, "LIMIT", strconv.Itoa(r.IntN(6)-1), strconv.Itoa(r.IntN(6)-2))
		}
		if r.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return args
	}
	fcall := func(args []string) []string {
		return append([]string{"FCALL", "z", "0"}, args...)
	}
	// answers reads the three ways with or without the index.
	answers := func(args []string, useIndex bool) []any {
		if !useIndex {
			s.mu.Lock()
			s.z.busy++
			s.mu.Unlock()
			defer func() {
				s.mu.Lock()
				s.z.busy--
				s.mu.Unlock()
			}()
		}
		return []any{e.rawDo(t, args...), e.do(t, args...), e.do(t, fcall(args)...)}
	}

	for step := range steps {
		w := write()
		switch {
		case w[0] == "SWAPDB" || w[0] == "MOVE" || w[0] == "EVAL" || w[0] == "FCALL":
			e.rawDo(t, w...)
		case r.IntN(3) == 0:
			w = fcall(w)
			e.rawDo(t, w...)
		case r.IntN(5) == 0:
			// In a transaction: miniredis runs it at EXEC.
			e.rawDo(t, "MULTI")
			e.rawDo(t, w...)
			e.rawDo(t, "EXEC")
		default:
			e.rawDo(t, w...)
		}
		if r.IntN(3) == 0 {
			s.FastForward(time.Duration(r.IntN(3)) * time.Millisecond)
		}
		for range 3 {
			q := read()
			if r.IntN(4) == 0 {
				q = append([]string{"FCALL", "z1", "0"}, q...) // read db 1
			}
			got, want := answers(q, true), answers(q, false)
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("step %d after %q: %q: index differs from miniredis (-miniredis +index):\n%s", step, w, q, d)
			}
		}
		checkIndexes(t, s)
	}
}

// checkIndexes compares every index with miniredis's data, entry by entry.
func checkIndexes(t *testing.T, s *Server) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, z := range s.z.idx {
		set, err := s.mr.DB(k.db).SortedSet(k.key)
		if err != nil {
			t.Fatalf("index of %v kept for a key that is not a sorted set: %v", k, err)
		}
		want := newZindex(set)
		if want == nil {
			t.Fatalf("index of %v kept for a set with a NaN score", k)
		}
		var got, exp []string
		z.each(0, z.len(), false, func(e zentry) { got = append(got, fmt.Sprint(e.member, e.score)) })
		want.each(0, want.len(), false, func(e zentry) { exp = append(exp, fmt.Sprint(e.member, e.score)) })
		if d := cmp.Diff(exp, got); d != "" {
			t.Fatalf("index of %v is stale (-miniredis +index):\n%s", k, d)
		}
		for i, b := range z.blocks {
			if len(b) == 0 || len(b) > zblockMax {
				t.Fatalf("index of %v: block %d holds %d entries", k, i, len(b))
			}
		}
	}
}

// A set holding a NaN score is left to miniredis.
func TestZIndexNaN(t *testing.T) {
	if z := newZindex(map[string]float64{"a": 1, "b": math.NaN()}); z != nil {
		t.Fatal("indexed a set with a NaN score")
	}
	z := newZindex(map[string]float64{"a": 1})
	if z.set("b", math.NaN(), true) {
		t.Fatal("set accepted a NaN score")
	}
}

// TestZIndexLargeBlocks drives one set through block splits and removals.
func TestZIndexLargeBlocks(t *testing.T) {
	set := map[string]float64{}
	z := newZindex(set)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		m := "m" + strconv.Itoa(r.IntN(5000))
		if r.IntN(3) == 0 {
			delete(set, m)
			z.set(m, 0, false)
		} else {
			sc := float64(r.IntN(100))
			set[m] = sc
			z.set(m, sc, true)
		}
		if i%997 == 0 || i == 19999 {
			want := newZindex(set)
			var got, exp []zentry
			z.each(0, z.len(), false, func(e zentry) { got = append(got, e) })
			want.each(0, want.len(), false, func(e zentry) { exp = append(exp, e) })
			if d := cmp.Diff(exp, got, cmp.AllowUnexported(zentry{})); d != "" {
				t.Fatalf("after %d writes (-want +got):\n%s", i, d)
			}
			var rev []zentry
			z.each(0, z.len(), true, func(e zentry) { rev = append(rev, e) })
			slices.Reverse(rev)
			if d := cmp.Diff(exp, rev, cmp.AllowUnexported(zentry{})); d != "" {
				t.Fatalf("backwards after %d writes (-want +got):\n%s", i, d)
			}
		}
	}
}

// Every form the index should answer reaches it (a read that falls back to
// miniredis builds no index), and the forms it leaves alone do not.
func TestZIndexAnswers(t *testing.T) {
	s, e := newEmbeddedEngine(t)
	e.rawDo(t, "ZADD", "z", "1", "a", "2", "b", "3", "c")
	for _, c := range []struct {
		args []string
		used bool
	}{
		{[]string{"ZRANGE", "z", "0", "-1"}, true},
		{[]string{"ZRANGE", "z", "0", "-1", "REV", "WITHSCORES"}, true},
		{[]string{"ZRANGE", "z", "-inf", "(2", "BYSCORE"}, true},
		{[]string{"ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "1"}, true},
		{[]string{"ZREVRANGE", "z", "0", "1", "withscores"}, true},
		{[]string{"ZRANGEBYSCORE", "z", "1", "3", "WITHSCORES", "LIMIT", "0", "2"}, true},
		{[]string{"ZREVRANGEBYSCORE", "z", "3", "1"}, true},
		{[]string{"ZRANK", "z", "b"}, true},
		{[]string{"ZREVRANK", "z", "nope", "withscore"}, true},
		{[]string{"ZCOUNT", "z", "(1", "+inf"}, true},
		{[]string{"ZRANK", "z", "withscore"}, false},
		{[]string{"ZRANGE", "z", "[a", "[b", "BYLEX"}, false},
		{[]string{"ZRANGE", "z", "0", "1", "LIMIT", "0", "1"}, false},
		{[]string{"ZRANGEBYSCORE", "z", "nan", "1"}, false},
		{[]string{"ZRANGEBYSCORE", "z", "", "1"}, false},
	} {
		s.mu.Lock()
		clear(s.z.idx)
		s.mu.Unlock()
		e.rawDo(t, c.args...)
		s.mu.Lock()
		used := s.z.idx[dbKey{0, "z"}] != nil
		s.mu.Unlock()
		if used != c.used {
			t.Errorf("%q: answered from the index = %v, want %v", c.args, used, c.used)
		}
	}
}

// A client blocked in BZPOPMIN pops outside the engine lock: meanwhile no
// index is used, and afterwards the popped set is read right.
func TestZIndexBlockingPop(t *testing.T) {
	s, e := newEmbeddedEngine(t)
	nc, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	blocked := newRawConn(nc)
	defer nc.Close()
	done := make(chan string)
	go func() {
		out, err := blocked.do("BZPOPMIN", "zb", "0")
		if err != nil {
			out = err.Error()
		}
		done <- out
	}()
	for {
		s.mu.Lock()
		busy := s.z.busy
		s.mu.Unlock()
		if busy > 0 {
			break
		}
		runtime.Gosched()
	}
	e.rawDo(t, "ZADD", "zb", "1", "x", "2", "y")
	e.rawDo(t, "ZRANGE", "zb", "0", "-1") // x may or may not be popped yet
	if got := <-done; got != "*3\r\n$2\r\nzb\r\n$1\r\nx\r\n$1\r\n1\r\n" {
		t.Fatalf("BZPOPMIN = %q", got)
	}
	if got := e.rawDo(t, "ZRANGE", "zb", "0", "-1"); got != "*1\r\n$1\r\ny\r\n" {
		t.Errorf("ZRANGE after the pop = %q, want y alone", got)
	}
	checkIndexes(t, s)
}
