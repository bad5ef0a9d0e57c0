package ffscripts_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// TestClaimCost measures the server-side µs per call of the claim/lease functions from
// INFO commandstats (CONFIG RESETSTAT around each batch). commandstats are server-wide, so
// it needs a Valkey of its own: FFGO_COST_ADDR=127.0.0.1:16399 (it runs CONFIG RESETSTAT
// there). Each round pipelines n calls per function; the table gives the median over
// rounds, next to two references measured in the same run: FCALL ff_version (no-op) and
// the "claimish" EVAL of ecosystem.md §D.3.
//
// When the server runs on this machine (INFO's process_id names a local valkey-server or
// redis-server listening on that port), the table also gives the server's CPU time per call
// (main thread, /proc/<pid>/task/<pid>/schedstat): unlike commandstats, which are wall
// time, it does not count the time the server waited for a core, so it is much steadier on
// a shared machine.
//
// FFGO_COST_BASELINE=<flattened library file> (e.g. `git show <rev>:ffscripts/library.lua`)
// measures that library too, interleaved with the current one round by round (the order
// alternates), and prints both side by side with the ratio current/baseline of the minima.
// FFGO_COST_ROUNDS sets the number of rounds (default 5).
func TestClaimCost(t *testing.T) {
	addr := os.Getenv("FFGO_COST_ADDR")
	if addr == "" {
		t.Skip("FFGO_COST_ADDR is not set: point it at a Valkey of its own (its stats are reset)")
	}
	db, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	type lib struct{ name, src string }
	libs := []lib{{"current", costLibrary(t, "FFGO_LIBRARY_FILE", ffscripts.Source())}}
	if base := costLibrary(t, "FFGO_COST_BASELINE", ""); base != "" {
		libs = []lib{{"baseline", base}, libs[0]}
	}
	load := func(src string) {
		if err := db.Do(ctx, db.B().FunctionLoad().Replace().FunctionCode(src).Build()).Error(); err != nil {
			t.Fatalf("FUNCTION LOAD: %v", err)
		}
	}
	cpuNs := serverCPU(t, db)
	n, rounds := 500, 5
	if s := os.Getenv("FFGO_COST_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	statRe := regexp.MustCompile(`cmdstat_(fcall|eval):calls=(\d+),usec=(\d+)`)
	var onReply func(i int, r valkey.ValkeyResult)
	measure := func(cmds []valkey.Completed) (wall, cpu float64) {
		db.Do(ctx, db.B().ConfigResetstat().Build())
		var c0 int64
		if cpuNs != nil {
			c0 = cpuNs()
		}
		rs := db.DoMulti(ctx, cmds...)
		if cpuNs != nil {
			cpu = float64(cpuNs()-c0) / 1000 / float64(len(cmds))
		}
		for i, r := range rs {
			if onReply != nil {
				onReply(i, r)
			}
			if err := r.Error(); err != nil {
				t.Fatal(err)
			}
			if a, err := r.ToArray(); err == nil && len(a) > 1 {
				if v, _ := a[0].AsInt64(); v == 0 {
					s, _ := a[1].ToString()
					t.Fatalf("error reply %s", s)
				}
			}
		}
		s, _ := db.Do(ctx, db.B().Info().Section("commandstats").Build()).ToString()
		m := statRe.FindStringSubmatch(s)
		calls, _ := strconv.ParseFloat(m[2], 64)
		us, _ := strconv.ParseFloat(m[3], 64)
		return us / calls, cpu
	}
	// res[lib][name] = per-round values; cpuRes likewise
	res := make([]map[string][]float64, len(libs))
	cpuRes := make([]map[string][]float64, len(libs))
	for i := range libs {
		res[i], cpuRes[i] = map[string][]float64{}, map[string][]float64{}
	}
	var order []string
	f := newFx(t, db)
	for round := 0; round < rounds; round++ {
		for j := range libs {
			li := (j + round) % len(libs)
			load(libs[li].src)
			add := func(name string, wall, cpu float64) {
				if li == 0 && round == 0 {
					order = append(order, name)
				}
				res[li][name] = append(res[li][name], wall)
				cpuRes[li][name] = append(cpuRes[li][name], cpu)
			}
			costRound(t, db, f, n, measure, &onReply, add)
		}
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	low := func(v []float64) float64 { return slices.Min(v) }
	var b strings.Builder
	fmt.Fprintf(&b, "server µs/call: commandstats median (min) of %d rounds × %d calls", rounds, n)
	if cpuNs != nil {
		b.WriteString("; cpu = server CPU µs/call, median (min)")
	}
	b.WriteString("; ratios compare the minima (noise on a shared machine only adds time)")
	b.WriteString("\n\n| function |")
	for _, l := range libs {
		fmt.Fprintf(&b, " %s |", l.name)
		if cpuNs != nil {
			fmt.Fprintf(&b, " %s cpu |", l.name)
		}
	}
	if len(libs) == 2 {
		b.WriteString(" current/baseline |")
		if cpuNs != nil {
			b.WriteString(" cpu ratio |")
		}
	}
	cols := len(libs)
	if len(libs) == 2 {
		cols++
	}
	if cpuNs != nil {
		cols *= 2
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", cols) + "\n")
	for _, k := range order {
		fmt.Fprintf(&b, "| %s |", k)
		for i := range libs {
			fmt.Fprintf(&b, " %.1f (%.1f) |", med(res[i][k]), low(res[i][k]))
			if cpuNs != nil {
				fmt.Fprintf(&b, " %.1f (%.1f) |", med(cpuRes[i][k]), low(cpuRes[i][k]))
			}
		}
		if len(libs) == 2 {
			fmt.Fprintf(&b, " %.2f |", low(res[1][k])/low(res[0][k]))
			if cpuNs != nil {
				fmt.Fprintf(&b, " %.2f |", low(cpuRes[1][k])/low(cpuRes[0][k]))
			}
		}
		b.WriteString("\n")
	}
	fmt.Print(b.String())
}

// costRound runs one round of the cost measurement with the library currently loaded:
// the two references, the contract path (create, grant, claim, renew, progress, frames,
// complete) and the fast path (claim_next, then complete what it returned).
func costRound(t *testing.T, db valkey.Client, f *fx, n int,
	measure func([]valkey.Completed) (float64, float64), onReply *func(int, valkey.ValkeyResult),
	add func(name string, wall, cpu float64)) {
	ctx := context.Background()
	f.lane = "cost-" + uuid.NewString()[:8]
	var cmds []valkey.Completed
	rep := func(build func(i int) valkey.Completed) []valkey.Completed {
		cmds = cmds[:0]
		for i := 0; i < n; i++ {
			cmds = append(cmds, build(i))
		}
		return cmds
	}
	run := func(name string, build func(i int) valkey.Completed) {
		w, c := measure(rep(build))
		add(name, w, c)
	}
	db.Do(ctx, db.B().Hset().Key("ff:cost:{x}:h").FieldValue().FieldValue("a", "1").FieldValue("b", "2").Build())
	run("reference: EVAL claimish (§D.3)", func(int) valkey.Completed {
		return db.B().Eval().Script("local t = redis.call('TIME') local h = redis.call('HGETALL', KEYS[1]) redis.call('HSET', KEYS[1], 'a', t[1], 'b', t[2], 'c', 1, 'd', 2) redis.call('ZADD', KEYS[2], t[1], 'm') redis.call('XADD', KEYS[3], 'MAXLEN', '~', '1000', '*', 'a', 'b') return {1}").
			Numkeys(3).Key("ff:cost:{x}:h", "ff:cost:{x}:z", "ff:cost:{x}:s").Build()
	})
	run("reference: FCALL ff_version", func(int) valkey.Completed {
		return db.B().Fcall().Function("ff_version").Numkeys(0).Build()
	})
	es := make([]*exe, n)
	ls := make([]*lease, n)
	for i := range es {
		es[i] = f.newExec()
		ls[i] = &lease{worker: "w", inst: "wi", leaseID: uuid.NewString(), aid: uuid.NewString(), epoch: "1"}
	}
	run("ff_create_execution (with required capabilities)", func(i int) valkey.Completed {
		a := es[i].createArgs()
		a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
		return ffscripts.CreateExecutionCmd(db, es[i].createKeys(es[i].laneIdx("eligible")), a)
	})
	run("ff_issue_claim_grant", func(i int) valkey.Completed {
		e := es[i]
		return ffscripts.IssueClaimGrantCmd(db, ffscripts.IssueClaimGrantKeys{ExecCore: e.x("core"),
			ClaimGrant: e.x("claim_grant"), LaneEligible: e.laneIdx("eligible")},
			ffscripts.IssueClaimGrantArgs{ExecutionID: e.id, WorkerID: "w", WorkerInstanceID: "wi",
				LaneID: f.lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: "cpu,gpu"})
	})
	run("ff_claim_execution", func(i int) valkey.Completed {
		e, l := es[i], ls[i]
		return ffscripts.ClaimExecutionCmd(db, e.claimKeys(0, "wi"), ffscripts.ClaimExecutionArgs{
			ExecutionID: e.id, WorkerID: "w", WorkerInstanceID: "wi", LaneID: f.lane, LeaseID: l.leaseID,
			LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptID: l.aid, AttemptPolicyJSON: "{}"})
	})
	run("ff_renew_lease", func(i int) valkey.Completed {
		e, l := es[i], ls[i]
		return ffscripts.RenewLeaseCmd(db, ffscripts.RenewLeaseKeys{ExecCore: e.x("core"),
			LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry")},
			ffscripts.RenewLeaseArgs{ExecutionID: e.id, AttemptIndex: "0", AttemptID: l.aid, LeaseID: l.leaseID,
				LeaseEpoch: "1", LeaseTTLMs: 30000, LeaseHistoryGraceMs: 5000})
	})
	run("ff_update_progress", func(i int) valkey.Completed {
		e, l := es[i], ls[i]
		return ffscripts.UpdateProgressCmd(db, ffscripts.UpdateProgressKeys{ExecCore: e.x("core")},
			ffscripts.UpdateProgressArgs{ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", ProgressPct: "50"})
	})
	frame := func(i int) valkey.Completed {
		e, l := es[i], ls[i]
		return ffscripts.AppendFrameCmd(db, ffscripts.AppendFrameKeys{ExecCore: e.x("core"), Stream: e.streamKey(0),
			StreamMeta: e.streamKey(0) + ":meta", StreamSummary: e.attempt(0) + ":summary"},
			ffscripts.AppendFrameArgs{ExecutionID: e.id, AttemptIndex: "0", LeaseID: l.leaseID, LeaseEpoch: "1",
				FrameType: "log", Payload: []byte("a log line of some length"), AttemptID: l.aid})
	}
	run("ff_append_frame (first: creates meta)", frame)
	run("ff_append_frame (next)", frame)
	run("ff_complete_execution (stream meta open)", func(i int) valkey.Completed {
		e, l := es[i], ls[i]
		return ffscripts.CompleteExecutionCmd(db, e.completeKeys(0, "wi"), ffscripts.CompleteExecutionArgs{
			ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", AttemptID: l.aid, ResultPayload: []byte("r")})
	})
	// the fast path: ff_claim_next, then complete what it returned
	for i := range es {
		es[i] = f.newExec()
	}
	measure(rep(func(i int) valkey.Completed {
		return ffscripts.CreateExecutionCmd(db, es[i].createKeys(es[i].laneIdx("eligible")), es[i].createArgs())
	}))
	byID := map[string]*exe{}
	for _, e := range es {
		byID[e.id] = e
	}
	claimed := make([]*exe, n)
	*onReply = func(i int, r valkey.ValkeyResult) {
		rp, err := ffscripts.ParseClaimNext(r)
		if err != nil {
			t.Fatal(err)
		}
		claimed[i] = byID[rp.ExecutionID]
	}
	var cnWall, cnCPU float64
	cnWall, cnCPU = measure(rep(func(i int) valkey.Completed {
		return ffscripts.ClaimNextCmd(db, es[0].claimNextKeys("wi"), ffscripts.ClaimNextArgs{WorkerID: "w",
			WorkerInstanceID: "wi", LaneID: f.lane, LeaseID: ls[i].leaseID, AttemptID: ls[i].aid,
			LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptPolicyJSON: "{}"})
	}))
	add("**ff_claim_next**", cnWall, cnCPU)
	*onReply = nil
	cw, cc := measure(rep(func(i int) valkey.Completed {
		e, l := claimed[i], ls[i]
		return ffscripts.CompleteExecutionCmd(db, e.completeKeys(0, "wi"), ffscripts.CompleteExecutionArgs{
			ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", AttemptID: l.aid, ResultPayload: []byte("r")})
	}))
	add("ff_complete_execution (after claim_next)", cw, cc)
	add("**claim_next + complete**", cnWall+cw, cnCPU+cc)
}

// serverCPU returns a reader of the server main thread's CPU time in ns, or nil when the
// server is not a local process (INFO server's process_id must name a valkey-server or
// redis-server whose command line holds the tcp_port).
func serverCPU(t *testing.T, db valkey.Client) func() int64 {
	s, err := db.Do(context.Background(), db.B().Info().Section("server").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) string {
		m := regexp.MustCompile(`(?m)^` + name + `:(\S+)`).FindStringSubmatch(s)
		if m == nil {
			return ""
		}
		return m[1]
	}
	pid, port := field("process_id"), field("tcp_port")
	comm, err1 := os.ReadFile("/proc/" + pid + "/comm")
	cmdline, err2 := os.ReadFile("/proc/" + pid + "/cmdline")
	if pid == "" || err1 != nil || err2 != nil || !strings.Contains(string(cmdline), port) ||
		!(strings.HasPrefix(string(comm), "valkey-server") || strings.HasPrefix(string(comm), "redis-server")) {
		t.Logf("server CPU time not available (process %q is not a local server on port %s)", pid, port)
		return nil
	}
	path := "/proc/" + pid + "/task/" + pid + "/schedstat"
	return func() int64 {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
		return v
	}
}

// TestClaimCostInScript compares two flattened libraries on the hot path —
// ff_create_execution, ff_claim_next, ff_complete_execution — inside one EVAL per run on a
// Valkey of its own (FFGO_COST_ADDR; FFGO_COST_BASELINE names the other library, the
// current one is ffscripts.Source() or FFGO_LIBRARY_FILE). Each library's source is wrapped
// in a Lua function whose redis.register_function calls fill a table instead, so both
// run in the same script; each side creates, claims and completes its own executions in
// its own partition and lane, in batches of 50 that alternate between the two sides (which
// side goes first alternates too), timed with os.clock: the server process's CPU time, as
// the script runs on its main thread. KEYS and ARGV tables are built before each timed
// batch, so what is measured is the function bodies with their redis.call commands, not
// FCALL's own cost (parsing, argument tables, the reply), which is the same for both. The
// alternation is much finer than TestClaimCost's rounds, so a shared machine's load lands
// on both sides alike. The table gives, per function, the median over runs of each side's
// 25th percentile over batches, the minimum over everything, and the median of the per-run
// ratios current/baseline. FFGO_COST_ROUNDS sets the runs (default 5), FFGO_COST_N the
// executions per side and run (default 2000). The script leaves ~14 keys per execution
// behind and flushes nothing.
func TestClaimCostInScript(t *testing.T) {
	addr, base := os.Getenv("FFGO_COST_ADDR"), costLibrary(t, "FFGO_COST_BASELINE", "")
	if addr == "" || base == "" {
		t.Skip("FFGO_COST_ADDR and FFGO_COST_BASELINE are not both set (a Valkey of its own, a library file to compare with)")
	}
	script := inScriptHarness(base, costLibrary(t, "FFGO_LIBRARY_FILE", ffscripts.Source()))
	db, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs, n := 5, 2000
	if s := os.Getenv("FFGO_COST_ROUNDS"); s != "" {
		runs, _ = strconv.Atoi(s)
	}
	if s := os.Getenv("FFGO_COST_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	n -= n % 50
	fns := []string{"ff_create_execution", "ff_claim_next", "ff_complete_execution"}
	// p25[side][fn], low[side][fn]: one value per run; ratio[fn]: current/baseline per run
	p25 := [2]map[string][]float64{{}, {}}
	low := [2]map[string]float64{{}, {}}
	ratio := map[string][]float64{}
	ctx := context.Background()
	for run := 0; run < runs; run++ {
		id := uuid.NewString()[:8]
		rows, err := db.Do(ctx, db.B().Eval().Script(script).Numkeys(0).
			Arg(strconv.Itoa(n), "50", id, strconv.Itoa(run%2)).Build()).AsStrSlice()
		if err != nil {
			t.Fatalf("harness script: %v", err)
		}
		got := [2]map[string]float64{{}, {}}
		for _, row := range rows { // "<side> <fn> <min> <p25>"
			f := strings.Fields(row)
			side, _ := strconv.Atoi(f[0])
			mn, _ := strconv.ParseFloat(f[2], 64)
			q, _ := strconv.ParseFloat(f[3], 64)
			got[side][f[1]] = q
			p25[side][f[1]] = append(p25[side][f[1]], q)
			if l, ok := low[side][f[1]]; !ok || mn < l {
				low[side][f[1]] = mn
			}
		}
		for _, fn := range fns {
			ratio[fn] = append(ratio[fn], got[1][fn]/got[0][fn])
		}
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	var sb strings.Builder
	fmt.Fprintf(&sb, "µs per call inside one EVAL (os.clock), %d runs × %d executions per side: median over runs of the per-run p25 over batches of 50 (minimum)\n\n", runs, n)
	sb.WriteString("| function | baseline | current | current/baseline (median of per-run ratios) |\n|---|---:|---:|---:|\n")
	pair := [2]float64{}
	for _, fn := range fns {
		fmt.Fprintf(&sb, "| %s | %.1f (%.1f) | %.1f (%.1f) | %.3f |\n", fn, med(p25[0][fn]), low[0][fn],
			med(p25[1][fn]), low[1][fn], med(ratio[fn]))
		if fn != "ff_create_execution" {
			pair[0] += med(p25[0][fn])
			pair[1] += med(p25[1][fn])
		}
	}
	fmt.Fprintf(&sb, "| claim_next + complete | %.1f | %.1f | %.3f |\n", pair[0], pair[1], pair[1]/pair[0])
	fmt.Print(sb.String())
}

// costLibrary returns the library file named by the environment variable env, or dflt
// when it is not set.
func costLibrary(t *testing.T, env, dflt string) string {
	p := os.Getenv(env)
	if p == "" {
		return dflt
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// registerRe matches the registration forms of a flattened library.
var registerRe = regexp.MustCompile(`redis\.register_function\((['"][A-Za-z0-9_]+['"]),\s*`)

// inScriptHarness returns the EVAL script of TestClaimCostInScript: both libraries wrapped
// as functions that fill a table of their functions, then the driver.
func inScriptHarness(baseline, current string) string {
	var sb strings.Builder
	for i, src := range []string{baseline, current} {
		if strings.HasPrefix(src, "#!") {
			src = src[strings.IndexByte(src, '\n')+1:]
		}
		src = registerRe.ReplaceAllString(src, "HF[$1] = (")
		src = strings.ReplaceAll(src, "redis.register_function{", "HREG{")
		fmt.Fprintf(&sb, "local function load_%d(HF)\nlocal HREG = function(t) HF[t.function_name] = t.callback end\n%s\nend\n", i, src)
	}
	sb.WriteString(inScriptDriver)
	return sb.String()
}

// inScriptDriver runs both sides (ARGV: executions per side, batch size, run id, which side
// goes first) and returns "<side> <function> <min> <p25>" rows, µs per call.
const inScriptDriver = `
local S = {{F = {}}, {F = {}}}
load_0(S[1].F)
load_1(S[2].F)
local n, batch, run, first = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local fns = {'ff_create_execution', 'ff_claim_next', 'ff_complete_execution'}
for si, s in ipairs(S) do
  s.tag = '{fp:' .. (60000 + si) .. '}'
  s.lane = 'cost-' .. run .. '-' .. si
  s.t = {}
  for _, fn in ipairs(fns) do s.t[fn] = {} end
  s.ids, s.leases = {}, {}
  for i = 1, n do s.ids[i] = s.tag .. ':' .. run .. '-' .. si .. '-' .. i end
end
local function x(s, eid, suffix) return 'ff:exec:' .. s.tag .. ':' .. eid .. ':' .. suffix end
local function idx(s, suffix) return 'ff:idx:' .. s.tag .. ':' .. suffix end
local function lane(s, suffix) return idx(s, 'lane:' .. s.lane .. ':' .. suffix) end
-- the KEYS and ARGV of execution i (built before the timed loop, as FCALL builds them)
local build = {
  ff_create_execution = function(s, i)
    local eid = s.ids[i]
    return {x(s, eid, 'core'), x(s, eid, 'payload'), x(s, eid, 'policy'), x(s, eid, 'tags'),
      lane(s, 'eligible'), 'ff:noop:' .. s.tag, idx(s, 'execution_deadline'), idx(s, 'all_executions')},
      {eid, 'ns', s.lane, 'kind', '0', 'tester', '{}', 'payload', '', '', '{}', '', '1'}
  end,
  ff_claim_next = function(s, i)
    return {lane(s, 'eligible'), lane(s, 'blocked:route'), idx(s, 'lease_expiry'),
      idx(s, 'worker:wi:leases'), lane(s, 'active'), idx(s, 'attempt_timeout'),
      idx(s, 'execution_deadline')}, {'w', 'wi', s.lane, '', 'lease-' .. i, 'attempt-' .. i, '30000',
      '20000', '{}', '', ''}
  end,
  ff_complete_execution = function(s, i)
    local c = s.leases[i]
    local eid = c[3]
    return {x(s, eid, 'core'), 'ff:attempt:' .. s.tag .. ':' .. eid .. ':0', idx(s, 'lease_expiry'),
      idx(s, 'worker:wi:leases'), lane(s, 'terminal'), x(s, eid, 'lease:current'),
      x(s, eid, 'lease:history'), lane(s, 'active'), 'ff:stream:' .. s.tag .. ':' .. eid .. ':0:meta',
      x(s, eid, 'result'), idx(s, 'attempt_timeout'), idx(s, 'execution_deadline')},
      {eid, c[4], c[5], c[7], 'result'}
  end,
}
local K, A, R = {}, {}, {}
for _, fn in ipairs(fns) do
  for b = 0, n / batch - 1 do
    for j = 0, 1 do
      local s = S[((b + j + first) % 2) + 1]
      local lo, hi = b * batch + 1, (b + 1) * batch
      for i = lo, hi do K[i - lo + 1], A[i - lo + 1] = build[fn](s, i) end
      local f = s.F[fn]
      local t0 = os.clock()
      for i = 1, batch do R[i] = f(K[i], A[i]) end
      local dt = (os.clock() - t0) / batch * 1e6
      for i = 1, batch do
        local r = R[i]
        if type(r) ~= 'table' or r[1] ~= 1 then
          return redis.error_reply(fn .. ' failed: ' .. tostring(type(r) == 'table' and r[2] or r))
        end
        if fn == 'ff_claim_next' then s.leases[lo + i - 1] = r end
      end
      local tt = s.t[fn]
      tt[#tt + 1] = dt
    end
  end
end
local out = {}
for si, s in ipairs(S) do
  for _, fn in ipairs(fns) do
    local v = s.t[fn]
    table.sort(v)
    out[#out + 1] = string.format('%d %s %.3f %.3f', si - 1, fn, v[1], v[math.floor(#v / 4) + 1])
  end
end
return out
`
