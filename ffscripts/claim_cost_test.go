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
	cur := ffscripts.Source()
	if p := os.Getenv("FFGO_LIBRARY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cur = string(b)
	}
	libs := []lib{{"current", cur}}
	if p := os.Getenv("FFGO_COST_BASELINE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		libs = []lib{{"baseline", string(b)}, libs[0]}
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
