package ffscripts_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
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
	if err := forceLoad(db); err != nil {
		t.Fatal(err)
	}
	const n, rounds = 500, 5
	ctx := context.Background()
	statRe := regexp.MustCompile(`cmdstat_(fcall|eval):calls=(\d+),usec=(\d+)`)
	var onReply func(i int, r valkey.ValkeyResult)
	measure := func(cmds []valkey.Completed) float64 {
		db.Do(ctx, db.B().ConfigResetstat().Build())
		for i, r := range db.DoMulti(ctx, cmds...) {
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
		return us / calls
	}
	res := map[string][]float64{}
	var order []string
	add := func(name string, v float64) {
		if _, ok := res[name]; !ok {
			order = append(order, name)
		}
		res[name] = append(res[name], v)
	}
	f := newFx(t, db)
	for round := 0; round < rounds; round++ {
		f.lane = "cost-" + uuid.NewString()[:8]
		var cmds []valkey.Completed
		rep := func(build func(i int) valkey.Completed) []valkey.Completed {
			cmds = cmds[:0]
			for i := 0; i < n; i++ {
				cmds = append(cmds, build(i))
			}
			return cmds
		}
		db.Do(ctx, db.B().Hset().Key("ff:cost:{x}:h").FieldValue().FieldValue("a", "1").FieldValue("b", "2").Build())
		add("reference: EVAL claimish (§D.3)", measure(rep(func(int) valkey.Completed {
			return db.B().Eval().Script("local t = redis.call('TIME') local h = redis.call('HGETALL', KEYS[1]) redis.call('HSET', KEYS[1], 'a', t[1], 'b', t[2], 'c', 1, 'd', 2) redis.call('ZADD', KEYS[2], t[1], 'm') redis.call('XADD', KEYS[3], 'MAXLEN', '~', '1000', '*', 'a', 'b') return {1}").
				Numkeys(3).Key("ff:cost:{x}:h", "ff:cost:{x}:z", "ff:cost:{x}:s").Build()
		})))
		add("reference: FCALL ff_version", measure(rep(func(int) valkey.Completed {
			return db.B().Fcall().Function("ff_version").Numkeys(0).Build()
		})))
		es := make([]*exe, n)
		ls := make([]*lease, n)
		for i := range es {
			es[i] = f.newExec()
			ls[i] = &lease{worker: "w", inst: "wi", leaseID: uuid.NewString(), aid: uuid.NewString(), epoch: "1"}
		}
		add("ff_create_execution", measure(rep(func(i int) valkey.Completed {
			a := es[i].createArgs()
			a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
			return ffscripts.CreateExecutionCmd(db, es[i].createKeys(es[i].laneIdx("eligible")), a)
		})))
		add("ff_issue_claim_grant", measure(rep(func(i int) valkey.Completed {
			e := es[i]
			return ffscripts.IssueClaimGrantCmd(db, ffscripts.IssueClaimGrantKeys{ExecCore: e.x("core"),
				ClaimGrant: e.x("claim_grant"), LaneEligible: e.laneIdx("eligible")},
				ffscripts.IssueClaimGrantArgs{ExecutionID: e.id, WorkerID: "w", WorkerInstanceID: "wi",
					LaneID: f.lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: "cpu,gpu"})
		})))
		add("ff_claim_execution", measure(rep(func(i int) valkey.Completed {
			e, l := es[i], ls[i]
			return ffscripts.ClaimExecutionCmd(db, e.claimKeys(0, "wi"), ffscripts.ClaimExecutionArgs{
				ExecutionID: e.id, WorkerID: "w", WorkerInstanceID: "wi", LaneID: f.lane, LeaseID: l.leaseID,
				LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptID: l.aid, AttemptPolicyJSON: "{}"})
		})))
		add("ff_renew_lease", measure(rep(func(i int) valkey.Completed {
			e, l := es[i], ls[i]
			return ffscripts.RenewLeaseCmd(db, ffscripts.RenewLeaseKeys{ExecCore: e.x("core"),
				LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry")},
				ffscripts.RenewLeaseArgs{ExecutionID: e.id, AttemptIndex: "0", AttemptID: l.aid, LeaseID: l.leaseID,
					LeaseEpoch: "1", LeaseTTLMs: 30000, LeaseHistoryGraceMs: 5000})
		})))
		add("ff_update_progress", measure(rep(func(i int) valkey.Completed {
			e, l := es[i], ls[i]
			return ffscripts.UpdateProgressCmd(db, ffscripts.UpdateProgressKeys{ExecCore: e.x("core")},
				ffscripts.UpdateProgressArgs{ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", ProgressPct: "50"})
		})))
		frame := func(i int) valkey.Completed {
			e, l := es[i], ls[i]
			return ffscripts.AppendFrameCmd(db, ffscripts.AppendFrameKeys{ExecCore: e.x("core"), Stream: e.streamKey(0),
				StreamMeta: e.streamKey(0) + ":meta", StreamSummary: e.attempt(0) + ":summary"},
				ffscripts.AppendFrameArgs{ExecutionID: e.id, AttemptIndex: "0", LeaseID: l.leaseID, LeaseEpoch: "1",
					FrameType: "log", Payload: []byte("a log line of some length"), AttemptID: l.aid})
		}
		add("ff_append_frame (first: creates meta)", measure(rep(frame)))
		add("ff_append_frame (next)", measure(rep(frame)))
		add("ff_complete_execution", measure(rep(func(i int) valkey.Completed {
			e, l := es[i], ls[i]
			return ffscripts.CompleteExecutionCmd(db, e.completeKeys(0, "wi"), ffscripts.CompleteExecutionArgs{
				ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", AttemptID: l.aid, ResultPayload: []byte("r")})
		})))
		// the fast path: ff_claim_next, then complete what it returned
		for i := range es {
			es[i] = f.newExec()
		}
		rep(func(i int) valkey.Completed {
			return ffscripts.CreateExecutionCmd(db, es[i].createKeys(es[i].laneIdx("eligible")), es[i].createArgs())
		})
		measure(cmds)
		byID := map[string]*exe{}
		for _, e := range es {
			byID[e.id] = e
		}
		claimed := make([]*exe, n)
		onReply = func(i int, r valkey.ValkeyResult) {
			rp, err := ffscripts.ParseClaimNext(r)
			if err != nil {
				t.Fatal(err)
			}
			claimed[i] = byID[rp.ExecutionID]
		}
		add("ff_claim_next", measure(rep(func(i int) valkey.Completed {
			return ffscripts.ClaimNextCmd(db, es[0].claimNextKeys("wi"), ffscripts.ClaimNextArgs{WorkerID: "w",
				WorkerInstanceID: "wi", LaneID: f.lane, LeaseID: ls[i].leaseID, AttemptID: ls[i].aid,
				LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptPolicyJSON: "{}"})
		})))
		onReply = nil
		add("ff_complete_execution (after claim_next)", measure(rep(func(i int) valkey.Completed {
			e, l := claimed[i], ls[i]
			return ffscripts.CompleteExecutionCmd(db, e.completeKeys(0, "wi"), ffscripts.CompleteExecutionArgs{
				ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: "1", AttemptID: l.aid, ResultPayload: []byte("r")})
		})))
	}
	fmt.Printf("| function | server µs/call, median of %d rounds × %d calls | min |\n|---|---:|---:|\n", rounds, n)
	for _, k := range order {
		v := slices.Clone(res[k])
		slices.Sort(v)
		fmt.Printf("| %s | %.1f | %.1f |\n", k, v[len(v)/2], v[0])
	}
}
