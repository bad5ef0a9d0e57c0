package embedded_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

// expT0 is the frozen start of the expiry tests, on a whole second.
var expT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func ms(d int64) string  { return strconv.FormatInt(expT0.UnixMilli()+d, 10) }
func sec(d int64) string { return strconv.FormatInt(expT0.Unix()+d, 10) }

// ttlLib sets TTLs from inside a function (redis.call), where the engine
// must keep its index as it does for clients.
const ttlLib = `#!lua name=ttl
redis.register_function('ttl_set', function(keys, args)
  return redis.call('SET', keys[1], 'v', 'PX', args[1])
end)
redis.register_function('ttl_move', function(keys, args)
  redis.call('SET', keys[1], 'v')
  redis.call('PEXPIREAT', keys[1], args[1])
  return redis.call('RENAME', keys[1], keys[2])
end)
redis.register_function('ttl_select', function(keys, args)
  redis.call('SELECT', 2)
  return redis.call('SET', keys[1], 'v', 'PX', args[1])
end)
redis.register_function('probe', function(keys, args)
  local t = redis.call('TIME')
  return {t[1] * 1000 + math.floor(t[2] / 1000), redis.call('EXISTS', keys[1]), redis.call('PTTL', keys[1])}
end)
`

// setupExpiry starts a server frozen at expT0 with ttlLib loaded and runs
// cmds in order on one connection (so MULTI ... EXEC works).
func setupExpiry(t *testing.T, cmds [][]string) (*embedded.Server, valkey.Client) {
	t.Helper()
	s, c := start(t, embedded.WithTime(expT0))
	load(t, c, ttlLib)
	if len(cmds) == 0 {
		return s, c
	}
	var batch valkey.Commands
	for _, a := range cmds {
		batch = append(batch, c.B().Arbitrary(a...).Build())
	}
	for i, r := range c.DoMulti(context.Background(), batch...) {
		if err := r.Error(); err != nil && !valkey.IsValkeyNil(err) {
			t.Fatalf("%q: %v", cmds[i], err)
		}
	}
	return s, c
}

// dbClient is a client of database db (c itself for db 0).
func dbClient(t *testing.T, s *embedded.Server, c valkey.Client, db int) valkey.Client {
	t.Helper()
	if db == 0 {
		return c
	}
	opt := s.ClientOption()
	opt.SelectDB = db
	dc, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dc.Close)
	return dc
}

func ints(t *testing.T, c valkey.Client, cmds ...[]string) []int64 {
	t.Helper()
	out := make([]int64, len(cmds))
	for i, a := range cmds {
		n, err := do(t, c, a...).AsInt64()
		if err != nil {
			t.Fatalf("%q: %v", a, err)
		}
		out[i] = n
	}
	return out
}

// clockMoves are the two ways tests move a frozen clock.
var clockMoves = []struct {
	name string
	to   func(s *embedded.Server, d time.Duration) // to expT0+d
}{
	{"SetTime", func(s *embedded.Server, d time.Duration) { s.SetTime(expT0.Add(d)) }},
	{"FastForward", func(s *embedded.Server, d time.Duration) { s.FastForward(expT0.Add(d).Sub(s.Now())) }},
}

// Every way of setting or carrying a TTL gives the key its exact deadline:
// TTL, PTTL, EXPIRETIME and PEXPIRETIME report it, the key still exists at
// the deadline's millisecond and is gone one millisecond later.
func TestExpiryDeadline(t *testing.T) {
	cases := []struct {
		name  string
		setup [][]string // at expT0
		db    int        // where key k ends up
		ttl   int64      // ms from expT0 to k's deadline
	}{
		{"SET PX", [][]string{{"SET", "k", "v", "PX", "1500"}}, 0, 1500},
		{"SET EX", [][]string{{"SET", "k", "v", "EX", "2"}}, 0, 2000},
		{"SET PXAT", [][]string{{"SET", "k", "v", "PXAT", ms(2500)}}, 0, 2500},
		{"SET EXAT", [][]string{{"SET", "k", "v", "EXAT", sec(3)}}, 0, 3000},
		{"SET NX PX", [][]string{{"SET", "k", "v", "NX", "PX", "1"}}, 0, 1},
		{"SETEX", [][]string{{"SETEX", "k", "4", "v"}}, 0, 4000},
		{"PSETEX", [][]string{{"PSETEX", "k", "1234", "v"}}, 0, 1234},
		{"EXPIRE", [][]string{{"SET", "k", "v"}, {"EXPIRE", "k", "5"}}, 0, 5000},
		{"PEXPIRE", [][]string{{"SET", "k", "v"}, {"PEXPIRE", "k", "777"}}, 0, 777},
		{"EXPIREAT", [][]string{{"SET", "k", "v"}, {"EXPIREAT", "k", sec(6)}}, 0, 6000},
		{"PEXPIREAT", [][]string{{"SET", "k", "v"}, {"PEXPIREAT", "k", ms(888)}}, 0, 888},
		{"PEXPIRE GT", [][]string{{"SET", "k", "v", "PX", "1000"}, {"PEXPIRE", "k", "1900", "GT"}, {"PEXPIRE", "k", "1800", "GT"}}, 0, 1900},
		{"PEXPIRE LT", [][]string{{"SET", "k", "v", "PX", "3000"}, {"PEXPIRE", "k", "1950", "LT"}, {"PEXPIRE", "k", "2500", "LT"}}, 0, 1950},
		{"PEXPIRE NX keeps", [][]string{{"SET", "k", "v", "PX", "1960"}, {"PEXPIRE", "k", "99", "NX"}}, 0, 1960},
		{"renewed", [][]string{{"SET", "k", "v", "PX", "1000"}, {"PEXPIRE", "k", "2000"}, {"PEXPIRE", "k", "1700"}}, 0, 1700},
		{"GETEX PX", [][]string{{"SET", "k", "v"}, {"GETEX", "k", "PX", "999"}}, 0, 999},
		{"GETEX EXAT", [][]string{{"SET", "k", "v"}, {"GETEX", "k", "EXAT", sec(7)}}, 0, 7000},
		{"SET KEEPTTL", [][]string{{"SET", "k", "v", "PX", "1000"}, {"SET", "k", "w", "KEEPTTL"}}, 0, 1000},
		{"RESTORE", [][]string{{"RESTORE", "k", "1600", "payload"}}, 0, 1600},
		{"RESTORE ABSTTL", [][]string{{"RESTORE", "k", ms(1700), "payload", "ABSTTL"}}, 0, 1700},
		{"RENAME", [][]string{{"SET", "a", "v", "PX", "1100"}, {"RENAME", "a", "k"}}, 0, 1100},
		{"RENAMENX", [][]string{{"SET", "a", "v", "PX", "1150"}, {"RENAMENX", "a", "k"}}, 0, 1150},
		{"COPY", [][]string{{"SET", "a", "v", "PX", "1200"}, {"COPY", "a", "k"}}, 0, 1200},
		{"COPY DB", [][]string{{"SET", "a", "v", "PX", "1250"}, {"COPY", "a", "k", "DB", "1"}}, 1, 1250},
		{"MOVE", [][]string{{"SET", "k", "v", "PX", "1300"}, {"MOVE", "k", "1"}}, 1, 1300},
		{"SWAPDB", [][]string{{"SET", "k", "v", "PX", "1350"}, {"SWAPDB", "0", "1"}}, 1, 1350},
		{"recreated after DEL", [][]string{{"SET", "k", "v", "PX", "500"}, {"DEL", "k"}, {"SET", "k", "v", "PX", "1800"}}, 0, 1800},
		{"function SET PX", [][]string{{"FCALL", "ttl_set", "1", "k", "1400"}}, 0, 1400},
		{"function PEXPIREAT and RENAME", [][]string{{"FCALL", "ttl_move", "2", "a", "k", ms(1420)}}, 0, 1420},
		{"function after SELECT", [][]string{{"FCALL", "ttl_select", "1", "k", "1440"}}, 2, 1440},
		{"MULTI", [][]string{{"MULTI"}, {"SET", "k", "v", "PX", "1450"}, {"EXEC"}}, 0, 1450},
		{"MULTI RENAME", [][]string{{"MULTI"}, {"SET", "a", "v", "PX", "1500"}, {"RENAME", "a", "k"}, {"EXEC"}}, 0, 1500},
		{"MULTI SWAPDB", [][]string{{"MULTI"}, {"SET", "k", "v", "PX", "1550"}, {"SWAPDB", "0", "1"}, {"EXEC"}}, 1, 1550},
		{"EVAL", [][]string{{"EVAL", "return redis.call('SET', KEYS[1], 'v', 'PX', ARGV[1])", "1", "k", "1600"}}, 0, 1600},
	}
	for _, mv := range clockMoves {
		for _, tc := range cases {
			t.Run(mv.name+"/"+tc.name, func(t *testing.T) {
				s, c := setupExpiry(t, tc.setup)
				kc := dbClient(t, s, c, tc.db)
				deadline := time.Duration(tc.ttl) * time.Millisecond
				want := []int64{
					tc.ttl, (tc.ttl + 500) / 1000, expT0.UnixMilli() + tc.ttl, (expT0.UnixMilli() + tc.ttl + 500) / 1000,
					1, 0, 0, // at the deadline ms
					0, -2, -2, // one ms later
				}
				got := ints(t, kc, []string{"PTTL", "k"}, []string{"TTL", "k"}, []string{"PEXPIRETIME", "k"}, []string{"EXPIRETIME", "k"})
				mv.to(s, deadline)
				got = append(got, ints(t, kc, []string{"EXISTS", "k"}, []string{"PTTL", "k"}, []string{"TTL", "k"})...)
				mv.to(s, deadline+time.Millisecond)
				got = append(got, ints(t, kc, []string{"EXISTS", "k"}, []string{"PTTL", "k"}, []string{"TTL", "k"})...)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("PTTL TTL PEXPIRETIME EXPIRETIME at T0, EXISTS PTTL TTL at the deadline and 1ms later (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// Commands that drop a TTL leave a key that never expires, whatever the
// index still holds for it; a new expiry that is not in the future deletes
// the key at once.
func TestExpiryDropped(t *testing.T) {
	cases := []struct {
		name   string
		setup  [][]string
		exists int64 // right after setup; a key that exists must have no TTL
	}{
		{"SET overwrites", [][]string{{"SET", "k", "v", "PX", "1000"}, {"SET", "k", "w"}}, 1},
		{"PERSIST", [][]string{{"SET", "k", "v", "PX", "1000"}, {"PERSIST", "k"}}, 1},
		{"GETEX PERSIST", [][]string{{"SET", "k", "v", "PX", "1000"}, {"GETEX", "k", "PERSIST"}}, 1},
		{"GETSET", [][]string{{"SET", "k", "v", "PX", "1000"}, {"GETSET", "k", "w"}}, 1},
		{"recreated without TTL", [][]string{{"SET", "k", "v", "PX", "1000"}, {"DEL", "k"}, {"HSET", "k", "f", "v"}}, 1},
		{"emptied and recreated", [][]string{{"RPUSH", "k", "x"}, {"PEXPIRE", "k", "1000"}, {"LPOP", "k"}, {"RPUSH", "k", "y"}}, 1},
		{"renamed away and back", [][]string{{"SET", "k", "v", "PX", "1000"}, {"RENAME", "k", "a"}, {"SET", "k", "w"}}, 1},
		{"FLUSHALL", [][]string{{"SET", "k", "v", "PX", "1000"}, {"FLUSHALL"}, {"SET", "k", "w"}}, 1},
		{"LMOVE", [][]string{{"RPUSH", "a", "x", "y"}, {"PEXPIRE", "a", "1000"}, {"LMOVE", "a", "k", "LEFT", "LEFT"}}, 1},
		{"SET PXAT now, then created", [][]string{{"SET", "k", "v", "PXAT", ms(0)}, {"HSET", "k", "f", "v"}}, 1},
		{"SET PXAT now", [][]string{{"SET", "k", "v", "PXAT", ms(0)}}, 0},
		{"SET EXAT now", [][]string{{"SET", "k", "v", "EXAT", sec(0)}}, 0},
		{"SET EXAT past", [][]string{{"SET", "k", "v", "EXAT", sec(-10)}}, 0},
		{"PEXPIREAT now", [][]string{{"SET", "k", "v"}, {"PEXPIREAT", "k", ms(0)}}, 0},
		{"EXPIRE negative", [][]string{{"SET", "k", "v"}, {"EXPIRE", "k", "-1"}}, 0},
		{"GETEX PXAT now", [][]string{{"SET", "k", "v"}, {"GETEX", "k", "PXAT", ms(0)}}, 0},
		{"RESTORE ABSTTL now", [][]string{{"RESTORE", "k", ms(0), "payload", "ABSTTL"}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := setupExpiry(t, tc.setup)
			want := []int64{tc.exists, -1, tc.exists, -1}
			if tc.exists == 0 {
				want[1], want[3] = -2, -2
			}
			got := ints(t, c, []string{"EXISTS", "k"}, []string{"PTTL", "k"})
			s.FastForward(time.Hour)
			got = append(got, ints(t, c, []string{"EXISTS", "k"}, []string{"PTTL", "k"})...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("EXISTS PTTL after setup and an hour later (-want +got):\n%s", diff)
			}
		})
	}
}

// The embedded RESTORE (of a DUMP payload) keeps the TTL it is given.
func TestExpiryDumpRestore(t *testing.T) {
	s, c := setupExpiry(t, [][]string{{"HSET", "src", "f", "v"}})
	payload, err := do(t, c, "DUMP", "src").ToString()
	if err != nil {
		t.Fatal(err)
	}
	if err := do(t, c, "RESTORE", "k", "1250", payload).Error(); err != nil {
		t.Fatal(err)
	}
	got := ints(t, c, []string{"PTTL", "k"})
	s.SetTime(expT0.Add(1250 * time.Millisecond))
	got = append(got, ints(t, c, []string{"EXISTS", "k"})...)
	s.SetTime(expT0.Add(1251 * time.Millisecond))
	got = append(got, ints(t, c, []string{"EXISTS", "k"})...)
	if diff := cmp.Diff([]int64{1250, 1, 0}, got); diff != "" {
		t.Errorf("PTTL, EXISTS at the deadline and 1ms later (-want +got):\n%s", diff)
	}
}

// Inside a function time stands still: a key that expires while the
// function runs (by the wall clock) is still there for all of it.
func TestExpiryFrozenInFunction(t *testing.T) {
	s, c := setupExpiry(t, [][]string{{"SET", "k", "v", "PX", "10"}})
	load(t, c, `#!lua name=twice
redis.register_function('twice', function(keys)
  local a = redis.call('EXISTS', keys[1])
  local deadline = redis.call('PEXPIRETIME', keys[1])
  return {a, redis.call('EXISTS', keys[1]), redis.call('PTTL', keys[1]), deadline}
end)`)
	s.SetTime(expT0.Add(10 * time.Millisecond))
	got, err := do(t, c, "FCALL", "twice", "1", "k").AsIntSlice()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 1, 0, expT0.UnixMilli() + 10}, got); diff != "" {
		t.Errorf("EXISTS, EXISTS, PTTL, PEXPIRETIME inside the function (-want +got):\n%s", diff)
	}
}

// With the wall clock, every observation of (server time, key) is consistent
// with Valkey's rule: the key exists while now <= deadline, with PTTL
// deadline-now, and is gone once now > deadline. Observations come from one
// function call or one transaction, so time and key state are read at the
// same instant; nothing here depends on how fast the test runs.
func TestExpiryWallClock(t *testing.T) {
	_, c := start(t)
	load(t, c, ttlLib)
	ctx := context.Background()
	for _, via := range []string{"function", "transaction"} {
		t.Run(via, func(t *testing.T) {
			now, err := do(t, c, "FCALL", "probe", "1", "nokey").AsIntSlice()
			if err != nil {
				t.Fatal(err)
			}
			deadline := now[0] + 20
			if err := do(t, c, "SET", "wk", "v", "PXAT", strconv.FormatInt(deadline, 10)).Error(); err != nil {
				t.Fatal(err)
			}
			var atDeadline, after int
			for i := 0; after < 3; i++ {
				if i > 1_000_000 {
					t.Fatal("the server clock did not pass the deadline")
				}
				var obs []int64
				if via == "function" {
					obs, err = do(t, c, "FCALL", "probe", "1", "wk").AsIntSlice()
				} else {
					obs, err = probeMulti(ctx, c, "wk")
				}
				if err != nil {
					t.Fatal(err)
				}
				now, exists, pttl := obs[0], obs[1], obs[2]
				want := []int64{now, 0, -2}
				if now <= deadline {
					want = []int64{now, 1, deadline - now}
				}
				if diff := cmp.Diff(want, obs); diff != "" {
					t.Fatalf("deadline %d: [now EXISTS PTTL] (-want +got):\n%s", deadline, diff)
				}
				if now == deadline && exists == 1 && pttl == 0 {
					atDeadline++
				}
				if now > deadline {
					after++
				}
			}
			t.Logf("observed the key at its deadline ms %d times", atDeadline)
		})
	}
}

// probeMulti reads TIME, EXISTS and PTTL in one transaction.
func probeMulti(ctx context.Context, c valkey.Client, key string) ([]int64, error) {
	res := c.DoMulti(ctx, c.B().Multi().Build(), c.B().Time().Build(), c.B().Exists().Key(key).Build(),
		c.B().Pttl().Key(key).Build(), c.B().Exec().Build())
	arr, err := res[len(res)-1].ToArray()
	if err != nil {
		return nil, err
	}
	if len(arr) != 3 {
		return nil, fmt.Errorf("EXEC: %d replies", len(arr))
	}
	tm, err := arr[0].AsStrSlice()
	if err != nil {
		return nil, err
	}
	sec, _ := strconv.ParseInt(tm[0], 10, 64)
	usec, _ := strconv.ParseInt(tm[1], 10, 64)
	exists, err := arr[1].AsInt64()
	if err != nil {
		return nil, err
	}
	pttl, err := arr[2].AsInt64()
	if err != nil {
		return nil, err
	}
	return []int64{sec*1000 + usec/1000, exists, pttl}, nil
}

// miniredis's EVAL reads the TTLs of the keys a script declares, and the
// keys keep their deadlines afterwards.
func TestExpiryEval(t *testing.T) {
	s, c := setupExpiry(t, [][]string{{"SET", "k", "v", "PX", "1500"}})
	got := ints(t, c, []string{"EVAL", "return redis.call('PTTL', KEYS[1])", "1", "k"}, []string{"PTTL", "k"})
	s.SetTime(expT0.Add(1500 * time.Millisecond))
	got = append(got, ints(t, c, []string{"EXISTS", "k"})...)
	s.SetTime(expT0.Add(1501 * time.Millisecond))
	got = append(got, ints(t, c, []string{"EXISTS", "k"})...)
	if diff := cmp.Diff([]int64{1500, 1500, 1, 0}, got); diff != "" {
		t.Errorf("PTTL in EVAL, PTTL, EXISTS at the deadline and 1ms later (-want +got):\n%s", diff)
	}
}
