package ffscripts_test

// Test harness for the claim/lease contract tests: targets, fixtures, key schema and
// thin per-function wrappers over the generated bindings.
//
// A target is a valkey.Client the tests run against: real Valkey when VALKEY_ADDR is set
// (comma-separated addresses; a cluster works too), the embedded engine once it exists.
// Every test works in its own random partition {fp:N} with fresh uuids, so tests can share
// a server with other users and never need FLUSHALL.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

type target struct {
	name string
	db   valkey.Client
}

var (
	realOnce sync.Once
	realDB   valkey.Client
	realErr  error
)

var (
	embOnce sync.Once
	embDB   valkey.Client
	embErr  error
)

// embeddedTarget starts the in-process engine (package embedded) once per test binary.
func embeddedTarget() (valkey.Client, error) {
	embOnce.Do(func() {
		srv, err := embedded.New()
		if err != nil {
			embErr = err
			return
		}
		embDB, embErr = valkey.NewClient(srv.ClientOption())
		if embErr == nil {
			embErr = loadLibrary(embDB)
		}
	})
	return embDB, embErr
}

// targets returns every target available to this run; it skips the test when none is.
// FFGO_TARGETS selects them: "valkey", "embedded" or "valkey,embedded" (the default is
// valkey when VALKEY_ADDR is set, else embedded).
func targets(t *testing.T) []target {
	t.Helper()
	addr := os.Getenv("VALKEY_ADDR")
	want := os.Getenv("FFGO_TARGETS")
	if want == "" {
		want = "embedded"
		if addr != "" {
			want = "valkey"
		}
	}
	var out []target
	if strings.Contains(want, "embedded") {
		db, err := embeddedTarget()
		if err != nil {
			t.Fatalf("embedded engine: %v", err)
		}
		out = append(out, target{name: "embedded", db: db})
	}
	if !strings.Contains(want, "valkey") {
		return out
	}
	if addr == "" {
		t.Skip("VALKEY_ADDR is not set: point it at a Valkey 8 server (e.g. VALKEY_ADDR=127.0.0.1:16379) to run the claim/lease contract tests")
	}
	realOnce.Do(func() {
		realDB, realErr = valkey.NewClient(valkey.ClientOption{
			InitAddress:  strings.Split(addr, ","),
			DisableCache: true,
		})
		if realErr == nil {
			realErr = loadLibrary(realDB)
		}
	})
	if realErr != nil {
		t.Fatalf("valkey at %s: %v", addr, realErr)
	}
	return append(out, target{name: "valkey", db: realDB})
}

// loadLibrary loads the library on every primary with fcall.Load, which replaces a server's
// copy whose version or code differs (the shared test server may hold another build).
// FFGO_LIBRARY_FILE, when set, names a flattened library to load instead (to try Lua
// changes before the package is regenerated).
func loadLibrary(db valkey.Client) error {
	lib := fcall.Library{Name: ffscripts.LibraryName, Version: ffscripts.LibraryVersion, VersionFunction: ffscripts.FnVersion, Source: ffscripts.Source()}
	if p := os.Getenv("FFGO_LIBRARY_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lib.Source = string(b)
	}
	return fcall.Load(context.Background(), db, lib)
}

// fx is one test's view of one target: a client, a private partition and a lane.
type fx struct {
	t    *testing.T
	ctx  context.Context
	db   valkey.Client
	c    *ffscripts.Client
	part int
	tag  string
	lane string
}

// eachTarget runs body once per target as a subtest with a fresh partition.
func eachTarget(t *testing.T, body func(t *testing.T, f *fx)) {
	t.Helper()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			body(t, newFx(t, tg.db))
		})
	}
}

func newFx(t *testing.T, db valkey.Client) *fx {
	p := rand.IntN(65536)
	return &fx{t: t, ctx: context.Background(), db: db, c: ffscripts.New(db), part: p,
		tag: fmt.Sprintf("{fp:%d}", p), lane: "lane-" + uuid.NewString()[:8]}
}

// sub returns a fixture for a subtest: same client, a new partition.
func (f *fx) sub(t *testing.T) *fx { return newFx(t, f.db) }

// exe is one execution of a fixture, with its keys (spec §3).
type exe struct {
	f  *fx
	id string
}

func (f *fx) newExec() *exe { return &exe{f: f, id: f.tag + ":" + uuid.NewString()} }

func (e *exe) x(s string) string       { return "ff:exec:" + e.f.tag + ":" + e.id + ":" + s }
func (e *exe) idx(s string) string     { return "ff:idx:" + e.f.tag + ":" + s }
func (e *exe) laneIdx(s string) string { return e.idx("lane:" + e.f.lane + ":" + s) }
func (e *exe) attempt(i int64) string {
	return "ff:attempt:" + e.f.tag + ":" + e.id + ":" + strconv.FormatInt(i, 10)
}
func (e *exe) streamKey(i int64) string {
	return "ff:stream:" + e.f.tag + ":" + e.id + ":" + strconv.FormatInt(i, 10)
}
func (e *exe) workerSet(inst string) string { return e.idx("worker:" + inst + ":leases") }
func (e *exe) noop() string                 { return "ff:noop:" + e.f.tag }

// ---- reads -----------------------------------------------------------------------------

func (f *fx) do(cmd valkey.Completed) valkey.ValkeyResult { return f.db.Do(f.ctx, cmd) }

// core returns exec_core as a map.
func (e *exe) core() map[string]string {
	m, err := e.f.do(e.f.db.B().Hgetall().Key(e.x("core")).Build()).AsStrMap()
	if err != nil {
		e.f.t.Fatalf("HGETALL core: %v", err)
	}
	return m
}

func (e *exe) hget(key, field string) string {
	v, err := e.f.do(e.f.db.B().Hget().Key(key).Field(field).Build()).ToString()
	if err != nil && !valkey.IsValkeyNil(err) {
		e.f.t.Fatalf("HGET %s %s: %v", key, field, err)
	}
	return v
}

func (e *exe) hgetall(key string) map[string]string {
	m, err := e.f.do(e.f.db.B().Hgetall().Key(key).Build()).AsStrMap()
	if err != nil {
		e.f.t.Fatalf("HGETALL %s: %v", key, err)
	}
	return m
}

func (e *exe) exists(key string) bool {
	n, err := e.f.do(e.f.db.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		e.f.t.Fatalf("EXISTS %s: %v", key, err)
	}
	return n == 1
}

// score returns the member's score in a ZSET, ok=false when absent.
func (e *exe) score(key string) (float64, bool) {
	v, err := e.f.do(e.f.db.B().Zscore().Key(key).Member(e.id).Build()).AsFloat64()
	if valkey.IsValkeyNil(err) {
		return 0, false
	}
	if err != nil {
		e.f.t.Fatalf("ZSCORE %s: %v", key, err)
	}
	return v, true
}

// state returns the state vector lifecycle/ownership/eligibility/blocking/attempt/public.
func (e *exe) state() string {
	c := e.core()
	return strings.Join([]string{c["lifecycle_phase"], c["ownership_state"], c["eligibility_state"],
		c["blocking_reason"], c["attempt_state"], c["public_state"]}, "/")
}

// Named state vectors of spec §10.
const (
	sWaiting      = "runnable/unowned/eligible_now/waiting_for_worker/pending_first_attempt/waiting"
	sWaitingRetry = "runnable/unowned/eligible_now/waiting_for_worker/pending_retry_attempt/waiting"
	sWaitingResum = "runnable/unowned/eligible_now/waiting_for_worker/attempt_interrupted/waiting"
	sDelayed      = "runnable/unowned/not_eligible_until_time/waiting_for_delay/pending_first_attempt/delayed"
	sRetryBackoff = "runnable/unowned/not_eligible_until_time/waiting_for_retry_backoff/pending_retry_attempt/delayed"
	sSelfDelayed  = "runnable/unowned/not_eligible_until_time/waiting_for_delay/attempt_interrupted/delayed"
	sBlockedRoute = "runnable/unowned/blocked_by_route/waiting_for_capable_worker/pending_first_attempt/rate_limited"
	sRunning      = "active/leased/not_applicable/none/running_attempt/active"
	sLeaseExpired = "active/lease_expired_reclaimable/not_applicable/waiting_for_worker/attempt_interrupted/active"
	sLeaseRevoked = "active/lease_revoked/not_applicable/waiting_for_worker/attempt_interrupted/active"
	sCompleted    = "terminal/unowned/not_applicable/none/attempt_terminal/completed"
	sFailed       = "terminal/unowned/not_applicable/none/attempt_terminal/failed"
	sCancelled    = "terminal/unowned/not_applicable/none/attempt_terminal/cancelled"
	sCancelledNew = "terminal/unowned/not_applicable/none/pending_first_attempt/cancelled"
	sExpired      = "terminal/unowned/not_applicable/none/attempt_terminal/expired"
)

// where lists the partition indexes that hold the execution (worker sets: "worker:<inst>").
func (e *exe) where(instances ...string) []string {
	var out []string
	for _, z := range []string{"eligible", "delayed", "active", "terminal", "blocked:route",
		"blocked:budget", "blocked:operator", "suspended"} {
		if _, ok := e.score(e.laneIdx(z)); ok {
			out = append(out, z)
		}
	}
	for _, z := range []string{"lease_expiry", "attempt_timeout", "execution_deadline"} {
		if _, ok := e.score(e.idx(z)); ok {
			out = append(out, z)
		}
	}
	for _, inst := range instances {
		n, err := e.f.do(e.f.db.B().Sismember().Key(e.workerSet(inst)).Member(e.id).Build()).AsInt64()
		if err != nil {
			e.f.t.Fatalf("SISMEMBER: %v", err)
		}
		if n == 1 {
			out = append(out, "worker:"+inst)
		}
	}
	sort.Strings(out)
	return out
}

// snapshot dumps every key of the execution and of its partition indexes (for no-write checks).
func (e *exe) snapshot() map[string]string {
	keys := []string{e.x("core"), e.x("payload"), e.x("policy"), e.x("tags"), e.x("result"),
		e.x("claim_grant"), e.x("attempts"), e.x("lease:current"), e.x("lease:history"),
		e.attempt(0), e.attempt(0) + ":usage", e.attempt(0) + ":policy", e.attempt(1),
		e.streamKey(0), e.streamKey(0) + ":meta", e.attempt(0) + ":summary",
		e.idx("lease_expiry"), e.idx("attempt_timeout"), e.idx("execution_deadline"),
		e.idx("all_executions"), e.workerSet("wi-a"), e.workerSet("wi-b")}
	for _, z := range []string{"eligible", "delayed", "active", "terminal", "blocked:route"} {
		keys = append(keys, e.laneIdx(z))
	}
	out := map[string]string{}
	for _, k := range keys {
		b, err := e.f.do(e.f.db.B().Dump().Key(k).Build()).ToString()
		if valkey.IsValkeyNil(err) {
			continue
		}
		if err != nil {
			e.f.t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = b
	}
	return out
}

// ---- wrappers over the generated bindings ---------------------------------------------

// lease is what a worker holds after a claim.
type lease struct {
	worker, inst        string
	leaseID, epoch, aid string
	index               int64
	expiresAt           int64
	attemptType         string
}

func ptr[T any](v T) *T { return &v }

func (e *exe) createKeys(sched string) ffscripts.CreateExecutionKeys {
	return ffscripts.CreateExecutionKeys{ExecCore: e.x("core"), Payload: e.x("payload"),
		Policy: e.x("policy"), Tags: e.x("tags"), SchedulingZset: sched,
		IdempotencyKey: e.noop(), ExecutionDeadline: e.idx("execution_deadline"),
		AllExecutions: e.idx("all_executions")}
}

func (e *exe) createArgs() ffscripts.CreateExecutionArgs {
	return ffscripts.CreateExecutionArgs{ExecutionID: e.id, Namespace: "ns", LaneID: e.f.lane,
		ExecutionKind: "kind", Priority: 0, CreatorIdentity: "tester", PolicyJSON: "{}",
		InputPayload: []byte("payload"), TagsJSON: "{}", PartitionID: strconv.Itoa(e.f.part)}
}

// create creates the execution with default args changed by mod.
func (e *exe) create(mod func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs)) (ffscripts.CreateExecutionReply, error) {
	a := e.createArgs()
	k := e.createKeys(e.laneIdx("eligible"))
	if mod != nil {
		mod(&k, &a)
	}
	return e.f.c.CreateExecution(e.f.ctx, k, a)
}

func (e *exe) mustCreate(mod func(*ffscripts.CreateExecutionKeys, *ffscripts.CreateExecutionArgs)) {
	e.f.t.Helper()
	if _, err := e.create(mod); err != nil {
		e.f.t.Fatalf("create: %v", err)
	}
}

func (e *exe) grant(worker, inst, caps string) (ffscripts.IssueClaimGrantReply, error) {
	return e.f.c.IssueClaimGrant(e.f.ctx,
		ffscripts.IssueClaimGrantKeys{ExecCore: e.x("core"), ClaimGrant: e.x("claim_grant"),
			LaneEligible: e.laneIdx("eligible")},
		ffscripts.IssueClaimGrantArgs{ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.f.lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: caps})
}

func (e *exe) claimKeys(idx int64, inst string) ffscripts.ClaimExecutionKeys {
	return ffscripts.ClaimExecutionKeys{ExecCore: e.x("core"), ClaimGrant: e.x("claim_grant"),
		LaneEligible: e.laneIdx("eligible"), LeaseExpiry: e.idx("lease_expiry"),
		WorkerLeases: e.workerSet(inst), AttemptHash: e.attempt(idx),
		AttemptUsage: e.attempt(idx) + ":usage", AttemptPolicy: e.attempt(idx) + ":policy",
		AttemptsZset: e.x("attempts"), LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LaneActive: e.laneIdx("active"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")}
}

// claim consumes a grant for worker/inst with a fresh lease and attempt id.
func (e *exe) claim(worker, inst string, ttl int64) (*lease, error) {
	l := &lease{worker: worker, inst: inst, leaseID: uuid.NewString(), aid: uuid.NewString()}
	r, err := e.f.c.ClaimExecution(e.f.ctx, e.claimKeys(0, inst), ffscripts.ClaimExecutionArgs{
		ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst, LaneID: e.f.lane,
		LeaseID: l.leaseID, LeaseTTLMs: ttl, RenewBeforeMs: ttl * 2 / 3, AttemptID: l.aid,
		AttemptPolicyJSON: "{}"})
	if err != nil {
		return nil, err
	}
	l.epoch, l.index, l.expiresAt, l.attemptType = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt, r.AttemptType
	if r.LeaseID != l.leaseID || r.AttemptID != l.aid {
		e.f.t.Fatalf("claim echoed %q/%q, sent %q/%q", r.LeaseID, r.AttemptID, l.leaseID, l.aid)
	}
	return l, nil
}

// mustGrantClaim grants and claims for worker "w-a"/"wi-a" with a 30 s lease.
func (e *exe) mustGrantClaim(worker, inst string, ttl int64) *lease {
	e.f.t.Helper()
	if _, err := e.grant(worker, inst, ""); err != nil {
		e.f.t.Fatalf("grant: %v", err)
	}
	l, err := e.claim(worker, inst, ttl)
	if err != nil {
		e.f.t.Fatalf("claim: %v", err)
	}
	return l
}

func (e *exe) claimResumed(worker, inst string, ttl int64) (*lease, error) {
	l := &lease{worker: worker, inst: inst, leaseID: uuid.NewString()}
	idx := e.core()["current_attempt_index"]
	r, err := e.f.c.ClaimResumedExecution(e.f.ctx, ffscripts.ClaimResumedExecutionKeys{
		ExecCore: e.x("core"), ClaimGrant: e.x("claim_grant"), LaneEligible: e.laneIdx("eligible"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst),
		AttemptHash: "ff:attempt:" + e.f.tag + ":" + e.id + ":" + idx, LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LaneActive: e.laneIdx("active"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")},
		ffscripts.ClaimResumedExecutionArgs{ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.f.lane, LeaseID: l.leaseID, LeaseTTLMs: ttl})
	if err != nil {
		return nil, err
	}
	l.epoch, l.index, l.expiresAt, l.attemptType, l.aid = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt, r.AttemptType, r.AttemptID
	return l, nil
}

func (e *exe) renew(l *lease, ttl int64) (ffscripts.RenewLeaseReply, error) {
	return e.f.c.RenewLease(e.f.ctx, ffscripts.RenewLeaseKeys{ExecCore: e.x("core"),
		LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry")},
		ffscripts.RenewLeaseArgs{ExecutionID: e.id, AttemptIndex: strconv.FormatInt(l.index, 10),
			AttemptID: l.aid, LeaseID: l.leaseID, LeaseEpoch: l.epoch, LeaseTTLMs: ttl, LeaseHistoryGraceMs: 5000})
}

func (e *exe) completeKeys(idx int64, inst string) ffscripts.CompleteExecutionKeys {
	return ffscripts.CompleteExecutionKeys{ExecCore: e.x("core"), AttemptHash: e.attempt(idx),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst),
		LaneTerminal: e.laneIdx("terminal"), LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LaneActive: e.laneIdx("active"),
		StreamMeta: e.streamKey(idx) + ":meta", Result: e.x("result"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")}
}

func (e *exe) complete(l *lease, result string) (ffscripts.CompleteExecutionReply, error) {
	return e.f.c.CompleteExecution(e.f.ctx, e.completeKeys(l.index, l.inst),
		ffscripts.CompleteExecutionArgs{ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: l.epoch,
			AttemptID: l.aid, ResultPayload: []byte(result)})
}

func (e *exe) fail(l *lease, reason, policy string) (ffscripts.FailExecutionReply, error) {
	return e.f.c.FailExecution(e.f.ctx, ffscripts.FailExecutionKeys{ExecCore: e.x("core"),
		AttemptHash: e.attempt(l.index), LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(l.inst),
		LaneTerminal: e.laneIdx("terminal"), LaneDelayed: e.laneIdx("delayed"),
		LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"),
		LaneActive: e.laneIdx("active"), StreamMeta: e.streamKey(l.index) + ":meta",
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")},
		ffscripts.FailExecutionArgs{ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: l.epoch,
			AttemptID: l.aid, FailureReason: reason, FailureCategory: "test", RetryPolicyJSON: policy})
}

func (e *exe) delay(l *lease, until int64) (ffscripts.DelayExecutionReply, error) {
	return e.f.c.DelayExecution(e.f.ctx, ffscripts.DelayExecutionKeys{ExecCore: e.x("core"),
		AttemptHash: e.attempt(l.index), LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry"),
		WorkerLeases: e.workerSet(l.inst), LaneActive: e.laneIdx("active"),
		LaneDelayed: e.laneIdx("delayed"), AttemptTimeout: e.idx("attempt_timeout")},
		ffscripts.DelayExecutionArgs{ExecutionID: e.id, LeaseID: l.leaseID, LeaseEpoch: l.epoch,
			AttemptID: l.aid, DelayUntil: until})
}

func (e *exe) promote(now int64) (ffscripts.PromoteDelayedReply, error) {
	return e.f.c.PromoteDelayed(e.f.ctx, ffscripts.PromoteDelayedKeys{ExecCore: e.x("core"),
		LaneDelayed: e.laneIdx("delayed"), LaneEligible: e.laneIdx("eligible")},
		ffscripts.PromoteDelayedArgs{ExecutionID: e.id, NowMs: now})
}

func (e *exe) block(reason string, now int64) (ffscripts.BlockExecutionForAdmissionReply, error) {
	return e.f.c.BlockExecutionForAdmission(e.f.ctx, ffscripts.BlockExecutionForAdmissionKeys{
		ExecCore: e.x("core"), LaneEligible: e.laneIdx("eligible"), BlockedZset: e.laneIdx("blocked:route")},
		ffscripts.BlockExecutionForAdmissionArgs{ExecutionID: e.id, BlockingReason: reason,
			BlockingDetail: "no connected worker satisfies required_capabilities", NowMs: now})
}

func (e *exe) unblock(now int64, expected string) (ffscripts.UnblockExecutionReply, error) {
	return e.f.c.UnblockExecution(e.f.ctx, ffscripts.UnblockExecutionKeys{ExecCore: e.x("core"),
		BlockedZset: e.laneIdx("blocked:route"), LaneEligible: e.laneIdx("eligible")},
		ffscripts.UnblockExecutionArgs{ExecutionID: e.id, NowMs: now, ExpectedBlockingReason: expected})
}

func (e *exe) cancel(reason, source, leaseID, epoch, callerInst string) (ffscripts.CancelExecutionReply, error) {
	idx := e.core()["current_attempt_index"]
	if idx == "" {
		idx = "0"
	}
	n, _ := strconv.ParseInt(idx, 10, 64)
	return e.f.c.CancelExecution(e.f.ctx, ffscripts.CancelExecutionKeys{ExecCore: e.x("core"),
		AttemptHash: e.attempt(n), StreamMeta: e.streamKey(n) + ":meta", LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry"),
		WorkerLeases: e.workerSet(callerInst), SuspensionCurrent: e.x("suspension:current"),
		WaitpointHash: "ff:wp:" + e.f.tag + ":none", WaitpointCondition: "ff:wp:" + e.f.tag + ":none:condition",
		SuspensionTimeout: e.idx("suspension_timeout"), LaneTerminal: e.laneIdx("terminal"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline"),
		LaneEligible: e.laneIdx("eligible"), LaneDelayed: e.laneIdx("delayed"),
		BlockedDependencies: e.laneIdx("blocked:dependencies"), BlockedBudget: e.laneIdx("blocked:budget"),
		BlockedQuota: e.laneIdx("blocked:quota"), BlockedRoute: e.laneIdx("blocked:route"),
		BlockedOperator: e.laneIdx("blocked:operator")},
		ffscripts.CancelExecutionArgs{ExecutionID: e.id, Reason: reason, Source: source,
			LeaseID: leaseID, LeaseEpoch: epoch})
}

func (e *exe) mark() (ffscripts.MarkLeaseExpiredIfDueReply, error) {
	return e.f.c.MarkLeaseExpiredIfDue(e.f.ctx, ffscripts.MarkLeaseExpiredIfDueKeys{ExecCore: e.x("core"),
		LeaseCurrent: e.x("lease:current"), LeaseExpiry: e.idx("lease_expiry"), LeaseHistory: e.x("lease:history")},
		ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: e.id})
}

func (e *exe) reclaimGrant(worker, inst, caps string) (ffscripts.IssueReclaimGrantReply, error) {
	return e.f.c.IssueReclaimGrant(e.f.ctx, ffscripts.IssueReclaimGrantKeys{ExecCore: e.x("core"),
		ClaimGrant: e.x("claim_grant"), LeaseExpiry: e.idx("lease_expiry")},
		ffscripts.IssueReclaimGrantArgs{ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.f.lane, GrantTTLMs: 5000, WorkerCapabilitiesCSV: caps})
}

func (e *exe) reclaim(worker, inst string, ttl int64, max *int64) (*lease, error) {
	c := e.core()
	old, _ := strconv.ParseInt(c["current_attempt_index"], 10, 64)
	next, _ := strconv.ParseInt(c["total_attempt_count"], 10, 64)
	l := &lease{worker: worker, inst: inst, leaseID: uuid.NewString(), aid: uuid.NewString()}
	r, err := e.f.c.ReclaimExecution(e.f.ctx, ffscripts.ReclaimExecutionKeys{ExecCore: e.x("core"),
		ClaimGrant: e.x("claim_grant"), OldAttemptHash: e.attempt(old), OldStreamMeta: e.streamKey(old) + ":meta",
		NewAttemptHash: e.attempt(next), NewAttemptUsage: e.attempt(next) + ":usage",
		AttemptsZset: e.x("attempts"), LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst), LaneActive: e.laneIdx("active"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline")},
		ffscripts.ReclaimExecutionArgs{ExecutionID: e.id, WorkerID: worker, WorkerInstanceID: inst,
			LaneID: e.f.lane, LeaseID: l.leaseID, LeaseTTLMs: ttl, AttemptID: l.aid,
			AttemptPolicyJSON: "{}", DefaultMaxReclaimCount: max})
	if err != nil {
		return nil, err
	}
	l.epoch, l.index, l.expiresAt, l.attemptType = strconv.FormatInt(r.LeaseEpoch, 10), r.AttemptIndex, r.LeaseExpiresAt, r.AttemptType
	return l, nil
}

func (e *exe) revoke(expected, reason, inst string) (ffscripts.RevokeLeaseReply, error) {
	return e.f.c.RevokeLease(e.f.ctx, ffscripts.RevokeLeaseKeys{ExecCore: e.x("core"),
		LeaseCurrent: e.x("lease:current"), LeaseHistory: e.x("lease:history"),
		LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst)},
		ffscripts.RevokeLeaseArgs{ExecutionID: e.id, ExpectedLeaseID: expected, RevokeReason: reason})
}

func (e *exe) expire(reason string) (ffscripts.ExpireExecutionReply, error) {
	idx := e.core()["current_attempt_index"]
	if idx == "" {
		idx = "0"
	}
	n, _ := strconv.ParseInt(idx, 10, 64)
	inst := e.core()["current_worker_instance_id"]
	return e.f.c.ExpireExecution(e.f.ctx, ffscripts.ExpireExecutionKeys{ExecCore: e.x("core"),
		AttemptHash: e.attempt(n), StreamMeta: e.streamKey(n) + ":meta", LeaseCurrent: e.x("lease:current"),
		LeaseHistory: e.x("lease:history"), LeaseExpiry: e.idx("lease_expiry"), WorkerLeases: e.workerSet(inst),
		LaneActive: e.laneIdx("active"), LaneTerminal: e.laneIdx("terminal"),
		AttemptTimeout: e.idx("attempt_timeout"), ExecutionDeadline: e.idx("execution_deadline"),
		LaneSuspended: e.laneIdx("suspended"), SuspensionTimeout: e.idx("suspension_timeout"),
		SuspensionCurrent: e.x("suspension:current")},
		ffscripts.ExpireExecutionArgs{ExecutionID: e.id, ExpireReason: reason})
}

// serverMs returns the server's clock in ms.
func (f *fx) serverMs() int64 {
	v, err := f.do(f.db.B().Time().Build()).AsStrSlice()
	if err != nil {
		f.t.Fatalf("TIME: %v", err)
	}
	s, _ := strconv.ParseInt(v[0], 10, 64)
	us, _ := strconv.ParseInt(v[1], 10, 64)
	return s*1000 + us/1000
}
