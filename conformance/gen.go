package conformance

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/uuid"
)

// gen produces the calls of one differential sequence from its seed. Its view of the
// world (executions, leases, waitpoints) comes from the reference's replies; arguments
// that are times are offsets from the reference's clock at the previous step.
type gen struct {
	rng   *rand.Rand
	parts []keyspace.Partition
	lane  string
	execs []*gexec
	now   int64 // reference time of the previous step (ms)
	init  map[keyspace.Partition]bool
	queue []op // steps already planned (a grant is followed by its claim)
}

type gexec struct {
	phase  string // as the reference's replies tell: waiting, active, suspended, delayed, blocked, done
	id     string
	k      keyspace.Exec
	p      keyspace.Partition
	leases []*Lease
	wps    []*gwp
}

type gwp struct {
	id, key, token string
}

type gworker struct{ id, inst, caps string }

var genWorkers = []gworker{{"w0", "wi0", ""}, {"w1", "wi1", "gpu"}, {"w2", "wi2", "gpu,ssd"}}

func newGen(seed uint64) *gen {
	rng := rand.New(rand.NewPCG(seed, 0x636f6e66))
	g := &gen{rng: rng, lane: "L", init: map[keyspace.Partition]bool{}, now: time.Now().UnixMilli()}
	for range 2 {
		g.parts = append(g.parts, keyspace.Partition(rng.IntN(1024)))
	}
	return g
}

func (g *gen) pick(n int) int { return g.rng.IntN(n) }

func (g *gen) oneOf(xs ...string) string { return xs[g.pick(len(xs))] }

func (g *gen) worker() gworker { return genWorkers[g.pick(len(genWorkers))] }

// lease returns the execution's latest lease most of the time, an older one otherwise
// (fencing), or nil when it never had one.
func (x *gexec) lease(g *gen) *Lease {
	if len(x.leases) == 0 {
		return nil
	}
	if g.pick(5) == 0 {
		return x.leases[g.pick(len(x.leases))]
	}
	return x.leases[len(x.leases)-1]
}

func (x *gexec) wp(g *gen) *gwp {
	if len(x.wps) == 0 {
		return &gwp{id: "00000000-0000-4000-8000-000000000000", key: "wpk:none", token: "k1:" + fmt.Sprintf("%040d", 0)}
	}
	if g.pick(5) == 0 {
		return x.wps[g.pick(len(x.wps))]
	}
	return x.wps[len(x.wps)-1]
}

func (g *gen) ttl() int64 {
	if g.pick(3) == 0 {
		return int64(5 + g.pick(30))
	}
	return longTTL
}

func (g *gen) at(offsets ...int64) int64 { return g.now + offsets[g.pick(len(offsets))] }

// next returns the next step.
func (g *gen) next() op {
	if len(g.queue) > 0 {
		o := g.queue[0]
		g.queue = g.queue[1:]
		return o
	}
	for _, p := range g.parts {
		if !g.init[p] {
			g.init[p] = true
			return mk("rotate hmac "+p.Tag()+" -> k1", ffscripts.FnRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretCmd,
				ffscripts.ParseRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: p.HMACSecrets()},
				ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid1, NewSecretHex: secret1, GraceMs: 60000}, nil)
		}
	}
	if len(g.execs) == 0 || (len(g.execs) < 6 && g.pick(6) == 0) {
		return g.create()
	}
	// Favour the newest executions, so sequences reach deep states, and mostly pick a
	// call that fits the execution's phase.
	x := g.execs[len(g.execs)-1-min(g.pick(3), len(g.execs)-1)]
	if g.pick(4) != 0 {
		if menu := g.menu(x); len(menu) > 0 {
			return menu[g.pick(len(menu))](x)
		}
	}
	switch r := g.pick(100); {
	case r < 4:
		return op{desc: "advance the clock", sleep: time.Duration(3+g.pick(30)) * time.Millisecond}
	case r < 14:
		return g.grant(x)
	case r < 24:
		return g.claim(x)
	case r < 29:
		return g.claimResumed(x)
	case r < 33:
		return g.claimNext()
	case r < 37:
		return g.renew(x)
	case r < 42:
		return g.complete(x)
	case r < 47:
		return g.fail(x)
	case r < 50:
		return g.delay(x)
	case r < 54:
		return g.promote(x)
	case r < 57:
		return g.block(x)
	case r < 59:
		return g.unblock(x)
	case r < 61:
		return g.cancel(x)
	case r < 64:
		return g.mark(x)
	case r < 67:
		return g.reclaimGrant(x)
	case r < 70:
		return g.reclaim(x)
	case r < 72:
		return g.revoke(x)
	case r < 80:
		return g.suspend(x)
	case r < 90:
		return g.deliver(x)
	case r < 92:
		return g.resume(x)
	case r < 95:
		return g.expireSuspension(x)
	case r < 96:
		return g.createPending(x)
	case r < 97:
		return g.buffer(x)
	case r < 98:
		return g.setTags(x)
	case r < 99:
		return g.listKids(x)
	default:
		return g.closeWaitpoint(x)
	}
}

// menu lists the calls that fit x's phase (repeats weigh).
func (g *gen) menu(x *gexec) []func(*gexec) op {
	advance := func(*gexec) op {
		return op{desc: "advance the clock", sleep: time.Duration(3+g.pick(30)) * time.Millisecond}
	}
	switch x.phase {
	case "waiting":
		return []func(*gexec) op{g.claim, g.claim, g.claim, g.claimResumed, func(*gexec) op { return g.claimNext() }, g.block, g.cancel}
	case "active":
		return []func(*gexec) op{g.renew, g.complete, g.fail, g.fail, g.delay, g.suspend, g.suspend, g.suspend,
			g.createPending, g.mark, g.revoke, g.reclaim, g.cancel, advance, g.appendFrame, g.appendFrame,
			g.updateProgress, g.expireExecution}
	case "suspended":
		return []func(*gexec) op{g.deliver, g.deliver, g.deliver, g.deliver, g.resume, g.expireSuspension, g.buffer, g.cancel, advance,
			g.closeWaitpoint, g.rotate, g.expireExecution}
	case "delayed":
		return []func(*gexec) op{g.promote, g.promote, advance, g.cancel}
	case "blocked":
		return []func(*gexec) op{g.unblock, g.grant, g.cancel}
	}
	return nil
}

// to returns a seen callback that moves x to phase when the reference call succeeded.
func to[R any](x *gexec, phase string) func(R, error) {
	return func(_ R, err error) {
		if err == nil {
			x.phase = phase
		}
	}
}

func (g *gen) create() op {
	p := g.parts[g.pick(len(g.parts))]
	u := uuid.MustParse(newRandUUID(g.rng))
	id := keyspace.ExecutionIDWithUUID(p, u)
	x := &gexec{id: id.String(), k: keyspace.ExecKeys(id), p: p}
	prio := int64(g.pick(10))
	policy := "{}"
	if g.pick(4) == 0 {
		policy = `{"routing_requirements":{"required_capabilities":["gpu"]}}`
	}
	sched := p.LaneEligible(g.lane)
	var delay *int64
	if g.pick(5) == 0 {
		delay = ptr(g.at(-1000, 20, 3_600_000))
		sched = p.LaneDelayed(g.lane)
	}
	desc := fmt.Sprintf("create %s prio=%d policy=%s delay=%v", x.id, prio, policy, delay != nil)
	g.execs = append(g.execs, x)
	return mk(desc, ffscripts.FnCreateExecution, ffscripts.CreateExecutionCmd, ffscripts.ParseCreateExecution,
		ffscripts.CreateExecutionKeys{ExecCore: x.k.Core(), Payload: x.k.Payload(), Policy: x.k.Policy(), Tags: x.k.Tags(),
			SchedulingZset: sched, IdempotencyKey: p.Noop(), ExecutionDeadline: p.ExecutionDeadline(), AllExecutions: p.AllExecutions()},
		ffscripts.CreateExecutionArgs{ExecutionID: x.id, Namespace: "ns", LaneID: g.lane, ExecutionKind: "k", Priority: prio,
			CreatorIdentity: "gen", PolicyJSON: policy, InputPayload: []byte("in"), DelayUntil: delay, TagsJSON: `{"a.b":"c"}`,
			PartitionID: strconv.Itoa(int(p))}, func(r ffscripts.CreateExecutionReply, err error) {
			if err == nil {
				x.phase = map[string]string{"waiting": "waiting", "delayed": "delayed"}[r.PublicState]
			}
		})
}

func (g *gen) grant(x *gexec) op { return g.grantTo(x, g.worker()) }

func (g *gen) grantTo(x *gexec, w gworker) op {
	ttl := int64(g.oneOfInt(5000, 5000, 10))
	return mk(fmt.Sprintf("grant %s to %s ttl=%d", x.id, w.id, ttl), ffscripts.FnIssueClaimGrant, ffscripts.IssueClaimGrantCmd, ffscripts.ParseIssueClaimGrant,
		ffscripts.IssueClaimGrantKeys{ExecCore: x.k.Core(), ClaimGrant: x.k.ClaimGrant(), LaneEligible: x.p.LaneEligible(g.lane)},
		ffscripts.IssueClaimGrantArgs{ExecutionID: x.id, WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane,
			GrantTTLMs: ttl, WorkerCapabilitiesCSV: w.caps}, nil)
}

func (g *gen) oneOfInt(xs ...int) int { return xs[g.pick(len(xs))] }

func (g *gen) attemptIdx() uint32 { return uint32(g.pick(3)) }

// curIdx is the execution's current attempt index as the generator believes it (the
// latest lease's), or now and then a random one.
func (x *gexec) curIdx(g *gen) uint32 {
	if len(x.leases) == 0 || g.pick(5) == 0 {
		return g.attemptIdx()
	}
	return uint32(x.leases[len(x.leases)-1].Index)
}

// then queues o after the current step and returns first.
func (g *gen) then(first, o op) op {
	g.queue = append(g.queue, o)
	return first
}

func (g *gen) claim(x *gexec) op {
	w := g.worker()
	if g.pick(4) != 0 {
		return g.then(g.grantTo(x, w), g.claimBy(x, w))
	}
	return g.claimBy(x, w)
}

func (g *gen) claimBy(x *gexec, w gworker) op {
	idx := g.attemptIdx()
	l := &Lease{Worker: w.id, Inst: w.inst, LeaseID: newRandUUID(g.rng), AttemptID: newRandUUID(g.rng)}
	ttl := g.ttl()
	return mk(fmt.Sprintf("claim %s by %s ttl=%d", x.id, w.id, ttl), ffscripts.FnClaimExecution, ffscripts.ClaimExecutionCmd, ffscripts.ParseClaimExecution,
		ffscripts.ClaimExecutionKeys{ExecCore: x.k.Core(), ClaimGrant: x.k.ClaimGrant(), LaneEligible: x.p.LaneEligible(g.lane),
			LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(w.inst), AttemptHash: x.k.Attempt(idx),
			AttemptUsage: x.k.AttemptUsage(idx), AttemptPolicy: x.k.AttemptPolicy(idx), AttemptsZset: x.k.Attempts(),
			LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LaneActive: x.p.LaneActive(g.lane),
			AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline()},
		ffscripts.ClaimExecutionArgs{ExecutionID: x.id, WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane,
			LeaseID: l.LeaseID, LeaseTTLMs: ttl, RenewBeforeMs: ttl * 2 / 3, AttemptID: l.AttemptID, AttemptPolicyJSON: "{}"},
		func(r ffscripts.ClaimExecutionReply, err error) {
			if err == nil {
				l.Epoch, l.Index = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex
				x.leases = append(x.leases, l)
				x.phase = "active"
			}
		})
}

func (g *gen) claimResumed(x *gexec) op {
	w := g.worker()
	if g.pick(4) != 0 {
		return g.then(g.grantTo(x, w), g.claimResumedBy(x, w))
	}
	return g.claimResumedBy(x, w)
}

func (g *gen) claimResumedBy(x *gexec, w gworker) op {
	idx := x.curIdx(g)
	l := &Lease{Worker: w.id, Inst: w.inst, LeaseID: newRandUUID(g.rng)}
	ttl := g.ttl()
	return mk(fmt.Sprintf("claim resumed %s by %s ttl=%d", x.id, w.id, ttl), ffscripts.FnClaimResumedExecution,
		ffscripts.ClaimResumedExecutionCmd, ffscripts.ParseClaimResumedExecution,
		ffscripts.ClaimResumedExecutionKeys{ExecCore: x.k.Core(), ClaimGrant: x.k.ClaimGrant(), LaneEligible: x.p.LaneEligible(g.lane),
			LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(w.inst), AttemptHash: x.k.Attempt(idx),
			LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LaneActive: x.p.LaneActive(g.lane),
			AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline()},
		ffscripts.ClaimResumedExecutionArgs{ExecutionID: x.id, WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane,
			LeaseID: l.LeaseID, LeaseTTLMs: ttl},
		func(r ffscripts.ClaimResumedExecutionReply, err error) {
			if err == nil {
				l.Epoch, l.Index, l.AttemptID = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.AttemptID
				x.leases = append(x.leases, l)
				x.phase = "active"
			}
		})
}

func (g *gen) claimNext() op {
	p := g.parts[g.pick(len(g.parts))]
	w := g.worker()
	l := &Lease{Worker: w.id, Inst: w.inst, LeaseID: newRandUUID(g.rng), AttemptID: newRandUUID(g.rng)}
	ttl := g.ttl()
	return mk(fmt.Sprintf("claim next in %s by %s ttl=%d", p.Tag(), w.id, ttl), ffscripts.FnClaimNext, ffscripts.ClaimNextCmd, ffscripts.ParseClaimNext,
		ffscripts.ClaimNextKeys{LaneEligible: p.LaneEligible(g.lane), LaneBlockedRoute: p.LaneBlockedRoute(g.lane),
			LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(w.inst), LaneActive: p.LaneActive(g.lane),
			AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline()},
		ffscripts.ClaimNextArgs{WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane, WorkerCapabilitiesCSV: w.caps,
			LeaseID: l.LeaseID, AttemptID: l.AttemptID, LeaseTTLMs: ttl, RenewBeforeMs: ttl * 2 / 3, AttemptPolicyJSON: "{}"},
		func(r ffscripts.ClaimNextReply, err error) {
			if err != nil {
				return
			}
			for _, x := range g.execs {
				if x.id == r.ExecutionID {
					l.Epoch, l.Index = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex
					x.leases = append(x.leases, l)
					x.phase = "active"
				}
			}
		})
}

// noLease stands in for a lease an execution never had.
var noLease = &Lease{Worker: "w0", Inst: "wi0", LeaseID: "", Epoch: "", AttemptID: ""}

func (x *gexec) leaseOrNone(g *gen) *Lease {
	if l := x.lease(g); l != nil {
		return l
	}
	return noLease
}

func (g *gen) renew(x *gexec) op {
	l := x.leaseOrNone(g)
	return mk("renew "+x.id+" lease "+l.LeaseID, ffscripts.FnRenewLease, ffscripts.RenewLeaseCmd, ffscripts.ParseRenewLease,
		ffscripts.RenewLeaseKeys{ExecCore: x.k.Core(), LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LeaseExpiry: x.p.LeaseExpiry()},
		ffscripts.RenewLeaseArgs{ExecutionID: x.id, AttemptIndex: strconv.FormatInt(l.Index, 10), AttemptID: l.AttemptID,
			LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, LeaseTTLMs: g.ttl(), LeaseHistoryGraceMs: 100}, nil)
}

func (g *gen) complete(x *gexec) op {
	l := x.leaseOrNone(g)
	i := uint32(l.Index)
	return mk("complete "+x.id+" lease "+l.LeaseID, ffscripts.FnCompleteExecution, ffscripts.CompleteExecutionCmd, ffscripts.ParseCompleteExecution,
		ffscripts.CompleteExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(i), LeaseExpiry: x.p.LeaseExpiry(),
			WorkerLeases: x.p.WorkerLeases(l.Inst), LaneTerminal: x.p.LaneTerminal(g.lane), LeaseCurrent: x.k.LeaseCurrent(),
			LeaseHistory: x.k.LeaseHistory(), LaneActive: x.p.LaneActive(g.lane), StreamMeta: x.k.StreamMeta(i),
			Result: x.k.Result(), AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline()},
		ffscripts.CompleteExecutionArgs{ExecutionID: x.id, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, AttemptID: l.AttemptID,
			ResultPayload: []byte("out"), Source: g.optSource()}, to[ffscripts.CompleteExecutionReply](x, "done"))
}

func (g *gen) fail(x *gexec) op {
	l := x.leaseOrNone(g)
	i := uint32(l.Index)
	policy := g.oneOf("", `{"max_retries":2,"backoff":{"type":"fixed","delay_ms":10}}`,
		`{"max_retries":1,"backoff":{"type":"exponential","initial_delay_ms":7,"multiplier":1.5}}`)
	return mk("fail "+x.id+" lease "+l.LeaseID+" policy "+policy, ffscripts.FnFailExecution, ffscripts.FailExecutionCmd, ffscripts.ParseFailExecution,
		ffscripts.FailExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(i), LeaseExpiry: x.p.LeaseExpiry(),
			WorkerLeases: x.p.WorkerLeases(l.Inst), LaneTerminal: x.p.LaneTerminal(g.lane), LaneDelayed: x.p.LaneDelayed(g.lane),
			LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LaneActive: x.p.LaneActive(g.lane),
			StreamMeta: x.k.StreamMeta(i), AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline()},
		ffscripts.FailExecutionArgs{ExecutionID: x.id, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, AttemptID: l.AttemptID,
			FailureReason: "boom", FailureCategory: "gen", RetryPolicyJSON: policy}, func(r ffscripts.FailExecutionReply, err error) {
			if err == nil {
				x.phase = map[string]string{"retry_scheduled": "delayed"}[r.Result]
			}
		})
}

func (g *gen) delay(x *gexec) op {
	l := x.leaseOrNone(g)
	i := uint32(l.Index)
	until := g.at(-10, 15, 3_600_000)
	return mk("delay "+x.id+" lease "+l.LeaseID, ffscripts.FnDelayExecution, ffscripts.DelayExecutionCmd, ffscripts.ParseDelayExecution,
		ffscripts.DelayExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(i), LeaseCurrent: x.k.LeaseCurrent(),
			LeaseHistory: x.k.LeaseHistory(), LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(l.Inst),
			LaneActive: x.p.LaneActive(g.lane), LaneDelayed: x.p.LaneDelayed(g.lane), AttemptTimeout: x.p.AttemptTimeout()},
		ffscripts.DelayExecutionArgs{ExecutionID: x.id, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, AttemptID: l.AttemptID, DelayUntil: until}, to[ffscripts.DelayExecutionReply](x, "delayed"))
}

func (g *gen) promote(x *gexec) op {
	now := g.at(0, 0, 100, 4_000_000)
	return mk("promote "+x.id, ffscripts.FnPromoteDelayed, ffscripts.PromoteDelayedCmd, ffscripts.ParsePromoteDelayed,
		ffscripts.PromoteDelayedKeys{ExecCore: x.k.Core(), LaneDelayed: x.p.LaneDelayed(g.lane), LaneEligible: x.p.LaneEligible(g.lane)},
		ffscripts.PromoteDelayedArgs{ExecutionID: x.id, NowMs: now}, func(r ffscripts.PromoteDelayedReply, err error) {
			if err == nil && r.Result == "promoted" {
				x.phase = "waiting"
			}
		})
}

func (g *gen) block(x *gexec) op {
	reason := g.oneOf("waiting_for_capable_worker", "waiting_for_capable_worker", "paused_by_operator", "bogus")
	return mk("block "+x.id+" "+reason, ffscripts.FnBlockExecutionForAdmission, ffscripts.BlockExecutionForAdmissionCmd,
		ffscripts.ParseBlockExecutionForAdmission,
		ffscripts.BlockExecutionForAdmissionKeys{ExecCore: x.k.Core(), LaneEligible: x.p.LaneEligible(g.lane), BlockedZset: x.p.LaneBlockedRoute(g.lane)},
		ffscripts.BlockExecutionForAdmissionArgs{ExecutionID: x.id, BlockingReason: reason, BlockingDetail: "gen", NowMs: g.now}, to[ffscripts.BlockExecutionForAdmissionReply](x, "blocked"))
}

func (g *gen) unblock(x *gexec) op {
	return mk("unblock "+x.id, ffscripts.FnUnblockExecution, ffscripts.UnblockExecutionCmd, ffscripts.ParseUnblockExecution,
		ffscripts.UnblockExecutionKeys{ExecCore: x.k.Core(), BlockedZset: x.p.LaneBlockedRoute(g.lane), LaneEligible: x.p.LaneEligible(g.lane)},
		ffscripts.UnblockExecutionArgs{ExecutionID: x.id, NowMs: g.now + 1, ExpectedBlockingReason: g.oneOf("", "waiting_for_capable_worker")}, to[ffscripts.UnblockExecutionReply](x, "waiting"))
}

func (g *gen) cancel(x *gexec) op {
	l := x.leaseOrNone(g)
	i := uint32(l.Index)
	wp := x.wp(g)
	src := g.oneOf("operator_override", "lease_holder", "")
	return mk("cancel "+x.id+" source "+src, ffscripts.FnCancelExecution, ffscripts.CancelExecutionCmd, ffscripts.ParseCancelExecution,
		ffscripts.CancelExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(i), StreamMeta: x.k.StreamMeta(i),
			LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LeaseExpiry: x.p.LeaseExpiry(),
			WorkerLeases: x.p.WorkerLeases(l.Inst), SuspensionCurrent: x.k.SuspensionCurrent(), WaitpointHash: x.p.Waitpoint(wp.id),
			WaitpointCondition: x.p.WaitpointCondition(wp.id), SuspensionTimeout: x.p.SuspensionTimeout(),
			LaneTerminal: x.p.LaneTerminal(g.lane), AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline(),
			LaneEligible: x.p.LaneEligible(g.lane), LaneDelayed: x.p.LaneDelayed(g.lane),
			BlockedDependencies: x.p.LaneBlockedDependencies(g.lane), BlockedBudget: x.p.LaneBlockedBudget(g.lane),
			BlockedQuota: x.p.LaneBlockedQuota(g.lane), BlockedRoute: x.p.LaneBlockedRoute(g.lane),
			BlockedOperator: x.p.LaneBlockedOperator(g.lane)},
		ffscripts.CancelExecutionArgs{ExecutionID: x.id, Reason: "gen", Source: src, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch},
		to[ffscripts.CancelExecutionReply](x, "done"))
}

func (g *gen) mark(x *gexec) op {
	return mk("mark expired "+x.id, ffscripts.FnMarkLeaseExpiredIfDue, ffscripts.MarkLeaseExpiredIfDueCmd, ffscripts.ParseMarkLeaseExpiredIfDue,
		ffscripts.MarkLeaseExpiredIfDueKeys{ExecCore: x.k.Core(), LeaseCurrent: x.k.LeaseCurrent(), LeaseExpiry: x.p.LeaseExpiry(), LeaseHistory: x.k.LeaseHistory()},
		ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: x.id}, nil)
}

func (g *gen) reclaimGrant(x *gexec) op { return g.reclaimGrantTo(x, g.worker()) }

func (g *gen) reclaimGrantTo(x *gexec, w gworker) op {
	return mk("reclaim grant "+x.id+" to "+w.id, ffscripts.FnIssueReclaimGrant, ffscripts.IssueReclaimGrantCmd, ffscripts.ParseIssueReclaimGrant,
		ffscripts.IssueReclaimGrantKeys{ExecCore: x.k.Core(), ClaimGrant: x.k.ClaimGrant(), LeaseExpiry: x.p.LeaseExpiry()},
		ffscripts.IssueReclaimGrantArgs{ExecutionID: x.id, WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane,
			GrantTTLMs: 5000, WorkerCapabilitiesCSV: w.caps}, nil)
}

func (g *gen) reclaim(x *gexec) op {
	w := g.worker()
	if g.pick(4) != 0 {
		return g.then(g.reclaimGrantTo(x, w), g.reclaimBy(x, w))
	}
	return g.reclaimBy(x, w)
}

func (g *gen) reclaimBy(x *gexec, w gworker) op {
	old := x.curIdx(g)
	next := old + 1
	l := &Lease{Worker: w.id, Inst: w.inst, LeaseID: newRandUUID(g.rng), AttemptID: newRandUUID(g.rng)}
	var maxR *int64
	if g.pick(4) == 0 {
		maxR = ptr(int64(g.pick(2)))
	}
	return mk("reclaim "+x.id+" by "+w.id, ffscripts.FnReclaimExecution, ffscripts.ReclaimExecutionCmd, ffscripts.ParseReclaimExecution,
		ffscripts.ReclaimExecutionKeys{ExecCore: x.k.Core(), ClaimGrant: x.k.ClaimGrant(), OldAttemptHash: x.k.Attempt(old),
			OldStreamMeta: x.k.StreamMeta(old), NewAttemptHash: x.k.Attempt(next), NewAttemptUsage: x.k.AttemptUsage(next),
			AttemptsZset: x.k.Attempts(), LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(),
			LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(w.inst), LaneActive: x.p.LaneActive(g.lane),
			AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline()},
		ffscripts.ReclaimExecutionArgs{ExecutionID: x.id, WorkerID: w.id, WorkerInstanceID: w.inst, LaneID: g.lane,
			LeaseID: l.LeaseID, LeaseTTLMs: g.ttl(), AttemptID: l.AttemptID, AttemptPolicyJSON: "{}", DefaultMaxReclaimCount: maxR},
		func(r ffscripts.ReclaimExecutionReply, err error) {
			if err == nil {
				l.Epoch, l.Index = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex
				x.leases = append(x.leases, l)
			}
		})
}

func (g *gen) revoke(x *gexec) op {
	l := x.leaseOrNone(g)
	return mk("revoke "+x.id, ffscripts.FnRevokeLease, ffscripts.RevokeLeaseCmd, ffscripts.ParseRevokeLease,
		ffscripts.RevokeLeaseKeys{ExecCore: x.k.Core(), LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(),
			LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(l.Inst)},
		ffscripts.RevokeLeaseArgs{ExecutionID: x.id, ExpectedLeaseID: g.oneOf("", l.LeaseID), RevokeReason: "gen"}, nil)
}

var genConditions = []string{
	condByName("approve"),
	condMode("all", 1, "a", "b"),
	condByName(),
	condMode("count", 2, "x", "x"),
}

func (g *gen) suspend(x *gexec) op {
	l := x.leaseOrNone(g)
	wp := &gwp{id: newRandUUID(g.rng)}
	wp.key = "wpk:" + wp.id
	usePending := false
	if len(x.wps) > 0 && g.pick(4) == 0 {
		last := x.wps[len(x.wps)-1]
		wp.id, wp.key, usePending = last.id, "", true
	}
	var timeout *int64
	if g.pick(2) == 0 {
		timeout = ptr(g.at(10, 25, 3_600_000))
	}
	behavior := g.oneOf("fail", "cancel", "expire", "auto_resume", "escalate", "")
	cond := genConditions[g.pick(len(genConditions))]
	idem := g.oneOf("", "", "s-1")
	susp := newRandUUID(g.rng)
	dedup := x.p.Noop()
	var ttl *int64
	if idem != "" {
		dedup, ttl = x.k.SuspendDedup(idem), ptr(int64(60000))
	}
	desc := fmt.Sprintf("suspend %s on %s pending=%v timeout=%v behavior=%q cond=%s idem=%q", x.id, wp.id, usePending, timeout != nil, behavior, cond, idem)
	return mk(desc, ffscripts.FnSuspendExecution, ffscripts.SuspendExecutionCmd, ffscripts.ParseSuspendExecution,
		ffscripts.SuspendExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(uint32(l.Index)), LeaseCurrent: x.k.LeaseCurrent(),
			LeaseHistory: x.k.LeaseHistory(), LeaseExpiry: x.p.LeaseExpiry(), WorkerLeases: x.p.WorkerLeases(l.Inst),
			SuspensionCurrent: x.k.SuspensionCurrent(), WaitpointHash: x.p.Waitpoint(wp.id), WaitpointSignals: x.p.WaitpointSignals(wp.id),
			SuspensionTimeout: x.p.SuspensionTimeout(), PendingWaitpointExpiry: x.p.PendingWaitpointExpiry(),
			LaneActive: x.p.LaneActive(g.lane), LaneSuspended: x.p.LaneSuspended(g.lane), WaitpointHistory: x.k.Waitpoints(),
			WaitpointCondition: x.p.WaitpointCondition(wp.id), AttemptTimeout: x.p.AttemptTimeout(), HMACSecrets: x.p.HMACSecrets(),
			SuspendDedup: dedup},
		ffscripts.SuspendExecutionArgs{ExecutionID: x.id, AttemptIndex: l.Index, AttemptID: l.AttemptID, LeaseID: l.LeaseID,
			LeaseEpoch: l.Epoch, SuspensionID: susp, WaitpointID: wp.id, WaitpointKey: wp.key, ReasonCode: "waiting_for_signal",
			RequestedBy: "worker", TimeoutAt: timeout, ResumeConditionJSON: cond, UsePendingWaitpoint: ptr(usePending),
			TimeoutBehavior: behavior, LeaseHistoryMaxlen: ptr(int64(1000)), IdempotencyKey: idem, DedupTTLMs: ttl},
		func(r ffscripts.SuspendExecutionReply, err error) {
			if err == nil && !usePending {
				wp.key, wp.token = r.WaitpointKey, r.WaitpointToken
				x.wps = append(x.wps, wp)
			}
			if err == nil && r.Status == "OK" {
				x.phase = "suspended"
			}
		})
}

func (g *gen) signalArgs(x *gexec, wp *gwp) (ffscripts.DeliverSignalArgs, string) {
	sig := newRandUUID(g.rng)
	token := wp.token
	switch g.pick(10) {
	case 0:
		token = ""
	case 1:
		token = kid1 + ":" + fmt.Sprintf("%040d", 7)
	}
	var limit *int64
	if g.pick(6) == 0 {
		limit = ptr(int64(2))
	}
	return ffscripts.DeliverSignalArgs{SignalID: sig, ExecutionID: x.id, WaitpointID: wp.id,
		SignalName: g.oneOf("approve", "a", "b", "x", "other"), SignalCategory: "c", SourceType: "t",
		SourceIdentity: g.oneOf("alice", "bob"), Payload: []byte(g.oneOf("", "p")), PayloadEncoding: "json",
		IdempotencyKey: g.oneOf("", "", "i-1"), TargetScope: "waitpoint", DedupTTLMs: ptr(int64(60000)),
		ResumeDelayMs: ptr(int64(g.oneOfInt(0, 0, 20))), SignalMaxlen: ptr(int64(1000)), MaxSignalsPerExecution: limit,
		WaitpointToken: token}, sig
}

func (g *gen) deliver(x *gexec) op {
	wp := x.wp(g)
	a, sig := g.signalArgs(x, wp)
	idem := x.p.Noop()
	if a.IdempotencyKey != "" {
		idem = x.p.SignalDedup(wp.id, a.IdempotencyKey)
	}
	return mk("deliver "+a.SignalName+" to "+x.id+" waitpoint "+wp.id, ffscripts.FnDeliverSignal, ffscripts.DeliverSignalCmd, ffscripts.ParseDeliverSignal,
		ffscripts.DeliverSignalKeys{ExecCore: x.k.Core(), WaitpointCondition: x.p.WaitpointCondition(wp.id),
			WaitpointSignals: x.p.WaitpointSignals(wp.id), ExecSignals: x.k.Signals(), SignalHash: x.p.Signal(sig),
			SignalPayload: x.p.SignalPayload(sig), Idempotency: idem, WaitpointHash: x.p.Waitpoint(wp.id),
			SuspensionCurrent: x.k.SuspensionCurrent(), LaneEligible: x.p.LaneEligible(g.lane), LaneSuspended: x.p.LaneSuspended(g.lane),
			LaneDelayed: x.p.LaneDelayed(g.lane), SuspensionTimeout: x.p.SuspensionTimeout(), HMACSecrets: x.p.HMACSecrets(),
			SignalDeliveryFeed: x.p.SignalDelivery()}, a, func(r ffscripts.DeliverSignalReply, err error) {
			if err == nil && r.Effect == "resume_condition_satisfied" {
				x.phase = "waiting"
				if a.ResumeDelayMs != nil && *a.ResumeDelayMs > 0 {
					x.phase = "delayed"
				}
			}
		})
}

func (g *gen) buffer(x *gexec) op {
	wp := x.wp(g)
	d, sig := g.signalArgs(x, wp)
	a := ffscripts.BufferSignalForPendingWaitpointArgs(d)
	idem := x.p.Noop()
	if a.IdempotencyKey != "" {
		idem = x.p.SignalDedup(wp.id, a.IdempotencyKey)
	}
	return mk("buffer "+a.SignalName+" for "+x.id+" waitpoint "+wp.id, ffscripts.FnBufferSignalForPendingWaitpoint,
		ffscripts.BufferSignalForPendingWaitpointCmd, ffscripts.ParseBufferSignalForPendingWaitpoint,
		ffscripts.BufferSignalForPendingWaitpointKeys{ExecCore: x.k.Core(), WaitpointCondition: x.p.WaitpointCondition(wp.id),
			WaitpointSignals: x.p.WaitpointSignals(wp.id), ExecSignals: x.k.Signals(), SignalHash: x.p.Signal(sig),
			SignalPayload: x.p.SignalPayload(sig), Idempotency: idem, WaitpointHash: x.p.Waitpoint(wp.id), HMACSecrets: x.p.HMACSecrets()},
		a, nil)
}

func (g *gen) resume(x *gexec) op {
	wp := x.wp(g)
	return mk("resume "+x.id, ffscripts.FnResumeExecution, ffscripts.ResumeExecutionCmd, ffscripts.ParseResumeExecution,
		ffscripts.ResumeExecutionKeys{ExecCore: x.k.Core(), SuspensionCurrent: x.k.SuspensionCurrent(), WaitpointHash: x.p.Waitpoint(wp.id),
			WaitpointSignals: x.p.WaitpointSignals(wp.id), SuspensionTimeout: x.p.SuspensionTimeout(),
			LaneEligible: x.p.LaneEligible(g.lane), LaneDelayed: x.p.LaneDelayed(g.lane), LaneSuspended: x.p.LaneSuspended(g.lane)},
		ffscripts.ResumeExecutionArgs{ExecutionID: x.id, TriggerType: "operator", ResumeDelayMs: ptr(int64(g.oneOfInt(0, 15)))},
		func(r ffscripts.ResumeExecutionReply, err error) {
			if err == nil {
				x.phase = map[string]string{"waiting": "waiting", "delayed": "delayed"}[r.PublicState]
			}
		})
}

func (g *gen) expireSuspension(x *gexec) op {
	wp := x.wp(g)
	i := x.curIdx(g)
	return mk("expire suspension "+x.id, ffscripts.FnExpireSuspension, ffscripts.ExpireSuspensionCmd, ffscripts.ParseExpireSuspension,
		ffscripts.ExpireSuspensionKeys{ExecCore: x.k.Core(), SuspensionCurrent: x.k.SuspensionCurrent(), WaitpointHash: x.p.Waitpoint(wp.id),
			WaitpointCondition: x.p.WaitpointCondition(wp.id), AttemptHash: x.k.Attempt(i), StreamMeta: x.k.StreamMeta(i),
			SuspensionTimeout: x.p.SuspensionTimeout(), LaneSuspended: x.p.LaneSuspended(g.lane), LaneTerminal: x.p.LaneTerminal(g.lane),
			LaneEligible: x.p.LaneEligible(g.lane), LaneDelayed: x.p.LaneDelayed(g.lane), LeaseHistory: x.k.LeaseHistory()},
		ffscripts.ExpireSuspensionArgs{ExecutionID: x.id}, func(r ffscripts.ExpireSuspensionReply, err error) {
			if err == nil && r.Outcome != "not_yet_due" {
				x.phase = map[string]string{"waiting": "waiting", "suspended": "suspended"}[r.PublicState]
				if x.phase == "" {
					x.phase = "done"
				}
			}
		})
}

func (g *gen) createPending(x *gexec) op {
	l := x.leaseOrNone(g)
	wp := &gwp{id: newRandUUID(g.rng)}
	wp.key = "wpk:" + wp.id
	return mk("create pending waitpoint "+wp.id+" for "+x.id, ffscripts.FnCreatePendingWaitpoint, ffscripts.CreatePendingWaitpointCmd,
		ffscripts.ParseCreatePendingWaitpoint,
		ffscripts.CreatePendingWaitpointKeys{ExecCore: x.k.Core(), WaitpointHash: x.p.Waitpoint(wp.id),
			PendingWaitpointExpiry: x.p.PendingWaitpointExpiry(), HMACSecrets: x.p.HMACSecrets()},
		ffscripts.CreatePendingWaitpointArgs{ExecutionID: x.id, AttemptIndex: l.Index, WaitpointID: wp.id, WaitpointKey: wp.key,
			ExpiresAt: g.at(15, 3_600_000)},
		func(r ffscripts.CreatePendingWaitpointReply, err error) {
			if err == nil {
				wp.token = r.WaitpointToken
				x.wps = append(x.wps, wp)
			}
		})
}

// optSource is the optional source ARGV of complete: mostly absent, sometimes the
// operator override.
func (g *gen) optSource() *string {
	if g.pick(4) == 0 {
		return ptr("operator_override")
	}
	return nil
}

func (g *gen) appendFrame(x *gexec) op {
	l := x.leaseOrNone(g)
	i := uint32(l.Index)
	mode := g.oneOf("", "durable", "summary", "best_effort", "bogus")
	payload := g.oneOf("text", `{"a":{"b":1}}`, `{"a":null,"c":"__ff_null__"}`, "[1]")
	a := ffscripts.AppendFrameArgs{ExecutionID: x.id, AttemptIndex: strconv.FormatInt(l.Index, 10), LeaseID: l.LeaseID,
		LeaseEpoch: l.Epoch, FrameType: "delta", Payload: []byte(payload), Encoding: "utf8", Source: "worker",
		RetentionMaxlen: ptr(int64(g.oneOfInt(0, 3, 10000))), AttemptID: l.AttemptID, MaxPayloadBytes: ptr(int64(g.oneOfInt(65536, 65536, 4))),
		StreamMode: mode, TTLMs: ptr(int64(g.oneOfInt(0, 40, 5000))), MaxlenFloor: ptr(int64(2)), MaxlenCeiling: ptr(int64(50)),
		EmaAlpha: ptr([]float64{0.2, 0.5, 1}[g.pick(3)])}
	if mode == "summary" {
		a.PatchKind = g.oneOf("json-merge-patch", "json-merge-patch", "")
	}
	return mk(fmt.Sprintf("append %s frame %q to %s attempt %d", mode, payload, x.id, i), ffscripts.FnAppendFrame,
		ffscripts.AppendFrameCmd, ffscripts.ParseAppendFrame,
		ffscripts.AppendFrameKeys{ExecCore: x.k.Core(), Stream: x.k.Stream(i), StreamMeta: x.k.StreamMeta(i), StreamSummary: x.k.AttemptSummary(i)},
		a, nil)
}

func (g *gen) updateProgress(x *gexec) op {
	l := x.leaseOrNone(g)
	return mk("progress "+x.id, ffscripts.FnUpdateProgress, ffscripts.UpdateProgressCmd, ffscripts.ParseUpdateProgress,
		ffscripts.UpdateProgressKeys{ExecCore: x.k.Core()},
		ffscripts.UpdateProgressArgs{ExecutionID: x.id, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch,
			ProgressPct: g.oneOf("", "50", "99.5"), ProgressMessage: g.oneOf("", "half way")}, nil)
}

func (g *gen) setTags(x *gexec) op {
	tags := []ffscripts.SetExecutionTagsArgsTag{{Key: "team.owner", Value: g.oneOf("a", "b")}}
	if g.pick(4) == 0 {
		tags = append(tags, ffscripts.SetExecutionTagsArgsTag{Key: g.oneOf("Bad", "x.y"), Value: "v"})
	}
	return mk("set tags on "+x.id, ffscripts.FnSetExecutionTags, ffscripts.SetExecutionTagsCmd, ffscripts.ParseSetExecutionTags,
		ffscripts.SetExecutionTagsKeys{ExecCore: x.k.Core(), Tags: x.k.Tags()}, ffscripts.SetExecutionTagsArgs{Tags: tags}, nil)
}

func (g *gen) expireExecution(x *gexec) op {
	l := x.leaseOrNone(g)
	i := x.curIdx(g)
	return mk("expire execution "+x.id, ffscripts.FnExpireExecution, ffscripts.ExpireExecutionCmd, ffscripts.ParseExpireExecution,
		ffscripts.ExpireExecutionKeys{ExecCore: x.k.Core(), AttemptHash: x.k.Attempt(i), StreamMeta: x.k.StreamMeta(i),
			LeaseCurrent: x.k.LeaseCurrent(), LeaseHistory: x.k.LeaseHistory(), LeaseExpiry: x.p.LeaseExpiry(),
			WorkerLeases: x.p.WorkerLeases(l.Inst), LaneActive: x.p.LaneActive(g.lane), LaneTerminal: x.p.LaneTerminal(g.lane),
			AttemptTimeout: x.p.AttemptTimeout(), ExecutionDeadline: x.p.ExecutionDeadline(), LaneSuspended: x.p.LaneSuspended(g.lane),
			SuspensionTimeout: x.p.SuspensionTimeout(), SuspensionCurrent: x.k.SuspensionCurrent()},
		ffscripts.ExpireExecutionArgs{ExecutionID: x.id, ExpireReason: g.oneOf("attempt_timeout", "execution_deadline", "")},
		to[ffscripts.ExpireExecutionReply](x, "done"))
}

func (g *gen) closeWaitpoint(x *gexec) op {
	wp := x.wp(g)
	return mk("close waitpoint "+wp.id, ffscripts.FnCloseWaitpoint, ffscripts.CloseWaitpointCmd, ffscripts.ParseCloseWaitpoint,
		ffscripts.CloseWaitpointKeys{ExecCore: x.k.Core(), WaitpointHash: x.p.Waitpoint(wp.id), PendingWaitpointExpiry: x.p.PendingWaitpointExpiry()},
		ffscripts.CloseWaitpointArgs{WaitpointID: wp.id, Reason: g.oneOf("", "never_committed")}, nil)
}

func (g *gen) rotate(x *gexec) op {
	kid, secret := g.oneOf(kid1, kid2, "k3"), g.oneOf(secret1, secret2)
	return mk("rotate hmac "+x.p.Tag()+" -> "+kid, ffscripts.FnRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretCmd,
		ffscripts.ParseRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: x.p.HMACSecrets()},
		ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid, NewSecretHex: secret, GraceMs: int64(g.oneOfInt(0, 20, 60000))}, nil)
}

func (g *gen) listKids(x *gexec) op {
	return mk("list kids "+x.p.Tag(), ffscripts.FnListWaitpointHMACKids, ffscripts.ListWaitpointHMACKidsCmd,
		ffscripts.ParseListWaitpointHMACKids, ffscripts.ListWaitpointHMACKidsKeys{HMACSecrets: x.p.HMACSecrets()},
		ffscripts.ListWaitpointHMACKidsArgs{}, nil)
}
