package conformance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// A Scenario is one named contract check. It drives the library only through the
// generated ffscripts calls and asserts replies and the resulting state.
type Scenario struct {
	Name     string // e.g. "claim/complete"
	Contract string // "claim" or "signal"
	// Time says how the scenario handles expiry: "" (nothing expires), "poll" (tiny TTLs
	// and a deadline-bounded poll of the server clock; runs everywhere) or "clock" (only
	// where the target's clock can be moved, i.e. embedded).
	Time string
	// Pins names the documented deviations (lua/DEVIATIONS.md) and known engine
	// differences (embedded/KNOWN_DIFFERENCES.md) this scenario's expectations encode.
	Pins []string
	Run  func(s *S)
}

// Result is the outcome of one scenario on one target.
type Result struct {
	Scenario string
	Target   string
	Status   string // "pass", "fail" or "skip"
	Detail   string // the first difference (fail) or the reason (skip)
	Elapsed  time.Duration
	// Partition is the partition the scenario worked in (its slot decides the shard).
	Partition keyspace.Partition
}

// Failure is the first difference a scenario found.
type Failure struct {
	Scenario string
	Step     string
	Msg      string
}

func (f *Failure) Error() string {
	return fmt.Sprintf("scenario %s: %s: %s", f.Scenario, f.Step, f.Msg)
}

// abort unwinds a scenario at its first difference.
type abort struct{ f *Failure }

// S is the state of one scenario run: the target, a private partition and lane, and the
// time windows of the calls made so far.
type S struct {
	ctx  context.Context
	T    *Target
	C    *ffscripts.Client
	P    keyspace.Partition
	Lane string

	name    string
	step    string
	windows map[string]window
	rng     *rand.Rand
}

// window is the server time before and after a call (ms, inclusive).
type window struct{ lo, hi int64 }

// RunScenario runs sc on t. slotBucket spreads scenarios over a cluster's slot ranges:
// the partition is chosen so that its slot falls in the bucket-th third of the slot space.
func RunScenario(ctx context.Context, t *Target, sc Scenario, slotBucket int) (res Result) {
	start := time.Now()
	res = Result{Scenario: sc.Name, Target: t.Name, Status: "pass"}
	if sc.Time == "clock" && !t.CanMoveClock() {
		res.Status, res.Detail = "skip", "needs a movable clock (embedded only)"
		return res
	}
	s := &S{ctx: ctx, T: t, C: ffscripts.New(t.Client), name: sc.Name, step: "setup",
		windows: map[string]window{}, rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	s.P = pickPartition(s.rng, slotBucket)
	s.Lane = "lane-" + uuid.NewString()[:8]
	defer func() {
		res.Elapsed = time.Since(start)
		res.Partition = s.P
		switch r := recover().(type) {
		case nil:
		case abort:
			res.Status, res.Detail = "fail", r.f.Error()
		default:
			res.Status, res.Detail = "fail", fmt.Sprintf("scenario %s: %s: panic: %v", sc.Name, s.step, r)
		}
	}()
	sc.Run(s)
	return res
}

// pickPartition returns a random partition whose slot lies in the bucket-th third of
// the slot space (the ranges a 3-primary cluster assigns by default).
func pickPartition(rng *rand.Rand, bucket int) keyspace.Partition {
	b := bucket % 3
	for {
		p := keyspace.Partition(rng.IntN(65536))
		if int(p.Slot())*3/keyspace.NumSlots == b {
			return p
		}
	}
}

// Step names what the scenario does next; failures report it.
func (s *S) Step(name string) { s.step = name }

// Fatalf stops the scenario with a failure at the current step.
func (s *S) Fatalf(format string, args ...any) {
	panic(abort{&Failure{Scenario: s.name, Step: s.step, Msg: fmt.Sprintf(format, args...)}})
}

// now returns the server time in ms.
func (s *S) now() int64 {
	n, err := s.T.NowMs(s.ctx)
	if err != nil {
		s.Fatalf("reading the server clock: %v", err)
	}
	return n
}

// timed runs call and records the server time window around it under name, so
// expectations can say "a timestamp taken during <name>" (see Want).
func (s *S) timed(name string, call func()) {
	lo := s.now()
	call()
	s.windows[name] = window{lo, s.now()}
}

// Advance moves past the server time ms: on a movable clock it sets the clock to ms+1;
// otherwise it polls the server clock until it passes ms (bounded by a deadline).
func (s *S) Advance(ms int64) {
	if e := s.T.Embedded; e != nil {
		if e.Now().UnixMilli() <= ms {
			e.SetTime(time.UnixMilli(ms + 1))
		}
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.now() <= ms {
		if time.Now().After(deadline) {
			s.Fatalf("server clock did not pass %d within 10s", ms)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Eq fails the scenario when got differs from want, with a go-cmp diff.
func (s *S) Eq(what string, want, got any, opts ...cmp.Option) {
	if d := cmp.Diff(want, got, opts...); d != "" {
		s.Fatalf("%s differs (-want +got):\n%s", what, d)
	}
}

// OK fails the scenario when err is not nil.
func (s *S) OK(what string, err error) {
	if err != nil {
		s.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// ErrReply is the comparable form of a {0, code, details...} reply.
type ErrReply struct {
	Function string
	Code     string
	Detail   []string
}

// WantErr fails unless err is the library error fn/code with exactly these details.
// Details may use the time patterns of Want.
func (s *S) WantErr(what string, err error, fn, code string, detail ...string) {
	var fe *ffscripts.Error
	if !errors.As(err, &fe) {
		s.Fatalf("%s: want error %s from %s, got %v", what, code, fn, err)
	}
	got := ErrReply{Function: fe.Function, Code: fe.Code, Detail: fe.Detail}
	want := ErrReply{Function: fn, Code: code, Detail: detail}
	if len(want.Detail) == 0 {
		want.Detail = nil
	}
	if len(got.Detail) == 0 {
		got.Detail = nil
	}
	for i := range want.Detail {
		if i < len(got.Detail) {
			want.Detail[i] = s.resolve(want.Detail[i], got.Detail[i])
		}
	}
	s.Eq(what+" error", want, got)
}

// patternRE matches a time pattern: "~call" or "~call+N" / "~call-N", with an optional
// "text " prefix and " text" suffix around it inside a string.
var patternRE = regexp.MustCompile(`~([a-z_0-9]+)([+-][0-9]+)?`)

// resolve checks got against one expected value. Plain strings are compared as they are.
// A string with time patterns "~name" / "~name+N" matches when got has the same text
// with, in place of each pattern, a decimal ms timestamp inside the server time window
// recorded for call name (plus N). "*" matches anything present. On a match resolve
// returns got, so cmp shows only real differences; otherwise it returns a description.
func (s *S) resolve(want, got string) string {
	if want == "*" {
		return got
	}
	if !strings.Contains(want, "~") {
		return want
	}
	locs := patternRE.FindAllStringSubmatchIndex(want, -1)
	if locs == nil {
		return want
	}
	// Build a regexp of want with each pattern replaced by a number group.
	var re strings.Builder
	re.WriteString("^")
	prev := 0
	for _, l := range locs {
		re.WriteString(regexp.QuoteMeta(want[prev:l[0]]))
		re.WriteString(`(-?[0-9]+)`)
		prev = l[1]
	}
	re.WriteString(regexp.QuoteMeta(want[prev:]) + "$")
	m := regexp.MustCompile(re.String()).FindStringSubmatch(got)
	if m == nil {
		return s.describe(want)
	}
	for i, l := range locs {
		name := want[l[2]:l[3]]
		var off int64
		if l[4] >= 0 {
			off, _ = strconv.ParseInt(want[l[4]:l[5]], 10, 64)
		}
		w, ok := s.windows[name]
		if !ok {
			s.Fatalf("expectation names call %q, which the scenario did not time", name)
		}
		v, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || v < w.lo+off || v > w.hi+off {
			return s.describe(want)
		}
	}
	return got
}

// describe renders an expectation with its windows filled in, for diffs.
func (s *S) describe(want string) string {
	return patternRE.ReplaceAllStringFunc(want, func(p string) string {
		m := patternRE.FindStringSubmatch(p)
		w, ok := s.windows[m[1]]
		if !ok {
			return p
		}
		var off int64
		if m[2] != "" {
			off, _ = strconv.ParseInt(m[2], 10, 64)
		}
		if w.lo == w.hi {
			return strconv.FormatInt(w.lo+off, 10)
		}
		return fmt.Sprintf("[%d..%d]", w.lo+off, w.hi+off)
	})
}

// TS returns got when it is a timestamp taken during call name (plus off), else the
// expected range's low end: use it to fill time fields of an expected reply struct.
func (s *S) TS(name string, off, got int64) int64 {
	w, ok := s.windows[name]
	if !ok {
		s.Fatalf("expectation names call %q, which the scenario did not time", name)
	}
	if got >= w.lo+off && got <= w.hi+off {
		return got
	}
	return w.lo + off
}

// Want compares a hash (or any string map) with an expectation whose values may be time
// patterns (see resolve) or "*".
func (s *S) Want(what string, want, got map[string]string) {
	resolved := make(map[string]string, len(want))
	for k, v := range want {
		if g, ok := got[k]; ok {
			resolved[k] = s.resolve(v, g)
		} else {
			resolved[k] = v
		}
	}
	s.Eq(what, resolved, got)
}
