package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
)

// Worker claims FlowFabric executions for one worker instance. It is safe for
// concurrent use. Create it with Connect and end it with Close.
type Worker struct {
	cfg    config
	db     valkey.Client
	fns    ffscripts.Functions
	parts  keyspace.PartitionConfig
	client *Client

	permits chan struct{} // one token per running task
	lane    atomic.Uint64 // round-robin lane counter

	// noClaimNext is set once the server answered that ff_claim_next does not
	// exist; claims then use grant + claim.
	noClaimNext atomic.Bool

	// lanes holds each lane's claim state: the partition its polls claim in.
	lanes map[string]*laneState

	caps        []string     // the worker's capabilities, sorted
	lastReclaim atomic.Int64 // ms of the last lease_expiry check

	// Reclaim scans (reclaim.go) roll their own window with scanCursor, so
	// that every partition comes round whichever polls scan (laneState has the
	// lanes' cursors). skipped holds the executions past their lease expiry
	// that a scan could not take (another lane's, or refused), passed over by
	// later scans until then (ms); scanFrom is where the next read of a
	// partition's lease_expiry set starts, so that reads page through a long
	// one.
	scanCursor atomic.Uint64
	scanMu     sync.Mutex
	skipped    map[keyspace.ExecutionID]int64
	scanFrom   map[keyspace.Partition]int64

	// wake interrupts Run's back-off, e.g. after this process resumed an
	// execution with a signal.
	wake chan struct{}

	// The wake-up subscription (wake.go): hints holds at most one execution a
	// wake-up message named, for Run's next claim; wakeLanes maps each
	// subscribed channel to its lane. Both are nil with Options.PollOnly.
	hints     chan wakeHint
	wakeLanes map[string]string
	stopWake  context.CancelFunc
	wakeDone  chan struct{}

	mu     sync.Mutex
	held   map[*Task]struct{}
	closed bool

	stopHeartbeat context.CancelFunc
	heartbeatDone chan struct{}
}

// Connect validates opts, checks the server, registers the worker instance and
// returns a Worker ready to claim. Connect fails, and leaves nothing registered,
// when the options are invalid (ErrInvalidOptions), the server does not answer,
// the library cannot be loaded, or another live process uses the same
// InstanceID (ErrDuplicateInstance).
//
// Registration is: the alive key "ff:worker:<ns>:<instance>:alive" set with NX
// and renewed while the worker lives, the capability advertisement
// "ff:worker:<ns>:<instance>:caps" with the instance in "ff:idx:<ns>:workers"
// (removed when the worker has no capabilities), and the partition config read
// from ff:config:partitions (FlowFabric's defaults when it is absent).
//
// Unless Options.PollOnly, Connect also subscribes to the lanes' wake-up
// channels and returns once the server confirmed the subscription, so every
// execution that becomes claimable after Connect returns wakes Run. A failed
// subscription is logged and retried in the background; it does not fail
// Connect.
func Connect(ctx context.Context, db valkey.Client, opts Options) (*Worker, error) {
	return connect(ctx, db, ffscripts.New(db), opts)
}

// connect is Connect with the library functions injectable, for tests.
func connect(ctx context.Context, db valkey.Client, fns ffscripts.Functions, opts Options) (*Worker, error) {
	cfg, err := opts.validate()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if err := db.Do(ctx, db.B().Ping().Build()).Error(); err != nil {
		return nil, fmt.Errorf("worker: PING: %w", err)
	}
	if !cfg.ManagedLibrary {
		if err := ffscripts.Load(ctx, db); err != nil {
			return nil, fmt.Errorf("worker: loading the flowfabric library: %w", err)
		}
	}
	alive := keyspace.WorkerAlive(cfg.Namespace, cfg.InstanceID)
	set := db.B().Set().Key(alive).Value("1").Nx().PxMilliseconds(cfg.aliveTTL().Milliseconds()).Build()
	if err := db.Do(ctx, set).Error(); err != nil {
		if valkey.IsValkeyNil(err) {
			return nil, fmt.Errorf("%w: %q is live (key %s); stop it, or wait %v after a crash",
				ErrDuplicateInstance, cfg.InstanceID, alive, cfg.aliveTTL())
		}
		return nil, fmt.Errorf("worker: SET %s: %w", alive, err)
	}
	w := &Worker{
		cfg:     cfg,
		db:      db,
		fns:     fns,
		permits: make(chan struct{}, cfg.MaxConcurrentTasks),
		wake:    make(chan struct{}, 1),
		held:    map[*Task]struct{}{},
		lanes:   map[string]*laneState{},
	}
	for _, lane := range cfg.Lanes {
		w.lanes[lane] = &laneState{}
	}
	// The first lease-expiry scan comes MaxPollInterval after the start.
	w.lastReclaim.Store(time.Now().UnixMilli())
	w.caps, _ = keyspace.ParseCapabilityCSV(cfg.capsCSV) // validated above
	fail := func(err error) (*Worker, error) {
		// Undo the registration so a corrected restart is not refused.
		w.unregister(context.WithoutCancel(ctx))
		return nil, err
	}
	w.parts, err = keyspace.ReadPartitionConfig(ctx, db)
	if err != nil {
		return fail(fmt.Errorf("worker: %w", err))
	}
	switch len(w.parts.Defaulted) {
	case 0:
	case 3: // no config at all: the documented fallback of a server-less set-up
		log.Info("no partition config, using FlowFabric's defaults", "key", keyspace.ConfigPartitionsKey,
			"num_flow_partitions", w.parts.NumFlowPartitions)
	default:
		log.Warn("partition config incomplete, using defaults", "key", keyspace.ConfigPartitionsKey,
			"defaulted", w.parts.Defaulted, "num_flow_partitions", w.parts.NumFlowPartitions)
	}
	seed := cursorSeed(cfg.InstanceID, w.parts.NumFlowPartitions)
	for _, st := range w.lanes {
		st.cursor.Store(seed)
		st.promoteCursor.Store(seed)
		st.unblockCursor.Store(seed)
	}
	w.scanCursor.Store(seed)
	w.client = &Client{db: db, fns: fns, ns: cfg.Namespace, parts: w.parts, onResume: w.Wake}
	if err := w.advertise(ctx); err != nil {
		return fail(err)
	}
	hbCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stopHeartbeat = stop
	w.heartbeatDone = make(chan struct{})
	go w.heartbeat(hbCtx)
	if !cfg.PollOnly {
		w.hints = make(chan wakeHint, 1)
		w.startWakeups(ctx)
	}
	log.Info("worker connected", "worker_id", cfg.WorkerID, "instance_id", cfg.InstanceID,
		"namespace", cfg.Namespace, "lanes", cfg.Lanes, "capabilities", cfg.capsCSV,
		"partitions", w.parts.NumFlowPartitions, "max_concurrent_tasks", cfg.MaxConcurrentTasks)
	return w, nil
}

// cursorSeed spreads workers over the partitions from their first poll: FNV-1a
// of the instance id modulo the partition count.
func cursorSeed(instanceID string, partitions uint16) uint64 {
	if partitions == 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(instanceID))
	return h.Sum64() % uint64(partitions)
}

// advertise publishes the worker's capabilities for operators and the
// scheduler's un-block scanner. The hash is written before the index entry so
// an indexed instance always has its hash; no capabilities removes both.
func (w *Worker) advertise(ctx context.Context) error {
	caps := keyspace.WorkerCaps(w.cfg.Namespace, w.cfg.InstanceID)
	index := keyspace.WorkersIndex(w.cfg.Namespace)
	var cmds valkey.Commands
	if w.cfg.capsCSV == "" {
		cmds = valkey.Commands{
			w.db.B().Del().Key(caps).Build(),
			w.db.B().Srem().Key(index).Member(w.cfg.InstanceID).Build(),
		}
	} else {
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		cmds = valkey.Commands{
			w.db.B().Hset().Key(caps).FieldValue().
				FieldValue("worker_id", w.cfg.WorkerID).
				FieldValue("lanes_csv", w.cfg.lanesCSV).
				FieldValue("caps_csv", w.cfg.capsCSV).
				FieldValue("ttl_ms", strconv.FormatInt(w.cfg.aliveTTL().Milliseconds(), 10)).
				FieldValue("registered_at_ms", now).
				FieldValue("last_heartbeat_ms", now).Build(),
			w.db.B().Sadd().Key(index).Member(w.cfg.InstanceID).Build(),
		}
	}
	for _, r := range w.db.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return fmt.Errorf("worker: advertising capabilities: %w", err)
		}
	}
	return nil
}

// heartbeat keeps the alive key from expiring while the worker runs, so a
// duplicate started later is still refused, and stamps last_heartbeat_ms.
func (w *Worker) heartbeat(ctx context.Context) {
	defer close(w.heartbeatDone)
	alive := keyspace.WorkerAlive(w.cfg.Namespace, w.cfg.InstanceID)
	ttl := w.cfg.aliveTTL()
	t := time.NewTicker(ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, ttl/4)
		// XX: only refresh our own key. If it vanished (an operator DEL, a
		// failover), take it back with NX; if someone else holds it, say so.
		err := w.db.Do(rctx, w.db.B().Set().Key(alive).Value("1").Xx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
		if valkey.IsValkeyNil(err) {
			err = w.db.Do(rctx, w.db.B().Set().Key(alive).Value("1").Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
			if valkey.IsValkeyNil(err) {
				err = fmt.Errorf("%w: %s was taken by another process", ErrDuplicateInstance, alive)
			}
		}
		if err == nil && w.cfg.capsCSV != "" {
			caps := keyspace.WorkerCaps(w.cfg.Namespace, w.cfg.InstanceID)
			err = w.db.Do(rctx, w.db.B().Hset().Key(caps).FieldValue().
				FieldValue("last_heartbeat_ms", strconv.FormatInt(time.Now().UnixMilli(), 10)).Build()).Error()
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.Error("worker heartbeat failed", "key", alive, "err", err)
		}
	}
}

// unregister removes the alive key and the capability advertisement.
func (w *Worker) unregister(ctx context.Context) error {
	cmds := valkey.Commands{
		w.db.B().Del().Key(keyspace.WorkerAlive(w.cfg.Namespace, w.cfg.InstanceID)).Build(),
		w.db.B().Del().Key(keyspace.WorkerCaps(w.cfg.Namespace, w.cfg.InstanceID)).Build(),
		w.db.B().Srem().Key(keyspace.WorkersIndex(w.cfg.Namespace)).Member(w.cfg.InstanceID).Build(),
	}
	var errs []error
	for _, r := range w.db.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close hands back the executions the worker still holds (they become
// claimable again at once), stops the heartbeat and the wake-up subscription
// (waiting for their goroutines) and removes the worker's registration, so the
// same InstanceID can start again immediately. It does not close the valkey
// client. Close is idempotent.
func (w *Worker) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	err := w.releaseHeld(ctx)
	w.stopHeartbeat()
	<-w.heartbeatDone
	w.stopWakeups()
	if uerr := w.unregister(ctx); uerr != nil {
		err = errors.Join(err, fmt.Errorf("worker: unregistering: %w", uerr))
	}
	w.cfg.Logger.Info("worker closed", "instance_id", w.cfg.InstanceID)
	return err
}

// releaseHeld hands back every task still held, each as a delay until now.
func (w *Worker) releaseHeld(ctx context.Context) error {
	w.mu.Lock()
	tasks := make([]*Task, 0, len(w.held))
	for t := range w.held {
		tasks = append(tasks, t)
	}
	w.mu.Unlock()
	var errs []error
	for _, t := range tasks {
		if err := t.Release(ctx); err != nil && !errors.Is(err, ErrTaskDone) {
			errs = append(errs, fmt.Errorf("releasing %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Client returns the producer and signal side bound to the same server,
// namespace and partition config.
func (w *Worker) Client() *Client { return w.client }

// PartitionConfig returns the partition counts the worker read at Connect.
func (w *Worker) PartitionConfig() keyspace.PartitionConfig { return w.parts }

// InstanceID returns the worker instance id.
func (w *Worker) InstanceID() string { return w.cfg.InstanceID }

// Running returns how many claimed tasks the worker holds right now.
func (w *Worker) Running() int { return len(w.permits) }

// Wake makes a Run loop that is backing off poll again at once. The worker
// calls it itself on every wake-up message and after it resumed an execution
// with a signal; call it when you learn of new work some other way.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// DeliverSignal delivers sig to waitpoint waitpointID of execution id; see
// Client.DeliverSignal.
func (w *Worker) DeliverSignal(ctx context.Context, id keyspace.ExecutionID, waitpointID string, sig Signal) (signal.Outcome, error) {
	return w.client.DeliverSignal(ctx, id, waitpointID, sig)
}

// acquire takes a concurrency permit without waiting.
func (w *Worker) acquire() bool {
	select {
	case w.permits <- struct{}{}:
		return true
	default:
		return false
	}
}

func (w *Worker) releasePermit() { <-w.permits }

func (w *Worker) isClosed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

func (w *Worker) track(t *Task) {
	w.mu.Lock()
	w.held[t] = struct{}{}
	w.mu.Unlock()
}

func (w *Worker) untrack(t *Task) {
	w.mu.Lock()
	delete(w.held, t)
	w.mu.Unlock()
}
