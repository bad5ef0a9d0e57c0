package worker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/keyspace"
)

func TestRun(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		ids := map[string]keyspace.ExecutionID{}
		for _, kind := range []string{"ok", "self", "flaky", "permanent", "panic"} {
			ids[kind] = f.create(CreateOptions{Kind: kind, Retry: &RetryPolicy{MaxRetries: 1}})
		}
		w := f.connect(func(o *Options) { o.MaxConcurrentTasks = 3 })

		var running, most atomic.Int32
		handler := func(ctx context.Context, task *Task) error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			switch task.Kind {
			case "self":
				return task.Complete(ctx, []byte("by hand"))
			case "flaky":
				if task.AttemptIndex == 0 {
					return errors.New("first attempt fails")
				}
			case "permanent":
				return Permanent(errors.New("cannot work"))
			case "panic":
				panic("handler bug")
			}
			return nil
		}
		runUntil(t, w, handler, func() {
			waitFor(t, "every execution to end", func() bool {
				for _, id := range ids {
					if !f.state(id).Terminal() {
						return false
					}
				}
				return true
			})
		})

		got := map[string]string{}
		for kind, id := range ids {
			s := f.state(id)
			got[kind] = fmt.Sprintf("%s attempts=%d", s.PublicState, s.Attempts)
		}
		want := map[string]string{
			"ok":        "completed attempts=1",
			"self":      "completed attempts=1",
			"flaky":     "completed attempts=2",
			"permanent": "failed attempts=1",
			"panic":     "failed attempts=2", // retried once, panicked again
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("outcomes (-want +got):\n%s", diff)
		}
		if res, _ := f.client.Result(context.Background(), ids["self"]); string(res) != "by hand" {
			t.Fatalf("result of the handler's own Complete = %q", res)
		}
		if f.state(ids["panic"]).FailureReason != "panic: handler bug" {
			t.Fatalf("panic failure reason = %q", f.state(ids["panic"]).FailureReason)
		}
		if most.Load() > 3 || w.Running() != 0 {
			t.Fatalf("at most %d handlers ran at once, %d still held; want <= 3 and 0", most.Load(), w.Running())
		}
	})
}

// TestRunShutdownHandsBack: a handler that does not finish within the shutdown
// timeout has its context cancelled and its execution handed back, claimable by
// another worker at once.
func TestRunShutdownHandsBack(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		id := f.create(CreateOptions{})
		w := f.connect(func(o *Options) { o.ShutdownTimeout = 50 * time.Millisecond })
		started := make(chan struct{})
		var cause atomic.Value
		handler := func(ctx context.Context, task *Task) error {
			close(started)
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return ctx.Err()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, handler) }()
		<-started
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		waitFor(t, "the handler to see its context end", func() bool { return cause.Load() != nil })
		if c := cause.Load().(error); !errors.Is(c, errReleased) {
			t.Fatalf("handler context cause %v, want errReleased", c)
		}
		other := f.connect(nil)
		task := claim(t, other)
		if task.ID != id || task.AttemptType != "resumed" {
			t.Fatalf("other worker claimed %s (%s), want %s resumed", task.ID, task.AttemptType, id)
		}
		if err := task.Complete(context.Background(), nil); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	})
}

// TestRunWakesOnLocalResume: a signal that resumes an execution through this
// worker wakes a Run loop that is backing off.
func TestRunWakesOnLocalResume(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	f.ensureSecret()
	id := f.create(CreateOptions{Kind: "wait"})
	w := f.connect(func(o *Options) { o.PollInterval = time.Hour; o.MaxPollInterval = time.Hour })

	suspended := make(chan Waitpoint, 1)
	resumed := make(chan struct{})
	handler := func(ctx context.Context, task *Task) error {
		if task.AttemptType == "resumed" {
			close(resumed)
			return nil
		}
		s, err := task.Suspend(ctx, SuspendOptions{Condition: signalAny("go")})
		if err != nil {
			return err
		}
		suspended <- s.Waitpoint
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx, handler)
	wp := <-suspended
	// With an hour of back-off, only the wake-up can bring the resume in.
	if _, err := w.DeliverSignal(ctx, id, wp.ID, Signal{Name: "go", Token: wp.Token}); err != nil {
		t.Fatalf("DeliverSignal: %v", err)
	}
	<-resumed
}

// TestRunServesEveryLane: a worker with two lanes, one of them empty, drains
// the other over every partition, retries included. Lanes polled in turn
// once shared one rolling window, so each saw every other window only and
// some partitions never; and a poll of the empty lane backed off while the
// other had work.
func TestRunServesEveryLane(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	parts := f.client.PartitionConfig().NumFlowPartitions
	var ids []keyspace.ExecutionID
	for i := range 200 {
		opts := CreateOptions{ID: keyspace.NewExecutionID(keyspace.Partition(i % int(parts))), Kind: "ok",
			Retry: &RetryPolicy{MaxRetries: 1, Delay: time.Millisecond}}
		if i%10 == 0 {
			opts.Kind = "flaky"
		}
		ids = append(ids, f.create(opts))
	}
	w := f.connect(func(o *Options) {
		o.Lanes = []string{"empty-" + f.lane, f.lane}
		o.PartitionWindow = 8
		o.MaxConcurrentTasks = 4
		o.PollInterval = time.Millisecond
		o.MaxPollInterval = 5 * time.Millisecond
	})
	runUntil(t, w, func(_ context.Context, task *Task) error {
		if task.Kind == "flaky" && task.AttemptIndex == 0 {
			return errors.New("first attempt fails")
		}
		return nil
	}, func() {
		waitFor(t, "every execution to complete", func() bool {
			for _, id := range ids {
				if f.state(id).PublicState != "completed" {
					return false
				}
			}
			return true
		})
	})
}

// TestQuietLaneTriedLast: a lane found empty is tried after the worker's
// other lanes until PollInterval has passed, so claims in a busy lane do not
// pay a peek of the empty one every other time.
func TestQuietLaneTriedLast(t *testing.T) {
	db := connectEmbedded(t)
	f := newFixture(t, db)
	for range 6 {
		f.create(CreateOptions{})
	}
	rt := &roundTrips{Client: db}
	w, err := Connect(context.Background(), rt, f.options(func(o *Options) {
		o.Lanes = []string{"empty-" + f.lane, f.lane}
		idle(o) // PollInterval: an hour
	}))
	must(t, err, "Connect")
	defer w.Close(context.Background())
	ctx := context.Background()
	must(t, claim(t, w).Complete(ctx, nil), "Complete") // the empty lane's peek, then the busy lane's
	must(t, claim(t, w).Complete(ctx, nil), "Complete") // sticky in the busy lane
	var n int64
	for range 4 {
		before := rt.n.Load()
		task := claim(t, w)
		n += rt.n.Load() - before
		must(t, task.Complete(ctx, nil), "Complete")
	}
	if n != 4 {
		t.Fatalf("4 claims in the busy lane took %d round trips, want 4 (no peek of the quiet lane)", n)
	}
}
