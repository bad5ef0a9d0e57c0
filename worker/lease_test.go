package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeytest"
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
// second worker reclaims the execution through the explicit calls (a
// scheduler's), and the first one's late Complete is refused as stale and
// cancels its task context. TestRunReclaimsExpiredLeases is the same without
// the explicit calls.
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

// TestRunReclaimsExpiredLeases: with no scanner running, another worker's
// Run finds a lease past its expiry, marks it expired and reclaims the
// execution (attempt type "reclaim"), and the first worker's late Complete is
// refused. An execution of a lane the worker does not serve is marked but
// left to that lane's workers.
func TestRunReclaimsExpiredLeases(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		other := newFixture(t, db) // another lane
		id := f.create(CreateOptions{Payload: []byte("work")})
		foreign := other.create(CreateOptions{})
		short := func(o *Options) {
			o.LeaseTTL = 200 * time.Millisecond
			o.MaxPollInterval = 50 * time.Millisecond
			o.PartitionWindow = 1 << 16 // every scan reads every partition
		}
		dead := f.connect(short)
		frozen := claim(t, dead)
		frozen.renewPaused.Store(true) // the process stops, without any cleanup
		otherDead := other.connect(short)
		otherFrozen := claim(t, otherDead)
		otherFrozen.renewPaused.Store(true)

		w := f.connect(short)
		got := make(chan string, 1)
		runUntil(t, w, func(ctx context.Context, task *Task) error {
			got <- fmt.Sprintf("%s %s #%d %s", task.ID, task.AttemptType, task.AttemptIndex, task.Payload)
			return nil
		}, func() {
			want := fmt.Sprintf("%s reclaim #1 work", id)
			if g := await(t, "the reclaimed execution's handler", got); g != want {
				t.Fatalf("handled %q, want %q", g, want)
			}
			waitFor(t, "the reclaimed execution to complete", func() bool { return f.state(id).PublicState == "completed" })
			waitFor(t, "the other lane's lease to be marked expired", func() bool {
				return other.state(foreign).OwnershipState == "lease_expired_reclaimable"
			})
		})
		// The reclaimed attempt completed: the late call finds it terminal.
		if err := frozen.Complete(ctx, nil); !errors.Is(err, ffscripts.ErrExecutionNotActive) {
			t.Fatalf("late Complete of the dead worker: %v, want ErrExecutionNotActive", err)
		}
		if s := f.state(id); s.Reclaims != 1 || s.Attempts != 2 {
			t.Fatalf("state %+v, want 2 attempts and 1 reclaim", s)
		}
		if s := other.state(foreign); s.PublicState != "active" || s.Reclaims != 0 {
			t.Fatalf("the other lane's execution: %+v, want still active, not reclaimed here", s)
		}
	})
}

// TestReclaimScanSkipsOtherLanes: an execution of another lane whose lease ran
// out is read (its lane) once, then skipped by later scans instead of costing
// every scan a round trip. On the embedded engine, where no other test leaves
// expired leases behind.
func TestReclaimScanSkipsOtherLanes(t *testing.T) {
	db := connectEmbedded(t)
	ctx := context.Background()
	f, other := newFixture(t, db), newFixture(t, db)
	other.create(CreateOptions{})
	short := func(o *Options) {
		o.LeaseTTL = 100 * time.Millisecond
		o.PollInterval = 10 * time.Millisecond
		o.MaxPollInterval = 10 * time.Millisecond
		o.PartitionWindow = 1 << 16 // every scan reads every partition
	}
	claim(t, other.connect(short)).renewPaused.Store(true) // its worker dies
	counting := valkeytest.Counting(db)
	w, err := Connect(ctx, counting, f.options(short))
	must(t, err, "Connect")
	defer w.Close(ctx)
	var reads int
	runUntil(t, w, func(context.Context, *Task) error { return nil }, func() {
		waitFor(t, "a scan to read the other lane's execution", func() bool { return counting.Count("HGET") > 0 })
		reads = counting.Count("HGET")
		time.Sleep(100 * time.Millisecond) // about ten more scans
	})
	if n := counting.Count("HGET"); n != reads {
		t.Fatalf("later scans read the other lane's execution %d more times, want 0", n-reads)
	}
}

// TestReclaimScanPagesPastOtherLanes: a partition whose lease_expiry set
// starts with more of another lane's dead executions than one read returns
// (reclaimScan) does not hide this lane's: later scans read the next page.
func TestReclaimScanPagesPastOtherLanes(t *testing.T) {
	db := connectEmbedded(t)
	f, other := newFixture(t, db), newFixture(t, db)
	short := func(o *Options) {
		o.LeaseTTL = 100 * time.Millisecond
		o.PollInterval = 10 * time.Millisecond
		o.MaxPollInterval = 10 * time.Millisecond
		o.PartitionWindow = 1 << 16
		o.MaxConcurrentTasks = 64
	}
	dead := other.connect(short)
	p := dead.PartitionConfig().LanePartition(f.lane) // where this lane's execution lives
	for range reclaimScan + 8 {
		other.create(CreateOptions{ID: keyspace.NewExecutionID(p)})
		claim(t, dead).renewPaused.Store(true)
	}
	mine := f.create(CreateOptions{})
	if mine.Partition() != p {
		t.Fatalf("the lane's execution is in %v, want %v", mine.Partition(), p)
	}
	time.Sleep(5 * time.Millisecond) // its lease expires after the others'
	claim(t, f.connect(short)).renewPaused.Store(true)

	w := f.connect(short)
	got := make(chan keyspace.ExecutionID, 1)
	runUntil(t, w, func(_ context.Context, task *Task) error { got <- task.ID; return nil }, func() {
		if id := await(t, "the lane's execution to be reclaimed", got); id != mine {
			t.Fatalf("reclaimed %s, want %s", id, mine)
		}
	})
}
