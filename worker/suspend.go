package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/signal"
)

// Waitpoint is an addressable point an execution waits at. Signals are
// delivered to it by id, authenticated with its token.
type Waitpoint struct {
	ID    string
	Key   string
	Token string // "<kid>:<hmac>"; a secret for whoever may signal
	// Lane is the lane of the waiting execution: pass it as Signal.Lane to
	// save DeliverSignal a read.
	Lane string
}

// SuspendOptions describe what a suspended execution waits for.
type SuspendOptions struct {
	// Condition is what resumes the execution. Required.
	Condition signal.ResumeCondition

	// Pending activates a waitpoint made earlier with CreatePendingWaitpoint
	// (signals it buffered count); otherwise a new waitpoint is created.
	Pending *Waitpoint

	// WaitpointKey is the new waitpoint's key; default "wpk:<waitpoint id>".
	WaitpointKey string

	// Timeout, when positive, ends the wait after this long with
	// TimeoutBehavior (default fail).
	Timeout         time.Duration
	TimeoutBehavior signal.TimeoutBehavior

	// Reason is the reason code; default "waiting_for_signal".
	Reason string

	// RequestedBy is recorded with the suspension.
	RequestedBy string

	// IdempotencyKey makes a repeated Suspend return the first one's result.
	IdempotencyKey string
}

// Suspension is the result of Task.Suspend.
type Suspension struct {
	ID        string
	Waitpoint Waitpoint
	// AlreadySatisfied is true when the pending waitpoint's buffered signals
	// already satisfied the condition: nothing was suspended, the task still
	// holds its lease and carries on.
	AlreadySatisfied bool
}

// dedupTTL is how long a suspend idempotency key is kept (FlowFabric's rule:
// the timeout plus a minute, at most 7 days; 7 days without a timeout).
func dedupTTL(timeout time.Duration) int64 {
	const week = 7 * 24 * time.Hour
	if timeout <= 0 {
		return week.Milliseconds()
	}
	return min(timeout+time.Minute, week).Milliseconds()
}

// Suspend releases the lease and parks the execution until opts.Condition is
// satisfied by signals delivered to the returned waitpoint (or the timeout
// passes). Resumed, the execution is claimed again and continues the same
// attempt (AttemptType "resumed"). Suspend ends the task unless the result
// says AlreadySatisfied.
func (t *Task) Suspend(ctx context.Context, opts SuspendOptions) (Suspension, error) {
	var out Suspension
	if err := opts.Condition.Validate(); err != nil {
		return out, err
	}
	if opts.Condition.RequiresTimeout() && opts.Timeout <= 0 {
		return out, errors.New("worker: Suspend: this condition needs a Timeout")
	}
	cond, err := opts.Condition.JSON()
	if err != nil {
		return out, err
	}
	policy, err := signal.DefaultResumePolicy().JSON()
	if err != nil {
		return out, err
	}
	t.opMu.Lock()
	defer t.opMu.Unlock()
	if t.Done() {
		return out, ErrTaskDone
	}
	wp := Waitpoint{ID: uuid.NewString()}
	wp.Key = opts.WaitpointKey
	if wp.Key == "" {
		wp.Key = "wpk:" + wp.ID
	}
	usePending := opts.Pending != nil
	if usePending {
		wp = Waitpoint{ID: opts.Pending.ID} // the library uses the stored key
	}
	reason := opts.Reason
	if reason == "" {
		reason = "waiting_for_signal"
	}
	var timeoutAt *int64
	if opts.Timeout > 0 {
		at := time.Now().Add(opts.Timeout).UnixMilli()
		timeoutAt = &at
	}
	var ttl *int64
	if opts.IdempotencyKey != "" {
		d := dedupTTL(opts.Timeout)
		ttl = &d
	}
	maxlen := int64(1000)
	p := t.ID.Partition()
	dedup := p.Noop()
	if opts.IdempotencyKey != "" {
		dedup = t.keys.SuspendDedup(opts.IdempotencyKey)
	}
	r, err := t.w.fns.SuspendExecution(ctx, ffscripts.SuspendExecutionKeys{
		ExecCore: t.keys.Core(), AttemptHash: t.keys.Attempt(t.AttemptIndex), LeaseCurrent: t.keys.LeaseCurrent(),
		LeaseHistory: t.keys.LeaseHistory(), LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(t.w.cfg.InstanceID),
		SuspensionCurrent: t.keys.SuspensionCurrent(), WaitpointHash: p.Waitpoint(wp.ID),
		WaitpointSignals: p.WaitpointSignals(wp.ID), SuspensionTimeout: p.SuspensionTimeout(),
		PendingWaitpointExpiry: p.PendingWaitpointExpiry(), LaneActive: p.LaneActive(t.Lane),
		LaneSuspended: p.LaneSuspended(t.Lane), WaitpointHistory: t.keys.Waitpoints(),
		WaitpointCondition: p.WaitpointCondition(wp.ID), AttemptTimeout: p.AttemptTimeout(),
		HMACSecrets: p.HMACSecrets(), SuspendDedup: dedup,
	}, ffscripts.SuspendExecutionArgs{
		ExecutionID: t.ID.String(), AttemptIndex: int64(t.AttemptIndex), AttemptID: t.AttemptID,
		LeaseID: t.LeaseID, LeaseEpoch: t.epoch(), SuspensionID: uuid.NewString(),
		WaitpointID: wp.ID, WaitpointKey: wp.Key, ReasonCode: reason, RequestedBy: opts.RequestedBy,
		TimeoutAt: timeoutAt, ResumeConditionJSON: cond, ResumePolicyJSON: policy,
		UsePendingWaitpoint: &usePending, TimeoutBehavior: string(opts.TimeoutBehavior),
		LeaseHistoryMaxlen: &maxlen, IdempotencyKey: opts.IdempotencyKey, DedupTTLMs: ttl,
	})
	if err != nil {
		if isLeaseLoss(err) {
			t.end(fmt.Errorf("%w: %w", ErrLeaseLost, err))
		}
		return out, err
	}
	out = Suspension{ID: r.SuspensionID, Waitpoint: Waitpoint{ID: r.WaitpointID, Key: r.WaitpointKey, Token: r.WaitpointToken, Lane: t.Lane},
		AlreadySatisfied: r.Status == "ALREADY_SATISFIED"}
	if out.Waitpoint.ID == "" || out.Waitpoint.Token == "" {
		return out, fmt.Errorf("worker: ff_suspend_execution on %s returned no waitpoint id or token", t.ID)
	}
	if !out.AlreadySatisfied {
		t.end(errSuspended)
	}
	return out, nil
}

// CreatePendingWaitpoint creates a waitpoint that signals can be delivered to
// (and are buffered at) before the task suspends on it with
// SuspendOptions.Pending. It expires after expiresIn unless activated. key may
// be empty ("wpk:<id>").
func (t *Task) CreatePendingWaitpoint(ctx context.Context, key string, expiresIn time.Duration) (Waitpoint, error) {
	var wp Waitpoint
	err := t.guarded(func() error {
		if expiresIn <= 0 {
			return errors.New("worker: CreatePendingWaitpoint: expiresIn must be positive")
		}
		id := uuid.NewString()
		if key == "" {
			key = "wpk:" + id
		}
		p := t.ID.Partition()
		r, err := t.w.fns.CreatePendingWaitpoint(ctx, ffscripts.CreatePendingWaitpointKeys{
			ExecCore: t.keys.Core(), WaitpointHash: p.Waitpoint(id), PendingWaitpointExpiry: p.PendingWaitpointExpiry(),
			HMACSecrets: p.HMACSecrets(),
		}, ffscripts.CreatePendingWaitpointArgs{
			ExecutionID: t.ID.String(), AttemptIndex: int64(t.AttemptIndex), WaitpointID: id, WaitpointKey: key,
			ExpiresAt: time.Now().Add(expiresIn).UnixMilli(),
		})
		if err != nil {
			return err
		}
		wp = Waitpoint{ID: r.WaitpointID, Key: r.WaitpointKey, Token: r.WaitpointToken, Lane: t.Lane}
		if wp.ID != id || wp.Token == "" {
			return fmt.Errorf("worker: ff_create_pending_waitpoint on %s returned waitpoint %q (want %q), token set: %t",
				t.ID, wp.ID, id, wp.Token != "")
		}
		return nil
	})
	return wp, err
}
