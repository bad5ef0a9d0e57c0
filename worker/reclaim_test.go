package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/keyspace"
)

// TestQuietLaneDelayedNotStarved: an execution delayed in a lane that is
// otherwise empty is promoted and run while the worker's other lane is busy,
// not after that lane has drained (one promote timer for the whole worker was
// used up by the busy lane's polls).
func TestQuietLaneDelayedNotStarved(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	const busy = 2000
	for range busy {
		f.create(CreateOptions{})
	}
	quiet := "quiet-" + f.lane
	id := f.create(CreateOptions{Lane: quiet, DelayUntil: time.Now().Add(200 * time.Millisecond)})
	w := f.connect(func(o *Options) {
		o.Lanes = []string{f.lane, quiet}
		o.PartitionWindow = 4
		o.MaxConcurrentTasks = 4
	})
	runsBeforeDrained(t, w, id, busy, 2*time.Millisecond, "the quiet lane's delayed execution")
}

// TestReclaimNotHeldUpByRefused: executions the worker may not reclaim (they
// need a capability it lacks) are passed over by later scans, so they do not
// take the reclaim batch at every scan and hide one it can reclaim.
func TestReclaimNotHeldUpByRefused(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	short := func(o *Options) {
		o.LeaseTTL = 100 * time.Millisecond
		o.PollInterval = 10 * time.Millisecond
		o.MaxPollInterval = 10 * time.Millisecond
		o.PartitionWindow = 1 << 16
		o.MaxConcurrentTasks = 64
	}
	p := keyspace.Partition(7)
	gpu := f.connect(func(o *Options) { short(o); o.Capabilities = []string{"gpu"} })
	for range reclaimBatch {
		f.create(CreateOptions{ID: keyspace.NewExecutionID(p), RequiredCapabilities: []string{"gpu"}})
		claim(t, gpu).renewPaused.Store(true) // the only gpu worker dies
	}
	time.Sleep(5 * time.Millisecond) // the plain one's lease runs out after theirs
	plain := f.create(CreateOptions{ID: keyspace.NewExecutionID(p)})
	claim(t, f.connect(short)).renewPaused.Store(true)

	w := f.connect(short)
	got := make(chan keyspace.ExecutionID, 1)
	runUntil(t, w, func(_ context.Context, task *Task) error { got <- task.ID; return nil }, func() {
		if id := await(t, "the plain execution to be reclaimed", got); id != plain {
			t.Errorf("ran %s, want %s", id, plain)
		}
	})
}

// TestSaturatedWorkerReclaims: a worker whose claims always come back full
// still reclaims: a scan keeps a permit for what it finds, so an execution
// whose worker died does not wait for the backlog to drain.
func TestSaturatedWorkerReclaims(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	short := func(o *Options) {
		o.LeaseTTL = 100 * time.Millisecond
		o.MaxPollInterval = 20 * time.Millisecond
		o.PartitionWindow = 1 << 16
	}
	dead := f.create(CreateOptions{Kind: "dead"})
	claim(t, f.connect(short)).renewPaused.Store(true) // its worker dies
	const backlog = 2000
	for range backlog {
		f.create(CreateOptions{})
	}
	w := f.connect(func(o *Options) { short(o); o.MaxConcurrentTasks = 2 })
	runsBeforeDrained(t, w, dead, backlog, time.Millisecond, "the dead worker's execution to be reclaimed")
}

// runsBeforeDrained runs w over a backlog of n executions, each handled in
// work, and fails unless id runs well before the backlog has drained (an
// ordering, not a timing: without the mechanism under test id runs last).
func runsBeforeDrained(t *testing.T, w *Worker, id keyspace.ExecutionID, n int, work time.Duration, what string) {
	t.Helper()
	var handled atomic.Int64
	got := make(chan int64, 1)
	runUntil(t, w, func(_ context.Context, task *Task) error {
		if task.ID == id {
			got <- handled.Load()
			return nil
		}
		handled.Add(1)
		time.Sleep(work)
		return nil
	}, func() {
		if done := await(t, what, got); done > int64(n)*3/4 {
			t.Errorf("%s: it ran after %d of the %d others, want it well before they drained", what, done, n)
		}
	})
}
