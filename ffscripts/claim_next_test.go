package ffscripts_test

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func (e *exe) claimNextKeys(inst string) ffscripts.ClaimNextKeys {
	return ffscripts.ClaimNextKeys{LaneEligible: e.laneIdx("eligible"), LaneBlockedRoute: e.laneIdx("blocked:route"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst), LaneActive: e.laneIdx("active"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")}
}

// claimNext runs ff_claim_next in the fixture's partition and lane.
func (f *fx) claimNext(worker, inst, caps, leaseID, attemptID string) (ffscripts.ClaimNextReply, error) {
	e := &exe{f: f}
	return f.c.ClaimNext(f.ctx, e.claimNextKeys(inst), ffscripts.ClaimNextArgs{WorkerID: worker,
		WorkerInstanceID: inst, LaneID: f.lane, WorkerCapabilitiesCSV: caps, LeaseID: leaseID,
		AttemptID: attemptID, LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptPolicyJSON: "{}"})
}

func TestClaimNext(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		t.Run("priority_then_fifo", func(t *testing.T) {
			f := f.sub(t)
			prios := []int64{1, 5, 3, 5, 0}
			var ids []string
			for _, p := range prios {
				time.Sleep(2 * time.Millisecond) // distinct created_at: equal scores order by member
				e := f.newExec()
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { a.Priority = p })
				ids = append(ids, e.id)
			}
			// the contract ZSET order: priority desc, then created_at asc
			want := []string{ids[1], ids[3], ids[2], ids[0], ids[4]}
			got, err := f.do(f.db.B().Zrange().Key((&exe{f: f}).laneIdx("eligible")).Min("0").Max("-1").Build()).AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("eligible order (-want +got):\n%s", diff)
			}
			var claimed []string
			for range prios {
				r, err := f.claimNext("w-a", "wi-a", "", uuid.NewString(), uuid.NewString())
				if err != nil {
					t.Fatal(err)
				}
				claimed = append(claimed, r.ExecutionID)
			}
			if diff := cmp.Diff(want, claimed); diff != "" {
				t.Errorf("claim order (-want +got):\n%s", diff)
			}
			if _, err := f.claimNext("w-a", "wi-a", "", "l", "a"); code(err) != "no_eligible_execution" {
				t.Errorf("empty lane = %v", err)
			}
		})

		t.Run("reply_and_capability_routing", func(t *testing.T) {
			f := f.sub(t)
			gpu := f.newExec()
			gpu.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				a.Priority = 9
				a.PolicyJSON = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
			})
			plain := f.newExec()
			plain.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				a.InputPayload = []byte{0, 1, 2, 0xff}
				a.TagsJSON = `{"app.env":"prod"}`
			})
			lid, aid := uuid.NewString(), uuid.NewString()
			r, err := f.claimNext("w-a", "wi-a", "cpu", lid, aid)
			if err != nil {
				t.Fatal(err)
			}
			want := ffscripts.ClaimNextReply{Status: "OK", ExecutionID: plain.id, LeaseID: lid, LeaseEpoch: 1,
				LeaseExpiresAt: r.LeaseExpiresAt, AttemptID: aid, AttemptIndex: 0, AttemptType: "initial",
				ExecutionKind: "kind", Namespace: "ns", Payload: []byte{0, 1, 2, 0xff}, Tags: []string{"app.env", "prod"}}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			// the gpu execution was blocked as the grant path + block would do
			if gpu.state() != sBlockedRoute || gpu.core()["blocking_detail"] != "no connected worker satisfies required_capabilities" {
				t.Errorf("gpu execution state %s", gpu.state())
			}
			if diff := cmp.Diff([]string{"blocked:route"}, gpu.where()); diff != "" {
				t.Errorf("gpu indexes (-want +got):\n%s", diff)
			}
		})

		t.Run("skips_outstanding_grant", func(t *testing.T) {
			f := f.sub(t)
			held := f.newExec()
			held.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) { a.Priority = 9 })
			if _, err := held.grant("w-b", "wi-b", ""); err != nil {
				t.Fatal(err)
			}
			free := f.newExec()
			free.mustCreate(nil)
			r, err := f.claimNext("w-a", "wi-a", "", "l", "a")
			if err != nil || r.ExecutionID != free.id {
				t.Errorf("claim_next = %+v %v, want %s", r, err, free.id)
			}
		})

		t.Run("worker_caps_bounds", func(t *testing.T) {
			// 256 one-byte tokens fit in 511 bytes: the largest list that can pass; one more
			// token (or 4097 bytes) is rejected before anything is read or written.
			f := f.sub(t)
			e := f.newExec()
			e.mustCreate(nil)
			before := e.snapshot()
			for _, tc := range []struct{ csv, want string }{
				{strings.Repeat("a,", 256) + "b", "invalid_capabilities worker:too_many_tokens"},
				{strings.Repeat("a", 4097), "invalid_capabilities worker:too_many_bytes"},
			} {
				_, err := f.claimNext("w-a", "wi-a", tc.csv, "l", "a")
				if got := codeDetail(err); got != tc.want {
					t.Errorf("csv of %d bytes: %q, want %q", len(tc.csv), got, tc.want)
				}
			}
			if diff := cmp.Diff(before, e.snapshot()); diff != "" {
				t.Errorf("rejected worker caps wrote (-before +after):\n%s", diff)
			}
			max := strings.Repeat("a,", 255) + "b"
			if r, err := f.claimNext("w-a", "wi-a", max, "l", "a"); err != nil || r.ExecutionID != e.id {
				t.Errorf("256 tokens (%d bytes): %+v %v", len(max), r, err)
			}
		})

		t.Run("resumes_interrupted", func(t *testing.T) {
			f := f.sub(t)
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.delay(l, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := e.promote(f.serverMs()); err != nil {
				t.Fatal(err)
			}
			r, err := f.claimNext("w-b", "wi-b", "", "l2", "ignored")
			if err != nil || r.AttemptType != "resumed" || r.AttemptID != l.aid || r.LeaseEpoch != 2 {
				t.Errorf("claim_next = %+v %v", r, err)
			}
		})
	})
}

// TestClaimNextMatchesGrantClaim runs the contract path and the fast path on twin
// executions (same uuid, ids, args; two partitions) and compares everything both wrote,
// with the partition tag, timestamps and stream ids normalised.
func TestClaimNextMatchesGrantClaim(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		type twin struct{ a, b *exe }
		mk := func(t *testing.T, policy string) twin {
			fa, fb := f.sub(t), f.sub(t)
			fb.lane = fa.lane
			u := uuid.NewString()
			a, b := &exe{f: fa, id: fa.tag + ":" + u}, &exe{f: fb, id: fb.tag + ":" + u}
			for _, e := range []*exe{a, b} {
				e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, c *ffscripts.CreateExecutionArgs) {
					c.PolicyJSON = policy
					c.TagsJSON = `{"app.k":"v"}`
					c.PartitionID = "P"
				})
			}
			return twin{a, b}
		}
		const lid, aid = "lease-1", "attempt-1"
		tests := []struct {
			name     string
			policy   string
			caps     string
			prepare  func(t *testing.T, e *exe)
			contract func(t *testing.T, e *exe) // grant + claim (or block)
		}{
			{"new_attempt", "{}", "", nil, func(t *testing.T, e *exe) {
				if _, err := e.grant("w", "wi", ""); err != nil {
					t.Fatal(err)
				}
				_, err := e.f.c.ClaimExecution(e.f.ctx, e.claimKeys(0, "wi"), ffscripts.ClaimExecutionArgs{
					ExecutionID: e.id, WorkerID: "w", WorkerInstanceID: "wi", LaneID: e.f.lane, LeaseID: lid,
					LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptID: aid, AttemptPolicyJSON: "{}"})
				if err != nil {
					t.Fatal(err)
				}
			}},
			{"resumed", "{}", "", func(t *testing.T, e *exe) {
				// identical history on both twins: claim, self-delay, promote
				if _, err := e.grant("w0", "wi0", ""); err != nil {
					t.Fatal(err)
				}
				_, err := e.f.c.ClaimExecution(e.f.ctx, e.claimKeys(0, "wi0"), ffscripts.ClaimExecutionArgs{
					ExecutionID: e.id, WorkerID: "w0", WorkerInstanceID: "wi0", LaneID: e.f.lane, LeaseID: "l0",
					LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptID: aid, AttemptPolicyJSON: "{}"})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.delay(&lease{inst: "wi0", leaseID: "l0", epoch: "1", aid: aid}, 1); err != nil {
					t.Fatal(err)
				}
				if _, err := e.promote(e.f.serverMs()); err != nil {
					t.Fatal(err)
				}
			}, func(t *testing.T, e *exe) {
				if _, err := e.grant("w", "wi", ""); err != nil {
					t.Fatal(err)
				}
				if _, err := e.claimResumedAs("w", "wi", lid); err != nil {
					t.Fatal(err)
				}
			}},
			{"capability_mismatch_blocks", `{"routing_requirements":{"required_capabilities":["gpu"]}}`, "cpu", nil,
				func(t *testing.T, e *exe) {
					if _, err := e.grant("w", "wi", "cpu"); code(err) != "capability_mismatch" {
						t.Fatalf("grant = %v", err)
					}
					if _, err := e.block("waiting_for_capable_worker", e.f.serverMs()); err != nil {
						t.Fatal(err)
					}
				}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tw := mk(t, tc.policy)
				if tc.prepare != nil {
					tc.prepare(t, tw.a)
					tc.prepare(t, tw.b)
				}
				tc.contract(t, tw.a)
				_, err := tw.b.f.claimNext("w", "wi", tc.caps, lid, aid)
				if tc.caps != "" {
					if code(err) != "no_eligible_execution" {
						t.Fatalf("claim_next = %v", err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				da, db := tw.a.dump(), tw.b.dump()
				if len(da) < 4 {
					t.Fatalf("dump too small to compare: %v", da)
				}
				if diff := cmp.Diff(da, db); diff != "" {
					t.Errorf("grant+claim (-) vs claim_next (+):\n%s", diff)
				}
			})
		}
	})
}

func (e *exe) claimResumedAs(worker, inst, leaseID string) (ffscripts.ClaimResumedExecutionReply, error) {
	return e.f.c.ClaimResumedExecution(e.f.ctx, ffscripts.ClaimResumedExecutionKeys{
		ExecCore: e.x("core"), ClaimGrant: e.x("claim_grant"), LaneEligible: e.laneIdx("eligible"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst), AttemptHash: e.attempt(0),
		LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"), LaneActive: e.laneIdx("active"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")},
		ffscripts.ClaimResumedExecutionArgs{ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.f.lane, LeaseID: leaseID, LeaseTTLMs: 30000})
}

var (
	reStreamID = regexp.MustCompile(`\b1[0-9]{12}-[0-9]+\b`)
	reMs       = regexp.MustCompile(`\b1[0-9]{12}\b`)
)

// dump returns everything stored about the execution (its keys and its index entries) as
// normalised text: the partition tag becomes {fp:P}, ms timestamps <ts>, stream ids <id>.
func (e *exe) dump() map[string]string {
	out := map[string]string{}
	norm := func(s string) string {
		s = strings.ReplaceAll(s, e.f.tag, "{fp:P}")
		s = reStreamID.ReplaceAllString(s, "<id>")
		return reMs.ReplaceAllString(s, "<ts>")
	}
	put := func(k, v string) {
		if v != "" {
			out[norm(k)] = norm(v)
		}
	}
	hash := func(k string) {
		m := e.hgetall(k)
		var kv []string
		for f, v := range m {
			kv = append(kv, f+"="+v)
		}
		sort.Strings(kv)
		put(k, strings.Join(kv, "\n"))
	}
	for _, k := range []string{e.x("core"), e.x("claim_grant"), e.x("lease:current"), e.x("tags"),
		e.attempt(0), e.attempt(0) + ":usage", e.attempt(0) + ":policy", e.attempt(1)} {
		hash(k)
	}
	if v, err := e.f.do(e.f.db.B().Get().Key(e.x("payload")).Build()).ToString(); err == nil {
		put(e.x("payload"), v)
	}
	if z, err := e.f.do(e.f.db.B().Zrange().Key(e.x("attempts")).Min("0").Max("-1").Withscores().Build()).AsZScores(); err == nil {
		var s []string
		for _, m := range z {
			s = append(s, m.Member+"@"+strconv.FormatFloat(m.Score, 'f', -1, 64))
		}
		put(e.x("attempts"), strings.Join(s, ","))
	}
	if xs, err := e.f.do(e.f.db.B().Xrange().Key(e.x("lease:history")).Start("-").End("+").Build()).AsXRange(); err == nil {
		var s []string
		for _, x := range xs {
			var kv []string
			for f, v := range x.FieldValues {
				kv = append(kv, f+"="+v)
			}
			sort.Strings(kv)
			s = append(s, strings.Join(kv, " "))
		}
		put(e.x("lease:history"), strings.Join(s, "\n"))
	}
	for _, z := range []string{"eligible", "delayed", "active", "terminal", "blocked:route"} {
		if s, ok := e.score(e.laneIdx(z)); ok {
			put(e.laneIdx(z), strconv.FormatFloat(s, 'f', -1, 64))
		}
	}
	for _, z := range []string{"lease_expiry", "attempt_timeout", "execution_deadline"} {
		if s, ok := e.score(e.idx(z)); ok {
			put(e.idx(z), strconv.FormatFloat(s, 'f', -1, 64))
		}
	}
	for _, inst := range []string{"wi", "wi0"} {
		if n, _ := e.f.do(e.f.db.B().Sismember().Key(e.workerSet(inst)).Member(e.id).Build()).AsInt64(); n == 1 {
			put(e.workerSet(inst), "member")
		}
	}
	return out
}
