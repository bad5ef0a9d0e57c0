package conformance

import (
	"strconv"
	"strings"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/uuid"
)

// SignalScenarios are the suspend → signal → resume contract (spec/suspend-signal.md).
func SignalScenarios() []Scenario {
	return []Scenario{
		{Name: "signal/suspend_and_resume_by_signal", Contract: "signal", Run: signalSuspendResume},
		{Name: "signal/conditions", Contract: "signal", Pins: []string{"S1", "S7"}, Run: signalConditions},
		{Name: "signal/tokens_and_rotation", Contract: "signal", Pins: []string{"S7"}, Run: signalTokens},
		{Name: "signal/idempotency", Contract: "signal", Run: signalIdempotency},
		{Name: "signal/limits", Contract: "signal", Run: signalLimits},
		{Name: "signal/timeouts", Contract: "signal", Time: "poll", Run: signalTimeouts},
		{Name: "signal/pending_waitpoint", Contract: "signal", Run: signalPending},
		{Name: "signal/operator_resume", Contract: "signal", Pins: []string{"S2"}, Run: signalOperatorResume},
		{Name: "signal/stale_waitpoint", Contract: "signal", Pins: []string{"S2"}, Run: signalStaleWaitpoint},
		{Name: "signal/errors", Contract: "signal", Run: signalErrors},
		{Name: "signal/expire_execution_while_suspended", Contract: "signal", Run: signalExpireExecution},
	}
}

// suspendedExec creates, claims and suspends an execution on condition cond.
func suspendedExec(s *S, o SuspendOpts) (*Exec, *Lease, *Suspension) {
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	return e, l, e.MustSuspend(l, o)
}

func signalSuspendResume(s *S) {
	s.InitKeystore()
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	e.Merge(claimedCore(l, e.Lane, 0, "1", "~claim"))
	timeout := s.now() + 3_600_000
	ts := strconv.FormatInt(timeout, 10)
	cond := condByName("approve")

	s.Step("suspend")
	sp, r, err := e.Suspend(l, SuspendOpts{Condition: cond, TimeoutAt: &timeout, Behavior: "fail"})
	s.OK("ff_suspend_execution", err)
	wpHash := s.Hash(e.P.Waitpoint(sp.WP))
	token := s.Token(kid1, secret1, sp.WP, "wpk:"+sp.WP, wpHash["created_at"])
	s.Eq("reply", ffscripts.SuspendExecutionReply{Status: "OK", SuspensionID: sp.ID, WaitpointID: sp.WP,
		WaitpointKey: "wpk:" + sp.WP, WaitpointToken: token, ExtraCount: 0}, r)
	e.ExpectCore(map[string]string{"lifecycle_phase": "suspended", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "blocking_reason": "waiting_for_signal",
		"blocking_detail":  "suspended: waitpoint " + sp.WP + " awaiting waiting_for_signal",
		"terminal_outcome": "none", "attempt_state": "attempt_interrupted", "public_state": "suspended",
		"current_lease_id": "", "current_worker_id": "", "current_worker_instance_id": "",
		"lease_expires_at": "", "lease_last_renewed_at": "", "lease_renewal_deadline": "",
		"current_suspension_id": sp.ID, "current_waitpoint_id": sp.WP,
		"last_transition_at": "~suspend", "last_mutation_at": "~suspend"})
	e.WantWhere(map[string]string{"suspended": ts, "suspension_timeout": ts}, instA)
	s.Want("waitpoint", map[string]string{"waitpoint_id": sp.WP, "execution_id": e.ID, "attempt_index": "0",
		"suspension_id": sp.ID, "waitpoint_key": "wpk:" + sp.WP, "waitpoint_token": token, "state": "active",
		"created_at": "~suspend", "activated_at": "~suspend", "expires_at": ts, "signal_count": "0",
		"matched_signal_count": "0", "last_signal_at": "",
		// Spec §2.2 lists these as absent on a fresh waitpoint; §0.4 writes absent as "".
		"satisfied_at": "", "closed_at": "", "close_reason": ""}, wpHash)
	s.Want("condition", map[string]string{"condition_type": "signal_set", "match_mode": "any",
		"minimum_signal_count": "1", "total_matchers": "1", "satisfied_count": "0", "closed": "0",
		"updated_at": "~suspend", "matcher:0:name": "approve", "matcher:0:satisfied": "0",
		"matcher:0:signal_id": ""}, s.Hash(e.P.WaitpointCondition(sp.WP)))
	s.Want("suspension", map[string]string{"suspension_id": sp.ID, "execution_id": e.ID, "attempt_index": "0",
		"waitpoint_id": sp.WP, "waitpoint_key": "wpk:" + sp.WP, "additional_waitpoints_json": "[]",
		"reason_code": "waiting_for_signal", "requested_by": "worker", "created_at": "~suspend",
		"timeout_at": ts, "timeout_behavior": "fail", "resume_condition_json": cond,
		"resume_policy_json": `{"resume_target":"runnable"}`, "continuation_metadata_pointer": "",
		"buffered_signal_summary_json": "*", "last_signal_at": "", "satisfied_at": "", "closed_at": "",
		"close_reason": ""}, s.Hash(e.K.SuspensionCurrent()))
	s.Eq("waitpoints", []string{sp.WP}, s.Members(e.K.Waitpoints()))
	s.Want("attempt", map[string]string{"attempt_state": "suspended", "suspended_at": "~suspend", "suspension_id": sp.ID},
		pick(s.Hash(e.K.Attempt(0)), "attempt_state", "suspended_at", "suspension_id"))
	s.Eq("lease:current deleted", false, s.Exists(e.K.LeaseCurrent()))

	s.Step("signal that matches nothing")
	sig1, dr, err := e.Deliver(sp.WP, sp.Token, "other", SignalOpts{Payload: `{"n":1}`})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig1, Effect: "no_op"}, dr)
	s.Want("signal", map[string]string{"signal_id": sig1, "target_execution_id": e.ID,
		"target_waitpoint_id": sp.WP, "target_scope": "waitpoint", "signal_name": "other",
		"signal_category": "approval", "source_type": "webhook", "source_identity": "src-1",
		"correlation_id": "", "idempotency_key": "", "created_at": "~deliver", "accepted_at": "~deliver",
		"matched_waitpoint_id": sp.WP, "payload_encoding": "json", "observed_effect": "no_op"},
		s.Hash(e.P.Signal(sig1)))
	s.Eq("payload", `{"n":1}`, s.Get(e.P.SignalPayload(sig1)))
	s.Want("waitpoint counters", map[string]string{"signal_count": "1", "matched_signal_count": "0",
		"last_signal_at": "~deliver", "state": "active"},
		pick(s.Hash(e.P.Waitpoint(sp.WP)), "signal_count", "matched_signal_count", "last_signal_at", "state"))
	e.ExpectCore(nil)

	s.Step("signal that satisfies the condition")
	sig2, dr, err := e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig2, Effect: "resume_condition_satisfied"}, dr)
	e.ExpectCore(map[string]string{"lifecycle_phase": "runnable", "eligibility_state": "eligible_now",
		"blocking_reason": "waiting_for_worker", "blocking_detail": "", "public_state": "waiting",
		"current_suspension_id": "", "current_waitpoint_id": "",
		"last_transition_at": "~deliver", "last_mutation_at": "~deliver"})
	e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)})
	s.Want("waitpoint", map[string]string{"state": "closed", "satisfied_at": "~deliver", "closed_at": "~deliver",
		"close_reason": "resumed", "signal_count": "2", "matched_signal_count": "1"},
		pick(s.Hash(e.P.Waitpoint(sp.WP)), "state", "satisfied_at", "closed_at", "close_reason", "signal_count", "matched_signal_count"))
	s.Want("condition", map[string]string{"closed": "1", "closed_at": "~deliver", "closed_reason": "satisfied",
		"satisfied_count": "1", "matcher:0:satisfied": "1", "matcher:0:signal_id": sig2},
		pick(s.Hash(e.P.WaitpointCondition(sp.WP)), "closed", "closed_at", "closed_reason", "satisfied_count", "matcher:0:satisfied", "matcher:0:signal_id"))
	s.Want("suspension", map[string]string{"satisfied_at": "~deliver", "closed_at": "~deliver", "close_reason": "resumed"},
		pick(s.Hash(e.K.SuspensionCurrent()), "satisfied_at", "closed_at", "close_reason"))
	s.Want("exec signals", map[string]string{sig1: "*", sig2: "~deliver"}, s.ZSet(e.K.Signals()))
	var entry map[string]string // the partition feed may hold other users' entries
	for _, f := range s.StreamFields(e.P.SignalDelivery()) {
		if f["signal_id"] == sig2 {
			entry = f
		}
	}
	s.Want("delivery feed", map[string]string{"signal_id": sig2, "execution_id": e.ID, "waitpoint_id": sp.WP,
		"source_identity": "src-1", "effect": "resume_condition_satisfied", "delivered_at_ms": "~deliver"}, entry)

	s.Step("the same signal again")
	_, _, err = e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "target_not_signalable")

	s.Step("claim the resumed attempt")
	if _, err := e.Grant(workerB, instB, ""); err != nil {
		s.Fatalf("grant: %v", err)
	}
	_, _, err = e.Claim(workerB, instB, longTTL)
	s.WantErr("claim", err, "ff_claim_execution", "use_claim_resumed_execution")
	l2, cr, err := e.ClaimResumed(workerB, instB, longTTL)
	s.OK("ff_claim_resumed_execution", err)
	s.Eq("reply", ffscripts.ClaimResumedExecutionReply{Status: "OK", LeaseID: l2.LeaseID, LeaseEpoch: 2,
		LeaseExpiresAt: s.TS("claim_resumed", longTTL, cr.LeaseExpiresAt), AttemptID: l.AttemptID,
		AttemptIndex: 0, AttemptType: "resumed"}, cr)
	s.Want("suspension kept, closed", map[string]string{"close_reason": "resumed", "waitpoint_id": sp.WP},
		pick(s.Hash(e.K.SuspensionCurrent()), "close_reason", "waitpoint_id"))
}

func signalConditions(s *S) {
	s.InitKeystore()
	type delivery struct {
		name, effect string
		source       string
	}
	cases := []struct {
		name       string
		cond       string
		extras     int
		deliveries []delivery
	}{
		{"all of two names", condMode("all", 1, "a", "b"), 0, []delivery{
			{"a", "appended_to_waitpoint", ""}, {"a", "no_op", ""}, {"b", "resume_condition_satisfied", ""}}},
		{"wildcard", condByName(), 0, []delivery{{"anything", "resume_condition_satisfied", ""}}},
		{"count of a repeated name", condMode("count", 2, "x", "x", "y"), 0, []delivery{
			{"y", "appended_to_waitpoint", ""}, {"x", "resume_condition_satisfied", ""}}},
		{"any with a minimum of two", condMode("any", 2, "x", "y"), 0, []delivery{
			{"x", "appended_to_waitpoint", ""}, {"z", "no_op", ""}, {"y", "resume_condition_satisfied", ""}}},
		{"operator only", condMode("all", 1, "__operator_only__"), 0, []delivery{{"approve", "no_op", ""}}},
		{"composite count of distinct sources", `{"v":1,"composite":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"Count","path":"","n":2,"count_kind":"DistinctSources","matcher":null,"waitpoints":["K0"]}}`, 0, []delivery{
			{"s", "appended_to_waitpoint", "alice"}, {"s", "appended_to_waitpoint_duplicate", "alice"},
			{"s", "resume_condition_satisfied", "bob"}}},
	}
	for _, c := range cases {
		s.Step("condition " + c.name)
		wp := uuid.NewString()
		cond := strings.ReplaceAll(c.cond, "K0", "wpk:"+wp)
		e, _, sp := suspendedExec(s, SuspendOpts{WaitpointID: wp, Condition: cond})
		var last string
		for i, d := range c.deliveries {
			s.Step("condition " + c.name + ": signal " + strconv.Itoa(i) + " " + d.name)
			sig, r, err := e.Deliver(sp.WP, sp.Token, d.name, SignalOpts{Source: d.source})
			s.OK("ff_deliver_signal", err)
			s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: d.effect}, r)
			last = sig
		}
		resumed := c.deliveries[len(c.deliveries)-1].effect == "resume_condition_satisfied"
		want := map[string]string{"lifecycle_phase": "suspended", "public_state": "suspended"}
		if resumed {
			want = map[string]string{"lifecycle_phase": "runnable", "public_state": "waiting"}
		}
		s.Eq("exec state", want, pick(s.Hash(e.K.Core()), "lifecycle_phase", "public_state"))
		if resumed && strings.Contains(cond, "composite") {
			susp := s.Hash(e.K.SuspensionCurrent())
			s.Eq("closer", last, susp["closer_signal_id"])
			s.Eq("composite state dropped", false, s.Exists(e.K.SuspensionSatisfiedSet()))
		}
	}

	s.Step("composite over two waitpoints closes both (S1)")
	wa, wb := uuid.NewString(), uuid.NewString()
	cond := `{"v":1,"composite":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"AllOf","path":"","members":[` +
		`{"kind":"Single","path":"members[0]","waitpoint_key":"wpk:a","matcher":{"kind":"Wildcard"}},` +
		`{"kind":"Single","path":"members[1]","waitpoint_key":"wpk:b","matcher":{"kind":"ByName","name":"go"}}]}}`
	e, _, sp := suspendedExec(s, SuspendOpts{WaitpointID: wa, Key: "wpk:a", Condition: cond,
		Extras: []ffscripts.SuspendExecutionArgsExtra{{WaitpointID: wb, WaitpointKey: "wpk:b"}}})
	var tokenB string
	{
		h := s.Hash(e.P.Waitpoint(wb))
		tokenB = s.Token(kid1, secret1, wb, "wpk:b", h["created_at"])
		s.Eq("extra waitpoint", map[string]string{"state": "active", "suspension_id": sp.ID, "waitpoint_token": tokenB},
			pick(h, "state", "suspension_id", "waitpoint_token"))
	}
	_, _, err := e.Deliver(wa, tokenB, "x", SignalOpts{})
	s.WantErr("b's token on a", err, "ff_deliver_signal", "invalid_token")
	sig, r, err := e.Deliver(wb, tokenB, "stop", SignalOpts{})
	s.OK("deliver", err)
	s.Eq("wrong name on b", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "signal_ignored_matcher_failed"}, r)
	s1, r, err := e.Deliver(wa, sp.Token, "x", SignalOpts{})
	s.OK("deliver", err)
	s.Eq("a", ffscripts.DeliverSignalReply{Status: "OK", SignalID: s1, Effect: "appended_to_waitpoint"}, r)
	s2, r, err := e.Deliver(wb, tokenB, "go", SignalOpts{})
	s.OK("deliver", err)
	s.Eq("b go", ffscripts.DeliverSignalReply{Status: "OK", SignalID: s2, Effect: "resume_condition_satisfied"}, r)
	sat := []string{s1, s2}
	if s2 < s1 {
		sat = []string{s2, s1}
	}
	s.Want("suspension", map[string]string{"closer_signal_id": s2, "all_satisfier_signals": `["` + sat[0] + `","` + sat[1] + `"]`,
		"close_reason": "resumed"}, pick(s.Hash(e.K.SuspensionCurrent()), "closer_signal_id", "all_satisfier_signals", "close_reason"))
	for _, w := range []string{wa, wb} {
		s.Eq("waitpoint "+w+" closed", "closed", s.Hash(e.P.Waitpoint(w))["state"])
		s.Eq("condition "+w+" closed", "1", s.Hash(e.P.WaitpointCondition(w))["closed"])
	}
}

func signalTokens(s *S) {
	s.InitKeystore()
	e, _, sp := suspendedExec(s, SuspendOpts{Condition: condByName("approve")})
	other := uuid.NewString()
	digest := sp.Token[len(kid1)+1:]
	cases := []struct{ name, wp, token, code string }{
		{"no token", sp.WP, "", "missing_token"},
		{"zero digest", sp.WP, kid1 + ":" + strings.Repeat("0", 40), "invalid_token"},
		{"short digest", sp.WP, kid1 + ":abc", "invalid_token"},
		{"no kid", sp.WP, digest, "invalid_token"},
		{"unknown kid", sp.WP, "k9:" + digest, "invalid_token"},
		{"uppercase digest", sp.WP, kid1 + ":" + strings.ToUpper(digest), "invalid_token"},
		{"unknown waitpoint", other, sp.Token, "invalid_token"},
	}
	for _, c := range cases {
		s.Step("token: " + c.name)
		_, _, err := e.Deliver(c.wp, c.token, "approve", SignalOpts{})
		s.WantErr("deliver", err, "ff_deliver_signal", c.code)
		s.Want("failure stamp", map[string]string{"last_hmac_validation_failed_at": "~deliver", "lifecycle_phase": "suspended"},
			pick(s.Hash(e.K.Core()), "last_hmac_validation_failed_at", "lifecycle_phase"))
	}

	s.Step("rotate to k2")
	r, err := s.C.RotateWaitpointHMACSecret(s.ctx, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: s.P.HMACSecrets()},
		ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid2, NewSecretHex: secret2, GraceMs: 3_600_000})
	s.OK("ff_rotate_waitpoint_hmac_secret", err)
	s.Eq("reply", ffscripts.RotateWaitpointHMACSecretReply{Status: "OK", Action: "rotated", Kid: kid1, NewKid: kid2}, r)
	s.Step("rotate to k2 again with another secret")
	_, err = s.C.RotateWaitpointHMACSecret(s.ctx, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: s.P.HMACSecrets()},
		ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid2, NewSecretHex: secret1, GraceMs: 0})
	s.WantErr("rotate", err, "ff_rotate_waitpoint_hmac_secret", "rotation_conflict", kid2)
	s.Step("list kids")
	var lr ffscripts.ListWaitpointHMACKidsReply
	s.timed("list", func() {
		lr, err = s.C.ListWaitpointHMACKids(s.ctx, ffscripts.ListWaitpointHMACKidsKeys{HMACSecrets: s.P.HMACSecrets()},
			ffscripts.ListWaitpointHMACKidsArgs{})
	})
	s.OK("ff_list_waitpoint_hmac_kids", err)
	if len(lr.KidExpiries) == 2 {
		lr.KidExpiries[1] = s.resolve("~list+3600000", lr.KidExpiries[1])
	}
	s.Eq("reply", ffscripts.ListWaitpointHMACKidsReply{Status: "OK", CurrentKid: kid2, KidCount: 1,
		KidExpiries: []string{kid1, lr.KidExpiries[len(lr.KidExpiries)-1]}}, lr)

	s.Step("the k1 token still verifies during the grace")
	sig, dr, err := e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "resume_condition_satisfied"}, dr)

	s.Step("new waitpoints are signed with k2")
	e2, _, sp2 := suspendedExec(s, SuspendOpts{Condition: condByName("approve")})
	s.Eq("token", s.Token(kid2, secret2, sp2.WP, sp2.Key, s.Hash(e2.P.Waitpoint(sp2.WP))["created_at"]), sp2.Token)
}

func signalIdempotency(s *S) {
	s.InitKeystore()
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	o := SuspendOpts{WaitpointID: uuid.NewString(), Condition: condByName("approve"), IdemKey: "susp-1"}

	s.Step("suspend with an idempotency key")
	sp, r1, err := e.Suspend(l, o)
	s.OK("ff_suspend_execution", err)
	s.Want("dedup record", map[string]string{"outcome": strings.Join([]string{"OK", sp.ID, sp.WP, sp.Key, sp.Token, "0"}, "\t")},
		s.Hash(e.K.SuspendDedup("susp-1")))
	before := s.Hash(e.K.Core())

	s.Step("replayed suspend")
	_, r2, err := e.Suspend(l, o)
	s.OK("ff_suspend_execution", err)
	s.Eq("replayed reply", r1, r2)
	s.Eq("exec_core unchanged", before, s.Hash(e.K.Core()))

	s.Step("signal with an idempotency key")
	sig, d1, err := e.Deliver(sp.WP, sp.Token, "noise", SignalOpts{IdemKey: "sig-1"})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "no_op"}, d1)
	s.Eq("dedup key", sig, s.Get(e.P.SignalDedup(sp.WP, "sig-1")))

	s.Step("replayed signal")
	_, d2, err := e.Deliver(sp.WP, sp.Token, "noise", SignalOpts{IdemKey: "sig-1"})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "DUPLICATE", SignalID: sig}, d2)
	s.Eq("signals recorded", 1, len(s.ZSet(e.K.Signals())))
	s.Want("waitpoint counters", map[string]string{"signal_count": "1"}, pick(s.Hash(e.P.Waitpoint(sp.WP)), "signal_count"))
}

func signalLimits(s *S) {
	s.InitKeystore()
	e, _, sp := suspendedExec(s, SuspendOpts{Condition: condByName("approve")})
	one := ptr(int64(1))
	s.Step("first signal within the limit")
	sig, r, err := e.Deliver(sp.WP, sp.Token, "noise", SignalOpts{MaxSignals: one})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "no_op"}, r)
	s.Step("second signal over the limit")
	_, _, err = e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{MaxSignals: one})
	s.WantErr("deliver", err, "ff_deliver_signal", "signal_limit_exceeded")
	s.Eq("still suspended", "suspended", e.CoreField("lifecycle_phase"))
	s.Step("unlimited")
	sig, r, err = e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{MaxSignals: ptr(int64(0))})
	s.OK("ff_deliver_signal", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "resume_condition_satisfied"}, r)
}

func signalTimeouts(s *S) {
	s.InitKeystore()
	type outcome struct {
		behavior string
		reply    ffscripts.ExpireSuspensionReply
		state    map[string]string
	}
	cases := []outcome{
		{"fail", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "fail", PublicState: "failed"},
			map[string]string{"lifecycle_phase": "terminal", "terminal_outcome": "failed", "failure_reason": "suspension_timeout:fail"}},
		{"cancel", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "cancel", PublicState: "cancelled"},
			map[string]string{"lifecycle_phase": "terminal", "terminal_outcome": "cancelled", "failure_reason": "suspension_timeout:cancel"}},
		{"expire", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "expire", PublicState: "expired"},
			map[string]string{"lifecycle_phase": "terminal", "terminal_outcome": "expired", "failure_reason": "suspension_timeout:expire"}},
		{"auto_resume", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "auto_resume", PublicState: "waiting"},
			map[string]string{"lifecycle_phase": "runnable", "terminal_outcome": "none"}},
		{"escalate", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "escalate", PublicState: "suspended"},
			map[string]string{"lifecycle_phase": "suspended", "terminal_outcome": "none"}},
	}
	type run struct {
		e  *Exec
		sp *Suspension
		at int64
	}
	var runs []run
	for _, c := range cases {
		s.Step("suspend with timeout behaviour " + c.behavior)
		at := s.now() + 60
		e, _, sp := suspendedExec(s, SuspendOpts{Condition: condByName("approve"), TimeoutAt: &at, Behavior: c.behavior})
		runs = append(runs, run{e, sp, at})
	}
	s.Step("expire before the timeout")
	later := s.now() + 3_600_000
	early, _, esp := suspendedExec(s, SuspendOpts{Condition: condByName("approve"), TimeoutAt: &later, Behavior: "fail"})
	r, err := early.ExpireSuspension(esp.WP)
	s.OK("ff_expire_suspension", err)
	s.Eq("reply", ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: "not_yet_due"}, r)
	s.Eq("still suspended", "suspended", early.CoreField("lifecycle_phase"))
	s.Advance(runs[len(runs)-1].at)
	for i, c := range cases {
		e, sp := runs[i].e, runs[i].sp
		s.Step("expire with behaviour " + c.behavior)
		r, err := e.ExpireSuspension(sp.WP)
		s.OK("ff_expire_suspension", err)
		s.Eq("reply", c.reply, r)
		keys := make([]string, 0, len(c.state))
		for k := range c.state {
			keys = append(keys, k)
		}
		s.Eq("exec_core", c.state, pick(s.Hash(e.K.Core()), keys...))
		switch c.behavior {
		case "escalate":
			s.Want("suspension", map[string]string{"reason_code": "waiting_for_operator_review", "timeout_at": "",
				"timeout_behavior": "", "closed_at": ""},
				pick(s.Hash(e.K.SuspensionCurrent()), "reason_code", "timeout_at", "timeout_behavior", "closed_at"))
			s.Eq("blocking", "paused_by_operator", e.CoreField("blocking_reason"))
			e.WantWhere(map[string]string{"suspended": strconv.FormatInt(runs[i].at, 10)}, instA)
		case "auto_resume":
			s.Want("waitpoint", map[string]string{"state": "closed", "close_reason": "timed_out_auto_resume"},
				pick(s.Hash(e.P.Waitpoint(sp.WP)), "state", "close_reason"))
			e.WantWhere(map[string]string{"eligible": e.EligibleScore(0)}, instA)
		default:
			s.Want("waitpoint", map[string]string{"state": "closed", "close_reason": "timed_out_" + c.behavior},
				pick(s.Hash(e.P.Waitpoint(sp.WP)), "state", "close_reason"))
			e.WantWhere(map[string]string{"terminal": "~expire_suspension"}, instA)
		}
	}
}

func signalPending(s *S) {
	s.InitKeystore()
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)
	wp := uuid.NewString()
	exp := s.now() + 3_600_000

	s.Step("create a pending waitpoint")
	r, err := e.CreatePending(l, wp, "wpk:"+wp, exp)
	s.OK("ff_create_pending_waitpoint", err)
	h := s.Hash(e.P.Waitpoint(wp))
	token := s.Token(kid1, secret1, wp, "wpk:"+wp, h["created_at"])
	s.Eq("reply", ffscripts.CreatePendingWaitpointReply{Status: "OK", WaitpointID: wp, WaitpointKey: "wpk:" + wp, WaitpointToken: token}, r)
	s.Want("waitpoint", map[string]string{"waitpoint_id": wp, "execution_id": e.ID, "attempt_index": "0",
		"suspension_id": "", "waitpoint_key": "wpk:" + wp, "waitpoint_token": token, "state": "pending",
		"created_at": "~create_pending", "activated_at": "", "expires_at": strconv.FormatInt(exp, 10),
		"satisfied_at": "", "closed_at": "", "close_reason": "", "signal_count": "0",
		"matched_signal_count": "0", "last_signal_at": ""}, h)
	s.Want("pending expiry", map[string]string{wp: strconv.FormatInt(exp, 10)}, pick(s.ZSet(e.P.PendingWaitpointExpiry()), wp))

	s.Step("create it again")
	_, err = e.CreatePending(l, wp, "wpk:"+wp, exp)
	s.WantErr("create pending", err, "ff_create_pending_waitpoint", "waitpoint_already_exists")

	s.Step("deliver to a pending waitpoint")
	_, _, err = e.Deliver(wp, token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "waitpoint_pending_use_buffer_script")

	s.Step("buffer")
	sig, br, err := e.Buffer(wp, token, "approve", SignalOpts{IdemKey: "b-1"})
	s.OK("ff_buffer_signal_for_pending_waitpoint", err)
	s.Eq("reply", ffscripts.BufferSignalForPendingWaitpointReply{Status: "OK", SignalID: sig, Effect: "buffered_for_pending_waitpoint"}, br)
	s.Eq("observed effect", "buffered_for_pending_waitpoint", s.Hash(e.P.Signal(sig))["observed_effect"])
	_, br, err = e.Buffer(wp, token, "approve", SignalOpts{IdemKey: "b-1"})
	s.OK("ff_buffer_signal_for_pending_waitpoint", err)
	s.Eq("replayed buffer", ffscripts.BufferSignalForPendingWaitpointReply{Status: "DUPLICATE", SignalID: sig}, br)

	s.Step("suspend on the pending waitpoint, already satisfied")
	sp, sr, err := e.Suspend(l, SuspendOpts{WaitpointID: wp, UsePending: true, Condition: condByName("approve")})
	s.OK("ff_suspend_execution", err)
	s.Eq("reply", ffscripts.SuspendExecutionReply{Status: "ALREADY_SATISFIED", SuspensionID: sp.ID, WaitpointID: wp,
		WaitpointKey: "wpk:" + wp, WaitpointToken: token}, sr)
	s.Eq("exec still leased", map[string]string{"lifecycle_phase": "active", "ownership_state": "leased"},
		pick(s.Hash(e.K.Core()), "lifecycle_phase", "ownership_state"))
	s.Eq("no suspension record", false, s.Exists(e.K.SuspensionCurrent()))
	s.Want("waitpoint", map[string]string{"state": "closed", "close_reason": "resumed", "satisfied_at": "~suspend"},
		pick(s.Hash(e.P.Waitpoint(wp)), "state", "close_reason", "satisfied_at"))

	s.Step("close a pending waitpoint")
	wp2 := uuid.NewString()
	if _, err := e.CreatePending(l, wp2, "wpk:"+wp2, exp); err != nil {
		s.Fatalf("create pending: %v", err)
	}
	cr, err := e.CloseWaitpoint(wp2, "never_committed")
	s.OK("ff_close_waitpoint", err)
	s.Eq("reply", ffscripts.CloseWaitpointReply{Status: "OK"}, cr)
	s.Want("closed", map[string]string{"state": "closed", "close_reason": "never_committed", "closed_at": "~close_waitpoint"},
		pick(s.Hash(e.P.Waitpoint(wp2)), "state", "close_reason", "closed_at"))
	// The activation by suspend removed wp, the close removed wp2.
	s.Eq("pending expiry", map[string]string{}, pick(s.ZSet(e.P.PendingWaitpointExpiry()), wp, wp2))
	cr, err = e.CloseWaitpoint(wp2, "again")
	s.OK("ff_close_waitpoint", err)
	s.Eq("reply", ffscripts.CloseWaitpointReply{Status: "OK", Result: "already_closed"}, cr)
}

func signalOperatorResume(s *S) {
	s.InitKeystore()
	e, _, sp := suspendedExec(s, SuspendOpts{Condition: condMode("all", 1, "__operator_only__")})
	s.Step("operator resume with a delay")
	r, err := e.Resume(sp.WP, 5000)
	s.OK("ff_resume_execution", err)
	s.Eq("reply", ffscripts.ResumeExecutionReply{Status: "OK", PublicState: "delayed"}, r)
	s.Want("exec_core", map[string]string{"lifecycle_phase": "runnable", "eligibility_state": "not_eligible_until_time",
		"blocking_reason": "waiting_for_resume_delay", "blocking_detail": "resume delay 5000ms",
		"attempt_state": "attempt_interrupted", "public_state": "delayed"},
		pick(s.Hash(e.K.Core()), "lifecycle_phase", "eligibility_state", "blocking_reason", "blocking_detail", "attempt_state", "public_state"))
	e.WantWhere(map[string]string{"delayed": "~resume+5000"}, instA)
	s.Want("waitpoint", map[string]string{"state": "closed", "close_reason": "resumed", "satisfied_at": "~resume"},
		pick(s.Hash(e.P.Waitpoint(sp.WP)), "state", "close_reason", "satisfied_at"))
	s.Want("condition closed (S2)", map[string]string{"closed": "1", "closed_reason": "resumed"},
		pick(s.Hash(e.P.WaitpointCondition(sp.WP)), "closed", "closed_reason"))
	s.Step("resume again")
	_, err = e.Resume(sp.WP, 0)
	s.WantErr("resume", err, "ff_resume_execution", "execution_not_suspended")
}

func signalStaleWaitpoint(s *S) {
	s.InitKeystore()
	e, _, old := suspendedExec(s, SuspendOpts{Condition: condByName("approve")})
	if _, err := e.Resume(old.WP, 0); err != nil {
		s.Fatalf("resume: %v", err)
	}
	if _, err := e.Grant(workerA, instA, ""); err != nil {
		s.Fatalf("grant: %v", err)
	}
	l2, _, err := e.ClaimResumed(workerA, instA, longTTL)
	s.OK("claim resumed", err)
	s.Step("suspend again")
	cur := e.MustSuspend(l2, SuspendOpts{Condition: condByName("approve")})
	s.Eq("waitpoints history", sortedPair(old.WP, cur.WP), s.Members(e.K.Waitpoints()))
	s.Step("signal the old waitpoint with its token")
	_, _, err = e.Deliver(old.WP, old.Token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "waitpoint_closed")
	s.Eq("still suspended on the new waitpoint", map[string]string{"lifecycle_phase": "suspended", "current_waitpoint_id": cur.WP},
		pick(s.Hash(e.K.Core()), "lifecycle_phase", "current_waitpoint_id"))
	s.Step("the current waitpoint resumes")
	sig, r, err := e.Deliver(cur.WP, cur.Token, "approve", SignalOpts{})
	s.OK("deliver", err)
	s.Eq("reply", ffscripts.DeliverSignalReply{Status: "OK", SignalID: sig, Effect: "resume_condition_satisfied"}, r)
}

func sortedPair(a, b string) []string {
	if b < a {
		return []string{b, a}
	}
	return []string{a, b}
}

func signalErrors(s *S) {
	s.InitKeystore()
	e := s.NewExec()
	e.Create(CreateOpts{})
	l := e.MustClaim(workerA, instA, longTTL)

	s.Step("suspend with another attempt index")
	bad := *l
	bad.Index = 5
	_, _, err := e.Suspend(&bad, SuspendOpts{Condition: condByName("approve")})
	s.WantErr("suspend", err, "ff_suspend_execution", "invalid_lease_for_suspend")
	s.Step("suspend with no fence")
	nofence := *l
	nofence.LeaseID, nofence.Epoch, nofence.AttemptID = "", "", ""
	_, _, err = e.Suspend(&nofence, SuspendOpts{Condition: condByName("approve")})
	s.WantErr("suspend", err, "ff_suspend_execution", "fence_required")
	s.Step("resume of an active execution")
	_, err = e.Resume("none", 0)
	s.WantErr("resume", err, "ff_resume_execution", "execution_not_suspended")
	s.Step("suspend twice")
	sp := e.MustSuspend(l, SuspendOpts{Condition: condByName("approve")})
	_, _, err = e.Suspend(l, SuspendOpts{Condition: condByName("approve")})
	s.WantErr("suspend", err, "ff_suspend_execution", "execution_not_active", "none", "1", "suspended", l.AttemptID)
	s.Step("signal to an unknown execution")
	ghost := s.NewExec()
	_, _, err = ghost.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "execution_not_found")
	s.Step("cancel a suspended execution")
	cr, err := e.Cancel("stop", "operator_override", "", "", instA)
	s.OK("ff_cancel_execution", err)
	s.Eq("reply", ffscripts.CancelExecutionReply{Status: "OK", Result: "cancelled", PreviousPhase: "suspended"}, cr)
	s.Want("waitpoint", map[string]string{"state": "closed", "close_reason": "cancelled"},
		pick(s.Hash(e.P.Waitpoint(sp.WP)), "state", "close_reason"))
	e.WantWhere(map[string]string{"terminal": "~cancel"}, instA)
	s.Step("signal after cancel")
	_, _, err = e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "target_not_signalable")
}

// signalExpireExecution: the deadline scanner expires a suspended execution (spec §6.12):
// attempt ended_failure, suspension closed "expired:<reason>", out of the suspended and
// suspension_timeout indexes, into terminal; a later signal is refused.
func signalExpireExecution(s *S) {
	s.InitKeystore()
	timeout := s.now() + 3_600_000
	e, l, sp := suspendedExec(s, SuspendOpts{Condition: condByName("approve"), TimeoutAt: &timeout})
	s.Step("expire the execution")
	r, err := e.ExpireExecution("execution_deadline")
	s.OK("ff_expire_execution", err)
	s.Eq("reply", ffscripts.ExpireExecutionReply{Status: "OK", Result: "expired", PreviousPhase: "suspended"}, r)
	s.Want("exec_core", map[string]string{"lifecycle_phase": "terminal", "ownership_state": "unowned",
		"eligibility_state": "not_applicable", "terminal_outcome": "expired", "attempt_state": "attempt_terminal",
		"public_state": "expired", "failure_reason": "execution_deadline", "completed_at": "~expire_execution",
		"current_suspension_id": "", "current_waitpoint_id": ""},
		pick(s.Hash(e.K.Core()), "lifecycle_phase", "ownership_state", "eligibility_state", "terminal_outcome",
			"attempt_state", "public_state", "failure_reason", "completed_at", "current_suspension_id", "current_waitpoint_id"))
	e.WantWhere(map[string]string{"terminal": "~expire_execution"}, instA)
	s.Want("attempt", map[string]string{"attempt_state": "ended_failure", "ended_at": "~expire_execution"},
		pick(s.Hash(e.K.Attempt(uint32(l.Index))), "attempt_state", "ended_at"))
	s.Want("suspension", map[string]string{"closed_at": "~expire_execution", "close_reason": "expired:execution_deadline"},
		pick(s.Hash(e.K.SuspensionCurrent()), "closed_at", "close_reason"))
	s.Step("signal after expiry")
	_, _, err = e.Deliver(sp.WP, sp.Token, "approve", SignalOpts{})
	s.WantErr("deliver", err, "ff_deliver_signal", "target_not_signalable")
	s.Step("expire again")
	r, err = e.ExpireExecution("execution_deadline")
	s.OK("ff_expire_execution", err)
	s.Eq("reply", ffscripts.ExpireExecutionReply{Status: "OK", Result: "already_terminal"}, r)
}
