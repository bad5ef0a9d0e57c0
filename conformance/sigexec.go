package conformance

import (
	"strconv"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/waitpoint"
	"github.com/google/uuid"
)

// The HMAC keystore every signal scenario installs in its partition (kid k1).
const (
	kid1    = "k1"
	secret1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	kid2    = "k2"
	secret2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

// InitKeystore installs kid k1 in the scenario's partition through
// ff_rotate_waitpoint_hmac_secret. A partition whose keystore someone else initialised
// with another secret is swapped for a fresh one.
func (s *S) InitKeystore() {
	s.Step("install the HMAC keystore")
	for range 8 {
		r, err := s.C.RotateWaitpointHMACSecret(s.ctx, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: s.P.HMACSecrets()},
			ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid1, NewSecretHex: secret1, GraceMs: 60000})
		if err == nil && r.Action == "rotated" && r.Kid == "" {
			return
		}
		s.P = pickPartition(s.rng, int(s.P.Slot())*3/keyspace.NumSlots)
	}
	s.Fatalf("no partition with an empty HMAC keystore found")
}

// Token returns the token the library must mint for a waitpoint created at createdAt.
func (s *S) Token(kid, secret, wp, key, createdAt string) string {
	mac, err := waitpoint.MACHex(secret, wp+"|"+key+"|"+createdAt)
	if err != nil {
		s.Fatalf("MACHex: %v", err)
	}
	return kid + ":" + mac
}

// SuspendOpts are the inputs of Suspend.
type SuspendOpts struct {
	WaitpointID string // default: a fresh uuid
	Key         string // default "wpk:<id>"; "" with UsePending
	Condition   string // resume_condition_json
	Reason      string // default "waiting_for_signal"
	TimeoutAt   *int64
	Behavior    string // timeout behaviour
	IdemKey     string
	UsePending  bool
	Extras      []ffscripts.SuspendExecutionArgsExtra
}

// Suspension is what a suspend handed out.
type Suspension struct {
	ID, WP, Key, Token string
}

// Suspend suspends under l.
func (e *Exec) Suspend(l *Lease, o SuspendOpts) (*Suspension, ffscripts.SuspendExecutionReply, error) {
	if o.WaitpointID == "" {
		o.WaitpointID = uuid.NewString()
	}
	if o.Key == "" && !o.UsePending {
		o.Key = "wpk:" + o.WaitpointID
	}
	if o.Reason == "" {
		o.Reason = "waiting_for_signal"
	}
	sp := &Suspension{ID: uuid.NewString(), WP: o.WaitpointID, Key: o.Key}
	dedup := e.P.Noop()
	if o.IdemKey != "" {
		dedup = e.K.SuspendDedup(o.IdemKey)
	}
	k := ffscripts.SuspendExecutionKeys{ExecCore: e.K.Core(), AttemptHash: e.K.Attempt(l.idx()),
		LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(), LeaseExpiry: e.P.LeaseExpiry(),
		WorkerLeases: e.P.WorkerLeases(l.Inst), SuspensionCurrent: e.K.SuspensionCurrent(),
		WaitpointHash: e.P.Waitpoint(sp.WP), WaitpointSignals: e.P.WaitpointSignals(sp.WP),
		SuspensionTimeout: e.P.SuspensionTimeout(), PendingWaitpointExpiry: e.P.PendingWaitpointExpiry(),
		LaneActive: e.P.LaneActive(e.Lane), LaneSuspended: e.P.LaneSuspended(e.Lane),
		WaitpointHistory: e.K.Waitpoints(), WaitpointCondition: e.P.WaitpointCondition(sp.WP),
		AttemptTimeout: e.P.AttemptTimeout(), HMACSecrets: e.P.HMACSecrets(), SuspendDedup: dedup}
	for _, x := range o.Extras {
		k.Extras = append(k.Extras, ffscripts.SuspendExecutionKeysExtra{WaitpointHash: e.P.Waitpoint(x.WaitpointID),
			WaitpointSignals: e.P.WaitpointSignals(x.WaitpointID), WaitpointCondition: e.P.WaitpointCondition(x.WaitpointID)})
	}
	a := ffscripts.SuspendExecutionArgs{ExecutionID: e.ID, AttemptIndex: l.Index, AttemptID: l.AttemptID,
		LeaseID: l.LeaseID, LeaseEpoch: l.Epoch, SuspensionID: sp.ID, WaitpointID: sp.WP, WaitpointKey: o.Key,
		ReasonCode: o.Reason, RequestedBy: "worker", TimeoutAt: o.TimeoutAt, ResumeConditionJSON: o.Condition,
		ResumePolicyJSON: `{"resume_target":"runnable"}`, UsePendingWaitpoint: ptr(o.UsePending),
		TimeoutBehavior: o.Behavior, LeaseHistoryMaxlen: ptr(int64(1000)), IdempotencyKey: o.IdemKey,
		DedupTTLMs: ptr(int64(0)), NumExtraWaitpoints: int64(len(o.Extras)), Extras: o.Extras}
	if o.IdemKey != "" {
		a.DedupTTLMs = ptr(int64(120000))
	}
	var r ffscripts.SuspendExecutionReply
	var err error
	e.s.timed("suspend", func() { r, err = e.s.C.SuspendExecution(e.s.ctx, k, a) })
	if err == nil {
		sp.Token, sp.Key = r.WaitpointToken, r.WaitpointKey
	}
	return sp, r, err
}

// MustSuspend suspends and fails the scenario on an error.
func (e *Exec) MustSuspend(l *Lease, o SuspendOpts) *Suspension {
	sp, _, err := e.Suspend(l, o)
	if err != nil {
		e.s.Fatalf("suspend: %v", err)
	}
	return sp
}

// SignalOpts are the inputs of Deliver and Buffer besides the target.
type SignalOpts struct {
	SignalID   string // default: a fresh uuid
	Source     string // source_identity, default "src-1"
	IdemKey    string
	MaxSignals *int64
	Delay      *int64 // resume_delay_ms
	Payload    string
}

func (e *Exec) signalArgs(wp, token, name string, o SignalOpts) (ffscripts.DeliverSignalArgs, string) {
	if o.SignalID == "" {
		o.SignalID = uuid.NewString()
	}
	if o.Source == "" {
		o.Source = "src-1"
	}
	return ffscripts.DeliverSignalArgs{SignalID: o.SignalID, ExecutionID: e.ID, WaitpointID: wp,
		SignalName: name, SignalCategory: "approval", SourceType: "webhook", SourceIdentity: o.Source,
		Payload: []byte(o.Payload), PayloadEncoding: "json", IdempotencyKey: o.IdemKey, TargetScope: "waitpoint",
		DedupTTLMs: ptr(int64(86400000)), ResumeDelayMs: o.Delay, SignalMaxlen: ptr(int64(1000)),
		MaxSignalsPerExecution: o.MaxSignals, WaitpointToken: token}, o.SignalID
}

func (e *Exec) idemKey(wp, idem string) string {
	if idem == "" {
		return e.P.Noop()
	}
	return e.P.SignalDedup(wp, idem)
}

// Deliver delivers a signal to waitpoint wp. It returns the signal id it sent.
func (e *Exec) Deliver(wp, token, name string, o SignalOpts) (string, ffscripts.DeliverSignalReply, error) {
	a, sig := e.signalArgs(wp, token, name, o)
	var r ffscripts.DeliverSignalReply
	var err error
	e.s.timed("deliver", func() {
		r, err = e.s.C.DeliverSignal(e.s.ctx, ffscripts.DeliverSignalKeys{ExecCore: e.K.Core(),
			WaitpointCondition: e.P.WaitpointCondition(wp), WaitpointSignals: e.P.WaitpointSignals(wp),
			ExecSignals: e.K.Signals(), SignalHash: e.P.Signal(sig), SignalPayload: e.P.SignalPayload(sig),
			Idempotency: e.idemKey(wp, o.IdemKey), WaitpointHash: e.P.Waitpoint(wp),
			SuspensionCurrent: e.K.SuspensionCurrent(), LaneEligible: e.P.LaneEligible(e.Lane),
			LaneSuspended: e.P.LaneSuspended(e.Lane), LaneDelayed: e.P.LaneDelayed(e.Lane),
			SuspensionTimeout: e.P.SuspensionTimeout(), HMACSecrets: e.P.HMACSecrets(),
			SignalDeliveryFeed: e.P.SignalDelivery()}, a)
	})
	return sig, r, err
}

// Buffer buffers a signal for a pending waitpoint.
func (e *Exec) Buffer(wp, token, name string, o SignalOpts) (string, ffscripts.BufferSignalForPendingWaitpointReply, error) {
	d, sig := e.signalArgs(wp, token, name, o)
	a := ffscripts.BufferSignalForPendingWaitpointArgs(d)
	var r ffscripts.BufferSignalForPendingWaitpointReply
	var err error
	e.s.timed("buffer", func() {
		r, err = e.s.C.BufferSignalForPendingWaitpoint(e.s.ctx, ffscripts.BufferSignalForPendingWaitpointKeys{
			ExecCore: e.K.Core(), WaitpointCondition: e.P.WaitpointCondition(wp),
			WaitpointSignals: e.P.WaitpointSignals(wp), ExecSignals: e.K.Signals(), SignalHash: e.P.Signal(sig),
			SignalPayload: e.P.SignalPayload(sig), Idempotency: e.idemKey(wp, o.IdemKey),
			WaitpointHash: e.P.Waitpoint(wp), HMACSecrets: e.P.HMACSecrets()}, a)
	})
	return sig, r, err
}

// Resume resumes a suspended execution (operator).
func (e *Exec) Resume(wp string, delay int64) (ffscripts.ResumeExecutionReply, error) {
	var r ffscripts.ResumeExecutionReply
	var err error
	e.s.timed("resume", func() {
		r, err = e.s.C.ResumeExecution(e.s.ctx, ffscripts.ResumeExecutionKeys{ExecCore: e.K.Core(),
			SuspensionCurrent: e.K.SuspensionCurrent(), WaitpointHash: e.P.Waitpoint(wp),
			WaitpointSignals: e.P.WaitpointSignals(wp), SuspensionTimeout: e.P.SuspensionTimeout(),
			LaneEligible: e.P.LaneEligible(e.Lane), LaneDelayed: e.P.LaneDelayed(e.Lane),
			LaneSuspended: e.P.LaneSuspended(e.Lane)},
			ffscripts.ResumeExecutionArgs{ExecutionID: e.ID, TriggerType: "operator", ResumeDelayMs: ptr(delay)})
	})
	return r, err
}

// ExpireSuspension runs the suspension-timeout scanner's function.
func (e *Exec) ExpireSuspension(wp string) (ffscripts.ExpireSuspensionReply, error) {
	idx, _ := strconv.ParseUint(e.CoreField("current_attempt_index"), 10, 32)
	var r ffscripts.ExpireSuspensionReply
	var err error
	e.s.timed("expire_suspension", func() {
		r, err = e.s.C.ExpireSuspension(e.s.ctx, ffscripts.ExpireSuspensionKeys{ExecCore: e.K.Core(),
			SuspensionCurrent: e.K.SuspensionCurrent(), WaitpointHash: e.P.Waitpoint(wp),
			WaitpointCondition: e.P.WaitpointCondition(wp), AttemptHash: e.K.Attempt(uint32(idx)),
			StreamMeta: e.K.StreamMeta(uint32(idx)), SuspensionTimeout: e.P.SuspensionTimeout(),
			LaneSuspended: e.P.LaneSuspended(e.Lane), LaneTerminal: e.P.LaneTerminal(e.Lane),
			LaneEligible: e.P.LaneEligible(e.Lane), LaneDelayed: e.P.LaneDelayed(e.Lane),
			LeaseHistory: e.K.LeaseHistory()}, ffscripts.ExpireSuspensionArgs{ExecutionID: e.ID})
	})
	return r, err
}

// CreatePending pre-creates a pending waitpoint under l.
func (e *Exec) CreatePending(l *Lease, wp, key string, expiresAt int64) (ffscripts.CreatePendingWaitpointReply, error) {
	var r ffscripts.CreatePendingWaitpointReply
	var err error
	e.s.timed("create_pending", func() {
		r, err = e.s.C.CreatePendingWaitpoint(e.s.ctx, ffscripts.CreatePendingWaitpointKeys{ExecCore: e.K.Core(),
			WaitpointHash: e.P.Waitpoint(wp), PendingWaitpointExpiry: e.P.PendingWaitpointExpiry(),
			HMACSecrets: e.P.HMACSecrets()},
			ffscripts.CreatePendingWaitpointArgs{ExecutionID: e.ID, AttemptIndex: l.Index, WaitpointID: wp,
				WaitpointKey: key, ExpiresAt: expiresAt})
	})
	return r, err
}

// CloseWaitpoint closes a waitpoint.
func (e *Exec) CloseWaitpoint(wp, reason string) (ffscripts.CloseWaitpointReply, error) {
	var r ffscripts.CloseWaitpointReply
	var err error
	e.s.timed("close_waitpoint", func() {
		r, err = e.s.C.CloseWaitpoint(e.s.ctx, ffscripts.CloseWaitpointKeys{ExecCore: e.K.Core(),
			WaitpointHash: e.P.Waitpoint(wp), PendingWaitpointExpiry: e.P.PendingWaitpointExpiry()},
			ffscripts.CloseWaitpointArgs{WaitpointID: wp, Reason: reason})
	})
	return r, err
}

// Condition JSON of the typed conditions (spec §3.1).
func condByName(names ...string) string {
	return condMode("any", 1, names...)
}

func condMode(mode string, min int, names ...string) string {
	q := "["
	for i, n := range names {
		if i > 0 {
			q += ","
		}
		q += strconv.Quote(n)
	}
	q += "]"
	return `{"condition_type":"signal_set","required_signal_names":` + q +
		`,"signal_match_mode":"` + mode + `","minimum_signal_count":` + strconv.Itoa(min) + `}`
}

// ExpireExecution runs the attempt-timeout / deadline scanners' function.
func (e *Exec) ExpireExecution(reason string) (ffscripts.ExpireExecutionReply, error) {
	c := e.s.Hash(e.K.Core())
	idx, _ := strconv.ParseUint(c["current_attempt_index"], 10, 32)
	inst := c["current_worker_instance_id"]
	var r ffscripts.ExpireExecutionReply
	var err error
	e.s.timed("expire_execution", func() {
		r, err = e.s.C.ExpireExecution(e.s.ctx, ffscripts.ExpireExecutionKeys{ExecCore: e.K.Core(),
			AttemptHash: e.K.Attempt(uint32(idx)), StreamMeta: e.K.StreamMeta(uint32(idx)),
			LeaseCurrent: e.K.LeaseCurrent(), LeaseHistory: e.K.LeaseHistory(), LeaseExpiry: e.P.LeaseExpiry(),
			WorkerLeases: e.P.WorkerLeases(inst), LaneActive: e.P.LaneActive(e.Lane),
			LaneTerminal: e.P.LaneTerminal(e.Lane), AttemptTimeout: e.P.AttemptTimeout(),
			ExecutionDeadline: e.P.ExecutionDeadline(), LaneSuspended: e.P.LaneSuspended(e.Lane),
			SuspensionTimeout: e.P.SuspensionTimeout(), SuspensionCurrent: e.K.SuspensionCurrent()},
			ffscripts.ExpireExecutionArgs{ExecutionID: e.ID, ExpireReason: reason})
	})
	return r, err
}
