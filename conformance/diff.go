package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

// Differential mode: seeded random sequences of library calls are applied to a real
// Valkey (the reference) and to the embedded engine side by side. After every step the
// decoded replies and a canonical snapshot of the whole keyspace are compared.
//
// Time. Each step runs on Valkey inside MULTI [TIME, FCALL, TIME] EXEC: Valkey freezes its
// clock for a transaction, so the TIME before the call is the "now" the function saw.
// The embedded engine's clock is then set to that millisecond before it runs the same
// call, so both engines compute with identical times and timestamps compare exactly.
// "Advance" steps let real time pass (a few ms) so short leases, grants and timeouts
// expire. Should the two TIMEs ever differ, the step is ambiguous and a difference found
// there makes the sequence start over instead of failing.
//
// Snapshot. KEYS *, then per key its type, its value (strings, hash maps, sorted set
// members, set members with their scores, stream entries with ids) and its absolute
// expiry; expiries compare within 50 ms, and keys that expire within 50 ms of the
// reference snapshot are left out on both sides. Ids are deterministic from the seed, so
// nothing else needs normalising. Lua runtime errors compare by kind only (their texts
// are a known difference, vm-messages).

// DiffConfig configures a differential run.
type DiffConfig struct {
	Seed      uint64 // seed of the first sequence; sequence i uses Seed+i
	Sequences int    // number of sequences
	Steps     int    // calls per sequence (default 16)
	// Reference is a client of a Valkey server this run may flush (never a shared one).
	Reference valkey.Client
	// RefSource and EmbSource are the libraries loaded on each side ("" = ffscripts.Source()).
	RefSource, EmbSource string
	Log                  io.Writer // per-step trace when not nil
	// ReplayFlags are the ffconform flags a replay of a failure needs beside
	// the seed (-library, -diff-reference), printed in its replay command.
	ReplayFlags string
}

// DiffFailure is the first difference of a differential run.
type DiffFailure struct {
	Seed   uint64
	Step   int      // index of the failing step (0-based)
	Prefix []string // the steps up to and including the failing one
	Msg    string
	// ReplayFlags: see DiffConfig.
	ReplayFlags string
}

func (f *DiffFailure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "differential: seed %d differs at step %d of the sequence (shortest failing prefix: %d steps)\n", f.Seed, f.Step, f.Step+1)
	for i, p := range f.Prefix {
		fmt.Fprintf(&b, "  %3d %s\n", i, p)
	}
	b.WriteString(f.Msg)
	fmt.Fprintf(&b, "\nreplay: go run ./conformance/cmd/ffconform -run '^$' -diff 1 -diff-seed %d -diff-steps %d -v", f.Seed, f.Step+1)
	if f.ReplayFlags != "" {
		b.WriteString(" " + f.ReplayFlags)
	}
	return b.String()
}

// DiffStats summarises a run.
type DiffStats struct {
	Sequences, Steps, Calls int
	Retries                 int // sequences started over (ambiguous time)
	Inconclusive            int // sequences that kept starting over (not failures)
	// Outcomes counts the reference's replies per function: "ok" or the error code.
	Outcomes map[string]map[string]int
}

// Coverage renders Outcomes, one function a line.
func (st DiffStats) Coverage() string {
	var b strings.Builder
	for _, fn := range slices.Sorted(maps.Keys(st.Outcomes)) {
		fmt.Fprintf(&b, "  %-40s", fn)
		for _, o := range slices.Sorted(maps.Keys(st.Outcomes[fn])) {
			fmt.Fprintf(&b, " %s=%d", o, st.Outcomes[fn][o])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

var errAmbiguous = errors.New("ambiguous step")

// RunDiff runs the differential mode. It returns the first failure, if any.
func RunDiff(ctx context.Context, cfg DiffConfig) (DiffStats, error) {
	var st DiffStats
	if cfg.Steps <= 0 {
		cfg.Steps = 16
	}
	if cfg.RefSource == "" {
		cfg.RefSource = ffscripts.Source()
	}
	if cfg.EmbSource == "" {
		cfg.EmbSource = ffscripts.Source()
	}
	ref := cfg.Reference
	if err := loadSource(ctx, ref, cfg.RefSource); err != nil {
		return st, fmt.Errorf("reference: %w", err)
	}
	emb, err := embedded.New(embedded.WithTime(baseTime))
	if err != nil {
		return st, err
	}
	defer emb.Close()
	embC, err := valkey.NewClient(emb.ClientOption())
	if err != nil {
		return st, err
	}
	defer embC.Close()
	if err := loadSource(ctx, embC, cfg.EmbSource); err != nil {
		return st, fmt.Errorf("embedded: %w", err)
	}
	st.Outcomes = map[string]map[string]int{}
	p := &pair{ref: ref, emb: emb, embC: embC, log: cfg.Log, outcomes: st.Outcomes}
	for i := range cfg.Sequences {
		seed := cfg.Seed + uint64(i)
		for try := 0; ; try++ {
			n, calls, err := p.sequence(ctx, seed, cfg.Steps)
			st.Steps += n
			st.Calls += calls
			if errors.Is(err, errAmbiguous) {
				st.Retries++
				if try < 10 {
					continue
				}
				st.Inconclusive++
				err = nil
			}
			if df := (*DiffFailure)(nil); errors.As(err, &df) {
				df.ReplayFlags = cfg.ReplayFlags
			}
			if err != nil {
				return st, err
			}
			break
		}
		st.Sequences++
	}
	return st, nil
}

func loadSource(ctx context.Context, c valkey.Client, src string) error {
	return c.Do(ctx, c.B().FunctionLoad().Replace().FunctionCode(src).Build()).Error()
}

type pair struct {
	ref      valkey.Client
	emb      *embedded.Server
	embC     valkey.Client
	log      io.Writer
	outcomes map[string]map[string]int
}

// sequence runs one seeded sequence; it returns the steps run and the calls made.
func (p *pair) sequence(ctx context.Context, seed uint64, steps int) (int, int, error) {
	for _, c := range []valkey.Client{p.ref, p.embC} {
		if err := c.Do(ctx, c.B().Flushall().Build()).Error(); err != nil {
			return 0, 0, fmt.Errorf("FLUSHALL: %w", err)
		}
	}
	g := newGen(seed)
	var prefix []string
	calls := 0
	for i := 0; i < steps; i++ {
		o := g.next()
		prefix = append(prefix, o.desc)
		if p.log != nil {
			fmt.Fprintf(p.log, "seed %d step %d: %s\n", seed, i, o.desc)
		}
		if o.sleep > 0 {
			time.Sleep(o.sleep)
			continue
		}
		calls++
		msg, ambiguous, err := p.step(ctx, g, o)
		if err != nil {
			return i + 1, calls, fmt.Errorf("seed %d step %d (%s): %w", seed, i, o.desc, err)
		}
		if msg != "" {
			if ambiguous {
				return i + 1, calls, errAmbiguous
			}
			return i + 1, calls, &DiffFailure{Seed: seed, Step: i, Prefix: prefix, Msg: msg}
		}
	}
	return steps, calls, nil
}

// outcome is the comparable result of one call.
type outcome struct {
	Reply any
	Err   *ErrReply
	Other string
}

func toOutcome(r any, err error) outcome {
	if err == nil {
		return outcome{Reply: r}
	}
	var fe *ffscripts.Error
	if errors.As(err, &fe) {
		return outcome{Err: &ErrReply{Function: fe.Function, Code: fe.Code, Detail: fe.Detail}}
	}
	if _, ok := valkey.IsValkeyErr(err); ok {
		return outcome{Other: "server error reply (text not compared: vm-messages)"}
	}
	return outcome{Other: err.Error()}
}

// step runs o on both engines and compares; msg describes the first difference.
// ambiguous says the step's time was not exact.
func (p *pair) step(ctx context.Context, g *gen, o op) (msg string, ambiguous bool, err error) {
	return p.compare(ctx, g, o)
}

func (p *pair) compare(ctx context.Context, g *gen, o op) (msg string, ambiguous bool, err error) {
	rc := p.ref
	res := rc.DoMulti(ctx, rc.B().Multi().Build(), rc.B().Time().Build(), o.build(rc), rc.B().Time().Build(), rc.B().Exec().Build())
	arr, err := res[len(res)-1].ToArray()
	if err != nil || len(arr) != 3 {
		return "", false, fmt.Errorf("MULTI/EXEC on the reference: %v (%d replies)", err, len(arr))
	}
	t0, err := timeMs(arr[0])
	if err != nil {
		return "", false, err
	}
	t1, err := timeMs(arr[2])
	if err != nil {
		return "", false, err
	}
	ambiguous = t0 != t1
	refR, refErr := o.parse(valkey.NewResult(arr[1], nil))
	p.count(o.fn, refErr)
	g.now = t0
	if o.seen != nil {
		o.seen(refR, refErr)
	}
	p.emb.SetTime(time.UnixMilli(t0))
	embR, embErr := o.parse(p.embC.Do(ctx, o.build(p.embC)))
	if d := cmp.Diff(toOutcome(refR, refErr), toOutcome(embR, embErr)); d != "" {
		return fmt.Sprintf("%s reply differs (-valkey +embedded):\n%s", o.fn, d), ambiguous, nil
	}
	refSnap, refNow, err := snapshot(ctx, p.ref, 0)
	if err != nil {
		return "", false, fmt.Errorf("reference snapshot: %w", err)
	}
	embSnap, _, err := snapshot(ctx, p.embC, t0)
	if err != nil {
		return "", false, fmt.Errorf("embedded snapshot: %w", err)
	}
	for k, v := range refSnap {
		if v.ExpireAt > 0 && int64(v.ExpireAt) <= refNow+ttlTolerance {
			delete(refSnap, k)
			delete(embSnap, k)
		}
	}
	for k, v := range embSnap {
		if v.ExpireAt > 0 && int64(v.ExpireAt) <= refNow+ttlTolerance {
			delete(refSnap, k)
			delete(embSnap, k)
		}
	}
	if d := cmp.Diff(refSnap, embSnap, cmp.Comparer(func(a, b expireAt) bool {
		return a == b || (a > 0 && b > 0 && a-b <= ttlTolerance && b-a <= ttlTolerance)
	})); d != "" {
		return fmt.Sprintf("keyspace after %s differs (-valkey +embedded):\n%s", o.fn, d), ambiguous, nil
	}
	return "", ambiguous, nil
}

func (p *pair) count(fn string, err error) {
	if p.outcomes[fn] == nil {
		p.outcomes[fn] = map[string]int{}
	}
	key := "ok"
	var fe *ffscripts.Error
	if errors.As(err, &fe) {
		key = fe.Code
	} else if err != nil {
		key = "other_error"
	}
	p.outcomes[fn][key]++
}

const ttlTolerance = 50

func timeMs(m valkey.ValkeyMessage) (int64, error) {
	v, err := m.AsStrSlice()
	if err != nil || len(v) != 2 {
		return 0, fmt.Errorf("TIME reply: %v", err)
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	usec, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("TIME reply %q", v)
	}
	return sec*1000 + usec/1000, nil
}

// expireAt is an absolute expiry in ms, 0 for none.
type expireAt int64

// keySnap is one key of a canonical snapshot.
type keySnap struct {
	Type     string
	Value    any
	ExpireAt expireAt
}

// snapshot reads the whole keyspace. now is the engine's time (0: ask TIME in the same
// pipeline); it is returned, for the caller to set aside keys about to expire.
func snapshot(ctx context.Context, c valkey.Client, now int64) (map[string]keySnap, int64, error) {
	keys, err := c.Do(ctx, c.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		return nil, 0, fmt.Errorf("KEYS: %w", err)
	}
	slices.Sort(keys)
	cmds := make(valkey.Commands, 0, len(keys))
	for _, k := range keys {
		cmds = append(cmds, c.B().Type().Key(k).Build())
	}
	types := make([]string, len(keys))
	for i, r := range c.DoMulti(ctx, cmds...) {
		if types[i], err = r.ToString(); err != nil {
			return nil, 0, fmt.Errorf("TYPE %s: %w", keys[i], err)
		}
	}
	cmds = valkey.Commands{c.B().Time().Build()}
	for i, k := range keys {
		switch types[i] {
		case "string":
			cmds = append(cmds, c.B().Get().Key(k).Build())
		case "hash":
			cmds = append(cmds, c.B().Hgetall().Key(k).Build())
		case "set":
			cmds = append(cmds, c.B().Smembers().Key(k).Build())
		case "zset":
			cmds = append(cmds, c.B().Zrange().Key(k).Min("0").Max("-1").Withscores().Build())
		case "list":
			cmds = append(cmds, c.B().Lrange().Key(k).Start(0).Stop(-1).Build())
		case "stream":
			cmds = append(cmds, c.B().Xrange().Key(k).Start("-").End("+").Build())
		default:
			cmds = append(cmds, c.B().Type().Key(k).Build())
		}
		// The absolute expiry, so that a server slow to answer the pipeline
		// (a busy machine) does not move it, as now + PTTL would.
		cmds = append(cmds, c.B().Pexpiretime().Key(k).Build())
	}
	res := c.DoMulti(ctx, cmds...)
	if now == 0 {
		m, err := res[0].ToMessage()
		if err != nil {
			return nil, 0, err
		}
		if now, err = timeMs(m); err != nil {
			return nil, 0, err
		}
	}
	out := make(map[string]keySnap, len(keys))
	for i, k := range keys {
		r, atR := res[1+2*i], res[2+2*i]
		ks := keySnap{Type: types[i]}
		switch types[i] {
		case "string":
			ks.Value, err = r.ToString()
		case "hash":
			ks.Value, err = r.AsStrMap()
		case "set":
			var m []string
			m, err = r.AsStrSlice()
			slices.Sort(m)
			ks.Value = m
		case "zset":
			var zs []valkey.ZScore
			zs, err = r.AsZScores()
			var v []string
			for _, z := range zs {
				v = append(v, z.Member+" "+fmtScore(z.Score))
			}
			ks.Value = v
		case "list":
			ks.Value, err = r.AsStrSlice()
		case "stream":
			var es []valkey.XRangeEntry
			es, err = r.AsXRange()
			var v []string
			for _, e := range es {
				fields := make([]string, 0, 2*len(e.FieldValues))
				for _, f := range slices.Sorted(mapKeys(e.FieldValues)) {
					fields = append(fields, f+"="+e.FieldValues[f])
				}
				v = append(v, e.ID+" "+strings.Join(fields, " "))
			}
			ks.Value = v
		}
		if err != nil && !valkey.IsValkeyNil(err) {
			return nil, 0, fmt.Errorf("reading %s (%s): %w", k, types[i], err)
		}
		at, err := atR.AsInt64()
		if err != nil {
			return nil, 0, fmt.Errorf("PEXPIRETIME %s: %w", k, err)
		}
		if at == -2 {
			continue // expired between KEYS and the reads
		}
		if at >= 0 {
			ks.ExpireAt = expireAt(at)
		}
		out[k] = ks
	}
	return out, now, nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// ---- the generator --------------------------------------------------------------------

// op is one step of a sequence: a generated call (built per engine), or a pause.
type op struct {
	desc  string
	fn    string
	build func(valkey.CommandClient) valkey.Completed
	parse func(valkey.ValkeyResult) (any, error)
	seen  func(r any, err error) // updates the generator from the reference's reply
	sleep time.Duration
}

// mk turns a generated Cmd builder and parser into an op.
func mk[K, A, R any](desc, fn string, build func(valkey.CommandClient, K, A) valkey.Completed,
	parse func(valkey.ValkeyResult) (R, error), k K, a A, seen func(R, error)) op {
	o := op{desc: desc, fn: fn,
		build: func(c valkey.CommandClient) valkey.Completed { return build(c, k, a) },
		parse: func(r valkey.ValkeyResult) (any, error) { return parse(r) }}
	if seen != nil {
		o.seen = func(r any, err error) { v, _ := r.(R); seen(v, err) }
	}
	return o
}

func newRandUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
