package conformance

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// Exec is one execution of a scenario: its id, its keys and the exec_core the scenario
// expects (updated step by step with ExpectCore).
type Exec struct {
	s    *S
	ID   string
	K    keyspace.Exec
	P    keyspace.Partition
	Lane string
	core map[string]string // expected exec_core
}

// NewExec returns a new execution id in the scenario's partition (nothing is written).
func (s *S) NewExec() *Exec {
	id := keyspace.NewExecutionID(s.P)
	return &Exec{s: s, ID: id.String(), K: keyspace.ExecKeys(id), P: s.P, Lane: s.Lane}
}

// Lease is what a worker holds after a claim.
type Lease struct {
	Worker, Inst string
	LeaseID      string
	Epoch        string
	AttemptID    string
	Index        int64
	ExpiresAt    int64
}

func (l *Lease) idx() uint32 { return uint32(l.Index) }

// ---- reads --------------------------------------------------------------------------

// Hash returns HGETALL key (empty when the key does not exist).
func (s *S) Hash(key string) map[string]string {
	m, err := s.T.Client.Do(s.ctx, s.T.Client.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		s.Fatalf("HGETALL %s: %v", key, err)
	}
	return m
}

// Exists reports whether key exists.
func (s *S) Exists(key string) bool {
	n, err := s.T.Client.Do(s.ctx, s.T.Client.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		s.Fatalf("EXISTS %s: %v", key, err)
	}
	return n == 1
}

// Get returns GET key, "" when absent.
func (s *S) Get(key string) string {
	v, err := s.T.Client.Do(s.ctx, s.T.Client.B().Get().Key(key).Build()).ToString()
	if err != nil && !valkey.IsValkeyNil(err) {
		s.Fatalf("GET %s: %v", key, err)
	}
	return v
}

// Members returns the members of a SET, sorted.
func (s *S) Members(key string) []string {
	m, err := s.T.Client.Do(s.ctx, s.T.Client.B().Smembers().Key(key).Build()).AsStrSlice()
	if err != nil {
		s.Fatalf("SMEMBERS %s: %v", key, err)
	}
	slices.Sort(m)
	if len(m) == 0 {
		return nil
	}
	return m
}

// ZSet returns a ZSET as member → score (integral scores without a fraction).
func (s *S) ZSet(key string) map[string]string {
	zs, err := s.T.Client.Do(s.ctx, s.T.Client.B().Zrange().Key(key).Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		s.Fatalf("ZRANGE %s: %v", key, err)
	}
	out := map[string]string{}
	for _, z := range zs {
		out[z.Member] = fmtScore(z.Score)
	}
	return out
}

// StreamFields returns the field maps of a stream's entries, oldest first.
func (s *S) StreamFields(key string) []map[string]string {
	es, err := s.T.Client.Do(s.ctx, s.T.Client.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		s.Fatalf("XRANGE %s: %v", key, err)
	}
	var out []map[string]string
	for _, e := range es {
		out = append(out, e.FieldValues)
	}
	return out
}

func fmtScore(f float64) string {
	if f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}

// indexes lists the partition-level ZSETs an execution can be in, by short name.
func (e *Exec) indexes() map[string]string {
	p, l := e.P, e.Lane
	return map[string]string{
		"eligible": p.LaneEligible(l), "delayed": p.LaneDelayed(l), "active": p.LaneActive(l),
		"terminal": p.LaneTerminal(l), "suspended": p.LaneSuspended(l),
		"blocked:route": p.LaneBlockedRoute(l), "blocked:budget": p.LaneBlockedBudget(l),
		"blocked:quota": p.LaneBlockedQuota(l), "blocked:operator": p.LaneBlockedOperator(l),
		"blocked:dependencies": p.LaneBlockedDependencies(l),
		"lease_expiry":         p.LeaseExpiry(), "attempt_timeout": p.AttemptTimeout(),
		"execution_deadline": p.ExecutionDeadline(), "suspension_timeout": p.SuspensionTimeout(),
	}
}

// Where returns the indexes holding the execution with their scores, plus
// "worker:<inst>" → "member" for each named worker instance whose lease set holds it.
func (e *Exec) Where(insts ...string) map[string]string {
	s := e.s
	names := slices.Sorted(maps.Keys(e.indexes()))
	keys := e.indexes()
	cmds := make(valkey.Commands, 0, len(names)+len(insts))
	for _, n := range names {
		cmds = append(cmds, s.T.Client.B().Zscore().Key(keys[n]).Member(e.ID).Build())
	}
	for _, inst := range insts {
		cmds = append(cmds, s.T.Client.B().Sismember().Key(e.P.WorkerLeases(inst)).Member(e.ID).Build())
	}
	out := map[string]string{}
	for i, r := range s.T.Client.DoMulti(s.ctx, cmds...) {
		if i < len(names) {
			f, err := r.AsFloat64()
			if valkey.IsValkeyNil(err) {
				continue
			}
			if err != nil {
				s.Fatalf("ZSCORE %s: %v", keys[names[i]], err)
			}
			out[names[i]] = fmtScore(f)
			continue
		}
		n, err := r.AsInt64()
		if err != nil {
			s.Fatalf("SISMEMBER: %v", err)
		}
		if n == 1 {
			out["worker:"+insts[i-len(names)]] = "member"
		}
	}
	return out
}

// WantWhere compares Where(insts...) with want (values may be time patterns).
func (e *Exec) WantWhere(want map[string]string, insts ...string) {
	e.s.Want("index membership of "+e.ID, want, e.Where(insts...))
}

// ExpectCore applies patch to the expected exec_core (see Merge) and compares the
// whole hash.
// Once matched, time patterns in the expectation are replaced by the values seen, so
// later steps that reuse a call name cannot change what earlier steps proved.
func (e *Exec) ExpectCore(patch map[string]string) {
	e.Merge(patch)
	got := e.s.Hash(e.K.Core())
	e.s.Want("exec_core of "+e.ID, e.core, got)
	for k, v := range e.core {
		if v == "*" || strings.Contains(v, "~") {
			e.core[k] = got[k]
		}
	}
}

// Merge applies patch to the expected exec_core without comparing: "" values are kept
// as "", a value of Deleted removes the field.
func (e *Exec) Merge(patch map[string]string) {
	if e.core == nil {
		e.core = map[string]string{}
	}
	for k, v := range patch {
		if v == Deleted {
			delete(e.core, k)
			continue
		}
		e.core[k] = v
	}
}

// Deleted in an ExpectCore patch removes a field from the expectation.
const Deleted = "\x00deleted"

// CoreField returns one field of the actual exec_core.
func (e *Exec) CoreField(f string) string { return e.s.Hash(e.K.Core())[f] }

// ---- calls (each records its server time window under its name) ---------------------

// CreateOpts changes the defaults of Create.
type CreateOpts struct {
	Priority   int64
	Policy     string // default "{}"
	Payload    string // default "payload"
	DelayUntil *int64
	Deadline   *int64
	Tags       string // default "{}"
	IdemKey    string // create-time idempotency key
	// WantCaps is the required_capabilities CSV the policy should produce.
	WantCaps string
}

func (e *Exec) createCall(o CreateOpts) (ffscripts.CreateExecutionReply, error) {
	if o.Policy == "" {
		o.Policy = "{}"
	}
	if o.Payload == "" {
		o.Payload = "payload"
	}
	if o.Tags == "" {
		o.Tags = "{}"
	}
	sched := e.P.LaneEligible(e.Lane)
	if o.DelayUntil != nil {
		sched = e.P.LaneDelayed(e.Lane)
	}
	idem := e.P.Noop()
	var ttl *int64
	if o.IdemKey != "" {
		idem = e.P.Idempotency("ns", o.IdemKey)
		ttl = ptr(int64(86400000))
	}
	var r ffscripts.CreateExecutionReply
	var err error
	e.s.timed("create", func() {
		r, err = e.s.C.CreateExecution(e.s.ctx, ffscripts.CreateExecutionKeys{
			ExecCore: e.K.Core(), Payload: e.K.Payload(), Policy: e.K.Policy(), Tags: e.K.Tags(),
			SchedulingZset: sched, IdempotencyKey: idem, ExecutionDeadline: e.P.ExecutionDeadline(),
			AllExecutions: e.P.AllExecutions(),
		}, ffscripts.CreateExecutionArgs{
			ExecutionID: e.ID, Namespace: "ns", LaneID: e.Lane, ExecutionKind: "kind",
			Priority: o.Priority, CreatorIdentity: "conformance", PolicyJSON: o.Policy,
			InputPayload: []byte(o.Payload), DelayUntil: o.DelayUntil, DedupTTLMs: ttl,
			TagsJSON: o.Tags, ExecutionDeadlineAt: o.Deadline, PartitionID: strconv.Itoa(int(e.P)),
		})
	})
	return r, err
}

// Create creates the execution and checks the reply and the whole exec_core.
func (e *Exec) Create(o CreateOpts) {
	s := e.s
	s.Step("create " + e.ID)
	r, err := e.createCall(o)
	s.OK("ff_create_execution", err)
	public := "waiting"
	if o.DelayUntil != nil {
		public = "delayed"
	}
	s.Eq("ff_create_execution reply", ffscripts.CreateExecutionReply{Status: "OK", ExecutionID: e.ID, PublicState: public}, r)
	e.core = nil
	core := map[string]string{
		"execution_id": e.ID, "namespace": "ns", "lane_id": e.Lane, "execution_kind": "kind",
		"partition_id": strconv.Itoa(int(e.P)), "creator_identity": "conformance",
		"priority":        strconv.FormatInt(min(max(o.Priority, 0), 9000), 10),
		"lifecycle_phase": "runnable", "ownership_state": "unowned",
		"eligibility_state": "eligible_now", "blocking_reason": "waiting_for_worker",
		"blocking_detail": "", "terminal_outcome": "none", "attempt_state": "pending_first_attempt",
		"public_state": "waiting", "delay_until": "",
		"total_attempt_count": "0", "current_attempt_index": "", "current_attempt_id": "",
		"current_lease_id": "", "current_lease_epoch": "0", "current_worker_id": "",
		"current_worker_instance_id": "", "current_lane": e.Lane, "retry_count": "0",
		"replay_count": "0", "lease_reclaim_count": "0", "created_at": "~create",
		"started_at": "", "completed_at": "", "last_transition_at": "~create",
		"last_mutation_at": "~create", "lease_acquired_at": "", "lease_expires_at": "",
		"lease_last_renewed_at": "", "lease_renewal_deadline": "", "lease_expired_at": "",
		"lease_revoked_at": "", "lease_revoke_reason": "", "current_suspension_id": "",
		"current_waitpoint_id": "", "pending_retry_reason": "", "pending_replay_reason": "",
		"pending_replay_requested_by": "", "pending_previous_attempt_index": "",
		"progress_pct": "", "progress_message": "", "progress_updated_at": "", "flow_id": "",
	}
	if o.WantCaps != "" {
		core["required_capabilities"] = o.WantCaps
	}
	if o.DelayUntil != nil {
		d := strconv.FormatInt(*o.DelayUntil, 10)
		core["eligibility_state"], core["blocking_reason"] = "not_eligible_until_time", "waiting_for_delay"
		core["blocking_detail"], core["public_state"], core["delay_until"] = "delayed until "+d, "delayed", d
	}
	e.ExpectCore(core)
}

// createdAt returns the execution's created_at (to compute eligible scores).
func (e *Exec) createdAt() int64 {
	v, err := strconv.ParseInt(e.CoreField("created_at"), 10, 64)
	if err != nil {
		e.s.Fatalf("created_at of %s: %v", e.ID, err)
	}
	return v
}

// EligibleScore is the eligible ZSET score of the execution: -(priority*10^12)+created_at.
func (e *Exec) EligibleScore(priority int64) string {
	return strconv.FormatInt(-priority*1_000_000_000_000+e.createdAt(), 10)
}

// Grant issues a claim grant.
func (e *Exec) Grant(worker, inst, caps string) (ffscripts.IssueClaimGrantReply, error) {
	var r ffscripts.IssueClaimGrantReply
	var err error
	e.s.timed("grant", func() {
		r, err = e.s.C.IssueClaimGrant(e.s.ctx, ffscripts.IssueClaimGrantKeys{
			ExecCore: e.K.Core(), ClaimGrant: e.K.ClaimGrant(), LaneEligible: e.P.LaneEligible(e.Lane),
		}, ffscripts.IssueClaimGrantArgs{ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.Lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: caps})
	})
	return r, err
}

func (e *Exec) claimKeys(next uint32, inst string) ffscripts.ClaimExecutionKeys {
	return ffscripts.ClaimExecutionKeys{ExecCore: e.K.Core(), ClaimGrant: e.K.ClaimGrant(),
		LaneEligible: e.P.LaneEligible(e.Lane), LeaseExpiry: e.P.LeaseExpiry(),
		WorkerLeases: e.P.WorkerLeases(inst), AttemptHash: e.K.Attempt(next),
		AttemptUsage: e.K.AttemptUsage(next), AttemptPolicy: e.K.AttemptPolicy(next),
		AttemptsZset: e.K.Attempts(), LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(),
		LaneActive: e.P.LaneActive(e.Lane), AttemptTimeout: e.P.AttemptTimeout(),
		ExecutionDeadline: e.P.ExecutionDeadline()}
}

// Claim consumes a grant with a fresh lease id and attempt id.
func (e *Exec) Claim(worker, inst string, ttl int64) (*Lease, ffscripts.ClaimExecutionReply, error) {
	l := &Lease{Worker: worker, Inst: inst, LeaseID: uuid.NewString(), AttemptID: uuid.NewString()}
	next, _ := strconv.ParseUint(e.CoreField("total_attempt_count"), 10, 32)
	var r ffscripts.ClaimExecutionReply
	var err error
	e.s.timed("claim", func() {
		r, err = e.s.C.ClaimExecution(e.s.ctx, e.claimKeys(uint32(next), inst), ffscripts.ClaimExecutionArgs{
			ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst, LaneID: e.Lane,
			LeaseID: l.LeaseID, LeaseTTLMs: ttl, RenewBeforeMs: ttl * 2 / 3, AttemptID: l.AttemptID,
			AttemptPolicyJSON: "{}"})
	})
	l.Epoch, l.Index, l.ExpiresAt = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt
	return l, r, err
}

// MustClaim grants and claims, failing the scenario on any error.
func (e *Exec) MustClaim(worker, inst string, ttl int64) *Lease {
	if _, err := e.Grant(worker, inst, ""); err != nil {
		e.s.Fatalf("grant for %s: %v", worker, err)
	}
	l, _, err := e.Claim(worker, inst, ttl)
	if err != nil {
		e.s.Fatalf("claim for %s: %v", worker, err)
	}
	return l
}

// ClaimResumed consumes a grant for an interrupted attempt.
func (e *Exec) ClaimResumed(worker, inst string, ttl int64) (*Lease, ffscripts.ClaimResumedExecutionReply, error) {
	l := &Lease{Worker: worker, Inst: inst, LeaseID: uuid.NewString()}
	cur, _ := strconv.ParseUint(e.CoreField("current_attempt_index"), 10, 32)
	var r ffscripts.ClaimResumedExecutionReply
	var err error
	e.s.timed("claim_resumed", func() {
		r, err = e.s.C.ClaimResumedExecution(e.s.ctx, ffscripts.ClaimResumedExecutionKeys{
			ExecCore: e.K.Core(), ClaimGrant: e.K.ClaimGrant(), LaneEligible: e.P.LaneEligible(e.Lane),
			LeaseExpiry: e.P.LeaseExpiry(), WorkerLeases: e.P.WorkerLeases(inst),
			AttemptHash: e.K.Attempt(uint32(cur)), LeaseCurrent: e.K.LeaseCurrent(),
			LeaseHistory: e.K.LeaseHistory(), LaneActive: e.P.LaneActive(e.Lane),
			AttemptTimeout: e.P.AttemptTimeout(), ExecutionDeadline: e.P.ExecutionDeadline(),
		}, ffscripts.ClaimResumedExecutionArgs{ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.Lane, LeaseID: l.LeaseID, LeaseTTLMs: ttl})
	})
	l.Epoch, l.Index, l.ExpiresAt, l.AttemptID = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt, r.AttemptID
	return l, r, err
}

// Renew renews l.
func (e *Exec) Renew(l *Lease, ttl int64) (ffscripts.RenewLeaseReply, error) {
	var r ffscripts.RenewLeaseReply
	var err error
	e.s.timed("renew", func() {
		r, err = e.s.C.RenewLease(e.s.ctx, ffscripts.RenewLeaseKeys{ExecCore: e.K.Core(),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(), LeaseExpiry: e.P.LeaseExpiry()},
			ffscripts.RenewLeaseArgs{ExecutionID: e.ID, AttemptIndex: strconv.FormatInt(l.Index, 10),
				AttemptID: l.AttemptID, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, LeaseTTLMs: ttl,
				LeaseHistoryGraceMs: 5000})
	})
	return r, err
}

// Complete completes under l.
func (e *Exec) Complete(l *Lease, result string) (ffscripts.CompleteExecutionReply, error) {
	var r ffscripts.CompleteExecutionReply
	var err error
	e.s.timed("complete", func() {
		r, err = e.s.C.CompleteExecution(e.s.ctx, ffscripts.CompleteExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(l.idx()), LeaseExpiry: e.P.LeaseExpiry(),
			WorkerLeases: e.P.WorkerLeases(l.Inst), LaneTerminal: e.P.LaneTerminal(e.Lane),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(),
			LaneActive: e.P.LaneActive(e.Lane), StreamMeta: e.K.StreamMeta(l.idx()),
			Result: e.K.Result(), AttemptTimeout: e.P.AttemptTimeout(),
			ExecutionDeadline: e.P.ExecutionDeadline()},
			ffscripts.CompleteExecutionArgs{ExecutionID: e.ID, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch,
				AttemptID: l.AttemptID, ResultPayload: []byte(result)})
	})
	return r, err
}

// Fail fails under l with a retry policy ("" = none).
func (e *Exec) Fail(l *Lease, reason, policy string) (ffscripts.FailExecutionReply, error) {
	var r ffscripts.FailExecutionReply
	var err error
	e.s.timed("fail", func() {
		r, err = e.s.C.FailExecution(e.s.ctx, ffscripts.FailExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(l.idx()), LeaseExpiry: e.P.LeaseExpiry(),
			WorkerLeases: e.P.WorkerLeases(l.Inst), LaneTerminal: e.P.LaneTerminal(e.Lane),
			LaneDelayed: e.P.LaneDelayed(e.Lane), LeaseCurrent: e.K.LeaseCurrent(),
			LeaseHistory: e.K.LeaseHistory(), LaneActive: e.P.LaneActive(e.Lane),
			StreamMeta: e.K.StreamMeta(l.idx()), AttemptTimeout: e.P.AttemptTimeout(),
			ExecutionDeadline: e.P.ExecutionDeadline()},
			ffscripts.FailExecutionArgs{ExecutionID: e.ID, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch,
				AttemptID: l.AttemptID, FailureReason: reason, FailureCategory: "conformance",
				RetryPolicyJSON: policy})
	})
	return r, err
}

// Delay self-delays under l until the given ms.
func (e *Exec) Delay(l *Lease, until int64) (ffscripts.DelayExecutionReply, error) {
	var r ffscripts.DelayExecutionReply
	var err error
	e.s.timed("delay", func() {
		r, err = e.s.C.DelayExecution(e.s.ctx, ffscripts.DelayExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(l.idx()), LeaseCurrent: e.K.LeaseCurrent(),
			LeaseHistory: e.K.LeaseHistory(), LeaseExpiry: e.P.LeaseExpiry(),
			WorkerLeases: e.P.WorkerLeases(l.Inst), LaneActive: e.P.LaneActive(e.Lane),
			LaneDelayed: e.P.LaneDelayed(e.Lane), AttemptTimeout: e.P.AttemptTimeout()},
			ffscripts.DelayExecutionArgs{ExecutionID: e.ID, LeaseID: l.LeaseID, LeaseEpoch: l.Epoch,
				AttemptID: l.AttemptID, DelayUntil: until})
	})
	return r, err
}

// Promote promotes a delayed execution with the caller's now_ms.
func (e *Exec) Promote(nowMs int64) (ffscripts.PromoteDelayedReply, error) {
	var r ffscripts.PromoteDelayedReply
	var err error
	e.s.timed("promote", func() {
		r, err = e.s.C.PromoteDelayed(e.s.ctx, ffscripts.PromoteDelayedKeys{ExecCore: e.K.Core(),
			LaneDelayed: e.P.LaneDelayed(e.Lane), LaneEligible: e.P.LaneEligible(e.Lane)},
			ffscripts.PromoteDelayedArgs{ExecutionID: e.ID, NowMs: nowMs})
	})
	return r, err
}

// Block blocks the execution for admission into blocked:route.
func (e *Exec) Block(reason string, nowMs int64) (ffscripts.BlockExecutionForAdmissionReply, error) {
	var r ffscripts.BlockExecutionForAdmissionReply
	var err error
	e.s.timed("block", func() {
		r, err = e.s.C.BlockExecutionForAdmission(e.s.ctx, ffscripts.BlockExecutionForAdmissionKeys{
			ExecCore: e.K.Core(), LaneEligible: e.P.LaneEligible(e.Lane), BlockedZset: e.P.LaneBlockedRoute(e.Lane)},
			ffscripts.BlockExecutionForAdmissionArgs{ExecutionID: e.ID, BlockingReason: reason,
				BlockingDetail: "no connected worker satisfies required_capabilities", NowMs: nowMs})
	})
	return r, err
}

// Unblock moves the execution from blocked:route back to eligible.
func (e *Exec) Unblock(nowMs int64, expected string) (ffscripts.UnblockExecutionReply, error) {
	var r ffscripts.UnblockExecutionReply
	var err error
	e.s.timed("unblock", func() {
		r, err = e.s.C.UnblockExecution(e.s.ctx, ffscripts.UnblockExecutionKeys{ExecCore: e.K.Core(),
			BlockedZset: e.P.LaneBlockedRoute(e.Lane), LaneEligible: e.P.LaneEligible(e.Lane)},
			ffscripts.UnblockExecutionArgs{ExecutionID: e.ID, NowMs: nowMs, ExpectedBlockingReason: expected})
	})
	return r, err
}

// Cancel cancels; inst names the caller's worker lease set (KEYS[7]).
func (e *Exec) Cancel(reason, source, leaseID, epoch, inst string) (ffscripts.CancelExecutionReply, error) {
	c := e.s.Hash(e.K.Core())
	idx, _ := strconv.ParseUint(c["current_attempt_index"], 10, 32)
	wp := c["current_waitpoint_id"]
	if wp == "" {
		wp = "none"
	}
	var r ffscripts.CancelExecutionReply
	var err error
	e.s.timed("cancel", func() {
		r, err = e.s.C.CancelExecution(e.s.ctx, ffscripts.CancelExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(uint32(idx)), StreamMeta: e.K.StreamMeta(uint32(idx)),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(),
			LeaseExpiry: e.P.LeaseExpiry(), WorkerLeases: e.P.WorkerLeases(inst),
			SuspensionCurrent: e.K.SuspensionCurrent(), WaitpointHash: e.P.Waitpoint(wp),
			WaitpointCondition: e.P.WaitpointCondition(wp), SuspensionTimeout: e.P.SuspensionTimeout(),
			LaneTerminal: e.P.LaneTerminal(e.Lane), AttemptTimeout: e.P.AttemptTimeout(),
			ExecutionDeadline: e.P.ExecutionDeadline(), LaneEligible: e.P.LaneEligible(e.Lane),
			LaneDelayed: e.P.LaneDelayed(e.Lane), BlockedDependencies: e.P.LaneBlockedDependencies(e.Lane),
			BlockedBudget: e.P.LaneBlockedBudget(e.Lane), BlockedQuota: e.P.LaneBlockedQuota(e.Lane),
			BlockedRoute: e.P.LaneBlockedRoute(e.Lane), BlockedOperator: e.P.LaneBlockedOperator(e.Lane)},
			ffscripts.CancelExecutionArgs{ExecutionID: e.ID, Reason: reason, Source: source,
				LeaseID: leaseID, LeaseEpoch: epoch})
	})
	return r, err
}

// Mark runs the lease-expiry scanner's function.
func (e *Exec) Mark() (ffscripts.MarkLeaseExpiredIfDueReply, error) {
	var r ffscripts.MarkLeaseExpiredIfDueReply
	var err error
	e.s.timed("mark", func() {
		r, err = e.s.C.MarkLeaseExpiredIfDue(e.s.ctx, ffscripts.MarkLeaseExpiredIfDueKeys{ExecCore: e.K.Core(),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseExpiry: e.P.LeaseExpiry(), LeaseHistory: e.K.LeaseHistory()},
			ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: e.ID})
	})
	return r, err
}

// ReclaimGrant issues a reclaim grant.
func (e *Exec) ReclaimGrant(worker, inst, caps string) (ffscripts.IssueReclaimGrantReply, error) {
	var r ffscripts.IssueReclaimGrantReply
	var err error
	e.s.timed("reclaim_grant", func() {
		r, err = e.s.C.IssueReclaimGrant(e.s.ctx, ffscripts.IssueReclaimGrantKeys{ExecCore: e.K.Core(),
			ClaimGrant: e.K.ClaimGrant(), LeaseExpiry: e.P.LeaseExpiry()},
			ffscripts.IssueReclaimGrantArgs{ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst,
				LaneID: e.Lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: caps})
	})
	return r, err
}

// Reclaim takes over an expired or revoked lease.
func (e *Exec) Reclaim(worker, inst string, ttl int64, maxReclaims *int64) (*Lease, ffscripts.ReclaimExecutionReply, error) {
	c := e.s.Hash(e.K.Core())
	old, _ := strconv.ParseUint(c["current_attempt_index"], 10, 32)
	next, _ := strconv.ParseUint(c["total_attempt_count"], 10, 32)
	l := &Lease{Worker: worker, Inst: inst, LeaseID: uuid.NewString(), AttemptID: uuid.NewString()}
	var r ffscripts.ReclaimExecutionReply
	var err error
	e.s.timed("reclaim", func() {
		r, err = e.s.C.ReclaimExecution(e.s.ctx, ffscripts.ReclaimExecutionKeys{ExecCore: e.K.Core(),
			ClaimGrant: e.K.ClaimGrant(), OldAttemptHash: e.K.Attempt(uint32(old)),
			OldStreamMeta: e.K.StreamMeta(uint32(old)), NewAttemptHash: e.K.Attempt(uint32(next)),
			NewAttemptUsage: e.K.AttemptUsage(uint32(next)), AttemptsZset: e.K.Attempts(),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(),
			LeaseExpiry: e.P.LeaseExpiry(), WorkerLeases: e.P.WorkerLeases(inst),
			LaneActive: e.P.LaneActive(e.Lane), AttemptTimeout: e.P.AttemptTimeout(),
			ExecutionDeadline: e.P.ExecutionDeadline()},
			ffscripts.ReclaimExecutionArgs{ExecutionID: e.ID, WorkerID: worker, WorkerInstanceID: inst,
				LaneID: e.Lane, LeaseID: l.LeaseID, LeaseTTLMs: ttl, AttemptID: l.AttemptID,
				AttemptPolicyJSON: "{}", DefaultMaxReclaimCount: maxReclaims})
	})
	l.Epoch, l.Index, l.ExpiresAt = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt
	return l, r, err
}

// Revoke revokes the current lease (operator).
func (e *Exec) Revoke(expected, reason, inst string) (ffscripts.RevokeLeaseReply, error) {
	var r ffscripts.RevokeLeaseReply
	var err error
	e.s.timed("revoke", func() {
		r, err = e.s.C.RevokeLease(e.s.ctx, ffscripts.RevokeLeaseKeys{ExecCore: e.K.Core(),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(),
			LeaseExpiry: e.P.LeaseExpiry(), WorkerLeases: e.P.WorkerLeases(inst)},
			ffscripts.RevokeLeaseArgs{ExecutionID: e.ID, ExpectedLeaseID: expected, RevokeReason: reason})
	})
	return r, err
}

func ptr[T any](v T) *T { return &v }
