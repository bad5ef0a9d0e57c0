package ffscripts_test

// Harness for the suspend → signal → resume contract tests (spec suspend-signal.md).
// It builds on harness_test.go (targets, fx, exe, claim wrappers) and adds the keys and
// thin wrappers of the waitpoint/signal/suspension functions. Identifiers here start
// with "s" / "sig" so they never collide with the claim/lease harness.

import (
	"errors"
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/signal"
	"github.com/google/uuid"
)

// sigSecret is the keystore secret of every signal test partition (spec §4.2 vector 1).
const sigSecret = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// sigEachTarget is eachTarget (which force-loads this tree's library) plus a partition
// keystore holding kid k1 with sigSecret.
func sigEachTarget(t *testing.T, body func(t *testing.T, f *fx)) {
	t.Helper()
	eachTarget(t, func(t *testing.T, f *fx) {
		sigInitKeystore(t, f)
		body(t, f)
	})
}

// sigInitKeystore resets the partition's keystore to {current_kid k1, secret:k1 sigSecret}.
func sigInitKeystore(t *testing.T, f *fx) {
	t.Helper()
	if err := f.do(f.db.B().Del().Key(f.secKey()).Build()).Error(); err != nil {
		t.Fatalf("DEL keystore: %v", err)
	}
	if _, err := f.rotate("k1", sigSecret, 0); err != nil {
		t.Fatalf("init keystore: %v", err)
	}
}

func (f *fx) secKey() string            { return "ff:sec:" + f.tag + ":waitpoint_hmac" }
func (f *fx) wpKey(wp string) string    { return "ff:wp:" + f.tag + ":" + wp }
func (f *fx) wpCond(wp string) string   { return f.wpKey(wp) + ":condition" }
func (f *fx) wpStream(wp string) string { return f.wpKey(wp) + ":signals" }
func (f *fx) sigKey(sig string) string  { return "ff:signal:" + f.tag + ":" + sig }
func (f *fx) feedKey() string           { return "ff:part:" + f.tag + ":signal_delivery" }

func (f *fx) rotate(kid, hex string, grace int64) (ffscripts.RotateWaitpointHMACSecretReply, error) {
	return f.c.RotateWaitpointHMACSecret(f.ctx, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: f.secKey()},
		ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid, NewSecretHex: hex, GraceMs: grace})
}

func (f *fx) listKids() (ffscripts.ListWaitpointHMACKidsReply, error) {
	return f.c.ListWaitpointHMACKids(f.ctx, ffscripts.ListWaitpointHMACKidsKeys{HMACSecrets: f.secKey()},
		ffscripts.ListWaitpointHMACKidsArgs{})
}

// running creates an execution and claims it: the state a worker suspends from.
func (f *fx) running() (*exe, *lease) {
	f.t.Helper()
	e := f.newExec()
	e.mustCreate(nil)
	return e, e.mustGrantClaim("w-a", "wi-a", 30000)
}

// sreq is one suspend request; zero fields take the defaults of suspendArgs.
type sreq struct {
	cond         signal.ResumeCondition
	condJSON     string // used verbatim when set
	wp, wpKey    string // primary waitpoint (fresh ids when empty)
	extras       []string
	timeoutAt    *int64
	behavior     signal.TimeoutBehavior
	usePending   bool
	idem         string
	dedupTTL     *int64
	suspensionID string
}

// suspendArgs returns the keys and args of a suspend request for lease l.
func (e *exe) suspendArgs(l *lease, r sreq) (ffscripts.SuspendExecutionKeys, ffscripts.SuspendExecutionArgs) {
	f := e.f
	if r.wp == "" {
		r.wp = uuid.NewString()
	}
	if r.wpKey == "" && !r.usePending {
		r.wpKey = "wpk:" + r.wp
	}
	if r.suspensionID == "" {
		r.suspensionID = uuid.NewString()
	}
	cj := r.condJSON
	if cj == "" {
		var err error
		if cj, err = r.cond.JSON(); err != nil {
			f.t.Fatalf("condition: %v", err)
		}
	}
	pol, _ := signal.DefaultResumePolicy().JSON()
	dedup := e.noop()
	if r.idem != "" {
		dedup = "ff:dedup:suspend:" + f.tag + ":" + e.id + ":" + r.idem
	}
	k := ffscripts.SuspendExecutionKeys{ExecCore: e.x("core"), AttemptHash: e.attempt(l.index),
		LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(l.inst),
		SuspensionCurrent: e.x("suspension:current"), WaitpointHash: f.wpKey(r.wp),
		WaitpointSignals: f.wpStream(r.wp), SuspensionTimeout: e.idx("suspension_timeout"),
		PendingWaitpointExpiry: e.idx("pending_waitpoint_expiry"), LaneActive: e.laneIdx("active"),
		LaneSuspended: e.laneIdx("suspended"), WaitpointHistory: e.x("waitpoints"),
		WaitpointCondition: f.wpCond(r.wp), AttemptTimeout: e.idx("attempt_timeout"),
		HMACSecrets: f.secKey(), SuspendDedup: dedup}
	a := ffscripts.SuspendExecutionArgs{ExecutionID: e.id, AttemptIndex: l.index, AttemptID: l.aid,
		LeaseID: l.leaseID, LeaseEpoch: l.epoch, SuspensionID: r.suspensionID, WaitpointID: r.wp,
		WaitpointKey: r.wpKey, ReasonCode: "waiting_for_signal", RequestedBy: "worker",
		TimeoutAt: r.timeoutAt, ResumeConditionJSON: cj, ResumePolicyJSON: pol,
		TimeoutBehavior: string(r.behavior), LeaseHistoryMaxlen: ptr(int64(1000)),
		IdempotencyKey: r.idem, DedupTTLMs: r.dedupTTL, NumExtraWaitpoints: int64(len(r.extras))}
	if r.usePending {
		a.UsePendingWaitpoint = ptr(true)
	}
	for _, x := range r.extras {
		id := uuid.NewString()
		k.Extras = append(k.Extras, ffscripts.SuspendExecutionKeysExtra{WaitpointHash: f.wpKey(id),
			WaitpointSignals: f.wpStream(id), WaitpointCondition: f.wpCond(id)})
		a.Extras = append(a.Extras, ffscripts.SuspendExecutionArgsExtra{WaitpointID: id, WaitpointKey: x})
	}
	return k, a
}

func (e *exe) suspendOn(l *lease, r sreq) (ffscripts.SuspendExecutionReply, error) {
	k, a := e.suspendArgs(l, r)
	return e.f.c.SuspendExecution(e.f.ctx, k, a)
}

// swp is a waitpoint a signal can be sent to.
type swp struct{ id, key, token string }

// waitpoints returns the primary and extra waitpoints of a suspend reply.
func sigWaitpoints(t *testing.T, r ffscripts.SuspendExecutionReply) []swp {
	t.Helper()
	out := []swp{{r.WaitpointID, r.WaitpointKey, r.WaitpointToken}}
	if int64(len(r.ExtraTokens)) != 3*r.ExtraCount {
		t.Fatalf("extra_count %d with %d extra fields", r.ExtraCount, len(r.ExtraTokens))
	}
	for i := 0; i+2 < len(r.ExtraTokens); i += 3 {
		out = append(out, swp{r.ExtraTokens[i], r.ExtraTokens[i+1], r.ExtraTokens[i+2]})
	}
	return out
}

// dreq is one signal; zero fields take defaults.
type dreq struct {
	name, token, idem    string
	sourceType, sourceID string
	payload              []byte
	delay, maxSignals    *int64
	dedupTTL             *int64
	signalID             string
}

func (e *exe) deliverArgs(wp string, d dreq) (ffscripts.DeliverSignalKeys, ffscripts.DeliverSignalArgs) {
	f := e.f
	if d.signalID == "" {
		d.signalID = uuid.NewString()
	}
	idem := e.noop()
	if d.idem != "" {
		idem = "ff:sigdedup:" + f.tag + ":" + wp + ":" + d.idem
	}
	if d.sourceType == "" {
		d.sourceType = "webhook"
	}
	if d.sourceID == "" {
		d.sourceID = "src-1"
	}
	k := ffscripts.DeliverSignalKeys{ExecCore: e.x("core"), WaitpointCondition: f.wpCond(wp),
		WaitpointSignals: f.wpStream(wp), ExecSignals: e.x("signals"), SignalHash: f.sigKey(d.signalID),
		SignalPayload: f.sigKey(d.signalID) + ":payload", Idempotency: idem, WaitpointHash: f.wpKey(wp),
		SuspensionCurrent: e.x("suspension:current"), LaneEligible: e.laneIdx("eligible"),
		LaneSuspended: e.laneIdx("suspended"), LaneDelayed: e.laneIdx("delayed"),
		SuspensionTimeout: e.idx("suspension_timeout"), HMACSecrets: f.secKey(),
		SignalDeliveryFeed: f.feedKey()}
	a := ffscripts.DeliverSignalArgs{SignalID: d.signalID, ExecutionID: e.id, WaitpointID: wp,
		SignalName: d.name, SignalCategory: "callback", SourceType: d.sourceType,
		SourceIdentity: d.sourceID, Payload: d.payload, PayloadEncoding: "json",
		IdempotencyKey: d.idem, TargetScope: "waitpoint", DedupTTLMs: d.dedupTTL,
		ResumeDelayMs: d.delay, MaxSignalsPerExecution: d.maxSignals, WaitpointToken: d.token}
	return k, a
}

func (e *exe) deliverTo(wp string, d dreq) (ffscripts.DeliverSignalReply, error) {
	k, a := e.deliverArgs(wp, d)
	return e.f.c.DeliverSignal(e.f.ctx, k, a)
}

func (e *exe) bufferTo(wp string, d dreq) (ffscripts.BufferSignalForPendingWaitpointReply, error) {
	k, a := e.deliverArgs(wp, d)
	return e.f.c.BufferSignalForPendingWaitpoint(e.f.ctx, ffscripts.BufferSignalForPendingWaitpointKeys{
		ExecCore: k.ExecCore, WaitpointCondition: k.WaitpointCondition, WaitpointSignals: k.WaitpointSignals,
		ExecSignals: k.ExecSignals, SignalHash: k.SignalHash, SignalPayload: k.SignalPayload,
		Idempotency: k.Idempotency, WaitpointHash: k.WaitpointHash, HMACSecrets: k.HMACSecrets},
		ffscripts.BufferSignalForPendingWaitpointArgs(a))
}

func (e *exe) pendingWP(l *lease, wp, key string, expiresAt int64) (ffscripts.CreatePendingWaitpointReply, error) {
	return e.f.c.CreatePendingWaitpoint(e.f.ctx, ffscripts.CreatePendingWaitpointKeys{ExecCore: e.x("core"),
		WaitpointHash: e.f.wpKey(wp), PendingWaitpointExpiry: e.idx("pending_waitpoint_expiry"),
		HMACSecrets: e.f.secKey()},
		ffscripts.CreatePendingWaitpointArgs{ExecutionID: e.id, AttemptIndex: l.index, WaitpointID: wp,
			WaitpointKey: key, ExpiresAt: expiresAt})
}

func (e *exe) closeWP(wp, reason string) (ffscripts.CloseWaitpointReply, error) {
	return e.f.c.CloseWaitpoint(e.f.ctx, ffscripts.CloseWaitpointKeys{ExecCore: e.x("core"),
		WaitpointHash: e.f.wpKey(wp), PendingWaitpointExpiry: e.idx("pending_waitpoint_expiry")},
		ffscripts.CloseWaitpointArgs{WaitpointID: wp, Reason: reason})
}

func (e *exe) resumeExec(wp string, delay *int64) (ffscripts.ResumeExecutionReply, error) {
	return e.f.c.ResumeExecution(e.f.ctx, ffscripts.ResumeExecutionKeys{ExecCore: e.x("core"),
		SuspensionCurrent: e.x("suspension:current"), WaitpointHash: e.f.wpKey(wp),
		WaitpointSignals: e.f.wpStream(wp), SuspensionTimeout: e.idx("suspension_timeout"),
		LaneEligible: e.laneIdx("eligible"), LaneDelayed: e.laneIdx("delayed"),
		LaneSuspended: e.laneIdx("suspended")},
		ffscripts.ResumeExecutionArgs{ExecutionID: e.id, TriggerType: "operator", ResumeDelayMs: delay})
}

func (e *exe) expireSusp() (ffscripts.ExpireSuspensionReply, error) {
	c := e.core()
	wp, idx := c["current_waitpoint_id"], c["current_attempt_index"]
	if idx == "" {
		idx = "0"
	}
	if wp == "" {
		wp = "none"
	}
	return e.f.c.ExpireSuspension(e.f.ctx, ffscripts.ExpireSuspensionKeys{ExecCore: e.x("core"),
		SuspensionCurrent: e.x("suspension:current"), WaitpointHash: e.f.wpKey(wp),
		WaitpointCondition: e.f.wpCond(wp), AttemptHash: "ff:attempt:" + e.f.tag + ":" + e.id + ":" + idx,
		StreamMeta:        "ff:stream:" + e.f.tag + ":" + e.id + ":" + idx + ":meta",
		SuspensionTimeout: e.idx("suspension_timeout"), LaneSuspended: e.laneIdx("suspended"),
		LaneTerminal: e.laneIdx("terminal"), LaneEligible: e.laneIdx("eligible"),
		LaneDelayed: e.laneIdx("delayed"), LeaseHistory: e.x("lease:history")},
		ffscripts.ExpireSuspensionArgs{ExecutionID: e.id})
}

// cancelSuspended cancels through ff_cancel_execution with the current waitpoint's keys.
func (e *exe) cancelSuspended(wp string) (ffscripts.CancelExecutionReply, error) {
	return e.f.c.CancelExecution(e.f.ctx, ffscripts.CancelExecutionKeys{ExecCore: e.x("core"),
		AttemptHash: e.attempt(0), StreamMeta: e.streamKey(0) + ":meta", LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry"),
		WorkerLeases: e.workerSet("wi-a"), SuspensionCurrent: e.x("suspension:current"),
		WaitpointHash: e.f.wpKey(wp), WaitpointCondition: e.f.wpCond(wp),
		SuspensionTimeout: e.idx("suspension_timeout"), LaneTerminal: e.laneIdx("terminal"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline"),
		LaneEligible: e.laneIdx("eligible"), LaneDelayed: e.laneIdx("delayed"),
		BlockedDependencies: e.laneIdx("blocked:dependencies"), BlockedBudget: e.laneIdx("blocked:budget"),
		BlockedQuota: e.laneIdx("blocked:quota"), BlockedRoute: e.laneIdx("blocked:route"),
		BlockedOperator: e.laneIdx("blocked:operator")},
		ffscripts.CancelExecutionArgs{ExecutionID: e.id, Reason: "user", Source: "operator_override"})
}

// sigCode returns the error code of a structured error, "" for nil, and fails the test on
// any other error (a Lua runtime error, a transport error, a reply of the wrong shape).
func sigCode(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var fe *fcall.Error
	if !errors.As(err, &fe) {
		t.Fatalf("not a structured {0, code} error: %v", err)
	}
	return fe.Code
}

// zcard returns the cardinality of a sorted set.
func (f *fx) zcard(key string) int64 {
	n, err := f.do(f.db.B().Zcard().Key(key).Build()).AsInt64()
	if err != nil {
		f.t.Fatalf("ZCARD %s: %v", key, err)
	}
	return n
}

func (f *fx) hgetallKey(key string) map[string]string {
	m, err := f.do(f.db.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		f.t.Fatalf("HGETALL %s: %v", key, err)
	}
	return m
}

func i64(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
