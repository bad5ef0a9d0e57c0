package worker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/keyspace"
)

// Reclaiming: taking over executions whose lease ran out (their worker died
// or stopped renewing). Polls do it on their own (reclaimDue, reclaimExpired:
// no scanner or scheduler is needed); a scheduler can also drive it with
// IssueReclaimGrant and ClaimFromReclaimGrant.

// A reclaim scan reads up to reclaimScan leases past their expiry per
// partition and takes at most reclaimBatch of them through the reclaim
// steps. One it cannot take (another lane's, or refused by the library) is
// skipped for skipFor, so that it does not take the batch at every scan.
const (
	reclaimScan  = 32
	reclaimBatch = 16
	skipFor      = time.Minute
)

// reclaimDue reports whether this poll looks for leases past their expiry:
// at most once per MaxPollInterval.
func (w *Worker) reclaimDue(now int64) bool {
	last := w.lastReclaim.Load()
	return now-last >= w.cfg.MaxPollInterval.Milliseconds() && w.lastReclaim.CompareAndSwap(last, now)
}

// reclaimExpired takes over up to k of the executions in expired, whose
// leases are past their expiry: their worker died or stopped renewing. With
// no engine scanner running, workers do the scanner's part: mark the lease
// expired (ff_mark_lease_expired_if_due) and, for the executions of this
// worker's lanes, take a reclaim grant and reclaim. Each step is the
// library's to refuse (the lease was renewed after all, another worker was
// granted it first, a capability is missing, the reclaim cap is reached),
// and a refusal skips the execution. The caller holds the k permits.
func (w *Worker) reclaimExpired(ctx context.Context, expired []keyspace.ExecutionID, k int) []*Task {
	if len(expired) == 0 || k <= 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	expired = w.unskipped(expired, now)
	if len(expired) == 0 {
		return nil
	}
	expired = expired[:min(len(expired), reclaimBatch)]
	cmds := make(valkey.Commands, 0, 2*len(expired))
	for _, id := range expired {
		ek := keyspace.ExecKeys(id)
		mark, err := fcall.Build(ffscripts.FnMarkLeaseExpiredIfDue, ffscripts.MarkLeaseExpiredIfDueCmd, w.db,
			ffscripts.MarkLeaseExpiredIfDueKeys{ExecCore: ek.Core(), LeaseCurrent: ek.LeaseCurrent(),
				LeaseExpiry: id.Partition().LeaseExpiry(), LeaseHistory: ek.LeaseHistory()},
			ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: id.String()})
		if err != nil {
			return nil
		}
		cmds = append(cmds, mark, w.db.B().Hget().Key(ek.Core()).Field("lane_id").Build())
	}
	res := w.db.DoMulti(ctx, cmds...)
	var tasks []*Task
	for i, id := range expired {
		if len(tasks) == k {
			break
		}
		m, err := ffscripts.ParseMarkLeaseExpiredIfDue(res[2*i])
		if err != nil {
			w.cfg.Logger.Debug("marking an expired lease failed", "execution_id", id, "err", err)
			w.skip(id, now)
			continue
		}
		switch m.Result {
		case "marked_expired", "already_expired", "already_revoked":
		default:
			w.skip(id, now) // renewed after all (a clock ahead of the server's)
			continue
		}
		lane, err := res[2*i+1].ToString()
		if err != nil || w.lanes[lane] == nil {
			w.skip(id, now) // gone, or another lane's: its workers reclaim it
			continue
		}
		if err := w.IssueReclaimGrant(ctx, lane, id); err != nil {
			// Another worker was granted it, or it needs a capability this
			// worker lacks.
			w.cfg.Logger.Debug("reclaim grant refused", "execution_id", id, "err", err)
			w.skip(id, now)
			continue
		}
		t, err := w.reclaim(ctx, lane, id)
		if err != nil {
			w.cfg.Logger.Warn("reclaiming an execution whose lease expired failed", "execution_id", id, "err", err)
			w.skip(id, now)
			continue
		}
		w.cfg.Logger.Info("reclaimed an execution whose lease expired", "execution_id", id, "lane", lane)
		tasks = append(tasks, t)
	}
	return tasks
}

// unskipped drops from ids those a scan could not take lately.
func (w *Worker) unskipped(ids []keyspace.ExecutionID, now int64) []keyspace.ExecutionID {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	return slices.DeleteFunc(ids, func(id keyspace.ExecutionID) bool { return w.skipped[id] > now })
}

// scanOffset is where the next read of p's lease_expiry set starts.
func (w *Worker) scanOffset(p keyspace.Partition) int64 {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	return w.scanFrom[p]
}

// scanned records that a read of p's lease_expiry set returned n members: a
// full page moves the next read on to the next page, a short one back to the
// start, so a set longer than a page (another lane's dead executions) does
// not hide what lies past its first page.
func (w *Worker) scanned(p keyspace.Partition, n int) {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	if n < reclaimScan {
		delete(w.scanFrom, p)
		return
	}
	if w.scanFrom == nil {
		w.scanFrom = map[keyspace.Partition]int64{}
	}
	w.scanFrom[p] += int64(n)
}

// skip makes scans pass over id for skipFor.
func (w *Worker) skip(id keyspace.ExecutionID, now int64) {
	w.scanMu.Lock()
	defer w.scanMu.Unlock()
	if w.skipped == nil {
		w.skipped = map[keyspace.ExecutionID]int64{}
	}
	if len(w.skipped) >= 4096 {
		maps.DeleteFunc(w.skipped, func(_ keyspace.ExecutionID, until int64) bool { return until <= now })
		if len(w.skipped) >= 4096 {
			clear(w.skipped) // a bound on memory; they are read again
		}
	}
	w.skipped[id] = now + skipFor.Milliseconds()
}

// ClaimFromReclaimGrant takes over execution id, whose previous lease expired
// or was revoked, with a reclaim grant (ff_issue_reclaim_grant) issued to this
// worker: the interrupted attempt ends and a new attempt of type "reclaim"
// starts under this worker's lease (ff_reclaim_execution). The concurrency
// permit is taken first, as in ClaimFromGrant. At the execution's reclaim cap
// the library fails it terminally and the error matches
// ffscripts.ErrMaxRetriesExhausted.
func (w *Worker) ClaimFromReclaimGrant(ctx context.Context, lane string, id keyspace.ExecutionID) (*Task, error) {
	return w.withPermit(id, func() (*Task, error) { return w.reclaim(ctx, lane, id) })
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
