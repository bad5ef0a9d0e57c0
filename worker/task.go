package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
)

// Task is one claimed execution: its input, the attempt this worker runs and
// the lease that entitles it to report the outcome. The lease is renewed in
// the background until the task ends. Ending operations (Complete, Fail,
// Cancel, Delay, Suspend, Release) stop the renewal and return the worker's
// concurrency permit; afterwards every operation returns ErrTaskDone.
//
// A Task is safe for concurrent use. Its exported fields are set at claim time
// and must not be modified.
type Task struct {
	ID        keyspace.ExecutionID
	Namespace string
	Lane      string
	Kind      string
	Payload   []byte            // the input payload, byte for byte
	Tags      map[string]string // the execution's tags at claim time

	AttemptIndex uint32
	AttemptID    string
	// AttemptType is "initial", "retry", "replay", "reclaim" or "resumed".
	AttemptType string

	LeaseID    string
	LeaseEpoch int64

	w      *Worker
	keys   keyspace.Exec
	ctx    context.Context
	cancel context.CancelCauseFunc

	opMu sync.Mutex // serialises ending operations

	mu        sync.Mutex
	done      bool
	expiresAt time.Time
	// renewal fires renewTick RenewAfter after each renewal. A timer rather
	// than a goroutine per task: nothing runs between renewals.
	renewal *time.Timer

	// renewPaused skips renewals without ending the task: tests use it to act
	// out a frozen process whose lease runs out.
	renewPaused atomic.Bool
}

// claimed is what a claim reply says, before validation.
type claimed struct {
	id                    keyspace.ExecutionID
	lane, kind, namespace string
	payload               []byte
	tags                  map[string]string
	leaseID, wantLeaseID  string
	epoch, expiresAt      int64
	attemptID             string
	attemptIndex          int64
	attemptType           string
}

// newTask validates a claim reply and starts the lease renewal. A reply that
// does not carry usable ids is an error (the lease then expires on the server
// and the execution is reclaimed); ids are never invented.
func (w *Worker) newTask(c claimed) (*Task, error) {
	bad := func(format string, args ...any) (*Task, error) {
		err := fmt.Errorf("worker: claim of %s returned %s", c.id, fmt.Sprintf(format, args...))
		w.cfg.Logger.Error("unusable claim reply; the lease will expire", "execution_id", c.id, "err", err)
		return nil, err
	}
	if c.leaseID != c.wantLeaseID {
		return bad("lease id %q, want %q", c.leaseID, c.wantLeaseID)
	}
	if u, err := uuid.Parse(c.attemptID); err != nil || u.String() != c.attemptID {
		return bad("attempt id %q that is not a UUID", c.attemptID)
	}
	if c.epoch < 1 {
		return bad("lease epoch %d", c.epoch)
	}
	if c.attemptIndex < 0 || c.attemptIndex > 1<<32-1 {
		return bad("attempt index %d", c.attemptIndex)
	}
	if c.expiresAt <= 0 {
		return bad("lease expiry %d", c.expiresAt)
	}
	if c.tags == nil {
		c.tags = map[string]string{}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	t := &Task{
		ID: c.id, Namespace: c.namespace, Lane: c.lane, Kind: c.kind, Payload: c.payload, Tags: c.tags,
		AttemptIndex: uint32(c.attemptIndex), AttemptID: c.attemptID, AttemptType: c.attemptType,
		LeaseID: c.leaseID, LeaseEpoch: c.epoch,
		w: w, keys: keyspace.ExecKeys(c.id), ctx: ctx, cancel: cancel,
		expiresAt: time.UnixMilli(c.expiresAt),
	}
	w.track(t)
	t.mu.Lock()
	t.renewal = time.AfterFunc(w.cfg.RenewAfter, t.renewTick)
	t.mu.Unlock()
	return t, nil
}

// Context is cancelled when the task ends or its lease is lost;
// context.Cause(t.Context()) is ErrLeaseLost in the latter case. Handlers should
// stop when it is done.
func (t *Task) Context() context.Context { return t.ctx }

// LeaseExpiresAt is the lease expiry the server last reported.
func (t *Task) LeaseExpiresAt() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expiresAt
}

// Done reports whether the task has ended.
func (t *Task) Done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// end marks the task ended: renewal stops, the context is cancelled with
// cause, the permit goes back. It reports false if the task had already ended.
func (t *Task) end(cause error) bool {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return false
	}
	t.done = true
	t.renewal.Stop()
	t.mu.Unlock()
	// The permit goes back before the context is cancelled, so whoever sees the
	// context end also sees the capacity.
	t.w.untrack(t)
	t.w.releasePermit()
	t.cancel(cause)
	return true
}

func (t *Task) epoch() string { return strconv.FormatInt(t.LeaseEpoch, 10) }

// renewTick renews the lease once, on the renewal timer's goroutine, and sets
// the timer for the next renewal: RenewAfter later. A refusal that means the
// lease is gone ends the task with ErrLeaseLost; a transport error is retried
// sooner, until the lease would have expired.
func (t *Task) renewTick() {
	cfg := t.w.cfg
	if t.renewPaused.Load() {
		t.renewIn(cfg.RenewAfter)
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, cfg.LeaseTTL-cfg.RenewAfter)
	exp, err := t.renew(ctx)
	cancel()
	switch {
	case err == nil:
		t.mu.Lock()
		t.expiresAt = exp
		t.mu.Unlock()
		t.renewIn(cfg.RenewAfter)
	case isLeaseLoss(err):
		cfg.Logger.Warn("lease lost", "execution_id", t.ID, "lease_id", t.LeaseID, "err", err)
		t.end(fmt.Errorf("%w: %w", ErrLeaseLost, err))
	case t.ctx.Err() != nil:
	default:
		if time.Now().After(t.LeaseExpiresAt()) {
			cfg.Logger.Warn("lease expired while renewal failed", "execution_id", t.ID, "err", err)
			t.end(fmt.Errorf("%w: renewal failed until expiry: %w", ErrLeaseLost, err))
			return
		}
		cfg.Logger.Warn("lease renewal failed, retrying", "execution_id", t.ID, "err", err)
		t.renewIn(max((cfg.LeaseTTL-cfg.RenewAfter)/4, 10*time.Millisecond))
	}
}

// renewIn sets the renewal timer to fire after d, unless the task has ended.
func (t *Task) renewIn(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.done {
		t.renewal.Reset(d)
	}
}

func (t *Task) renew(ctx context.Context) (time.Time, error) {
	r, err := t.w.fns.RenewLease(ctx, ffscripts.RenewLeaseKeys{
		ExecCore: t.keys.Core(), LeaseCurrent: t.keys.LeaseCurrent(), LeaseHistory: t.keys.LeaseHistory(),
		LeaseExpiry: t.ID.Partition().LeaseExpiry(),
	}, ffscripts.RenewLeaseArgs{
		ExecutionID: t.ID.String(), AttemptIndex: strconv.FormatUint(uint64(t.AttemptIndex), 10),
		AttemptID: t.AttemptID, LeaseID: t.LeaseID, LeaseEpoch: t.epoch(),
		LeaseTTLMs: t.w.cfg.LeaseTTL.Milliseconds(), LeaseHistoryGraceMs: t.w.cfg.LeaseTTL.Milliseconds(),
	})
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(r.ExpiresAt), nil
}

// finishing runs an ending operation: it refuses a task that has ended, ends
// the task when call succeeds, and also when the server says the lease is gone.
// Any other error leaves the task running, so the call may be retried.
func (t *Task) finishing(cause error, call func() error) error {
	t.opMu.Lock()
	defer t.opMu.Unlock()
	if t.Done() {
		return ErrTaskDone
	}
	err := call()
	switch {
	case err == nil:
		t.end(cause)
	case isLeaseLoss(err):
		t.end(fmt.Errorf("%w: %w", ErrLeaseLost, err))
	}
	return err
}

// guarded runs a non-ending operation; a lease loss still ends the task.
func (t *Task) guarded(call func() error) error {
	if t.Done() {
		return ErrTaskDone
	}
	err := call()
	if isLeaseLoss(err) {
		t.end(fmt.Errorf("%w: %w", ErrLeaseLost, err))
	}
	return err
}

// errCompleted etc. are the causes of a task context cancelled by a normal end.
var (
	errCompleted = errors.New("worker: task completed")
	errFailed    = errors.New("worker: task failed")
	errCancelled = errors.New("worker: task cancelled")
	errDelayed   = errors.New("worker: task delayed")
	errSuspended = errors.New("worker: task suspended")
	errReleased  = errors.New("worker: task released")
)

// Complete ends the execution successfully with result (may be nil).
func (t *Task) Complete(ctx context.Context, result []byte) error {
	return t.finishing(errCompleted, func() error {
		p := t.ID.Partition()
		_, err := t.w.fns.CompleteExecution(ctx, ffscripts.CompleteExecutionKeys{
			ExecCore: t.keys.Core(), AttemptHash: t.keys.Attempt(t.AttemptIndex), LeaseExpiry: p.LeaseExpiry(),
			WorkerLeases: p.WorkerLeases(t.w.cfg.InstanceID), LaneTerminal: p.LaneTerminal(t.Lane),
			LeaseCurrent: t.keys.LeaseCurrent(), LeaseHistory: t.keys.LeaseHistory(), LaneActive: p.LaneActive(t.Lane),
			StreamMeta: t.keys.StreamMeta(t.AttemptIndex), Result: t.keys.Result(),
			AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
		}, ffscripts.CompleteExecutionArgs{
			ExecutionID: t.ID.String(), LeaseID: t.LeaseID, LeaseEpoch: t.epoch(), AttemptID: t.AttemptID,
			ResultPayload: result,
		})
		return err
	})
}

// FailOptions qualify Task.Fail.
type FailOptions struct {
	// Terminal fails the execution for good; otherwise the execution's retry
	// policy (CreateOptions.Retry) decides whether another attempt follows.
	Terminal bool
	// Category is stored with the attempt (free text, e.g. "timeout").
	Category string
}

// FailOutcome says what Task.Fail did.
type FailOutcome struct {
	// Retry is true when another attempt was scheduled.
	Retry bool
	// RetryAt is when the retry becomes claimable.
	RetryAt time.Time
}

// Fail ends the attempt as failed with reason. Unless opts.Terminal is set, the
// retry policy stored with the execution is applied (one extra read).
func (t *Task) Fail(ctx context.Context, reason string, opts FailOptions) (FailOutcome, error) {
	var out FailOutcome
	err := t.finishing(errFailed, func() error {
		retry := ""
		if !opts.Terminal {
			var err error
			if retry, err = t.retryPolicy(ctx); err != nil {
				return err
			}
		}
		p := t.ID.Partition()
		r, err := t.w.fns.FailExecution(ctx, ffscripts.FailExecutionKeys{
			ExecCore: t.keys.Core(), AttemptHash: t.keys.Attempt(t.AttemptIndex), LeaseExpiry: p.LeaseExpiry(),
			WorkerLeases: p.WorkerLeases(t.w.cfg.InstanceID), LaneTerminal: p.LaneTerminal(t.Lane),
			LaneDelayed: p.LaneDelayed(t.Lane), LeaseCurrent: t.keys.LeaseCurrent(), LeaseHistory: t.keys.LeaseHistory(),
			LaneActive: p.LaneActive(t.Lane), StreamMeta: t.keys.StreamMeta(t.AttemptIndex),
			AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
		}, ffscripts.FailExecutionArgs{
			ExecutionID: t.ID.String(), LeaseID: t.LeaseID, LeaseEpoch: t.epoch(), AttemptID: t.AttemptID,
			FailureReason: reason, FailureCategory: opts.Category, RetryPolicyJSON: retry,
		})
		if err != nil {
			return err
		}
		if r.Result == "retry_scheduled" {
			out = FailOutcome{Retry: true, RetryAt: time.UnixMilli(r.DelayUntil)}
			t.w.promoteAt(t.Lane, out.RetryAt)
		}
		return nil
	})
	return out, err
}

// retryPolicy returns the retry_policy member of the execution's stored policy
// as JSON, or "" when there is none.
func (t *Task) retryPolicy(ctx context.Context) (string, error) {
	raw, err := t.w.db.Do(ctx, t.w.db.B().Get().Key(t.keys.Policy()).Build()).ToString()
	if valkey.IsValkeyNil(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("worker: reading %s: %w", t.keys.Policy(), err)
	}
	var p struct {
		Retry json.RawMessage `json:"retry_policy"`
	}
	if json.Unmarshal([]byte(raw), &p) != nil || len(p.Retry) == 0 || string(p.Retry) == "null" {
		return "", nil // the library treats an unreadable policy as "no retry" too
	}
	return string(p.Retry), nil
}

// Cancel ends the execution as cancelled, with reason.
func (t *Task) Cancel(ctx context.Context, reason string) error {
	return t.finishing(errCancelled, func() error {
		p := t.ID.Partition()
		_, err := t.w.fns.CancelExecution(ctx, ffscripts.CancelExecutionKeys{
			ExecCore: t.keys.Core(), AttemptHash: t.keys.Attempt(t.AttemptIndex), StreamMeta: t.keys.StreamMeta(t.AttemptIndex),
			LeaseCurrent: t.keys.LeaseCurrent(), LeaseHistory: t.keys.LeaseHistory(), LeaseExpiry: p.LeaseExpiry(),
			WorkerLeases: p.WorkerLeases(t.w.cfg.InstanceID), SuspensionCurrent: t.keys.SuspensionCurrent(),
			// A running task has no suspension; the waitpoint slots are unused.
			WaitpointHash: p.Noop(), WaitpointCondition: p.Noop(),
			SuspensionTimeout: p.SuspensionTimeout(), LaneTerminal: p.LaneTerminal(t.Lane),
			AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
			LaneEligible: p.LaneEligible(t.Lane), LaneDelayed: p.LaneDelayed(t.Lane),
			BlockedDependencies: p.LaneBlockedDependencies(t.Lane), BlockedBudget: p.LaneBlockedBudget(t.Lane),
			BlockedQuota: p.LaneBlockedQuota(t.Lane), BlockedRoute: p.LaneBlockedRoute(t.Lane),
			BlockedOperator: p.LaneBlockedOperator(t.Lane),
		}, ffscripts.CancelExecutionArgs{
			ExecutionID: t.ID.String(), Reason: reason, Source: "worker", LeaseID: t.LeaseID, LeaseEpoch: t.epoch(),
		})
		return err
	})
}

// Delay gives the execution back until until; the same attempt continues on
// the next claim after that (attempt type "resumed").
func (t *Task) Delay(ctx context.Context, until time.Time) error {
	return t.finishing(errDelayed, func() error { return t.delay(ctx, until) })
}

// Release hands the execution back for immediate re-claiming (a delay until
// now). Run and Close use it for the tasks they still hold at shutdown.
func (t *Task) Release(ctx context.Context) error {
	return t.finishing(errReleased, func() error { return t.delay(ctx, time.Now()) })
}

func (t *Task) delay(ctx context.Context, until time.Time) error {
	p := t.ID.Partition()
	_, err := t.w.fns.DelayExecution(ctx, ffscripts.DelayExecutionKeys{
		ExecCore: t.keys.Core(), AttemptHash: t.keys.Attempt(t.AttemptIndex), LeaseCurrent: t.keys.LeaseCurrent(),
		LeaseHistory: t.keys.LeaseHistory(), LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(t.w.cfg.InstanceID),
		LaneActive: p.LaneActive(t.Lane), LaneDelayed: p.LaneDelayed(t.Lane), AttemptTimeout: p.AttemptTimeout(),
	}, ffscripts.DelayExecutionArgs{
		ExecutionID: t.ID.String(), LeaseID: t.LeaseID, LeaseEpoch: t.epoch(), AttemptID: t.AttemptID,
		DelayUntil: until.UnixMilli(),
	})
	if err == nil {
		t.w.promoteAt(t.Lane, until)
	}
	return err
}

// UpdateProgress records progress (pct in 0..100; a negative pct leaves it
// unchanged) and a message (empty leaves it unchanged).
func (t *Task) UpdateProgress(ctx context.Context, pct float64, message string) error {
	return t.guarded(func() error {
		if pct > 100 {
			return fmt.Errorf("worker: UpdateProgress: pct %v is above 100", pct)
		}
		ps := ""
		if pct >= 0 {
			ps = strconv.FormatFloat(pct, 'f', -1, 64)
		}
		_, err := t.w.fns.UpdateProgress(ctx, ffscripts.UpdateProgressKeys{ExecCore: t.keys.Core()},
			ffscripts.UpdateProgressArgs{ExecutionID: t.ID.String(), LeaseID: t.LeaseID, LeaseEpoch: t.epoch(),
				ProgressPct: ps, ProgressMessage: message})
		return err
	})
}

// Frame is one output frame of an attempt's stream.
type Frame struct {
	Type          string // required, e.g. "log", "chunk"
	Payload       []byte
	Encoding      string // e.g. "json", "text"; empty is the library default
	CorrelationID string
	Source        string
}

// AppendFrame appends f to the attempt's output stream and returns the stream
// entry id.
func (t *Task) AppendFrame(ctx context.Context, f Frame) (string, error) {
	var id string
	err := t.guarded(func() error {
		if f.Type == "" {
			return errors.New("worker: AppendFrame: frame type is required")
		}
		r, err := t.w.fns.AppendFrame(ctx, ffscripts.AppendFrameKeys{
			ExecCore: t.keys.Core(), Stream: t.keys.Stream(t.AttemptIndex), StreamMeta: t.keys.StreamMeta(t.AttemptIndex),
			StreamSummary: t.keys.AttemptSummary(t.AttemptIndex),
		}, ffscripts.AppendFrameArgs{
			ExecutionID: t.ID.String(), AttemptIndex: strconv.FormatUint(uint64(t.AttemptIndex), 10),
			LeaseID: t.LeaseID, LeaseEpoch: t.epoch(), FrameType: f.Type, Payload: f.Payload, Encoding: f.Encoding,
			CorrelationID: f.CorrelationID, Source: f.Source, AttemptID: t.AttemptID,
		})
		id = r.EntryID
		return err
	})
	return id, err
}

// SetTags sets (adds or overwrites) tags on the execution. Keys must look like
// "<namespace>.<name>" (e.g. "app.stage"); otherwise the library refuses them
// all (ffscripts.ErrInvalidTagKey). Task.Tags is not updated.
func (t *Task) SetTags(ctx context.Context, tags map[string]string) error {
	return t.guarded(func() error {
		if len(tags) == 0 {
			return nil
		}
		pairs := make([]ffscripts.SetExecutionTagsArgsTag, 0, len(tags))
		for _, k := range sortedKeys(tags) {
			pairs = append(pairs, ffscripts.SetExecutionTagsArgsTag{Key: k, Value: tags[k]})
		}
		_, err := t.w.fns.SetExecutionTags(ctx, ffscripts.SetExecutionTagsKeys{ExecCore: t.keys.Core(), Tags: t.keys.Tags()},
			ffscripts.SetExecutionTagsArgs{Tags: pairs})
		return err
	})
}
