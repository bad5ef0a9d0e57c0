package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/keyspace"
	"github.com/valkey-io/valkey-go"
)

// slowPipelines is a client whose pipelines (the worker's claims and peeks)
// each take at least delay, as over a slow link; it records how many were in
// flight at once. Single commands (Complete) are not slowed.
type slowPipelines struct {
	valkey.Client
	delay          time.Duration
	calls          atomic.Int64
	inFlight, most atomic.Int64
}

func (c *slowPipelines) DoMulti(ctx context.Context, cmds ...valkey.Completed) []valkey.ValkeyResult {
	c.calls.Add(1)
	n := c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	time.Sleep(c.delay)
	return c.Client.DoMulti(ctx, cmds...)
}

// TestRunClaimsBesideHandlers: while claims come back full, Run keeps a second
// claim in flight beside the first (with one claim loop, the server is asked
// for nothing while the loop waits for its round trip).
func TestRunClaimsBesideHandlers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		var ids []keyspace.ExecutionID
		for range 120 {
			ids = append(ids, f.create(CreateOptions{}))
		}
		slow := &slowPipelines{Client: db, delay: 20 * time.Millisecond}
		w, err := Connect(context.Background(), slow, f.options(func(o *Options) { o.MaxConcurrentTasks = 4 }))
		must(t, err, "Connect")
		defer w.Close(context.Background())
		var done atomic.Int64
		runUntil(t, w, func(context.Context, *Task) error { done.Add(1); return nil }, func() {
			waitFor(t, "every execution to be handled", func() bool { return done.Load() == int64(len(ids)) })
		})
		if m := slow.most.Load(); m < 2 {
			t.Fatalf("at most %d claim pipelines were in flight at once, want 2", m)
		}
		if m := slow.most.Load(); m > 2 {
			t.Fatalf("%d claim pipelines were in flight at once, want at most 2 (two loops)", m)
		}
		for _, id := range ids {
			if s := f.state(id).PublicState; s != "completed" {
				t.Fatalf("%s is %s, want completed", id, s)
			}
		}
	})
}

// TestRunIdlePollsFromOneLoop: an idle worker polls from its first loop only;
// the second claims only after a full claim. One loop polls twice: at start,
// and once more for the wake-up subscription's Wake when it is subscribed
// (messages sent before may have been missed).
func TestRunIdlePollsFromOneLoop(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		slow := &slowPipelines{Client: db}
		w, err := Connect(context.Background(), slow, f.options(idle))
		must(t, err, "Connect")
		defer w.Close(context.Background())
		base := slow.calls.Load()
		runUntil(t, w, func(context.Context, *Task) error { return nil }, func() {
			waitFor(t, "the first poll", func() bool { return slow.calls.Load() > base })
			time.Sleep(100 * time.Millisecond) // room for other polls, if there were any
		})
		if n := slow.calls.Load() - base; n != 2 {
			t.Fatalf("an idle Run made %d polls with an hour's back-off, want 2", n)
		}
	})
}
