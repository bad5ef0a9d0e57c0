package worker

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/keyspace"
)

// hour is a poll back-off no test waits out: a handler that runs after an
// empty poll was brought in by a wake-up message.
const hour = time.Hour

// idle returns worker options whose Run, once a poll found nothing, polls
// again only when woken.
func idle(o *Options) {
	o.PollInterval = hour
	o.MaxPollInterval = hour
}

// await receives from ch, failing the test if nothing comes within a generous
// bound (a guard against hanging, not a timing assertion: without the
// mechanism under test the wait would be an hour).
func await[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

// subscribers returns how many connections subscribe to channel, summed over
// the nodes (PUBSUB NUMSUB is per node on a cluster).
func subscribers(t *testing.T, db valkey.Client, channel string) int64 {
	t.Helper()
	var n int64
	for addr, node := range db.Nodes() {
		v, err := node.Do(context.Background(), node.B().PubsubNumsub().Channel(channel).Build()).ToArray()
		if err != nil || len(v) != 2 {
			t.Fatalf("PUBSUB NUMSUB on %s: %v %v", addr, v, err)
		}
		c, err := v[1].AsInt64()
		if err != nil {
			t.Fatalf("PUBSUB NUMSUB on %s: %v", addr, err)
		}
		n += c
	}
	return n
}

// TestRunWakesOnRemoteResume: a signal delivered by another client (so no
// local Wake) resumes the handler of an idle Run loop through the wake-up
// channel.
func TestRunWakesOnRemoteResume(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		f.ensureSecret()
		id := f.create(CreateOptions{Kind: "wait"})
		w := f.connect(idle)

		suspended := make(chan Waitpoint, 1)
		resumed := make(chan string, 1)
		handler := func(ctx context.Context, task *Task) error {
			if task.AttemptType == "resumed" {
				resumed <- task.ID.String()
				return nil
			}
			s, err := task.Suspend(ctx, SuspendOptions{Condition: signalAny("go")})
			if err != nil {
				return err
			}
			suspended <- s.Waitpoint
			return nil
		}
		runUntil(t, w, handler, func() {
			wp := await(t, "the first attempt to suspend", suspended)
			if _, err := f.client.DeliverSignal(context.Background(), id, wp.ID, Signal{Name: "go", Token: wp.Token}); err != nil {
				t.Fatalf("DeliverSignal: %v", err)
			}
			if got := await(t, "the resumed handler (poll interval 1h)", resumed); got != id.String() {
				t.Fatalf("resumed %s, want %s", got, id)
			}
		})
	})
}

// TestRunClaimsWhereTheWakeUpPoints: an execution in a partition that the
// woken poll does not look at is still claimed, in one call, in the partition
// its wake-up message names.
func TestRunClaimsWhereTheWakeUpPoints(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		w := f.connect(idle) // PartitionWindow 1: a poll sees the lane's partition and one more
		n := uint64(w.parts.NumFlowPartitions)
		// Half the partitions ahead of the rolling window: the few polls of this
		// test never reach it.
		far := keyspace.Partition((w.lanes[f.lane].cursor.Load() + n/2) % n)
		if far == w.parts.LanePartition(f.lane) {
			far = keyspace.Partition((uint64(far) + 1) % n)
		}

		ran := make(chan string, 1)
		runUntil(t, w, func(ctx context.Context, task *Task) error {
			ran <- task.ID.String()
			return nil
		}, func() {
			id := f.create(CreateOptions{ID: keyspace.NewExecutionID(far)})
			if got := await(t, "the handler (poll interval 1h)", ran); got != id.String() {
				t.Fatalf("ran %s, want %s", got, id)
			}
		})
	})
}

// TestWakeupSubscription: Connect subscribes once per worker (one dedicated
// connection, one channel per lane) unless PollOnly; Close unsubscribes and
// ends the subscription's goroutine.
func TestWakeupSubscription(t *testing.T) {
	tests := []struct {
		name     string
		pollOnly bool
		want     int64 // subscribers of each lane's channel while connected
	}{
		{"default", false, 1},
		{"poll only", true, 0},
	}
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := newFixture(t, db)
				other := "lane2-" + f.lane
				w, err := Connect(context.Background(), db, f.options(func(o *Options) {
					o.PollOnly = tt.pollOnly
					o.Lanes = []string{f.lane, other}
				}))
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				channels := []string{keyspace.WakeChannel(f.lane), keyspace.WakeChannel(other)}
				count := func() []int64 {
					var out []int64
					for _, ch := range channels {
						out = append(out, subscribers(t, db, ch))
					}
					return out
				}
				if diff := cmp.Diff([]int64{tt.want, tt.want}, count()); diff != "" {
					t.Fatalf("subscribers after Connect (-want +got):\n%s", diff)
				}
				if err := w.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if w.wakeDone != nil {
					select {
					case <-w.wakeDone:
					default:
						t.Fatal("the subscription goroutine is still running after Close")
					}
				}
				waitFor(t, "the subscription to end on the server", func() bool {
					return cmp.Equal([]int64{0, 0}, count())
				})
			})
		}
	})
}

// TestOnWake: every message on a subscribed channel wakes Run; only an
// execution id of this deployment becomes a hint, and a pending hint is kept.
func TestOnWake(t *testing.T) {
	parts := keyspace.DefaultPartitionConfig()
	in := keyspace.NewExecutionID(3)
	tests := []struct {
		name     string
		msgs     []valkey.PubSubMessage
		wantWake bool
		wantHint *wakeHint
	}{
		{"execution id", []valkey.PubSubMessage{{Channel: "ff:wake:a", Message: in.String()}},
			true, &wakeHint{lane: "a", id: in}},
		{"first hint is kept", []valkey.PubSubMessage{
			{Channel: "ff:wake:a", Message: in.String()},
			{Channel: "ff:wake:a", Message: keyspace.NewExecutionID(4).String()}},
			true, &wakeHint{lane: "a", id: in}},
		{"not an id", []valkey.PubSubMessage{{Channel: "ff:wake:a", Message: "hello"}}, true, nil},
		{"partition out of range", []valkey.PubSubMessage{
			{Channel: "ff:wake:a", Message: keyspace.NewExecutionID(9999).String()}}, true, nil},
		{"other channel", []valkey.PubSubMessage{{Channel: "ff:wake:b", Message: in.String()}}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &Worker{cfg: config{Options: Options{Logger: testLogger()}}, parts: parts,
				wake: make(chan struct{}, 1), hints: make(chan wakeHint, 1),
				wakeLanes: map[string]string{"ff:wake:a": "a"}}
			for _, m := range tt.msgs {
				w.onWake(m)
			}
			woken := len(w.wake) == 1
			var hint *wakeHint
			if h, ok := w.takeHint(); ok {
				hint = &h
			}
			if woken != tt.wantWake {
				t.Errorf("woken = %v, want %v", woken, tt.wantWake)
			}
			if diff := cmp.Diff(tt.wantHint, hint, cmp.AllowUnexported(wakeHint{}, keyspace.ExecutionID{})); diff != "" {
				t.Errorf("hint (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCloseLeavesNoGoroutines: a worker that subscribed and ran leaves no
// goroutine behind once it, its valkey client and the server are closed.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	srv, err := embedded.New()
	if err != nil {
		t.Fatalf("embedded.New: %v", err)
	}
	db, err := valkey.NewClient(srv.ClientOption())
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	f := newFixture(t, db)
	id := f.create(CreateOptions{})
	w := f.connect(idle)
	ran := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(ctx context.Context, task *Task) error {
			ran <- task.ID.String()
			return nil
		})
	}()
	if got := await(t, "the handler", ran); got != id.String() {
		t.Fatalf("ran %s, want %s", got, id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	db.Close()
	srv.Close()
	waitFor(t, "the goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestWakeupReachesEveryNode: a wake-up published by a function on the node
// that owns the execution's slot reaches a subscriber on every node (plain
// PUBLISH is forwarded over the cluster bus), so the worker may subscribe
// through any node.
func TestWakeupReachesEveryNode(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		f := newFixture(t, db)
		ch := keyspace.WakeChannel(f.lane)
		got := map[string]chan string{}
		for addr, node := range db.Nodes() {
			msgs := make(chan string, 1)
			got[addr] = msgs
			ready := make(chan struct{})
			ctx, cancel := context.WithCancel(context.Background())
			ctx = valkey.WithOnSubscriptionHook(ctx, func(s valkey.PubSubSubscription) {
				if s.Kind == "subscribe" {
					close(ready)
				}
			})
			conn, release := node.Dedicate()
			done := make(chan error, 1)
			go func() {
				done <- conn.Receive(ctx, conn.B().Subscribe().Channel(ch).Build(), func(m valkey.PubSubMessage) {
					select {
					case msgs <- m.Message:
					default:
					}
				})
			}()
			t.Cleanup(func() {
				cancel()
				<-done
				release()
			})
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("SUBSCRIBE via %s: %v", addr, err)
			}
		}
		id := f.create(CreateOptions{})
		for addr, msgs := range got {
			if m := await(t, "the wake-up via "+addr, msgs); m != id.String() {
				t.Errorf("via %s: got %q, want %q", addr, m, id)
			}
		}
	})
}
