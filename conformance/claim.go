package conformance

import (
	"errors"
	"slices"
	"strconv"

	"github.com/flowfabric/ffgo/ffscripts"
)

// Lease TTL of scenarios in which nothing should expire.
const longTTL = 60000

// Worker identities used by the scenarios.
const (
	workerA, instA = "w-a", "wi-a"
	workerB, instB = "w-b", "wi-b"
)

// ClaimScenarios are the claim & lease contract (spec/claim-lease.md).
func ClaimScenarios() []Scenario {
	return []Scenario{
		{Name: "claim/create", Contract: "claim", Run: claimCreate},
		{Name: "claim/create_delayed", Contract: "claim", Pins: []string{"D5"}, Run: claimCreateDelayed},
		{Name: "claim/grant_and_claim", Contract: "claim", Run: claimGrantAndClaim},
		{Name: "claim/renew", Contract: "claim", Pins: []string{"D7"}, Run: claimRenew},
		{Name: "claim/complete_and_replay", Contract: "claim", Run: claimComplete},
		{Name: "claim/fail_retry_promote_reclaim", Contract: "claim", Pins: []string{"D1"}, Run: claimFailRetry},
		{Name: "claim/cancel", Contract: "claim", Pins: []string{"D8"}, Run: claimCancel},
		{Name: "claim/delay_and_resume", Contract: "claim", Run: claimDelay},
		{Name: "claim/capability_block_unblock", Contract: "claim", Pins: []string{"D14"}, Run: claimCapabilities},
		{Name: "claim/lease_expiry_reclaim", Contract: "claim", Time: "poll", Run: claimLeaseExpiry},
		{Name: "claim/lease_expiry_clock", Contract: "claim", Time: "clock", Run: claimLeaseExpiryClock},
		{Name: "claim/fencing", Contract: "claim", Run: claimFencing},
		{Name: "claim/revoke_reclaim", Contract: "claim", Run: claimRevoke},
		{Name: "claim/claim_next", Contract: "claim", Run: claimNext},
		{Name: "claim/update_progress", Contract: "claim", Run: claimUpdateProgress},
		{Name: "claim/append_frame", Contract: "claim", Pins: []string{"D13"}, Run: claimAppendFrame},
		{Name: "claim/set_execution_tags", Contract: "claim", Run: claimSetTags},
		{Name: "claim/claim_grant_expired", Contract: "claim", Time: "poll", Run: claimGrantExpired},
		{Name: "claim/holder_after_lease_expiry", Contract: "claim", Time: "poll", Run: claimHolderAfterLeaseExpiry},
		{Name: "claim/expire_active", Contract: "claim", Run: claimExpireActive},
	}
}

func claimCreate(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{Priority: 5})
	s.Step("indexes after create")
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(5)})
	// The partition's set may hold other users' executions: check membership only.
	s.Eq("in all_executions", true, slices.Contains(s.Members(e.P.AllExecutions()), e.ID))
	s.Eq("payload", "payload", s.Get(e.K.Payload()))
	s.Eq("policy", "{}", s.Get(e.K.Policy()))

	s.Step("create again is DUPLICATE")
	r, err := e.createCall(CreateOpts{Priority: 5})
	s.OK("ff_create_execution", err)
	s.Eq("reply", ffscripts.CreateExecutionReply{Status: "DUPLICATE", ExecutionID: e.ID}, r)

	s.Step("idempotency key names the first execution")
	a := s.NewExec()
	a.Create(CreateOpts{IdemKey: "idem-1", Priority: 9999})
	b := s.NewExec()
	r, err = b.createCall(CreateOpts{IdemKey: "idem-1"})
	s.OK("ff_create_execution", err)
	s.Eq("reply", ffscripts.CreateExecutionReply{Status: "DUPLICATE", ExecutionID: a.ID}, r)
	s.Eq("second exec_core exists", false, s.Exists(b.K.Core()))
	s.Eq("idempotency key", a.ID, s.Get(a.P.Idempotency("ns", "idem-1")))
	a.WantWhere(map[string]string{"eligible": a.EligibleScore(9000)})

	s.Step("bad capabilities")
	_, err = s.NewExec().createCall(CreateOpts{Policy: `{"routing_requirements":{"required_capabilities":["a b"]}}`})
	s.WantErr("create", err, "ff_create_execution", "invalid_capabilities", "required:control_or_whitespace")
}

func claimCreateDelayed(s *S) {
	now := s.now()
	e := s.NewExec()
	until := now + 3_600_000
	e.Create(CreateOpts{DelayUntil: &until})
	e.WantWhere(map[string]string{"delayed": strconv.FormatInt(until, 10)})

	s.Step("promote before due")
	r, err := e.Promote(now)
	s.OK("ff_promote_delayed", err)
	s.Eq("reply", ffscripts.PromoteDelayedReply{Status: "OK", Result: "not_yet_due"}, r)

	s.Step("promote when due")
	r, err = e.Promote(until)
	s.OK("ff_promote_delayed", err)
	s.Eq("reply", ffscripts.PromoteDelayedReply{Status: "OK", Result: "promoted"}, r)
	u := strconv.FormatInt(until, 10)
	e.ExpectCore(map[string]string{"eligibility_state": "eligible_now", "blocking_reason": "waiting_for_worker",
		"blocking_detail": "", "public_state": "waiting", "delay_until": "", "last_transition_at": u, "last_mutation_at": u})
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("past delay goes to eligible (D5)")
	p := s.NewExec()
	past := now - 1000
	_, err = p.createCall(CreateOpts{DelayUntil: &past})
	s.OK("ff_create_execution", err)
	p.WantWhere(map[string]string{"eligible": p.EligibleScore(0)})
}

// claimed is the exec_core patch of a fresh claim by l.
func claimedCore(l *Lease, lane string, index int64, epoch string, started string) map[string]string {
	i := strconv.FormatInt(index, 10)
	return map[string]string{
		"lifecycle_phase": "active", "ownership_state": "leased", "eligibility_state": "not_applicable",
		"blocking_reason": "none", "blocking_detail": "", "terminal_outcome": "none",
		"attempt_state": "running_attempt", "public_state": "active",
		"current_attempt_index": i, "total_attempt_count": strconv.FormatInt(index+1, 10),
		"current_attempt_id": l.AttemptID, "current_lease_id": l.LeaseID, "current_lease_epoch": epoch,
		"current_worker_id": l.Worker, "current_worker_instance_id": l.Inst, "current_lane": lane,
		"lease_acquired_at": "~claim", "lease_expires_at": "~claim+" + strconv.Itoa(longTTL),
		"lease_last_renewed_at": "~claim", "lease_renewal_deadline": "~claim+" + strconv.Itoa(longTTL*2/3),
		"started_at": started, "pending_retry_reason": "", "pending_replay_reason": "",
		"pending_replay_requested_by": "", "pending_previous_attempt_index": "",
		"last_transition_at": "~claim", "last_mutation_at": "~claim",
		"lease_expired_at": "", "lease_revoked_at": "", "lease_revoke_reason": "",
	}
}

func claimGrantAndClaim(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})

	s.Step("grant")
	g, err := e.Grant(workerA, instA, "")
	s.OK("ff_issue_claim_grant", err)
	s.Eq("reply", ffscripts.IssueClaimGrantReply{Status: "OK", ExecutionID: e.ID}, g)
	s.Want("claim_grant", map[string]string{"worker_id": workerA, "worker_instance_id": instA,
		"lane_id": e.Lane, "capability_hash": "", "route_snapshot_json": "", "admission_summary": "",
		"created_at": "~grant", "grant_expires_at": "~grant+5000"}, s.Hash(e.K.ClaimGrant()))
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("second grant")
	_, err = e.Grant(workerB, instB, "")
	s.WantErr("grant", err, "ff_issue_claim_grant", "grant_already_exists")

	s.Step("claim by another worker")
	_, _, err = e.Claim(workerB, instB, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "invalid_claim_grant")

	s.Step("claim")
	l, r, err := e.Claim(workerA, instA, longTTL)
	s.OK("ff_claim_execution", err)
	s.Eq("reply", ffscripts.ClaimExecutionReply{Status: "OK", LeaseID: l.LeaseID, LeaseEpoch: 1,
		LeaseExpiresAt: s.TS("claim", longTTL, r.LeaseExpiresAt), AttemptID: l.AttemptID,
		AttemptIndex: 0, AttemptType: "initial"}, r)
	e.ExpectCore(claimedCore(l, e.Lane, 0, "1", "~claim"))
	s.Eq("claim_grant consumed", false, s.Exists(e.K.ClaimGrant()))
	exp := "~claim+" + strconv.Itoa(longTTL)
	e.WantWhere(map[string]string{"active": exp, "lease_expiry": exp, "worker:" + instA: "member"}, instA)
	s.Want("attempt 0", map[string]string{"attempt_id": l.AttemptID, "execution_id": e.ID,
		"attempt_index": "0", "attempt_type": "initial", "attempt_state": "started",
		"created_at": "~claim", "started_at": "~claim", "lease_id": l.LeaseID, "lease_epoch": "1",
		"worker_id": workerA, "worker_instance_id": instA}, s.Hash(e.K.Attempt(0)))
	s.Want("lease:current", map[string]string{"lease_id": l.LeaseID, "lease_epoch": "1",
		"execution_id": e.ID, "attempt_id": l.AttemptID, "worker_id": workerA,
		"worker_instance_id": instA, "acquired_at": "~claim", "expires_at": exp,
		"last_renewed_at": "~claim", "renewal_deadline": "~claim+" + strconv.Itoa(longTTL*2/3)},
		s.Hash(e.K.LeaseCurrent()))
	s.Want("attempts", map[string]string{"0": "~claim"}, s.ZSet(e.K.Attempts()))
	hist := s.StreamFields(e.K.LeaseHistory())
	if len(hist) != 1 {
		s.Fatalf("lease history has %d events, want 1", len(hist))
	}
	s.Want("lease history acquired", map[string]string{"event": "acquired", "lease_id": l.LeaseID,
		"lease_epoch": "1", "attempt_id": l.AttemptID, "attempt_index": "0", "worker_id": workerA,
		"ts": "~claim"}, hist[0])

	s.Step("claim again")
	_, _, err = e.Claim(workerA, instA, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "execution_not_leaseable")
}

func claimRenew(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	claimExp := strconv.FormatInt(l.ExpiresAt, 10)

	s.Step("renew")
	r, err := e.Renew(l, 90000)
	s.OK("ff_renew_lease", err)
	s.Eq("reply", ffscripts.RenewLeaseReply{Status: "OK", ExpiresAt: s.TS("renew", 90000, r.ExpiresAt)}, r)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	e.ExpectCore(map[string]string{"lease_last_renewed_at": "~renew", "lease_renewal_deadline": "~renew+60000",
		"lease_expires_at": "~renew+90000", "last_mutation_at": "~renew"})
	// D7: the lane active score keeps the claim-time expiry; lease_expiry follows renewals.
	e.WantWhere(map[string]string{"active": claimExp, "lease_expiry": "~renew+90000", "worker:" + instA: "member"}, instA)
	s.Want("lease:current", map[string]string{"lease_id": l.LeaseID, "lease_epoch": "1",
		"execution_id": e.ID, "attempt_id": l.AttemptID, "worker_id": workerA,
		"worker_instance_id": instA, "acquired_at": "~claim", "expires_at": "~renew+90000",
		"last_renewed_at": "~renew", "renewal_deadline": "~renew+60000"}, s.Hash(e.K.LeaseCurrent()))
	s.Eq("lease history events", 1, len(s.StreamFields(e.K.LeaseHistory())))
}

func claimComplete(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)

	s.Step("complete")
	r, err := e.Complete(l, "the result")
	s.OK("ff_complete_execution", err)
	s.Eq("reply", ffscripts.CompleteExecutionReply{Status: "OK", Result: "completed"}, r)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	e.ExpectCore(map[string]string{"lifecycle_phase": "terminal", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "blocking_reason": "none", "blocking_detail": "",
		"terminal_outcome": "success", "attempt_state": "attempt_terminal", "public_state": "completed",
		"completed_at": "~complete", "current_lease_id": "", "current_worker_id": "",
		"current_worker_instance_id": "", "lease_expires_at": "", "lease_last_renewed_at": "",
		"lease_renewal_deadline": "", "last_transition_at": "~complete", "last_mutation_at": "~complete"})
	e.WantWhere(map[string]string{"terminal": "~complete"}, instA)
	s.Eq("result", "the result", s.Get(e.K.Result()))
	s.Eq("lease:current deleted", false, s.Exists(e.K.LeaseCurrent()))
	att := s.Hash(e.K.Attempt(0))
	s.Want("attempt state", map[string]string{"attempt_state": "ended_success", "ended_at": "~complete"},
		map[string]string{"attempt_state": att["attempt_state"], "ended_at": att["ended_at"]})
	hist := s.StreamFields(e.K.LeaseHistory())
	s.Want("released event", map[string]string{"event": "released", "lease_id": l.LeaseID,
		"lease_epoch": "1", "attempt_index": "0", "reason": "completed", "ts": "~complete"}, hist[len(hist)-1])

	s.Step("replayed complete")
	_, err = e.Complete(l, "the result")
	s.WantErr("complete", err, "ff_complete_execution", "execution_not_active", "success", "1", "terminal", l.AttemptID)
}

func claimFailRetry(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	policy := `{"max_retries":2,"backoff":{"type":"exponential","initial_delay_ms":1001,"max_delay_ms":60000,"multiplier":1.5}}`

	s.Step("fail with a retry left")
	r, err := e.Fail(l, "boom", policy)
	s.OK("ff_fail_execution", err)
	s.Eq("reply", ffscripts.FailExecutionReply{Status: "OK", Result: "retry_scheduled",
		DelayUntil: s.TS("fail", 1001, r.DelayUntil)}, r)
	until := strconv.FormatInt(r.DelayUntil, 10)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	e.ExpectCore(map[string]string{"lifecycle_phase": "runnable", "ownership_state": "unowned",
		"eligibility_state": "not_eligible_until_time", "blocking_reason": "waiting_for_retry_backoff",
		"blocking_detail":  "retry backoff until " + until + " (attempt 0 failed: boom)",
		"terminal_outcome": "none", "attempt_state": "pending_retry_attempt", "public_state": "delayed",
		"pending_retry_reason": "boom", "pending_previous_attempt_index": "0", "retry_count": "1",
		"current_attempt_id": "", "current_lease_id": "", "current_worker_id": "",
		"current_worker_instance_id": "", "lease_expires_at": "", "lease_last_renewed_at": "",
		"lease_renewal_deadline": "", "delay_until": until, "failure_reason": "boom",
		"last_transition_at": "~fail", "last_mutation_at": "~fail"})
	e.WantWhere(map[string]string{"delayed": until}, instA)
	att := s.Hash(e.K.Attempt(0))
	s.Want("attempt 0", map[string]string{"attempt_state": "ended_failure", "failure_reason": "boom",
		"failure_category": "conformance", "ended_at": "~fail"}, map[string]string{
		"attempt_state": att["attempt_state"], "failure_reason": att["failure_reason"],
		"failure_category": att["failure_category"], "ended_at": att["ended_at"]})

	s.Step("promote the retry")
	pr, err := e.Promote(r.DelayUntil)
	s.OK("ff_promote_delayed", err)
	s.Eq("reply", ffscripts.PromoteDelayedReply{Status: "OK", Result: "promoted"}, pr)
	e.ExpectCore(map[string]string{"eligibility_state": "eligible_now", "blocking_reason": "waiting_for_worker",
		"blocking_detail": "", "public_state": "waiting", "delay_until": "",
		"last_transition_at": until, "last_mutation_at": until})
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("claim the retry")
	l2 := e.MustClaim(workerB, instB, longTTL)
	if l2.Index != 1 || l2.Epoch != "2" {
		s.Fatalf("retry claim got attempt %d epoch %s, want attempt 1 epoch 2", l2.Index, l2.Epoch)
	}
	s.Want("attempt 1", map[string]string{"attempt_type": "retry", "retry_reason": "boom",
		"previous_attempt_index": "0"}, pick(s.Hash(e.K.Attempt(1)), "attempt_type", "retry_reason", "previous_attempt_index"))
	e.Merge(claimedCore(l2, e.Lane, 1, "2", ""))
	// started_at was set by the first claim and is kept.
	e.ExpectCore(map[string]string{"started_at": s.Hash(e.K.Attempt(0))["started_at"]})

	s.Step("second failure: backoff 1001*1.5 = 1501.5 floored (D1)")
	r, err = e.Fail(l2, "boom again", policy)
	s.OK("ff_fail_execution", err)
	s.Eq("reply", ffscripts.FailExecutionReply{Status: "OK", Result: "retry_scheduled",
		DelayUntil: s.TS("fail", 1501, r.DelayUntil)}, r)
	until = strconv.FormatInt(r.DelayUntil, 10)
	s.Want("exec_core", map[string]string{"delay_until": until, "retry_count": "2", "pending_previous_attempt_index": "1",
		"blocking_detail": "retry backoff until " + until + " (attempt 1 failed: boom again)"},
		pick(s.Hash(e.K.Core()), "delay_until", "retry_count", "pending_previous_attempt_index", "blocking_detail"))
	if _, err := e.Promote(r.DelayUntil); err != nil {
		s.Fatalf("promote: %v", err)
	}
	l3 := e.MustClaim(workerA, instA, longTTL)

	s.Step("fail with no retry left")
	r, err = e.Fail(l3, "boom at last", policy)
	s.OK("ff_fail_execution", err)
	s.Eq("reply", ffscripts.FailExecutionReply{Status: "OK", Result: "terminal_failed"}, r)
	e.Merge(claimedCore(l3, e.Lane, 2, "3", ""))
	e.ExpectCore(map[string]string{"lifecycle_phase": "terminal", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "blocking_reason": "none", "blocking_detail": "",
		"terminal_outcome": "failed", "attempt_state": "attempt_terminal", "public_state": "failed",
		"failure_reason": "boom at last", "completed_at": "~fail", "current_lease_id": "",
		"current_worker_id": "", "current_worker_instance_id": "", "lease_expires_at": "",
		"lease_last_renewed_at": "", "lease_renewal_deadline": "", "retry_count": "2",
		"lease_acquired_at": "~claim", "started_at": s.Hash(e.K.Attempt(0))["started_at"],
		"last_transition_at": "~fail", "last_mutation_at": "~fail"})
	e.WantWhere(map[string]string{"terminal": "~fail"}, instA, instB)
	s.Eq("attempts", 3, len(s.ZSet(e.K.Attempts())))
}

// pick returns the named fields of m (absent fields are left out).
func pick(m map[string]string, fields ...string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		if v, ok := m[f]; ok {
			out[f] = v
		}
	}
	return out
}

func claimCancel(s *S) {
	s.Step("cancel a waiting execution")
	w := s.NewExec()
	w.Create(CreateOpts{})
	r, err := w.Cancel("not needed", "operator_override", "", "", instA)
	s.OK("ff_cancel_execution", err)
	s.Eq("reply", ffscripts.CancelExecutionReply{Status: "OK", Result: "cancelled", PreviousPhase: "runnable"}, r)
	w.ExpectCore(map[string]string{"lifecycle_phase": "terminal", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "blocking_reason": "none", "blocking_detail": "",
		"terminal_outcome": "cancelled", "attempt_state": "pending_first_attempt", "public_state": "cancelled",
		"cancellation_reason": "not needed", "cancelled_by": "operator_override", "completed_at": "~cancel",
		"last_transition_at": "~cancel", "last_mutation_at": "~cancel"})
	w.WantWhere(map[string]string{"terminal": "~cancel"})

	s.Step("cancel a terminal execution")
	_, err = w.Cancel("again", "operator_override", "", "", instA)
	s.WantErr("cancel", err, "ff_cancel_execution", "execution_not_active", "cancelled", "0", "terminal", "")

	s.Step("cancel an active execution with a stale lease")
	a := s.NewExec()
	a.Create(CreateOpts{})
	l := a.MustClaim(workerA, instA, longTTL)
	_, err = a.Cancel("mine", "lease_holder", l.LeaseID, "7", instA)
	s.WantErr("cancel", err, "ff_cancel_execution", "stale_lease")

	s.Step("cancel an active execution from another instance's set (D8)")
	r, err = a.Cancel("mine", "lease_holder", l.LeaseID, l.Epoch, instB)
	s.OK("ff_cancel_execution", err)
	s.Eq("reply", ffscripts.CancelExecutionReply{Status: "OK", Result: "cancelled", PreviousPhase: "active"}, r)
	a.WantWhere(map[string]string{"terminal": "~cancel"}, instA, instB)
	s.Eq("lease:current deleted", false, s.Exists(a.K.LeaseCurrent()))
	att := s.Hash(a.K.Attempt(0))
	s.Want("attempt", map[string]string{"attempt_state": "ended_cancelled", "failure_reason": "cancelled: mine",
		"ended_at": "~cancel"}, pick(att, "attempt_state", "failure_reason", "ended_at"))
	core := s.Hash(a.K.Core())
	s.Want("exec_core", map[string]string{"public_state": "cancelled", "attempt_state": "attempt_terminal",
		"cancelled_by": "lease_holder", "current_lease_epoch": "1", "current_lease_id": ""},
		pick(core, "public_state", "attempt_state", "cancelled_by", "current_lease_epoch", "current_lease_id"))
}

func claimDelay(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	until := s.now() + 3_600_000
	u := strconv.FormatInt(until, 10)

	s.Step("delay")
	r, err := e.Delay(l, until)
	s.OK("ff_delay_execution", err)
	s.Eq("reply", ffscripts.DelayExecutionReply{Status: "OK", DelayUntil: until}, r)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	e.ExpectCore(map[string]string{"lifecycle_phase": "runnable", "ownership_state": "unowned",
		"eligibility_state": "not_eligible_until_time", "blocking_reason": "waiting_for_delay",
		"blocking_detail": "delayed until " + u, "terminal_outcome": "none",
		"attempt_state": "attempt_interrupted", "public_state": "delayed", "delay_until": u,
		"current_lease_id": "", "current_worker_id": "", "current_worker_instance_id": "",
		"lease_expires_at": "", "lease_last_renewed_at": "", "lease_renewal_deadline": "",
		"last_transition_at": "~delay", "last_mutation_at": "~delay"})
	e.WantWhere(map[string]string{"delayed": u}, instA)
	s.Want("attempt", map[string]string{"attempt_state": "suspended", "suspended_at": "~delay",
		"suspension_id": "worker_delay"}, pick(s.Hash(e.K.Attempt(0)), "attempt_state", "suspended_at", "suspension_id"))

	s.Step("promote")
	if _, err := e.Promote(until); err != nil {
		s.Fatalf("promote: %v", err)
	}
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("plain claim of an interrupted attempt")
	if _, err := e.Grant(workerB, instB, ""); err != nil {
		s.Fatalf("grant: %v", err)
	}
	_, _, err = e.Claim(workerB, instB, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "use_claim_resumed_execution")

	s.Step("resumed claim")
	l2, rr, err := e.ClaimResumed(workerB, instB, longTTL)
	s.OK("ff_claim_resumed_execution", err)
	s.Eq("reply", ffscripts.ClaimResumedExecutionReply{Status: "OK", LeaseID: l2.LeaseID, LeaseEpoch: 2,
		LeaseExpiresAt: s.TS("claim_resumed", longTTL, rr.LeaseExpiresAt), AttemptID: l.AttemptID,
		AttemptIndex: 0, AttemptType: "resumed"}, rr)
	exp := "~claim_resumed+" + strconv.Itoa(longTTL)
	e.WantWhere(map[string]string{"active": exp, "lease_expiry": exp, "worker:" + instB: "member"}, instA, instB)
	s.Want("attempt", map[string]string{"attempt_state": "started", "resumed_at": "~claim_resumed",
		"suspended_at": "", "suspension_id": "", "lease_id": l2.LeaseID, "lease_epoch": "2", "worker_id": workerB},
		pick(s.Hash(e.K.Attempt(0)), "attempt_state", "resumed_at", "suspended_at", "suspension_id", "lease_id", "lease_epoch", "worker_id"))
	s.Eq("attempts", 1, len(s.ZSet(e.K.Attempts())))
}

func claimCapabilities(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{Policy: `{"routing_requirements":{"required_capabilities":["gpu","cuda","cuda"]}}`, WantCaps: "cuda,cuda,gpu"})

	s.Step("grant to a worker without cuda")
	_, err := e.Grant(workerA, instA, "gpu")
	s.WantErr("grant", err, "ff_issue_claim_grant", "capability_mismatch", "cuda")
	e.ExpectCore(map[string]string{"last_capability_mismatch_at": "~grant"})
	s.Eq("no grant", false, s.Exists(e.K.ClaimGrant()))
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("block for a capable worker")
	now := s.now()
	n := strconv.FormatInt(now, 10)
	r, err := e.Block("waiting_for_capable_worker", now)
	s.OK("ff_block_execution_for_admission", err)
	s.Eq("reply", ffscripts.BlockExecutionForAdmissionReply{Status: "OK", Result: "blocked"}, r)
	e.ExpectCore(map[string]string{"eligibility_state": "blocked_by_route", "blocking_reason": "waiting_for_capable_worker",
		"blocking_detail": "no connected worker satisfies required_capabilities", "public_state": "rate_limited",
		"last_transition_at": n, "last_mutation_at": n})
	e.WantWhere(map[string]string{"blocked:route": n})

	s.Step("grant while blocked")
	_, err = e.Grant(workerB, instB, "cuda,gpu")
	s.WantErr("grant", err, "ff_issue_claim_grant", "execution_not_eligible")

	s.Step("unblock with the wrong expected reason")
	_, err = e.Unblock(now+1, "waiting_for_budget")
	s.WantErr("unblock", err, "ff_unblock_execution", "execution_not_eligible")

	s.Step("unblock")
	ur, err := e.Unblock(now+1, "waiting_for_capable_worker")
	s.OK("ff_unblock_execution", err)
	s.Eq("reply", ffscripts.UnblockExecutionReply{Status: "OK", Result: "unblocked"}, ur)
	n1 := strconv.FormatInt(now+1, 10)
	e.ExpectCore(map[string]string{"eligibility_state": "eligible_now", "blocking_reason": "waiting_for_worker",
		"blocking_detail": "", "public_state": "waiting", "last_transition_at": n1, "last_mutation_at": n1})
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})

	s.Step("grant to a capable worker")
	_, err = e.Grant(workerB, instB, "cuda,gpu,tpu")
	s.OK("ff_issue_claim_grant", err)

	s.Step("bad reason")
	_, err = s.NewExec().Block("because", now)
	s.WantErr("block", err, "ff_block_execution_for_admission", "execution_not_found")
}

func claimLeaseExpiry(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	if _, err := e.Grant(workerA, instA, ""); err != nil {
		s.Fatalf("grant: %v", err)
	}
	l, _, err := e.Claim(workerA, instA, 40)
	s.OK("claim", err)

	// The scanner may run before the lease lapses (not_yet_expired) or, on a slow machine,
	// after it (marked_expired); either way the holder's renew then answers lease_expired.
	s.Step("mark around expiry")
	mr, err := e.Mark()
	s.OK("ff_mark_lease_expired_if_due", err)
	markedAt := "~renew"
	switch {
	case mr.Result == "marked_expired" && s.windows["mark"].hi >= l.ExpiresAt:
		markedAt = "~mark"
	case mr.Result != "not_yet_expired" || s.windows["mark"].lo >= l.ExpiresAt:
		s.Fatalf("mark at [%d..%d] for a lease expiring at %d answered %+v", s.windows["mark"].lo, s.windows["mark"].hi, l.ExpiresAt, mr)
	}
	s.Advance(l.ExpiresAt)

	s.Step("renew after expiry")
	_, err = e.Renew(l, longTTL)
	s.WantErr("renew", err, "ff_renew_lease", "lease_expired")
	core := s.Hash(e.K.Core())
	s.Want("exec_core", map[string]string{"lifecycle_phase": "active", "ownership_state": "lease_expired_reclaimable",
		"blocking_reason": "waiting_for_worker", "blocking_detail": "lease expired, awaiting reclaim",
		"attempt_state": "attempt_interrupted", "public_state": "active", "lease_expired_at": markedAt},
		pick(core, "lifecycle_phase", "ownership_state", "blocking_reason", "blocking_detail", "attempt_state", "public_state", "lease_expired_at"))
	s.Eq("lease:current kept", true, s.Exists(e.K.LeaseCurrent()))
	e.WantWhere(map[string]string{"active": strconv.FormatInt(l.ExpiresAt, 10),
		"lease_expiry": strconv.FormatInt(l.ExpiresAt, 10), "worker:" + instA: "member"}, instA)

	s.Step("mark again")
	mr, err = e.Mark()
	s.OK("ff_mark_lease_expired_if_due", err)
	s.Eq("reply", ffscripts.MarkLeaseExpiredIfDueReply{Status: "ALREADY_SATISFIED", Result: "already_expired"}, mr)

	s.Step("reclaim grant")
	g, err := e.ReclaimGrant(workerB, instB, "")
	s.OK("ff_issue_reclaim_grant", err)
	s.Eq("reply", ffscripts.IssueReclaimGrantReply{Status: "OK", ExecutionID: e.ID,
		GrantExpiresAt: s.TS("reclaim_grant", 5000, g.GrantExpiresAt)}, g)

	s.Step("reclaim")
	l2, r, err := e.Reclaim(workerB, instB, longTTL, nil)
	s.OK("ff_reclaim_execution", err)
	s.Eq("reply", ffscripts.ReclaimExecutionReply{Status: "OK", LeaseID: l2.LeaseID, LeaseEpoch: 2,
		LeaseExpiresAt: s.TS("reclaim", longTTL, r.LeaseExpiresAt), AttemptID: l2.AttemptID,
		AttemptIndex: 1, AttemptType: "reclaim"}, r)
	exp := "~reclaim+" + strconv.Itoa(longTTL)
	e.WantWhere(map[string]string{"active": exp, "lease_expiry": exp, "worker:" + instB: "member"}, instA, instB)
	s.Want("old attempt", map[string]string{"attempt_state": "interrupted_reclaimed",
		"failure_reason": "lease_lease_expired_reclaimable", "ended_at": "~reclaim"},
		pick(s.Hash(e.K.Attempt(0)), "attempt_state", "failure_reason", "ended_at"))
	s.Want("new attempt", map[string]string{"attempt_type": "reclaim", "attempt_state": "started",
		"reclaim_reason": "lease_lease_expired_reclaimable", "previous_attempt_index": "0"},
		pick(s.Hash(e.K.Attempt(1)), "attempt_type", "attempt_state", "reclaim_reason", "previous_attempt_index"))
	core = s.Hash(e.K.Core())
	s.Want("exec_core", map[string]string{"ownership_state": "leased", "lease_reclaim_count": "1",
		"lease_expired_at": "", "current_lease_epoch": "2", "current_attempt_index": "1", "total_attempt_count": "2"},
		pick(core, "ownership_state", "lease_reclaim_count", "lease_expired_at", "current_lease_epoch", "current_attempt_index", "total_attempt_count"))

	s.Step("old holder completes")
	_, err = e.Complete(l, "")
	s.WantErr("complete", err, "ff_complete_execution", "stale_lease")
}

// claimLeaseExpiryClock checks expiry with a moved clock: the scanner marks the lease
// exactly one ms after its expiry, not before.
func claimLeaseExpiryClock(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)

	s.Step("mark one ms before expiry")
	s.Advance(l.ExpiresAt - 2)
	mr, err := e.Mark()
	s.OK("ff_mark_lease_expired_if_due", err)
	s.Eq("reply", ffscripts.MarkLeaseExpiredIfDueReply{Status: "ALREADY_SATISFIED", Result: "not_yet_expired"}, mr)

	s.Step("mark at expiry")
	s.Advance(l.ExpiresAt - 1)
	mr, err = e.Mark()
	s.OK("ff_mark_lease_expired_if_due", err)
	s.Eq("reply", ffscripts.MarkLeaseExpiredIfDueReply{Status: "OK", Result: "marked_expired"}, mr)
	hist := s.StreamFields(e.K.LeaseHistory())
	s.Want("expired event", map[string]string{"event": "expired", "lease_id": l.LeaseID, "lease_epoch": "1",
		"attempt_index": "0", "attempt_id": l.AttemptID, "worker_id": workerA, "worker_instance_id": instA,
		"ts": "~mark"}, hist[len(hist)-1])

	s.Step("complete after expiry")
	_, err = e.Complete(l, "")
	s.WantErr("complete", err, "ff_complete_execution", "lease_expired")
}

func claimFencing(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	bad := func(mod func(*Lease)) *Lease {
		c := *l
		mod(&c)
		return &c
	}
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"renew with no fence", func() error {
			_, err := e.Renew(bad(func(c *Lease) { c.LeaseID, c.Epoch, c.AttemptID = "", "", "" }), 1000)
			return err
		}, "fence_required"},
		{"renew with a partial fence", func() error { _, err := e.Renew(bad(func(c *Lease) { c.Epoch = "" }), 1000); return err }, "partial_fence_triple"},
		{"renew with a stale epoch", func() error { _, err := e.Renew(bad(func(c *Lease) { c.Epoch = "0" }), 1000); return err }, "stale_lease"},
		{"renew with another lease id", func() error { _, err := e.Renew(bad(func(c *Lease) { c.LeaseID = "x" }), 1000); return err }, "stale_lease"},
		{"renew with another attempt index", func() error { _, err := e.Renew(bad(func(c *Lease) { c.Index = 3 }), 1000); return err }, "stale_lease"},
		{"complete with no fence", func() error {
			_, err := e.Complete(bad(func(c *Lease) { c.LeaseID, c.Epoch, c.AttemptID = "", "", "" }), "")
			return err
		}, "fence_required"},
		{"complete with another attempt id", func() error { _, err := e.Complete(bad(func(c *Lease) { c.AttemptID = "y" }), ""); return err }, "stale_lease"},
		{"fail with a stale epoch", func() error { _, err := e.Fail(bad(func(c *Lease) { c.Epoch = "2" }), "x", ""); return err }, "stale_lease"},
		{"delay with a partial fence", func() error { _, err := e.Delay(bad(func(c *Lease) { c.AttemptID = "" }), 1); return err }, "partial_fence_triple"},
	}
	before := s.Hash(e.K.Core())
	for _, c := range cases {
		s.Step(c.name)
		err := c.call()
		var fe *ffscripts.Error
		if !errors.As(err, &fe) || fe.Code != c.code {
			s.Fatalf("want %s, got %v", c.code, err)
		}
		s.Eq("exec_core unchanged", before, s.Hash(e.K.Core()))
	}
	s.Step("the holder still completes")
	if _, err := e.Complete(l, "ok"); err != nil {
		s.Fatalf("complete: %v", err)
	}
	s.Step("replayed fail after complete")
	_, err := e.Fail(l, "late", "")
	s.WantErr("fail", err, "ff_fail_execution", "execution_not_active", "success", "1", "terminal", l.AttemptID)
}

func claimRevoke(s *S) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)

	s.Step("revoke with the wrong expected lease")
	_, err := e.Revoke("other", "ops", instA)
	s.WantErr("revoke", err, "ff_revoke_lease", "stale_lease", "expected other but current is "+l.LeaseID)

	s.Step("revoke")
	r, err := e.Revoke(l.LeaseID, "ops", instA)
	s.OK("ff_revoke_lease", err)
	s.Eq("reply", ffscripts.RevokeLeaseReply{Status: "OK", Result: "revoked", LeaseID: l.LeaseID, LeaseEpoch: "1"}, r)
	core := s.Hash(e.K.Core())
	s.Want("exec_core", map[string]string{"ownership_state": "lease_revoked", "blocking_reason": "waiting_for_worker",
		"blocking_detail": "lease revoked: ops", "attempt_state": "attempt_interrupted",
		"lease_revoked_at": "~revoke", "lease_revoke_reason": "ops"},
		pick(core, "ownership_state", "blocking_reason", "blocking_detail", "attempt_state", "lease_revoked_at", "lease_revoke_reason"))
	e.WantWhere(map[string]string{"active": strconv.FormatInt(l.ExpiresAt, 10)}, instA)

	s.Step("revoke again")
	r, err = e.Revoke("", "ops", instA)
	s.OK("ff_revoke_lease", err)
	s.Eq("reply", ffscripts.RevokeLeaseReply{Status: "ALREADY_SATISFIED", Result: "already_revoked"}, r)

	s.Step("holder renews")
	_, err = e.Renew(l, longTTL)
	s.WantErr("renew", err, "ff_renew_lease", "lease_revoked")

	s.Step("reclaim at a cap of zero")
	if _, err := e.ReclaimGrant(workerB, instB, ""); err != nil {
		s.Fatalf("reclaim grant: %v", err)
	}
	_, _, err = e.Reclaim(workerB, instB, longTTL, ptr(int64(0)))
	s.WantErr("reclaim", err, "ff_reclaim_execution", "max_retries_exhausted", "0")
	core = s.Hash(e.K.Core())
	s.Want("exec_core", map[string]string{"lifecycle_phase": "terminal", "public_state": "failed",
		"failure_reason": "max_reclaims_exceeded", "completed_at": "~reclaim"},
		pick(core, "lifecycle_phase", "public_state", "failure_reason", "completed_at"))
	e.WantWhere(map[string]string{"terminal": "~reclaim"}, instA, instB)
}

func claimNext(s *S) {
	lo, hi := s.NewExec(), s.NewExec()
	lo.Create(CreateOpts{Priority: 1})
	hi.Create(CreateOpts{Priority: 7, Payload: "hi-payload"})
	call := func(lease, attempt string) (ffscripts.ClaimNextReply, error) {
		var r ffscripts.ClaimNextReply
		var err error
		s.timed("claim", func() {
			r, err = s.C.ClaimNext(s.ctx, ffscripts.ClaimNextKeys{LaneEligible: s.P.LaneEligible(s.Lane),
				LaneBlockedRoute: s.P.LaneBlockedRoute(s.Lane), LeaseExpiry: s.P.LeaseExpiry(),
				WorkerLeases: s.P.WorkerLeases(instA), LaneActive: s.P.LaneActive(s.Lane),
				AttemptTimeout: s.P.AttemptTimeout(), ExecutionDeadline: s.P.ExecutionDeadline()},
				ffscripts.ClaimNextArgs{WorkerID: workerA, WorkerInstanceID: instA, LaneID: s.Lane,
					LeaseID: lease, AttemptID: attempt, LeaseTTLMs: longTTL, RenewBeforeMs: longTTL * 2 / 3,
					AttemptPolicyJSON: "{}"})
		})
		return r, err
	}
	s.Step("claim next takes the highest priority")
	r, err := call("lease-1", "attempt-1")
	s.OK("ff_claim_next", err)
	s.Eq("reply", ffscripts.ClaimNextReply{Status: "OK", ExecutionID: hi.ID, LeaseID: "lease-1", LeaseEpoch: 1,
		LeaseExpiresAt: s.TS("claim", longTTL, r.LeaseExpiresAt), AttemptID: "attempt-1", AttemptIndex: 0,
		AttemptType: "initial", ExecutionKind: "kind", Namespace: "ns", Payload: []byte("hi-payload")}, r)
	hi.ExpectCore(claimedCore(&Lease{Worker: workerA, Inst: instA, LeaseID: "lease-1", AttemptID: "attempt-1"}, s.Lane, 0, "1", "~claim"))
	s.Step("then the next")
	r, err = call("lease-2", "attempt-2")
	s.OK("ff_claim_next", err)
	s.Eq("execution", lo.ID, r.ExecutionID)
	s.Step("then none")
	_, err = call("lease-3", "attempt-3")
	s.WantErr("claim next", err, "ff_claim_next", "no_eligible_execution")
}
