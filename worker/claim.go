package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/keyspace"
)

// promoteBatch is how many due delayed executions one poll promotes per partition.
const promoteBatch = 8

// ClaimNext claims one execution from the worker's lanes (round-robin, one lane
// per call) and returns it as a running Task holding one concurrency permit.
//
// It reads the head of the lane's eligible set in a window of partitions (the
// window rolls on every call; the lane's own partition, where solo executions
// live, is always included) in one pipelined round trip, which also promotes
// delayed executions that are due. It then claims in the first partition with
// work: with one ff_claim_next call when the server has it, else with the
// contract's grant and claim pipelined together. An execution that needs
// capabilities this worker lacks is moved to the lane's blocked:route set, so
// it is not examined again until a capable worker appears.
//
// ClaimNext returns ErrAtCapacity when all permits are held and ErrNoTask when
// nothing was claimable in the partitions it looked at.
func (w *Worker) ClaimNext(ctx context.Context) (*Task, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	if !w.acquire() {
		return nil, ErrAtCapacity
	}
	t, err := w.claimNext(ctx)
	if err != nil {
		w.releasePermit()
		return nil, err
	}
	return t, nil
}

// candidate is a partition whose eligible set has work for the lane.
type candidate struct {
	part keyspace.Partition
	head keyspace.ExecutionID
}

func (w *Worker) claimNext(ctx context.Context) (*Task, error) {
	tasks, err := w.claimUpTo(ctx, 1)
	if err != nil {
		return nil, err
	}
	return tasks[0], nil
}

// claimUpTo claims at most k executions (the caller holds k permits) from one
// lane: one pipelined peek, then the claims. One claim tries the candidate
// partitions in turn; several are sent at once, spread over the candidates,
// and valkey-go pipelines concurrent calls, so a batch still costs one more
// round trip. It returns ErrNoTask when nothing was claimed.
func (w *Worker) claimUpTo(ctx context.Context, k int) ([]*Task, error) {
	lanes := w.cfg.Lanes
	lane := lanes[int(w.lane.Add(1)-1)%len(lanes)]
	cands, err := w.peek(ctx, lane, w.window(lane))
	if err != nil {
		return nil, err
	}
	if k == 1 {
		for _, c := range cands {
			t, err := w.claimIn(ctx, lane, c)
			if err == nil {
				return []*Task{t}, nil
			}
			if !w.skippable(lane, c, err) {
				return nil, err
			}
		}
		return nil, ErrNoTask
	}
	slots := w.slots(cands, k)
	tasks := make([]*Task, len(slots))
	errs := make([]error, len(slots))
	var wg sync.WaitGroup
	for i, c := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tasks[i], errs[i] = w.claimIn(ctx, lane, c)
		}()
	}
	wg.Wait()
	var got []*Task
	var hard error
	for i, t := range tasks {
		switch {
		case errs[i] == nil:
			got = append(got, t)
		case !w.skippable(lane, slots[i], errs[i]) && hard == nil:
			hard = errs[i]
		}
	}
	if len(got) > 0 {
		if hard != nil {
			w.cfg.Logger.Error("claim failed", "lane", lane, "err", hard)
		}
		return got, nil
	}
	if hard != nil {
		return nil, hard
	}
	return nil, ErrNoTask
}

// slots spreads k claims over the candidate partitions. The contract path
// claims a partition's head by id, so it gets one claim per partition.
func (w *Worker) slots(cands []candidate, k int) []candidate {
	if w.noClaimNext.Load() {
		return cands[:min(k, len(cands))]
	}
	var out []candidate
	for i := 0; i < k && len(cands) > 0; i++ {
		out = append(out, cands[i%len(cands)])
	}
	return out
}

// skippable reports whether a claim error only means "nothing for us here".
func (w *Worker) skippable(lane string, c candidate, err error) bool {
	if errors.Is(err, ErrNoTask) || isRetryableClaim(err) {
		w.cfg.Logger.Debug("claim skipped partition", "partition", c.part.Tag(), "lane", lane, "err", err)
		return true
	}
	return false
}

// window returns the partitions of this poll and advances the cursor. The
// lane's solo partition comes first, so a single-lane deployment finds its work
// on every poll.
func (w *Worker) window(lane string) []keyspace.Partition {
	n := uint64(w.parts.NumFlowPartitions)
	size := min(uint64(w.cfg.PartitionWindow), n)
	start := w.cursor.Add(size) - size
	solo := w.parts.LanePartition(lane)
	parts := make([]keyspace.Partition, 0, size+1)
	parts = append(parts, solo)
	for i := range size {
		p := keyspace.Partition((start + i) % n)
		if p != solo {
			parts = append(parts, p)
		}
	}
	return parts
}

// peek reads, in every partition of the window and in one pipelined round
// trip, the head of the lane's eligible set, the due members of its delayed set
// and (for a worker with capabilities) the head of its blocked:route set. It
// promotes the due executions and un-blocks those this worker can run, which
// costs a round trip only when there are any. It returns the partitions with
// work, in window order.
func (w *Worker) peek(ctx context.Context, lane string, parts []keyspace.Partition) ([]candidate, error) {
	now := time.Now().UnixMilli()
	perPart := 2
	routed := w.cfg.capsCSV != ""
	if routed {
		perPart = 3
	}
	cmds := make(valkey.Commands, 0, perPart*len(parts))
	for _, p := range parts {
		cmds = append(cmds,
			w.db.B().Zrange().Key(p.LaneEligible(lane)).Min("0").Max("0").Build(),
			w.db.B().Zrange().Key(p.LaneDelayed(lane)).Min("-inf").Max(strconv.FormatInt(now, 10)).
				Byscore().Limit(0, promoteBatch).Build())
		if routed {
			cmds = append(cmds, w.db.B().Zrange().Key(p.LaneBlockedRoute(lane)).Min("0").Max(strconv.Itoa(promoteBatch-1)).Build())
		}
	}
	res := w.db.DoMulti(ctx, cmds...)
	var cands []candidate
	var due, blocked []keyspace.ExecutionID
	for i, p := range parts {
		r := res[perPart*i : perPart*(i+1)]
		heads, err := w.readIDs(r[0], p, p.LaneEligible(lane))
		if err != nil {
			return nil, err
		}
		if len(heads) > 0 {
			cands = append(cands, candidate{part: p, head: heads[0]})
		}
		ids, err := w.readIDs(r[1], p, p.LaneDelayed(lane))
		if err != nil {
			return nil, err
		}
		due = append(due, ids...)
		if routed {
			ids, err := w.readIDs(r[2], p, p.LaneBlockedRoute(lane))
			if err != nil {
				return nil, err
			}
			blocked = append(blocked, ids...)
		}
	}
	for _, id := range append(w.promote(ctx, lane, due, now), w.unblock(ctx, lane, blocked, now)...) {
		if !hasPartition(cands, id.Partition()) {
			cands = append(cands, candidate{part: id.Partition()})
		}
	}
	return cands, nil
}

// readIDs decodes a ZRANGE reply of execution ids read from key in partition p.
func (w *Worker) readIDs(r valkey.ValkeyResult, p keyspace.Partition, key string) ([]keyspace.ExecutionID, error) {
	raw, err := r.AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("worker: reading %s: %w", key, err)
	}
	ids := make([]keyspace.ExecutionID, 0, len(raw))
	for _, s := range raw {
		id, err := w.parseID(s, p)
		if err != nil {
			return nil, fmt.Errorf("worker: member of %s: %w", key, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// promote moves due delayed executions (retry back-off, self-delay, released
// tasks) to the eligible set, in one pipelined round trip, and returns those
// it moved. No engine scanner is needed for a worker to pick up its retries.
func (w *Worker) promote(ctx context.Context, lane string, due []keyspace.ExecutionID, now int64) []keyspace.ExecutionID {
	cmds := make(valkey.Commands, 0, len(due))
	for _, id := range due {
		p := id.Partition()
		cmd, err := fcall.Build(ffscripts.FnPromoteDelayed, ffscripts.PromoteDelayedCmd, w.db,
			ffscripts.PromoteDelayedKeys{ExecCore: keyspace.ExecKeys(id).Core(),
				LaneDelayed: p.LaneDelayed(lane), LaneEligible: p.LaneEligible(lane)},
			ffscripts.PromoteDelayedArgs{ExecutionID: id.String(), NowMs: now})
		if err != nil {
			w.cfg.Logger.Warn("promoting a delayed execution failed", "execution_id", id, "err", err)
			continue
		}
		cmds = append(cmds, cmd)
	}
	if len(cmds) == 0 {
		return nil
	}
	var moved []keyspace.ExecutionID
	for i, r := range w.db.DoMulti(ctx, cmds...) {
		if _, err := ffscripts.ParsePromoteDelayed(r); err != nil {
			w.cfg.Logger.Warn("promoting a delayed execution failed", "execution_id", due[i], "err", err)
			continue
		}
		moved = append(moved, due[i])
	}
	return moved
}

// unblock returns to the eligible set the executions of blocked (parked in
// blocked:route for want of a capable worker) whose required capabilities this
// worker has: a capable worker appearing is what they wait for. It reads their
// requirements in one round trip and un-blocks in another, at most once per
// MaxPollInterval so executions nobody here can run do not cost every poll.
func (w *Worker) unblock(ctx context.Context, lane string, blocked []keyspace.ExecutionID, now int64) []keyspace.ExecutionID {
	if len(blocked) == 0 {
		return nil
	}
	last := w.lastUnblock.Load()
	if now-last < w.cfg.MaxPollInterval.Milliseconds() || !w.lastUnblock.CompareAndSwap(last, now) {
		return nil
	}
	reads := make(valkey.Commands, len(blocked))
	for i, id := range blocked {
		reads[i] = w.db.B().Hget().Key(keyspace.ExecKeys(id).Core()).Field("required_capabilities").Build()
	}
	var cmds valkey.Commands
	var runnable []keyspace.ExecutionID
	for i, r := range w.db.DoMulti(ctx, reads...) {
		req, err := r.ToString()
		if err != nil && !valkey.IsValkeyNil(err) {
			w.cfg.Logger.Warn("reading required capabilities failed", "execution_id", blocked[i], "err", err)
			continue
		}
		need, err := keyspace.ParseCapabilityCSV(req)
		if err != nil || len(keyspace.MissingCapabilities(need, w.caps)) > 0 {
			continue
		}
		p := blocked[i].Partition()
		cmd, err := fcall.Build(ffscripts.FnUnblockExecution, ffscripts.UnblockExecutionCmd, w.db,
			ffscripts.UnblockExecutionKeys{ExecCore: keyspace.ExecKeys(blocked[i]).Core(),
				BlockedZset: p.LaneBlockedRoute(lane), LaneEligible: p.LaneEligible(lane)},
			ffscripts.UnblockExecutionArgs{ExecutionID: blocked[i].String(), NowMs: now,
				ExpectedBlockingReason: "waiting_for_capable_worker"})
		if err != nil {
			continue
		}
		cmds = append(cmds, cmd)
		runnable = append(runnable, blocked[i])
	}
	if len(cmds) == 0 {
		return nil
	}
	var moved []keyspace.ExecutionID
	for i, r := range w.db.DoMulti(ctx, cmds...) {
		if _, err := ffscripts.ParseUnblockExecution(r); err != nil {
			w.cfg.Logger.Debug("un-blocking failed", "execution_id", runnable[i], "err", err)
			continue
		}
		w.cfg.Logger.Info("un-blocked execution this worker can run", "execution_id", runnable[i], "lane", lane)
		moved = append(moved, runnable[i])
	}
	return moved
}

func hasPartition(cands []candidate, p keyspace.Partition) bool {
	for _, c := range cands {
		if c.part == p {
			return true
		}
	}
	return false
}

// parseID parses an execution id read from partition p's keys; one from
// another partition or outside the configured partitions is corrupt data.
func (w *Worker) parseID(s string, p keyspace.Partition) (keyspace.ExecutionID, error) {
	id, err := keyspace.ParseExecutionID(s)
	if err != nil {
		return id, err
	}
	if id.Partition() != p {
		return id, fmt.Errorf("%w: %q is not in partition %s", keyspace.ErrInvalidExecutionID, s, p.Tag())
	}
	return id, w.parts.Check(id)
}

// claimIn claims in one partition, with the fast path when available.
func (w *Worker) claimIn(ctx context.Context, lane string, c candidate) (*Task, error) {
	if !w.noClaimNext.Load() {
		t, err := w.claimNextFast(ctx, lane, c.part)
		if !fcall.IsFunctionNotFound(err) {
			return t, err
		}
		w.noClaimNext.Store(true)
		w.cfg.Logger.Info("server has no ff_claim_next; claiming with grant + claim")
	}
	if c.head.IsZero() {
		return nil, ErrNoTask // promoted this poll; the contract path needs the head id
	}
	return w.claimWithGrant(ctx, lane, c.part, c.head)
}

// claimNextFast claims with the ff_claim_next extension: one round trip that
// also returns the payload, kind and tags.
func (w *Worker) claimNextFast(ctx context.Context, lane string, p keyspace.Partition) (*Task, error) {
	leaseID, attemptID := uuid.NewString(), uuid.NewString()
	scan := int64(w.cfg.ScanLimit)
	r, err := w.fns.ClaimNext(ctx, ffscripts.ClaimNextKeys{
		LaneEligible:      p.LaneEligible(lane),
		LaneBlockedRoute:  p.LaneBlockedRoute(lane),
		LeaseExpiry:       p.LeaseExpiry(),
		WorkerLeases:      p.WorkerLeases(w.cfg.InstanceID),
		LaneActive:        p.LaneActive(lane),
		AttemptTimeout:    p.AttemptTimeout(),
		ExecutionDeadline: p.ExecutionDeadline(),
	}, ffscripts.ClaimNextArgs{
		WorkerID:              w.cfg.WorkerID,
		WorkerInstanceID:      w.cfg.InstanceID,
		LaneID:                lane,
		WorkerCapabilitiesCSV: w.cfg.capsCSV,
		LeaseID:               leaseID,
		AttemptID:             attemptID,
		LeaseTTLMs:            w.cfg.LeaseTTL.Milliseconds(),
		RenewBeforeMs:         w.cfg.RenewAfter.Milliseconds(),
		ScanLimit:             &scan,
	})
	if err != nil {
		if errors.Is(err, ffscripts.ErrNoEligibleExecution) {
			return nil, ErrNoTask
		}
		return nil, err
	}
	id, err := w.parseID(r.ExecutionID, p)
	if err != nil {
		return nil, fmt.Errorf("worker: ff_claim_next claimed an execution with a bad id: %w", err)
	}
	tags, err := tagMap(r.Tags)
	if err != nil {
		return nil, fmt.Errorf("worker: ff_claim_next %s: %w", id, err)
	}
	return w.newTask(claimed{
		id: id, lane: lane, kind: r.ExecutionKind, namespace: r.Namespace, payload: r.Payload, tags: tags,
		leaseID: r.LeaseID, wantLeaseID: leaseID, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
		attemptID: r.AttemptID, attemptIndex: r.AttemptIndex, attemptType: r.AttemptType,
	})
}

// execContext is what a claim needs besides the lease: read before the claim
// in the same pipeline.
type execContext struct {
	kind, namespace string
	attemptIndex    string // current_attempt_index before the claim
	totalAttempts   string
	payload         []byte
	tags            map[string]string
}

// contextCmds reads an execution's kind, namespace, attempt counters, payload
// and tags; parseContext decodes their replies.
func (w *Worker) contextCmds(k keyspace.Exec) valkey.Commands {
	return valkey.Commands{
		w.db.B().Hmget().Key(k.Core()).Field("execution_kind", "namespace", "current_attempt_index", "total_attempt_count").Build(),
		w.db.B().Get().Key(k.Payload()).Build(),
		w.db.B().Hgetall().Key(k.Tags()).Build(),
	}
}

func parseContext(k keyspace.Exec, res []valkey.ValkeyResult) (execContext, error) {
	var ec execContext
	vals, err := res[0].ToArray()
	if err != nil || len(vals) != 4 {
		return ec, fmt.Errorf("worker: reading %s: %v", k.Core(), errOr(err, "unexpected reply"))
	}
	field := func(i int) string { s, _ := vals[i].ToString(); return s } // nil (absent) reads as ""
	ec.kind, ec.namespace, ec.attemptIndex, ec.totalAttempts = field(0), field(1), field(2), field(3)
	ec.payload, err = res[1].AsBytes()
	if err != nil && !valkey.IsValkeyNil(err) {
		return ec, fmt.Errorf("worker: reading %s: %w", k.Payload(), err)
	}
	ec.tags, err = res[2].AsStrMap()
	if err != nil {
		return ec, fmt.Errorf("worker: reading %s: %w", k.Tags(), err)
	}
	return ec, nil
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}

// claimWithGrant is the contract path: issue a grant and claim with it in one
// pipeline (same slot, so the claim runs right after the grant), reading the
// execution's context in the same round trip.
func (w *Worker) claimWithGrant(ctx context.Context, lane string, p keyspace.Partition, id keyspace.ExecutionID) (*Task, error) {
	k := keyspace.ExecKeys(id)
	grant, err := fcall.Build(ffscripts.FnIssueClaimGrant, ffscripts.IssueClaimGrantCmd, w.db,
		ffscripts.IssueClaimGrantKeys{ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), LaneEligible: p.LaneEligible(lane)},
		ffscripts.IssueClaimGrantArgs{
			ExecutionID: id.String(), WorkerID: w.cfg.WorkerID, WorkerInstanceID: w.cfg.InstanceID,
			LaneID: lane, GrantTTLMs: w.cfg.GrantTTL.Milliseconds(), WorkerCapabilitiesCSV: w.cfg.capsCSV,
		})
	if err != nil {
		return nil, err
	}
	leaseID, attemptID := uuid.NewString(), uuid.NewString()
	claim, err := fcall.Build(ffscripts.FnClaimExecution, ffscripts.ClaimExecutionCmd, w.db,
		w.claimKeys(k, lane), w.claimArgs(id, lane, leaseID, attemptID))
	if err != nil {
		return nil, err
	}
	cmds := append(w.contextCmds(k), grant, claim)
	res := w.db.DoMulti(ctx, cmds...)
	if _, err := ffscripts.ParseIssueClaimGrant(res[3]); err != nil {
		if errors.Is(err, ffscripts.ErrCapabilityMismatch) {
			w.blockRoute(ctx, lane, p, id, err)
			return nil, ErrNoTask
		}
		return nil, err
	}
	ec, err := parseContext(k, res[:3])
	if err != nil {
		return nil, err
	}
	r, err := ffscripts.ParseClaimExecution(res[4])
	if errors.Is(err, ffscripts.ErrUseClaimResumedExecution) {
		// The grant is still there: the claim refused before consuming it.
		return w.claimResumed(ctx, lane, p, id, ec)
	}
	if err != nil {
		return nil, err
	}
	return w.newTask(claimed{
		id: id, lane: lane, kind: ec.kind, namespace: ec.namespace, payload: ec.payload, tags: ec.tags,
		leaseID: r.LeaseID, wantLeaseID: leaseID, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
		attemptID: r.AttemptID, attemptIndex: r.AttemptIndex, attemptType: r.AttemptType,
	})
}

func (w *Worker) claimKeys(k keyspace.Exec, lane string) ffscripts.ClaimExecutionKeys {
	p := k.Partition()
	// KEYS 6-8 name the new attempt; the library builds them itself from the
	// attempt counter, so attempt 0's keys stand in (same slot).
	return ffscripts.ClaimExecutionKeys{
		ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), LaneEligible: p.LaneEligible(lane),
		LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(w.cfg.InstanceID),
		AttemptHash: k.Attempt(0), AttemptUsage: k.AttemptUsage(0), AttemptPolicy: k.AttemptPolicy(0),
		AttemptsZset: k.Attempts(), LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(),
		LaneActive: p.LaneActive(lane), AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
	}
}

func (w *Worker) claimArgs(id keyspace.ExecutionID, lane, leaseID, attemptID string) ffscripts.ClaimExecutionArgs {
	return ffscripts.ClaimExecutionArgs{
		ExecutionID: id.String(), WorkerID: w.cfg.WorkerID, WorkerInstanceID: w.cfg.InstanceID, LaneID: lane,
		LeaseID: leaseID, LeaseTTLMs: w.cfg.LeaseTTL.Milliseconds(), RenewBeforeMs: w.cfg.RenewAfter.Milliseconds(),
		AttemptID: attemptID,
	}
}

// claimResumed continues an interrupted attempt (after a delay or a
// suspension) with the outstanding grant.
func (w *Worker) claimResumed(ctx context.Context, lane string, p keyspace.Partition, id keyspace.ExecutionID, ec execContext) (*Task, error) {
	idx, err := attemptIndex(ec.attemptIndex)
	if err != nil {
		return nil, fmt.Errorf("worker: %s current_attempt_index: %w", id, err)
	}
	k := keyspace.ExecKeys(id)
	leaseID := uuid.NewString()
	r, err := w.fns.ClaimResumedExecution(ctx, ffscripts.ClaimResumedExecutionKeys{
		ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), LaneEligible: p.LaneEligible(lane),
		LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(w.cfg.InstanceID),
		AttemptHash: k.Attempt(idx), LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(),
		LaneActive: p.LaneActive(lane), AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
	}, ffscripts.ClaimResumedExecutionArgs{
		ExecutionID: id.String(), WorkerID: w.cfg.WorkerID, WorkerInstanceID: w.cfg.InstanceID, LaneID: lane,
		LeaseID: leaseID, LeaseTTLMs: w.cfg.LeaseTTL.Milliseconds(),
	})
	if err != nil {
		return nil, err
	}
	return w.newTask(claimed{
		id: id, lane: lane, kind: ec.kind, namespace: ec.namespace, payload: ec.payload, tags: ec.tags,
		leaseID: r.LeaseID, wantLeaseID: leaseID, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
		attemptID: r.AttemptID, attemptIndex: r.AttemptIndex, attemptType: r.AttemptType,
	})
}

// attemptIndex parses an attempt index field of exec_core.
func attemptIndex(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("attempt index %q is not a number", s)
	}
	return uint32(n), nil
}

// blockRoute parks an execution this worker may not run in the lane's
// blocked:route set, so the same head is not examined on every poll
// (block-on-mismatch). Best effort: a failure only costs a re-examination.
func (w *Worker) blockRoute(ctx context.Context, lane string, p keyspace.Partition, id keyspace.ExecutionID, cause error) {
	w.cfg.Logger.Info("capability mismatch, blocking execution until a capable worker appears",
		"execution_id", id, "lane", lane, "worker_caps", w.cfg.capsCSV, "err", cause)
	_, err := w.fns.BlockExecutionForAdmission(ctx, ffscripts.BlockExecutionForAdmissionKeys{
		ExecCore: keyspace.ExecKeys(id).Core(), LaneEligible: p.LaneEligible(lane), BlockedZset: p.LaneBlockedRoute(lane),
	}, ffscripts.BlockExecutionForAdmissionArgs{
		ExecutionID: id.String(), BlockingReason: "waiting_for_capable_worker",
		BlockingDetail: "no connected worker satisfies required_capabilities", NowMs: time.Now().UnixMilli(),
	})
	if err != nil {
		w.cfg.Logger.Warn("blocking execution failed; it will be examined again", "execution_id", id, "err", err)
	}
}

// ClaimFromGrant claims execution id on lane with a claim grant a scheduler
// issued to this worker. The concurrency permit is taken before anything is
// sent, so a saturated worker returns ErrAtCapacity and the grant stays valid.
// An execution resuming an interrupted attempt is continued with
// ff_claim_resumed_execution.
func (w *Worker) ClaimFromGrant(ctx context.Context, lane string, id keyspace.ExecutionID) (*Task, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	if err := w.parts.Check(id); err != nil {
		return nil, err
	}
	if !w.acquire() {
		return nil, ErrAtCapacity
	}
	t, err := w.claimFromGrant(ctx, lane, id)
	if err != nil {
		w.releasePermit()
		return nil, err
	}
	return t, nil
}

func (w *Worker) claimFromGrant(ctx context.Context, lane string, id keyspace.ExecutionID) (*Task, error) {
	k := keyspace.ExecKeys(id)
	leaseID, attemptID := uuid.NewString(), uuid.NewString()
	claim, err := fcall.Build(ffscripts.FnClaimExecution, ffscripts.ClaimExecutionCmd, w.db,
		w.claimKeys(k, lane), w.claimArgs(id, lane, leaseID, attemptID))
	if err != nil {
		return nil, err
	}
	res := w.db.DoMulti(ctx, append(w.contextCmds(k), claim)...)
	r, err := ffscripts.ParseClaimExecution(res[3])
	if err != nil && !errors.Is(err, ffscripts.ErrUseClaimResumedExecution) {
		return nil, err
	}
	ec, cerr := parseContext(k, res[:3])
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return w.claimResumed(ctx, lane, id.Partition(), id, ec)
	}
	return w.newTask(claimed{
		id: id, lane: lane, kind: ec.kind, namespace: ec.namespace, payload: ec.payload, tags: ec.tags,
		leaseID: r.LeaseID, wantLeaseID: leaseID, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
		attemptID: r.AttemptID, attemptIndex: r.AttemptIndex, attemptType: r.AttemptType,
	})
}

// ClaimFromReclaimGrant takes over execution id, whose previous lease expired
// or was revoked, with a reclaim grant (ff_issue_reclaim_grant) issued to this
// worker: the interrupted attempt ends and a new attempt of type "reclaim"
// starts under this worker's lease (ff_reclaim_execution). The concurrency
// permit is taken first, as in ClaimFromGrant. At the execution's reclaim cap
// the library fails it terminally and the error matches
// ffscripts.ErrMaxRetriesExhausted.
func (w *Worker) ClaimFromReclaimGrant(ctx context.Context, lane string, id keyspace.ExecutionID) (*Task, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	if err := w.parts.Check(id); err != nil {
		return nil, err
	}
	if !w.acquire() {
		return nil, ErrAtCapacity
	}
	t, err := w.reclaim(ctx, lane, id)
	if err != nil {
		w.releasePermit()
		return nil, err
	}
	return t, nil
}

func (w *Worker) reclaim(ctx context.Context, lane string, id keyspace.ExecutionID) (*Task, error) {
	k := keyspace.ExecKeys(id)
	p := id.Partition()
	ec, err := parseContext(k, w.db.DoMulti(ctx, w.contextCmds(k)...))
	if err != nil {
		return nil, err
	}
	if ec.kind == "" && ec.totalAttempts == "" {
		return nil, fmt.Errorf("worker: reclaim %s: %w", id, ffscripts.ErrExecutionNotFound)
	}
	old, err := attemptIndex(ec.attemptIndex)
	if err != nil {
		return nil, fmt.Errorf("worker: reclaim %s current_attempt_index: %w", id, err)
	}
	next, err := attemptIndex(ec.totalAttempts)
	if err != nil {
		return nil, fmt.Errorf("worker: reclaim %s total_attempt_count: %w", id, err)
	}
	leaseID, attemptID := uuid.NewString(), uuid.NewString()
	r, err := w.fns.ReclaimExecution(ctx, ffscripts.ReclaimExecutionKeys{
		ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), OldAttemptHash: k.Attempt(old), OldStreamMeta: k.StreamMeta(old),
		NewAttemptHash: k.Attempt(next), NewAttemptUsage: k.AttemptUsage(next), AttemptsZset: k.Attempts(),
		LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(), LeaseExpiry: p.LeaseExpiry(),
		WorkerLeases: p.WorkerLeases(w.cfg.InstanceID), LaneActive: p.LaneActive(lane),
		AttemptTimeout: p.AttemptTimeout(), ExecutionDeadline: p.ExecutionDeadline(),
	}, ffscripts.ReclaimExecutionArgs{
		ExecutionID: id.String(), WorkerID: w.cfg.WorkerID, WorkerInstanceID: w.cfg.InstanceID, LaneID: lane,
		LeaseID: leaseID, LeaseTTLMs: w.cfg.LeaseTTL.Milliseconds(), AttemptID: attemptID,
	})
	if err != nil {
		return nil, err
	}
	return w.newTask(claimed{
		id: id, lane: lane, kind: ec.kind, namespace: ec.namespace, payload: ec.payload, tags: ec.tags,
		leaseID: r.LeaseID, wantLeaseID: leaseID, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
		attemptID: r.AttemptID, attemptIndex: r.AttemptIndex, attemptType: r.AttemptType,
	})
}

// IssueReclaimGrant asks the library for a reclaim grant for this worker on
// execution id, whose lease expired or was revoked (normally a scheduler's
// job). Pass the execution to ClaimFromReclaimGrant next.
func (w *Worker) IssueReclaimGrant(ctx context.Context, lane string, id keyspace.ExecutionID) error {
	k := keyspace.ExecKeys(id)
	_, err := w.fns.IssueReclaimGrant(ctx, ffscripts.IssueReclaimGrantKeys{
		ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), LeaseExpiry: id.Partition().LeaseExpiry(),
	}, ffscripts.IssueReclaimGrantArgs{
		ExecutionID: id.String(), WorkerID: w.cfg.WorkerID, WorkerInstanceID: w.cfg.InstanceID, LaneID: lane,
		GrantTTLMs: w.cfg.GrantTTL.Milliseconds(), WorkerCapabilitiesCSV: w.cfg.capsCSV,
	})
	return err
}

// tagMap turns the flat key/value tail of a reply into a map.
func tagMap(flat []string) (map[string]string, error) {
	if len(flat)%2 != 0 {
		return nil, fmt.Errorf("tags: odd number of fields (%d)", len(flat))
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		m[flat[i]] = flat[i+1]
	}
	return m, nil
}
