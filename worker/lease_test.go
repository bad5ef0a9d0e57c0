package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
)

func TestConcurrencyCap(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		for range 3 {
			f.create(CreateOptions{})
		}
		w := f.connect(func(o *Options) { o.MaxConcurrentTasks = 2 })
		a, b := claim(t, w), claim(t, w)
		if _, err := w.ClaimNext(ctx); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("third ClaimNext: %v, want ErrAtCapacity", err)
		}

		// A grant given to a saturated worker must survive: the claim is refused
		// before anything is sent.
		third := f.waitingID(t)
		must(t, f.issueGrant(w, third), "issuing a grant")
		if _, err := w.ClaimFromGrant(ctx, f.lane, third); !errors.Is(err, ErrAtCapacity) {
			t.Fatalf("ClaimFromGrant at capacity: %v, want ErrAtCapacity", err)
		}
		if n, err := db.Do(ctx, db.B().Exists().Key(keyspace.ExecKeys(third).ClaimGrant()).Build()).AsInt64(); err != nil || n != 1 {
			t.Fatalf("grant after a refused ClaimFromGrant: exists=%d err=%v, want it kept", n, err)
		}

		must(t, a.Complete(ctx, nil), "Complete")
		c, err := w.ClaimFromGrant(ctx, f.lane, third)
		must(t, err, "ClaimFromGrant after a permit came back")
		if c.ID != third || w.Running() != 2 {
			t.Fatalf("ClaimFromGrant claimed %s with %d running, want %s and 2", c.ID, w.Running(), third)
		}
		must(t, b.Complete(ctx, nil), "Complete")
		must(t, c.Complete(ctx, nil), "Complete")
	})
}

// waitingID returns the execution at the head of the lane's eligible set.
func (f *fixture) waitingID(t *testing.T) keyspace.ExecutionID {
	t.Helper()
	p := f.client.PartitionConfig().LanePartition(f.lane)
	head, err := f.db.Do(context.Background(), f.db.B().Zrange().Key(p.LaneEligible(f.lane)).Min("0").Max("0").Build()).AsStrSlice()
	if err != nil || len(head) != 1 {
		t.Fatalf("head of %s: %v %v", p.LaneEligible(f.lane), head, err)
	}
	id, err := keyspace.ParseExecutionID(head[0])
	must(t, err, "parsing %q", head[0])
	return id
}

// issueGrant acts as a scheduler granting execution id to worker w.
func (f *fixture) issueGrant(w *Worker, id keyspace.ExecutionID) error {
	k := keyspace.ExecKeys(id)
	_, err := ffscripts.New(f.db).IssueClaimGrant(context.Background(), ffscripts.IssueClaimGrantKeys{
		ExecCore: k.Core(), ClaimGrant: k.ClaimGrant(), LaneEligible: id.Partition().LaneEligible(f.lane),
	}, ffscripts.IssueClaimGrantArgs{ExecutionID: id.String(), WorkerID: w.cfg.WorkerID,
		WorkerInstanceID: w.cfg.InstanceID, LaneID: f.lane, GrantTTLMs: 60000})
	return err
}

// TestRenewalOutlivesTTL holds a task for several lease lengths; only the
// background renewal keeps it.
func TestRenewalOutlivesTTL(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{})
		w := f.connect(func(o *Options) { o.LeaseTTL = 300 * time.Millisecond })
		task := claim(t, w)
		first := task.LeaseExpiresAt()
		time.Sleep(4 * 300 * time.Millisecond)
		if task.Context().Err() != nil {
			t.Fatalf("task context ended: %v", context.Cause(task.Context()))
		}
		if !task.LeaseExpiresAt().After(first) {
			t.Fatalf("lease expiry did not move: %v", first)
		}
		// The server agrees: the lease is not due for expiry.
		r, err := ffscripts.New(db).MarkLeaseExpiredIfDue(ctx, markKeys(id), ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: id.String()})
		must(t, err, "MarkLeaseExpiredIfDue")
		if r.Result == "marked_expired" {
			t.Fatalf("the renewed lease was expired by the scanner")
		}
		must(t, task.Complete(ctx, nil), "Complete after outliving the TTL")
	})
}

func markKeys(id keyspace.ExecutionID) ffscripts.MarkLeaseExpiredIfDueKeys {
	k := keyspace.ExecKeys(id)
	return ffscripts.MarkLeaseExpiredIfDueKeys{ExecCore: k.Core(), LeaseCurrent: k.LeaseCurrent(),
		LeaseExpiry: id.Partition().LeaseExpiry(), LeaseHistory: k.LeaseHistory()}
}

// TestLeaseLossAndReclaim: a worker that stops renewing loses its lease, a
// second worker reclaims the execution, and the first one's late Complete is
// refused as stale and cancels its task context.
func TestLeaseLossAndReclaim(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{Payload: notUTF8})
		short := func(o *Options) { o.LeaseTTL = 200 * time.Millisecond }
		a, b := f.connect(short), f.connect(short)

		frozen := claim(t, a)
		frozen.renewPaused.Store(true) // the process stops, without any cleanup

		fns := ffscripts.New(db)
		waitFor(t, "the lease-expiry scanner to mark the lease expired", func() bool {
			r, err := fns.MarkLeaseExpiredIfDue(ctx, markKeys(id), ffscripts.MarkLeaseExpiredIfDueArgs{ExecutionID: id.String()})
			must(t, err, "MarkLeaseExpiredIfDue")
			return r.Result == "marked_expired" || r.Result == "already_expired"
		})
		if _, err := b.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("ClaimNext of an expired-lease execution: %v, want ErrNoTask (it needs a reclaim)", err)
		}
		must(t, b.IssueReclaimGrant(ctx, f.lane, id), "IssueReclaimGrant")
		taken, err := b.ClaimFromReclaimGrant(ctx, f.lane, id)
		must(t, err, "ClaimFromReclaimGrant")
		if taken.AttemptType != "reclaim" || taken.AttemptIndex != 1 || taken.LeaseEpoch != 2 || string(taken.Payload) != string(notUTF8) {
			t.Fatalf("reclaimed %s #%d epoch %d payload %q, want reclaim #1 epoch 2 with the payload",
				taken.AttemptType, taken.AttemptIndex, taken.LeaseEpoch, taken.Payload)
		}

		if err := frozen.Complete(ctx, []byte("late")); !errors.Is(err, ffscripts.ErrStaleLease) {
			t.Fatalf("late Complete of the first worker: %v, want ErrStaleLease", err)
		}
		if cause := context.Cause(frozen.Context()); !errors.Is(cause, ErrLeaseLost) || a.Running() != 0 {
			t.Fatalf("first worker after the refusal: cause %v, running %d; want ErrLeaseLost, 0", cause, a.Running())
		}
		must(t, taken.Complete(ctx, []byte("ok")), "Complete by the reclaiming worker")
		s := f.state(id)
		if s.PublicState != "completed" || s.Attempts != 2 || s.Reclaims != 1 {
			t.Fatalf("final state %+v, want completed after 2 attempts and 1 reclaim", s)
		}
	})
}

// TestRenewalRefusedCancelsContext: when the server refuses a renewal (here an
// operator revoked the lease) the handler's context is cancelled.
func TestRenewalRefusedCancelsContext(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{})
		w := f.connect(func(o *Options) { o.LeaseTTL = 300 * time.Millisecond })
		task := claim(t, w)
		k := keyspace.ExecKeys(id)
		p := id.Partition()
		_, err := ffscripts.New(db).RevokeLease(ctx, ffscripts.RevokeLeaseKeys{
			ExecCore: k.Core(), LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(),
			LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(w.cfg.InstanceID),
		}, ffscripts.RevokeLeaseArgs{ExecutionID: id.String(), ExpectedLeaseID: task.LeaseID, RevokeReason: "operator"})
		must(t, err, "RevokeLease")
		<-task.Context().Done()
		if cause := context.Cause(task.Context()); !errors.Is(cause, ErrLeaseLost) || !errors.Is(cause, ffscripts.ErrLeaseRevoked) {
			t.Fatalf("cause = %v, want ErrLeaseLost wrapping ErrLeaseRevoked", cause)
		}
		if w.Running() != 0 {
			t.Fatalf("Running = %d after the lease loss, want 0", w.Running())
		}
	})
}

func TestDuplicateInstanceAndRestart(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		opts := f.options(nil)
		first, err := Connect(ctx, db, opts)
		must(t, err, "Connect")
		if _, err := Connect(ctx, db, opts); !errors.Is(err, ErrDuplicateInstance) {
			t.Fatalf("second Connect with the same instance id: %v, want ErrDuplicateInstance", err)
		}
		must(t, first.Close(ctx), "Close")
		again, err := Connect(ctx, db, opts)
		must(t, err, "Connect right after Close")
		must(t, again.Close(ctx), "Close")
		if _, err := again.ClaimNext(ctx); !errors.Is(err, ErrClosed) {
			t.Fatalf("ClaimNext after Close: %v, want ErrClosed", err)
		}
	})
}

// TestAliveKeyRenewed: the alive key outlives its TTL while the worker runs,
// so a duplicate started later is still refused.
func TestAliveKeyRenewed(t *testing.T) {
	db := connectEmbedded(t)
	ctx := context.Background()
	f := newFixture(t, db)
	opts := f.options(func(o *Options) { o.LeaseTTL = 200 * time.Millisecond }) // alive TTL 1s
	w, err := Connect(ctx, db, opts)
	must(t, err, "Connect")
	defer w.Close(ctx)
	time.Sleep(2500 * time.Millisecond)
	if _, err := Connect(ctx, db, opts); !errors.Is(err, ErrDuplicateInstance) {
		t.Fatalf("Connect after 2.5 alive TTLs: %v, want ErrDuplicateInstance", err)
	}
}

func TestCapabilityRegistration(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		w := f.connect(func(o *Options) { o.Capabilities = []string{"gpu", "cuda", "gpu"} })
		caps := keyspace.WorkerCaps(f.ns, w.InstanceID())
		got, err := db.Do(ctx, db.B().Hget().Key(caps).Field("caps_csv").Build()).ToString()
		must(t, err, "HGET %s", caps)
		members, err := db.Do(ctx, db.B().Smembers().Key(keyspace.WorkersIndex(f.ns)).Build()).AsStrSlice()
		must(t, err, "SMEMBERS")
		if got != "cuda,gpu" || len(members) != 1 || members[0] != w.InstanceID() {
			t.Fatalf("advertised %q in index %v, want \"cuda,gpu\" and [%s]", got, members, w.InstanceID())
		}
		must(t, w.Close(ctx), "Close")
		for _, key := range []string{caps, keyspace.WorkerAlive(f.ns, w.InstanceID())} {
			n, err := db.Do(ctx, db.B().Exists().Key(key).Build()).AsInt64()
			must(t, err, "EXISTS %s", key)
			if n != 0 {
				t.Fatalf("%s left after Close", key)
			}
		}
	})
}

func TestCapabilityRouting(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{RequiredCapabilities: []string{"gpu"}})
		plain := f.connect(func(o *Options) { o.Capabilities = []string{"cpu"} })
		if _, err := plain.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("worker without gpu: %v, want ErrNoTask", err)
		}
		if s := f.state(id); s.EligibilityState != "blocked_by_route" || s.BlockingReason != "waiting_for_capable_worker" {
			t.Fatalf("after a mismatch: %s/%s, want blocked_by_route/waiting_for_capable_worker", s.EligibilityState, s.BlockingReason)
		}
		if _, err := plain.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("worker without gpu, again: %v, want ErrNoTask", err)
		}
		gpu := f.connect(func(o *Options) { o.Capabilities = []string{"gpu"} })
		task := claim(t, gpu)
		if task.ID != id {
			t.Fatalf("gpu worker claimed %s, want %s", task.ID, id)
		}
		must(t, task.Complete(ctx, nil), "Complete")
	})
}
