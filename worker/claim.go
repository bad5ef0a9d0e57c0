package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/keyspace"
)

// promoteBatch is how many due delayed executions one poll promotes per partition.
const promoteBatch = 8

// ClaimNext claims one execution from the worker's lanes (starting with the
// next lane in turn, then the others; a lane found empty in the last
// PollInterval comes last) and returns it as a running Task holding one
// concurrency permit.
//
// While the partition where the lane last found work keeps having it,
// ClaimNext claims there with one ff_claim_next call: one round trip. Otherwise
// it first reads the head of the lane's eligible set in a window of partitions
// (the window rolls on every read; the lane's own partition, where solo
// executions live, is always included) in one pipelined round trip, then
// claims in the first partition with work: with one ff_claim_next call when the
// server has it, else with the contract's grant and claim pipelined together.
// After 16 claims in a row in one partition the window is read again, in the
// same pipeline as the claim, and the lane moves on to the next partition with
// work, so one busy partition does not starve the others. An execution that
// needs capabilities this worker lacks is moved to the lane's blocked:route
// set, so it is not examined again until a capable worker appears.
//
// At most once per MaxPollInterval the window read also looks for leases past
// their expiry, and ClaimNext may then return an execution it reclaimed from a
// worker that died (AttemptType "reclaim").
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

// stickyPolls bounds how many polls in a row claim straight in the partition
// that last had work without looking at the window. The next poll sends the
// window's peek in the same pipeline as its claims and moves on to the next
// partition with work, so a busy partition cannot starve the others.
const stickyPolls = 16

// laneState is where a lane's claims go: the partition that last had work,
// while it keeps having it.
type laneState struct {
	mu     sync.Mutex
	part   keyspace.Partition
	sticky bool
	polls  int // polls that claimed in part since the window was last peeked
	// Where the lane's next windows start: of eligible heads (cursor), of
	// delayed sets (promoteCursor) and of blocked:route sets (unblockCursor).
	// Each read rolls its own, so that every partition comes round whichever
	// polls make the read: with one cursor for all, reads made on every other
	// poll (or by lanes polled in turn) saw every other window only.
	cursor, promoteCursor, unblockCursor atomic.Uint64
	// quietUntil (unix ms): the lane was found empty; until then claims try
	// the worker's other lanes first. It ends early when the lane's delayed
	// sets are due a look (promoteAt), and a lane is not quiet while they are.
	quietUntil  atomic.Int64
	nextPromote atomic.Int64 // ms from which a poll looks at the delayed sets
	lastUnblock atomic.Int64 // ms of the last look at the blocked:route sets
}

func (w *Worker) claimNext(ctx context.Context) (*Task, error) {
	tasks, err := w.claimUpTo(ctx, 1)
	if err != nil {
		return nil, err
	}
	return tasks[0], nil
}

// claimUpTo claims at most k executions (the caller holds k permits) from the
// worker's lanes: from the next lane in turn, and from the lanes after it when
// that one has nothing, so that an empty lane does not make a poll come back
// empty while another has work (an idle poll costs a round trip per lane). A
// lane found empty in the last PollInterval is tried after the others.
func (w *Worker) claimUpTo(ctx context.Context, k int) ([]*Task, error) {
	lanes := w.cfg.Lanes
	if len(lanes) == 1 {
		return w.claimLane(ctx, lanes[0], k) // no order to work out, on every claim
	}
	first := int(w.lane.Add(1) - 1)
	now := time.Now().UnixMilli()
	order := make([]string, 0, len(lanes))
	for _, quiet := range []bool{false, true} {
		for i := range lanes {
			lane := lanes[(first+i)%len(lanes)]
			st := w.lanes[lane]
			if (st.quietUntil.Load() > now && st.nextPromote.Load() > now) == quiet {
				order = append(order, lane)
			}
		}
	}
	// A lane that fails (a corrupt member in one of its sets, say) does not
	// keep the others from being tried; its error is returned when none had
	// work, and it counts as quiet.
	var failed error
	for _, lane := range order {
		tasks, err := w.claimLane(ctx, lane, k)
		st := w.lanes[lane]
		if len(tasks) > 0 {
			st.quietUntil.Store(0)
			return tasks, err
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if !errors.Is(err, ErrNoTask) && failed == nil {
			failed = err
		}
		st.quietUntil.Store(now + w.cfg.PollInterval.Milliseconds())
	}
	if failed != nil {
		return nil, failed
	}
	return nil, ErrNoTask
}

// claimLane claims at most k executions from one lane. While a partition
// keeps having work, the claims go straight to it, k
// ff_claim_next calls and a ZCARD of what is left in one pipeline: one round
// trip. The window is peeked (one pipelined read) when no partition is known
// to have work, after stickyPolls polls in the same partition, and when the
// delayed and blocked sets are due a look (promoteDue, unblockDue); alongside
// claims it rides in the same pipeline. Claims after a peek are one more
// pipeline, spread over the partitions with work. It returns ErrNoTask when
// nothing was claimed.
func (w *Worker) claimLane(ctx context.Context, lane string, k int) ([]*Task, error) {
	if w.noClaimNext.Load() {
		return w.claimContract(ctx, lane, k)
	}
	st := w.lanes[lane]
	st.mu.Lock()
	part, sticky := st.part, st.sticky
	fair := sticky && st.polls >= stickyPolls
	switch {
	case fair:
		st.polls = 0 // this poll peeks; concurrent ones go on claiming
	case sticky:
		st.polls++
	}
	st.mu.Unlock()

	now := time.Now().UnixMilli()
	pk := w.peekPlan(lane, now, !sticky || fair)
	// A reclaim scan keeps a permit for what it finds: a worker whose claims
	// always come back full would never reclaim otherwise.
	n := k
	if len(pk.scan) > 0 {
		n--
	}
	claimed := sticky && n > 0
	var cmds valkey.Commands
	var leases []string
	if claimed {
		cmds, leases = w.claimCmds(lane, part, n)
		// What is left after the claims: when nothing is, the next poll peeks
		// straight away instead of finding out with a refused claim.
		cmds = append(cmds, w.db.B().Zcard().Key(part.LaneEligible(lane)).Build())
	}
	claims := len(leases)
	cmds = append(cmds, pk.cmds...)
	if len(cmds) == 0 {
		return nil, ErrNoTask
	}
	res := w.db.DoMulti(ctx, cmds...)
	tasks, drained, err := w.claimTasks(lane, part, leases, res[:claims])
	if err != nil && len(tasks) == 0 && !w.skippable(lane, candidate{part: part}, err) {
		return nil, err
	}
	rest := res[claims:]
	if claimed {
		if left, zerr := rest[0].AsInt64(); zerr == nil && left == 0 {
			drained = true
		}
		rest = rest[1:]
	}
	var cands []candidate
	var expired []keyspace.ExecutionID
	if len(pk.cmds) > 0 {
		if cands, expired, err = w.readPeek(ctx, lane, pk, rest, now); err != nil {
			if len(tasks) > 0 {
				w.cfg.Logger.Error("reading the partition window failed", "lane", lane, "err", err)
				return tasks, nil
			}
			return nil, err
		}
	}
	tasks = append(tasks, w.reclaimExpired(ctx, expired, k-len(tasks))...)
	if len(tasks) > 0 {
		w.keepSticky(st, part, drained, fair, cands)
		return tasks, nil
	}
	if sticky && !claimed {
		// The one permit was kept for the scan, which found nothing to take:
		// claim where the lane claims.
		got, err := w.claimIn(ctx, lane, st, []candidate{{part: part}}, k)
		if len(got) > 0 || !errors.Is(err, ErrNoTask) {
			return got, err
		}
	}
	st.mu.Lock()
	st.sticky = false
	st.mu.Unlock()
	if !pk.heads {
		// The partition ran dry between two peeks: look at the window now.
		now = time.Now().UnixMilli()
		pk = w.peekPlan(lane, now, true)
		if cands, expired, err = w.readPeek(ctx, lane, pk, w.db.DoMulti(ctx, pk.cmds...), now); err != nil {
			return nil, err
		}
		if tasks = w.reclaimExpired(ctx, expired, k); len(tasks) > 0 {
			return tasks, nil
		}
	}
	if sticky {
		cands = rotate(cands, part)
	}
	return w.claimIn(ctx, lane, st, cands, k)
}

// keepSticky updates st after claims in part succeeded: a partition that
// refused a claim has run dry, and a peek made for fairness hands the lane on
// to the next partition with work.
func (w *Worker) keepSticky(st *laneState, part keyspace.Partition, drained, fair bool, cands []candidate) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.part != part {
		return // another poll moved on meanwhile
	}
	if drained {
		st.sticky = false
		return
	}
	if fair {
		if next := rotate(cands, part); len(next) > 0 {
			st.part = next[0].part
		}
	}
}

// rotate returns cands reordered to start with the first partition after
// part, in partition order, so the lanes' partitions take turns.
func rotate(cands []candidate, part keyspace.Partition) []candidate {
	if len(cands) == 0 {
		return cands
	}
	out := slices.Clone(cands)
	slices.SortFunc(out, func(a, b candidate) int { return int(a.part) - int(b.part) })
	i := slices.IndexFunc(out, func(c candidate) bool { return c.part > part })
	if i < 0 {
		i = 0
	}
	return append(out[i:], out[:i]...)
}

// claimIn claims up to k executions in the candidate partitions after a peek
// and makes the partition of the first claim the lane's sticky one. One claim
// tries the candidates in turn; several are spread over the candidates and
// sent as one pipeline.
func (w *Worker) claimIn(ctx context.Context, lane string, st *laneState, cands []candidate, k int) ([]*Task, error) {
	if w.noClaimNext.Load() {
		return w.claimContractIn(ctx, lane, cands, k)
	}
	if k == 1 {
		for _, c := range cands {
			t, err := w.claimOne(ctx, lane, c)
			if err == nil {
				w.stick(st, c.part)
				return []*Task{t}, nil
			}
			if fcall.IsFunctionNotFound(err) {
				return w.claimContractIn(ctx, lane, cands, k)
			}
			if !w.skippable(lane, c, err) {
				return nil, err
			}
		}
		return nil, ErrNoTask
	}
	if len(cands) == 0 {
		return nil, ErrNoTask
	}
	var cmds valkey.Commands
	var leases []string
	var parts []keyspace.Partition
	for i := range k {
		p := cands[i%len(cands)].part
		c, l := w.claimCmds(lane, p, 1)
		cmds, leases, parts = append(cmds, c...), append(leases, l...), append(parts, p)
	}
	res := w.db.DoMulti(ctx, cmds...)
	var got []*Task
	var hard error
	for i, r := range res {
		t, err := w.claimTask(lane, parts[i], leases[i], r)
		switch {
		case err == nil:
			if len(got) == 0 {
				w.stick(st, parts[i])
			}
			got = append(got, t)
		case fcall.IsFunctionNotFound(err):
			return w.claimContractIn(ctx, lane, cands, k)
		case !w.skippable(lane, candidate{part: parts[i]}, err) && hard == nil:
			hard = err
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

// stick makes p the partition the lane's next polls claim in.
func (w *Worker) stick(st *laneState, p keyspace.Partition) {
	st.mu.Lock()
	st.part, st.sticky, st.polls = p, true, 0
	st.mu.Unlock()
}

// claimContract is a poll without ff_claim_next: a peek, then grant + claim
// of the heads it found.
func (w *Worker) claimContract(ctx context.Context, lane string, k int) ([]*Task, error) {
	now := time.Now().UnixMilli()
	pk := w.peekPlan(lane, now, true)
	cands, expired, err := w.readPeek(ctx, lane, pk, w.db.DoMulti(ctx, pk.cmds...), now)
	if err != nil {
		return nil, err
	}
	if tasks := w.reclaimExpired(ctx, expired, k); len(tasks) > 0 {
		return tasks, nil
	}
	return w.claimContractIn(ctx, lane, cands, k)
}

// claimContractIn claims the heads of up to k candidate partitions with the
// contract's grant + claim, one partition after the other.
func (w *Worker) claimContractIn(ctx context.Context, lane string, cands []candidate, k int) ([]*Task, error) {
	var got []*Task
	for _, c := range cands {
		if len(got) == k {
			break
		}
		if c.head.IsZero() {
			continue // promoted this poll; the contract path needs the head id
		}
		t, err := w.claimWithGrant(ctx, lane, c.part, c.head)
		if err == nil {
			got = append(got, t)
			continue
		}
		if !w.skippable(lane, c, err) {
			if len(got) > 0 {
				w.cfg.Logger.Error("claim failed", "lane", lane, "err", err)
				return got, nil
			}
			return nil, err
		}
	}
	if len(got) == 0 {
		return nil, ErrNoTask
	}
	return got, nil
}

// skippable reports whether a claim error only means "nothing for us here".
func (w *Worker) skippable(lane string, c candidate, err error) bool {
	if errors.Is(err, ErrNoTask) || isRetryableClaim(err) {
		w.cfg.Logger.Debug("claim skipped partition", "partition", c.part.Tag(), "lane", lane, "err", err)
		return true
	}
	return false
}

// roll returns the next window of PartitionWindow partitions from cursor
// and advances it. With solo, the lane's solo partition comes first (so a
// single-lane deployment finds its work on every poll).
func (w *Worker) roll(cursor *atomic.Uint64, solo *keyspace.Partition) []keyspace.Partition {
	n := uint64(w.parts.NumFlowPartitions)
	size := min(uint64(w.cfg.PartitionWindow), n)
	start := cursor.Add(size) - size
	parts := make([]keyspace.Partition, 0, size+1)
	if solo != nil {
		parts = append(parts, *solo)
	}
	for i := range size {
		p := keyspace.Partition((start + i) % n)
		if solo == nil || p != *solo {
			parts = append(parts, p)
		}
	}
	return parts
}

// promoteDue reports whether this poll of the lane looks for its due delayed
// executions: at most once per PollInterval, and at once when an execution
// of the lane this worker delayed is due (promoteAt). The timer is the
// lane's: with one for the worker, a busy lane's polls used it up and an
// empty lane's retries waited for the busy lane to drain.
func (w *Worker) promoteDue(st *laneState, now int64) bool {
	next := st.nextPromote.Load()
	return now >= next && st.nextPromote.CompareAndSwap(next, now+w.cfg.PollInterval.Milliseconds())
}

// promoteAt makes the lane's first poll at or after at look for due delayed
// executions, and tries the lane first then: the worker delayed one until
// then.
func (w *Worker) promoteAt(lane string, at time.Time) {
	st := w.lanes[lane]
	if st == nil {
		return
	}
	ms := at.UnixMilli()
	for {
		next := st.nextPromote.Load()
		if next <= ms || st.nextPromote.CompareAndSwap(next, ms) {
			break
		}
	}
	for {
		q := st.quietUntil.Load()
		if q <= ms || st.quietUntil.CompareAndSwap(q, ms) {
			return
		}
	}
}

// unblockDue reports whether this poll of the lane may look at its
// blocked:route sets: a worker with capabilities, at most once per
// MaxPollInterval per lane.
func (w *Worker) unblockDue(st *laneState, now int64) bool {
	if w.cfg.capsCSV == "" {
		return false
	}
	last := st.lastUnblock.Load()
	return now-last >= w.cfg.MaxPollInterval.Milliseconds() && st.lastUnblock.CompareAndSwap(last, now)
}

// peek is one poll's read of the partitions, each kind of read over a window
// of its own: the heads of the lane's eligible sets (when heads), the due
// members of its delayed sets and the heads of its blocked:route sets (when
// those are due a look), and the leases past their expiry (when a reclaim
// scan is due).
type peek struct {
	heads                   bool
	parts, delayed, blocked []keyspace.Partition // windows of heads, delayed and blocked sets
	scan                    []keyspace.Partition // whose lease_expiry sets are read
	cmds                    valkey.Commands
}

// peekPlan builds the read of a poll: the heads when wanted, the delayed and
// blocked sets and the lease-expiry sets when they are due. It is empty when
// nothing is.
func (w *Worker) peekPlan(lane string, now int64, heads bool) peek {
	pk := peek{heads: heads}
	st, solo, nowS := w.lanes[lane], w.parts.LanePartition(lane), strconv.FormatInt(now, 10)
	if w.reclaimDue(now) {
		pk.scan = w.roll(&w.scanCursor, nil)
		for _, p := range pk.scan {
			pk.cmds = append(pk.cmds, w.db.B().Zrange().Key(p.LeaseExpiry()).Min("-inf").Max(nowS).
				Byscore().Limit(w.scanOffset(p), reclaimScan).Build())
		}
	}
	if heads {
		pk.parts = w.roll(&st.cursor, &solo)
		for _, p := range pk.parts {
			pk.cmds = append(pk.cmds, w.db.B().Zrange().Key(p.LaneEligible(lane)).Min("0").Max("0").Build())
		}
	}
	if w.promoteDue(st, now) {
		pk.delayed = w.roll(&st.promoteCursor, &solo)
		for _, p := range pk.delayed {
			pk.cmds = append(pk.cmds, w.db.B().Zrange().Key(p.LaneDelayed(lane)).Min("-inf").Max(nowS).
				Byscore().Limit(0, promoteBatch).Build())
		}
	}
	if w.unblockDue(st, now) {
		pk.blocked = w.roll(&st.unblockCursor, &solo)
		for _, p := range pk.blocked {
			pk.cmds = append(pk.cmds, w.db.B().Zrange().Key(p.LaneBlockedRoute(lane)).Min("0").Max(strconv.Itoa(promoteBatch-1)).Build())
		}
	}
	return pk
}

// readPeek decodes the replies of pk. It promotes the due executions and
// un-blocks those this worker can run, which costs a round trip only when
// there are any, and returns the partitions with work, in window order, and
// the executions whose lease is past its expiry.
func (w *Worker) readPeek(ctx context.Context, lane string, pk peek, res []valkey.ValkeyResult, now int64) ([]candidate, []keyspace.ExecutionID, error) {
	var cands []candidate
	var due, blocked, expired []keyspace.ExecutionID
	i := 0
	next := func() valkey.ValkeyResult { i++; return res[i-1] }
	for _, p := range pk.scan {
		ids, err := w.readIDs(next(), p, p.LeaseExpiry())
		if err != nil {
			return nil, nil, err
		}
		w.scanned(p, len(ids))
		expired = append(expired, ids...)
	}
	for _, p := range pk.parts {
		heads, err := w.readIDs(next(), p, p.LaneEligible(lane))
		if err != nil {
			return nil, nil, err
		}
		if len(heads) > 0 {
			cands = append(cands, candidate{part: p, head: heads[0]})
		}
	}
	for _, p := range pk.delayed {
		ids, err := w.readIDs(next(), p, p.LaneDelayed(lane))
		if err != nil {
			return nil, nil, err
		}
		due = append(due, ids...)
	}
	for _, p := range pk.blocked {
		ids, err := w.readIDs(next(), p, p.LaneBlockedRoute(lane))
		if err != nil {
			return nil, nil, err
		}
		blocked = append(blocked, ids...)
	}
	for _, id := range append(w.promote(ctx, lane, due, now), w.unblock(ctx, lane, blocked, now)...) {
		if !hasPartition(cands, id.Partition()) {
			cands = append(cands, candidate{part: id.Partition()})
		}
	}
	return cands, expired, nil
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
	sent := make([]keyspace.ExecutionID, 0, len(due)) // sent[i] is the execution of cmds[i]
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
		cmds, sent = append(cmds, cmd), append(sent, id)
	}
	if len(cmds) == 0 {
		return nil
	}
	var moved []keyspace.ExecutionID
	for i, r := range w.db.DoMulti(ctx, cmds...) {
		if _, err := ffscripts.ParsePromoteDelayed(r); err != nil {
			w.cfg.Logger.Warn("promoting a delayed execution failed", "execution_id", sent[i], "err", err)
			continue
		}
		moved = append(moved, sent[i])
	}
	return moved
}

// unblock returns to the eligible set the executions of blocked (parked in
// blocked:route for want of a capable worker) whose required capabilities this
// worker has: a capable worker appearing is what they wait for. It reads their
// requirements in one round trip and un-blocks in another. Polls read the
// blocked sets at most once per MaxPollInterval (unblockDue), so executions
// nobody here can run do not cost every poll.
func (w *Worker) unblock(ctx context.Context, lane string, blocked []keyspace.ExecutionID, now int64) []keyspace.ExecutionID {
	if len(blocked) == 0 {
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

// claimOne claims in one partition with a single ff_claim_next call.
func (w *Worker) claimOne(ctx context.Context, lane string, c candidate) (*Task, error) {
	cmds, leases := w.claimCmds(lane, c.part, 1)
	return w.claimTask(lane, c.part, leases[0], w.db.DoMulti(ctx, cmds...)[0])
}

// claimCmds builds n ff_claim_next calls in partition p, with the lease ids
// they ask for.
func (w *Worker) claimCmds(lane string, p keyspace.Partition, n int) (valkey.Commands, []string) {
	keys := ffscripts.ClaimNextKeys{
		LaneEligible:      p.LaneEligible(lane),
		LaneBlockedRoute:  p.LaneBlockedRoute(lane),
		LeaseExpiry:       p.LeaseExpiry(),
		WorkerLeases:      p.WorkerLeases(w.cfg.InstanceID),
		LaneActive:        p.LaneActive(lane),
		AttemptTimeout:    p.AttemptTimeout(),
		ExecutionDeadline: p.ExecutionDeadline(),
	}
	scan := int64(w.cfg.ScanLimit)
	cmds := make(valkey.Commands, 0, n)
	leases := make([]string, 0, n)
	for range n {
		leaseID := uuid.NewString()
		// The keys share p's hash tag, so the builder cannot fail.
		cmds = append(cmds, ffscripts.ClaimNextCmd(w.db, keys, ffscripts.ClaimNextArgs{
			WorkerID:              w.cfg.WorkerID,
			WorkerInstanceID:      w.cfg.InstanceID,
			LaneID:                lane,
			WorkerCapabilitiesCSV: w.cfg.capsCSV,
			LeaseID:               leaseID,
			AttemptID:             uuid.NewString(),
			LeaseTTLMs:            w.cfg.LeaseTTL.Milliseconds(),
			RenewBeforeMs:         w.cfg.RenewAfter.Milliseconds(),
			ScanLimit:             &scan,
		}))
		leases = append(leases, leaseID)
	}
	return cmds, leases
}

// claimTasks turns the replies of claimCmds into tasks. drained reports that
// a call found nothing left in the partition. The error is the first one
// other than that.
func (w *Worker) claimTasks(lane string, p keyspace.Partition, leases []string, res []valkey.ValkeyResult) (tasks []*Task, drained bool, err error) {
	for i, r := range res {
		t, terr := w.claimTask(lane, p, leases[i], r)
		switch {
		case terr == nil:
			tasks = append(tasks, t)
		case errors.Is(terr, ErrNoTask):
			drained = true
		case err == nil:
			err = terr
		}
	}
	if err != nil && len(tasks) > 0 {
		w.cfg.Logger.Error("claim failed", "lane", lane, "partition", p.Tag(), "err", err)
	}
	return tasks, drained, err
}

// claimTask decodes one ff_claim_next reply (lease id wantLease asked for)
// into a running task. A server without the extension switches the worker to
// the contract's grant + claim for good.
func (w *Worker) claimTask(lane string, p keyspace.Partition, wantLease string, res valkey.ValkeyResult) (*Task, error) {
	r, err := ffscripts.ParseClaimNext(res)
	if err != nil {
		if errors.Is(err, ffscripts.ErrNoEligibleExecution) {
			return nil, ErrNoTask
		}
		if fcall.IsFunctionNotFound(err) && !w.noClaimNext.Swap(true) {
			w.cfg.Logger.Info("server has no ff_claim_next; claiming with grant + claim")
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
		leaseID: r.LeaseID, wantLeaseID: wantLease, epoch: r.LeaseEpoch, expiresAt: r.LeaseExpiresAt,
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
	return w.withPermit(id, func() (*Task, error) { return w.claimFromGrant(ctx, lane, id) })
}

// withPermit runs a grant-consuming claim of id: it refuses a closed worker or an id of
// another deployment, takes a concurrency permit before anything is sent (so a saturated
// worker never consumes a grant), and gives the permit back when the claim fails.
func (w *Worker) withPermit(id keyspace.ExecutionID, claim func() (*Task, error)) (*Task, error) {
	if w.isClosed() {
		return nil, ErrClosed
	}
	if err := w.parts.Check(id); err != nil {
		return nil, err
	}
	if !w.acquire() {
		return nil, ErrAtCapacity
	}
	t, err := claim()
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
