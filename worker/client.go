package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
)

// Client is the producer and operator side of FlowFabric: it creates
// executions, reads their state and result, and delivers signals. It is safe
// for concurrent use.
type Client struct {
	db    valkey.Client
	fns   ffscripts.Functions
	ns    string
	parts keyspace.PartitionConfig
	// onResume is called after a signal resumed an execution (Worker.Wake).
	onResume func()
}

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Namespace of the executions created; default "default".
	Namespace string
	// ManagedLibrary says the server's library is loaded by someone else.
	ManagedLibrary bool
}

// NewClient loads the library (unless opts.ManagedLibrary), reads the
// partition config and returns a Client.
func NewClient(ctx context.Context, db valkey.Client, opts ClientOptions) (*Client, error) {
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if !opts.ManagedLibrary {
		if err := ffscripts.Load(ctx, db); err != nil {
			return nil, fmt.Errorf("worker: loading the flowfabric library: %w", err)
		}
	}
	parts, err := keyspace.ReadPartitionConfig(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return &Client{db: db, fns: ffscripts.New(db), ns: opts.Namespace, parts: parts}, nil
}

// PartitionConfig returns the partition counts the client read.
func (c *Client) PartitionConfig() keyspace.PartitionConfig { return c.parts }

// RetryPolicy says how often a failed execution is tried again and how long
// it waits in between.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt.
	MaxRetries int
	// Delay is the wait before a retry (0: at once); with Exponential it is the
	// first wait, multiplied by Multiplier (default 2) per retry up to MaxDelay
	// (default 60s).
	Delay       time.Duration
	Exponential bool
	Multiplier  float64
	MaxDelay    time.Duration
}

// MarshalJSON writes the retry_policy document the library reads.
func (r RetryPolicy) MarshalJSON() ([]byte, error) {
	backoff := map[string]any{"type": "fixed", "delay_ms": r.Delay.Milliseconds()}
	if r.Exponential {
		mult := r.Multiplier
		if mult == 0 {
			mult = 2
		}
		maxDelay := r.MaxDelay
		if maxDelay == 0 {
			maxDelay = time.Minute
		}
		backoff = map[string]any{"type": "exponential", "initial_delay_ms": r.Delay.Milliseconds(),
			"multiplier": mult, "max_delay_ms": maxDelay.Milliseconds()}
	}
	return json.Marshal(map[string]any{"max_retries": r.MaxRetries, "backoff": backoff})
}

// CreateOptions describe a new execution.
type CreateOptions struct {
	// ID of the execution; the zero value mints one in the lane's partition.
	// Mint ids in a flow's partition with PartitionConfig.NewFlowExecutionID.
	ID keyspace.ExecutionID
	// Lane and Kind are required. Kind tells handlers what to do.
	Lane string
	Kind string
	// Payload is the input, stored byte for byte.
	Payload []byte
	// Priority 0..9000; higher is claimed first.
	Priority int
	Tags     map[string]string
	// RequiredCapabilities route the execution to workers that offer all of them.
	RequiredCapabilities []string
	// Retry, when set, lets failed attempts be retried.
	Retry *RetryPolicy
	// DelayUntil, when in the future, keeps the execution from being claimed
	// before then.
	DelayUntil time.Time
	// Deadline, when set, is the execution deadline.
	Deadline time.Time
	// IdempotencyKey makes creating the same execution twice (within 24h) a
	// no-op that returns the first execution's id.
	IdempotencyKey string
	// Creator is recorded as the creator identity.
	Creator string
}

// Create creates an execution and returns its id. With an IdempotencyKey that
// was used before, nothing is created and the first execution's id is returned.
func (c *Client) Create(ctx context.Context, opts CreateOptions) (keyspace.ExecutionID, error) {
	if err := keyspace.ValidateLane(opts.Lane); err != nil {
		return keyspace.ExecutionID{}, fmt.Errorf("%w: lane: %v", ErrInvalidOptions, err)
	}
	if opts.Kind == "" {
		return keyspace.ExecutionID{}, fmt.Errorf("%w: Kind is required", ErrInvalidOptions)
	}
	if opts.Priority < 0 || opts.Priority > 9000 {
		return keyspace.ExecutionID{}, fmt.Errorf("%w: Priority %d is outside 0..9000", ErrInvalidOptions, opts.Priority)
	}
	for _, cap := range opts.RequiredCapabilities {
		if err := keyspace.ValidateCapability(cap); err != nil {
			return keyspace.ExecutionID{}, fmt.Errorf("%w: required capability %q: %v", ErrInvalidOptions, cap, err)
		}
	}
	id := opts.ID
	if id.IsZero() {
		id = c.parts.NewSoloExecutionID(opts.Lane)
	} else if err := c.parts.Check(id); err != nil {
		return keyspace.ExecutionID{}, err
	}
	policy := map[string]any{}
	if opts.Retry != nil {
		policy["retry_policy"] = opts.Retry
	}
	if len(opts.RequiredCapabilities) > 0 {
		policy["routing_requirements"] = map[string]any{"required_capabilities": opts.RequiredCapabilities}
	}
	policyJSON, err := json.Marshal(policy)
	if err != nil {
		return keyspace.ExecutionID{}, err
	}
	tags := opts.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return keyspace.ExecutionID{}, err
	}
	k := keyspace.ExecKeys(id)
	p := id.Partition()
	sched := p.LaneEligible(opts.Lane)
	var delay *int64
	if !opts.DelayUntil.IsZero() {
		d := opts.DelayUntil.UnixMilli()
		delay = &d
		if opts.DelayUntil.After(time.Now()) {
			sched = p.LaneDelayed(opts.Lane)
		}
	}
	idem, dedup := p.Noop(), (*int64)(nil)
	if opts.IdempotencyKey != "" {
		idem = p.Idempotency(c.ns, opts.IdempotencyKey)
		day := (24 * time.Hour).Milliseconds()
		dedup = &day
	}
	var deadline *int64
	if !opts.Deadline.IsZero() {
		d := opts.Deadline.UnixMilli()
		deadline = &d
	}
	r, err := c.fns.CreateExecution(ctx, ffscripts.CreateExecutionKeys{
		ExecCore: k.Core(), Payload: k.Payload(), Policy: k.Policy(), Tags: k.Tags(), SchedulingZset: sched,
		IdempotencyKey: idem, ExecutionDeadline: p.ExecutionDeadline(), AllExecutions: p.AllExecutions(),
	}, ffscripts.CreateExecutionArgs{
		ExecutionID: id.String(), Namespace: c.ns, LaneID: opts.Lane, ExecutionKind: opts.Kind,
		Priority: int64(opts.Priority), CreatorIdentity: opts.Creator, PolicyJSON: string(policyJSON),
		InputPayload: opts.Payload, DelayUntil: delay, DedupTTLMs: dedup, TagsJSON: string(tagsJSON),
		ExecutionDeadlineAt: deadline, PartitionID: strconv.Itoa(int(p)),
	})
	if err != nil {
		return keyspace.ExecutionID{}, err
	}
	got, err := keyspace.ParseExecutionID(r.ExecutionID)
	if err != nil {
		return keyspace.ExecutionID{}, fmt.Errorf("worker: ff_create_execution returned a bad id: %w", err)
	}
	return got, nil
}

// State is a snapshot of an execution's state (the exec_core hash).
type State struct {
	ID        keyspace.ExecutionID
	Namespace string
	Lane      string
	Kind      string

	// PublicState is the one-word summary: waiting, delayed, rate_limited,
	// waiting_children, active, suspended, completed, failed, cancelled, expired.
	PublicState      string
	LifecyclePhase   string
	OwnershipState   string
	EligibilityState string
	BlockingReason   string
	BlockingDetail   string
	TerminalOutcome  string
	AttemptState     string

	Attempts      int // attempts started
	Retries       int
	Reclaims      int
	FailureReason string

	ProgressPct     string
	ProgressMessage string

	// WaitpointID is the waitpoint of the current suspension, if any.
	WaitpointID string
	// WorkerInstanceID holds the current lease, if any.
	WorkerInstanceID string

	CreatedAt   time.Time
	CompletedAt time.Time // zero until terminal
}

// Terminal reports whether the execution has ended.
func (s State) Terminal() bool { return s.LifecyclePhase == "terminal" }

// State reads the state of execution id. An unknown id is an error matching
// ffscripts.ErrExecutionNotFound.
func (c *Client) State(ctx context.Context, id keyspace.ExecutionID) (State, error) {
	core := keyspace.ExecKeys(id).Core()
	m, err := c.db.Do(ctx, c.db.B().Hgetall().Key(core).Build()).AsStrMap()
	if err != nil {
		return State{}, fmt.Errorf("worker: reading %s: %w", core, err)
	}
	return stateFromFields(id, m)
}

func stateFromFields(id keyspace.ExecutionID, m map[string]string) (State, error) {
	if len(m) == 0 {
		return State{}, fmt.Errorf("worker: %s: %w", id, ffscripts.ErrExecutionNotFound)
	}
	var errs []error
	num := func(f string) int {
		if m[f] == "" {
			return 0
		}
		n, err := strconv.Atoi(m[f])
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %q is not a number", f, m[f]))
		}
		return n
	}
	ms := func(f string) time.Time {
		if m[f] == "" {
			return time.Time{}
		}
		n, err := strconv.ParseInt(m[f], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %q is not a time in ms", f, m[f]))
			return time.Time{}
		}
		return time.UnixMilli(n)
	}
	s := State{
		ID: id, Namespace: m["namespace"], Lane: m["lane_id"], Kind: m["execution_kind"],
		PublicState: m["public_state"], LifecyclePhase: m["lifecycle_phase"], OwnershipState: m["ownership_state"],
		EligibilityState: m["eligibility_state"], BlockingReason: m["blocking_reason"],
		BlockingDetail: m["blocking_detail"], TerminalOutcome: m["terminal_outcome"], AttemptState: m["attempt_state"],
		Attempts: num("total_attempt_count"), Retries: num("retry_count"), Reclaims: num("lease_reclaim_count"),
		FailureReason: m["failure_reason"], ProgressPct: m["progress_pct"], ProgressMessage: m["progress_message"],
		WaitpointID: m["current_waitpoint_id"], WorkerInstanceID: m["current_worker_instance_id"],
		CreatedAt: ms("created_at"), CompletedAt: ms("completed_at"),
	}
	if err := errors.Join(errs...); err != nil {
		return s, fmt.Errorf("worker: state of %s: %w", id, err)
	}
	return s, nil
}

// Result returns the result payload a completed execution stored (nil when
// it stored none).
func (c *Client) Result(ctx context.Context, id keyspace.ExecutionID) ([]byte, error) {
	key := keyspace.ExecKeys(id).Result()
	b, err := c.db.Do(ctx, c.db.B().Get().Key(key).Build()).AsBytes()
	if valkey.IsValkeyNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("worker: reading %s: %w", key, err)
	}
	return b, nil
}

// Signal is one signal for a waitpoint.
type Signal struct {
	// Name is matched against the resume condition. Required.
	Name string
	// Token is the waitpoint's token (Waitpoint.Token). Required.
	Token string
	// Lane is the lane of the execution the waitpoint belongs to
	// (Waitpoint.Lane). With it DeliverSignal is one round trip; empty, it
	// reads the lane from the execution first. The library files a resumed
	// execution under the lane it is given, so pass Waitpoint.Lane or nothing.
	Lane string
	// Payload is stored byte for byte.
	Payload         []byte
	PayloadEncoding string // default "json"
	// IdempotencyKey makes a repeated delivery (within 24h) a no-op that
	// reports Duplicate.
	IdempotencyKey string
	Category       string // e.g. "callback", "approval"
	SourceType     string // e.g. "webhook", "operator"
	SourceIdentity string
	CorrelationID  string
	// ResumeDelay postpones the resume this signal may cause.
	ResumeDelay time.Duration
}

// DeliverSignal delivers sig to waitpoint waitpointID of execution id and
// returns what it did. It costs one round trip when sig.Lane is set, two when
// the lane must be read first. Library refusals are errors matching the ffscripts
// sentinels (ErrInvalidToken, ErrWaitpointClosed, ErrTargetNotSignalable, ...).
func (c *Client) DeliverSignal(ctx context.Context, id keyspace.ExecutionID, waitpointID string, sig Signal) (signal.Outcome, error) {
	if sig.Name == "" {
		return signal.Outcome{}, fmt.Errorf("%w: signal name is required", ErrInvalidOptions)
	}
	if waitpointID == "" {
		return signal.Outcome{}, fmt.Errorf("%w: waitpoint id is required", ErrInvalidOptions)
	}
	k := keyspace.ExecKeys(id)
	p := id.Partition()
	// The lane names the indexes the resume moves the execution between.
	lane := sig.Lane
	if lane == "" {
		var err error
		lane, err = c.db.Do(ctx, c.db.B().Hget().Key(k.Core()).Field("lane_id").Build()).ToString()
		if valkey.IsValkeyNil(err) {
			return signal.Outcome{}, fmt.Errorf("worker: deliver signal: %s: %w", id, ffscripts.ErrExecutionNotFound)
		}
		if err != nil {
			return signal.Outcome{}, fmt.Errorf("worker: reading %s: %w", k.Core(), err)
		}
	} else if err := keyspace.ValidateLane(lane); err != nil {
		return signal.Outcome{}, fmt.Errorf("%w: lane: %v", ErrInvalidOptions, err)
	}
	sigID := uuid.NewString()
	idem := p.Noop()
	if sig.IdempotencyKey != "" {
		idem = p.SignalDedup(waitpointID, sig.IdempotencyKey)
	}
	enc := sig.PayloadEncoding
	if enc == "" {
		enc = "json"
	}
	dedup, delay, maxlen, maxSignals := (24 * time.Hour).Milliseconds(), sig.ResumeDelay.Milliseconds(), int64(1000), int64(10000)
	now := time.Now().UnixMilli()
	r, err := c.fns.DeliverSignal(ctx, ffscripts.DeliverSignalKeys{
		ExecCore: k.Core(), WaitpointCondition: p.WaitpointCondition(waitpointID),
		WaitpointSignals: p.WaitpointSignals(waitpointID), ExecSignals: k.Signals(), SignalHash: p.Signal(sigID),
		SignalPayload: p.SignalPayload(sigID), Idempotency: idem, WaitpointHash: p.Waitpoint(waitpointID),
		SuspensionCurrent: k.SuspensionCurrent(), LaneEligible: p.LaneEligible(lane),
		LaneSuspended: p.LaneSuspended(lane), LaneDelayed: p.LaneDelayed(lane),
		SuspensionTimeout: p.SuspensionTimeout(), HMACSecrets: p.HMACSecrets(), SignalDeliveryFeed: p.SignalDelivery(),
	}, ffscripts.DeliverSignalArgs{
		SignalID: sigID, ExecutionID: id.String(), WaitpointID: waitpointID, SignalName: sig.Name,
		SignalCategory: sig.Category, SourceType: sig.SourceType, SourceIdentity: sig.SourceIdentity,
		Payload: sig.Payload, PayloadEncoding: enc, IdempotencyKey: sig.IdempotencyKey,
		CorrelationID: sig.CorrelationID, TargetScope: "waitpoint", CreatedAt: &now, DedupTTLMs: &dedup,
		ResumeDelayMs: &delay, SignalMaxlen: &maxlen, MaxSignalsPerExecution: &maxSignals,
		WaitpointToken: sig.Token,
	})
	if err != nil {
		return signal.Outcome{}, err
	}
	out, err := signal.ParseOutcome(r.Status, r.SignalID, r.Effect)
	if err != nil {
		return out, fmt.Errorf("worker: ff_deliver_signal on %s: %w", id, err)
	}
	if out.Resumed() && c.onResume != nil {
		c.onResume()
	}
	return out, nil
}

// InstallWaitpointSecret makes kid (with the hex-encoded secret) the key that
// signs waitpoint tokens, on every partition, in one pipelined round trip.
// Tokens of the previous key keep verifying for grace. Installing the current
// kid again with the same secret changes nothing, so every process may call it
// at start-up. Suspending needs a secret installed.
func (c *Client) InstallWaitpointSecret(ctx context.Context, kid, secretHex string, grace time.Duration) error {
	var cmds valkey.Commands
	for p := range c.parts.Partitions() {
		cmd, err := fcall.Build(ffscripts.FnRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretCmd, c.db,
			ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: p.HMACSecrets()},
			ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid, NewSecretHex: secretHex, GraceMs: grace.Milliseconds()})
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	for i, r := range c.db.DoMulti(ctx, cmds...) {
		if _, err := ffscripts.ParseRotateWaitpointHMACSecret(r); err != nil {
			return fmt.Errorf("worker: installing waitpoint secret %q on partition %d: %w", kid, i, err)
		}
	}
	return nil
}

// EnsureWaitpointSecret installs kid with the hex-encoded secret on the
// partitions that have no waitpoint secret yet and leaves the others alone, so
// it never rotates a deployment's keys. It costs one pipelined read and, when
// something is missing, one pipelined write.
func (c *Client) EnsureWaitpointSecret(ctx context.Context, kid, secretHex string) error {
	var parts []keyspace.Partition
	var reads valkey.Commands
	for p := range c.parts.Partitions() {
		parts = append(parts, p)
		reads = append(reads, c.db.B().Hget().Key(p.HMACSecrets()).Field("current_kid").Build())
	}
	var cmds valkey.Commands
	for i, r := range c.db.DoMulti(ctx, reads...) {
		cur, err := r.ToString()
		if err != nil && !valkey.IsValkeyNil(err) {
			return fmt.Errorf("worker: reading %s: %w", parts[i].HMACSecrets(), err)
		}
		if cur != "" {
			continue
		}
		cmd, err := fcall.Build(ffscripts.FnRotateWaitpointHMACSecret, ffscripts.RotateWaitpointHMACSecretCmd, c.db,
			ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: parts[i].HMACSecrets()},
			ffscripts.RotateWaitpointHMACSecretArgs{NewKid: kid, NewSecretHex: secretHex})
		if err != nil {
			return err
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) == 0 {
		return nil
	}
	for _, r := range c.db.DoMulti(ctx, cmds...) {
		if _, err := ffscripts.ParseRotateWaitpointHMACSecret(r); err != nil {
			return fmt.Errorf("worker: installing waitpoint secret %q: %w", kid, err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
