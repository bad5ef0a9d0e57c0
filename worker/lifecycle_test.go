package worker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
)

// notUTF8 is a payload that a lossy UTF-8 conversion would change.
var notUTF8 = []byte{0xff, 0x00, 0xfe, 'o', 'k', 0xc3}

func TestLifecycle(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{Kind: "resize", Payload: notUTF8, Tags: map[string]string{"owner": "ann"}})
		w := f.connect(nil)

		task := claim(t, w)
		got := struct {
			ID                    string
			Namespace, Lane, Kind string
			Payload               []byte
			Tags                  map[string]string
			AttemptIndex          uint32
			AttemptType           string
			LeaseEpoch            int64
		}{task.ID.String(), task.Namespace, task.Lane, task.Kind, task.Payload, task.Tags, task.AttemptIndex, task.AttemptType, task.LeaseEpoch}
		want := got
		want.ID, want.Namespace, want.Lane, want.Kind, want.Payload = id.String(), f.ns, f.lane, "resize", notUTF8
		want.Tags, want.AttemptIndex, want.AttemptType, want.LeaseEpoch = map[string]string{"owner": "ann"}, 0, "initial", 1
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("claimed task (-want +got):\n%s", diff)
		}
		if w.Running() != 1 {
			t.Fatalf("Running = %d, want 1", w.Running())
		}

		must(t, task.UpdateProgress(ctx, 50, "half"), "UpdateProgress")
		if _, err := task.AppendFrame(ctx, Frame{Type: "log", Payload: notUTF8}); err != nil {
			t.Fatalf("AppendFrame: %v", err)
		}
		must(t, task.SetTags(ctx, map[string]string{"app.stage": "done"}), "SetTags")
		result := append([]byte("result:"), notUTF8...)
		must(t, task.Complete(ctx, result), "Complete")

		if !task.Done() || w.Running() != 0 {
			t.Fatalf("after Complete: Done=%t Running=%d, want true 0", task.Done(), w.Running())
		}
		if cause := context.Cause(task.Context()); !errors.Is(cause, errCompleted) {
			t.Fatalf("task context cause = %v, want errCompleted", cause)
		}
		if err := task.Complete(ctx, nil); !errors.Is(err, ErrTaskDone) {
			t.Fatalf("second Complete: %v, want ErrTaskDone", err)
		}
		s := f.state(id)
		if s.PublicState != "completed" || s.ProgressPct != "50" || s.ProgressMessage != "half" || s.Attempts != 1 {
			t.Fatalf("state = %+v, want completed, progress 50/half, 1 attempt", s)
		}
		res, err := f.client.Result(ctx, id)
		must(t, err, "Result")
		if diff := cmp.Diff(result, res); diff != "" {
			t.Fatalf("result (-want +got):\n%s", diff)
		}
		if _, err := w.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("ClaimNext on an empty lane: %v, want ErrNoTask", err)
		}
	})
}

func TestFailRetryThenTerminal(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{Retry: &RetryPolicy{MaxRetries: 1}})
		w := f.connect(nil)

		task := claim(t, w)
		out, err := task.Fail(ctx, "flaky", FailOptions{Category: "io"})
		must(t, err, "Fail")
		if !out.Retry {
			t.Fatalf("first Fail = %+v, want a retry", out)
		}
		if s := f.state(id); s.PublicState != "delayed" || s.Retries != 1 {
			t.Fatalf("after retryable Fail: %+v, want delayed with 1 retry", s)
		}
		// The poll promotes the retry once its back-off is over.
		var retry *Task
		waitFor(t, "the retry to be claimable", func() bool {
			retry, err = w.ClaimNext(ctx)
			if err != nil && !errors.Is(err, ErrNoTask) {
				t.Fatalf("ClaimNext: %v", err)
			}
			return err == nil
		})
		if retry.AttemptType != "retry" || retry.AttemptIndex != 1 {
			t.Fatalf("retry attempt = %s #%d, want retry #1", retry.AttemptType, retry.AttemptIndex)
		}
		out, err = retry.Fail(ctx, "still flaky", FailOptions{})
		must(t, err, "second Fail")
		if out.Retry {
			t.Fatalf("second Fail = %+v, want terminal (retries used up)", out)
		}
		if s := f.state(id); s.PublicState != "failed" || s.FailureReason != "still flaky" {
			t.Fatalf("final state %+v, want failed with the last reason", s)
		}
	})
}

func TestFailTerminalIgnoresRetryPolicy(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{Retry: &RetryPolicy{MaxRetries: 5}})
		w := f.connect(nil)
		out, err := claim(t, w).Fail(ctx, "bad input", FailOptions{Terminal: true})
		must(t, err, "Fail")
		if out.Retry || f.state(id).PublicState != "failed" {
			t.Fatalf("terminal Fail: %+v, state %q; want no retry, failed", out, f.state(id).PublicState)
		}
	})
}

func TestCancelAndDelay(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		a := f.create(CreateOptions{Priority: 10})
		b := f.create(CreateOptions{Priority: 1})
		w := f.connect(func(o *Options) { o.MaxConcurrentTasks = 2 })

		ta := claim(t, w)
		if ta.ID != a {
			t.Fatalf("claimed %s first, want the higher-priority %s", ta.ID, a)
		}
		must(t, ta.Cancel(ctx, "not needed"), "Cancel")
		if s := f.state(a); s.PublicState != "cancelled" {
			t.Fatalf("after Cancel: %q, want cancelled", s.PublicState)
		}

		tb := claim(t, w)
		must(t, tb.Delay(ctx, time.Now().Add(-time.Millisecond)), "Delay")
		again := claim(t, w) // due at once: promoted and claimed in the same poll
		if again.ID != b || again.AttemptType != "resumed" || again.AttemptIndex != 0 || again.LeaseEpoch != 2 {
			t.Fatalf("after Delay claimed %s %s #%d epoch %d, want %s resumed #0 epoch 2",
				again.ID, again.AttemptType, again.AttemptIndex, again.LeaseEpoch, b)
		}
		must(t, again.Complete(ctx, nil), "Complete")
	})
}

func TestSuspendSignalResume(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.ensureSecret()
		id := f.create(CreateOptions{Kind: "approval"})
		w := f.connect(nil)

		task := claim(t, w)
		susp, err := task.Suspend(ctx, SuspendOptions{Condition: signal.AnyOf("approve", "reject")})
		must(t, err, "Suspend")
		if susp.AlreadySatisfied || susp.Waitpoint.ID == "" || susp.Waitpoint.Token == "" || !task.Done() {
			t.Fatalf("Suspend = %+v, done %t; want a fresh waitpoint with a token, task ended", susp, task.Done())
		}
		if s := f.state(id); s.PublicState != "suspended" || s.WaitpointID != susp.Waitpoint.ID {
			t.Fatalf("after Suspend: %+v, want suspended on %s", s, susp.Waitpoint.ID)
		}
		if _, err := w.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("ClaimNext while suspended: %v, want ErrNoTask", err)
		}

		bad := Signal{Name: "approve", Token: "k1:" + "0000000000000000000000000000000000000000"}
		if _, err := w.DeliverSignal(ctx, id, susp.Waitpoint.ID, bad); !errors.Is(err, ffscripts.ErrInvalidToken) {
			t.Fatalf("signal with a forged token: %v, want ErrInvalidToken", err)
		}
		out, err := w.DeliverSignal(ctx, id, susp.Waitpoint.ID, Signal{
			Name: "approve", Token: susp.Waitpoint.Token, Payload: notUTF8, IdempotencyKey: "once"})
		must(t, err, "DeliverSignal")
		if !out.Resumed() || out.Duplicate {
			t.Fatalf("DeliverSignal = %+v, want resumed", out)
		}
		payload, err := db.Do(ctx, db.B().Get().Key(id.Partition().SignalPayload(out.SignalID)).Build()).AsBytes()
		must(t, err, "reading the signal payload")
		if diff := cmp.Diff(notUTF8, payload); diff != "" {
			t.Fatalf("stored signal payload (-want +got):\n%s", diff)
		}

		resumed := claim(t, w)
		if resumed.ID != id || resumed.AttemptType != "resumed" || resumed.AttemptIndex != 0 {
			t.Fatalf("resumed claim %s %s #%d, want %s resumed #0", resumed.ID, resumed.AttemptType, resumed.AttemptIndex, id)
		}
		must(t, resumed.Complete(ctx, []byte("approved")), "Complete")
	})
}

func TestPendingWaitpointBuffersEarlySignals(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		f.ensureSecret()
		f.create(CreateOptions{})
		w := f.connect(nil)
		task := claim(t, w)
		wp, err := task.CreatePendingWaitpoint(ctx, "", time.Minute)
		must(t, err, "CreatePendingWaitpoint")
		susp, err := task.Suspend(ctx, SuspendOptions{Condition: signal.AnyOf("go"), Pending: &wp})
		must(t, err, "Suspend on the pending waitpoint")
		if susp.Waitpoint != wp || susp.AlreadySatisfied {
			t.Fatalf("Suspend = %+v, want waitpoint %+v activated", susp, wp)
		}
	})
}

// TestClaimRoundTrips pins what claiming costs on the server: round trips
// (Do or DoMulti calls) and FCALLs, step by step, on one worker.
func TestClaimRoundTrips(t *testing.T) {
	db := valkeytest.Standalone(t)
	ctx := context.Background()
	f := newFixture(t, db)
	f.ensureSecret()
	rt := &roundTrips{Client: valkeytest.Counting(db)}
	counting := rt.Client.(*valkeytest.CountingClient)
	w, err := Connect(ctx, rt, f.options(func(o *Options) { o.PartitionWindow = 32; o.MaxConcurrentTasks = 4 }))
	must(t, err, "Connect")
	defer w.Close(ctx)

	create := func(n int) {
		for range n {
			f.create(CreateOptions{Payload: []byte("x")})
		}
	}
	claimComplete := func() {
		must(t, claim(t, w).Complete(ctx, nil), "Complete")
	}
	idle := func() {
		if _, err := w.ClaimNext(ctx); !errors.Is(err, ErrNoTask) {
			t.Fatalf("idle ClaimNext: %v, want ErrNoTask", err)
		}
	}
	// batch claims k at once, as Run does with k free permits, and completes them.
	batch := func(k int) func() {
		return func() {
			for range k {
				w.acquire()
			}
			tasks, err := w.claimUpTo(ctx, k)
			must(t, err, "claimUpTo(%d)", k)
			if len(tasks) != k {
				t.Fatalf("claimUpTo(%d) claimed %d", k, len(tasks))
			}
			for _, task := range tasks {
				must(t, task.Complete(ctx, nil), "Complete")
			}
		}
	}
	var wp Waitpoint
	var id keyspace.ExecutionID
	suspend := func() {
		task := claim(t, w)
		s, err := task.Suspend(ctx, SuspendOptions{Condition: signal.AnyOf("go")})
		must(t, err, "Suspend")
		wp, id = s.Waitpoint, task.ID
	}
	deliver := func(lane string) func() {
		return func() {
			out, err := w.DeliverSignal(ctx, id, wp.ID, Signal{Name: "go", Token: wp.Token, Lane: lane})
			must(t, err, "DeliverSignal")
			if !out.Resumed() {
				t.Fatalf("DeliverSignal = %+v, want resumed", out)
			}
		}
	}

	other := f.connect(nil) // a worker that takes work away, on its own uncounted client
	takeAway := func() { must(t, claim(t, other).Complete(ctx, nil), "other worker") }

	steps := []struct {
		name  string
		setup func()
		run   func()
		want  cost
	}{
		{"idle poll: the window's heads, pipelined", nil, idle, cost{1, 0}},
		{"first claim: peek, claim; complete", func() { create(3) }, claimComplete, cost{3, 2}},
		{"claim where the last one was (+ ZCARD); complete", nil, claimComplete, cost{2, 2}},
		{"the last one there: ZCARD says none are left", nil, claimComplete, cost{2, 2}},
		{"so an idle poll is one peek", nil, idle, cost{1, 0}},
		{"batch of 4 after a peek: peek, one pipeline of claims; 4 completes", func() { create(4) }, batch(4), cost{6, 8}},
		{"batch of 4 where the last ones were", func() { create(5) }, batch(4), cost{5, 8}},
		{"suspend the one left there (claim, suspend)", nil, suspend, cost{2, 2}},
		{"deliver a signal with the waitpoint's lane", nil, deliver(f.lane), cost{1, 1}},
		{"resumed claim after a peek; complete", nil, claimComplete, cost{3, 2}},
		{"suspend where the last claim was", func() { create(1) }, suspend, cost{2, 2}},
		{"deliver a signal without the lane: read it first", nil, deliver(""), cost{2, 1}},
		{"resumed claim after a peek; complete (1 left)", func() { create(1) }, claimComplete, cost{3, 2}},
		{"another worker took the rest: claim refused, then peek", takeAway, idle, cost{2, 1}},
	}
	for _, s := range steps {
		if s.setup != nil {
			s.setup()
		}
		if diff := cmp.Diff(s.want, measure(rt, counting, s.run), cmp.AllowUnexported(cost{})); diff != "" {
			t.Errorf("%s: cost (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestStickyClaimsStayFair: claims stick to the partition that last had work,
// but never more than stickyPolls+1 polls in a row while another partition
// of the window has work too.
func TestStickyClaimsStayFair(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		w := f.connect(func(o *Options) { o.PartitionWindow = int(keyspace.DefaultFlowPartitions) })
		solo := w.parts.LanePartition(f.lane)
		far := keyspace.Partition((uint64(solo) + uint64(w.parts.NumFlowPartitions)/2) % uint64(w.parts.NumFlowPartitions))
		for range 2 * stickyPolls {
			f.create(CreateOptions{})
		}
		other := f.create(CreateOptions{ID: keyspace.NewExecutionID(far)})
		var got int
		for i := 1; got == 0 && i <= 2*stickyPolls; i++ {
			task := claim(t, w)
			if task.ID == other {
				got = i
			}
			must(t, task.Complete(ctx, nil), "Complete")
		}
		// The first poll peeks and claims in the lane's partition, stickyPolls
		// more claim there alone, the next one peeks alongside and hands over.
		if want := stickyPolls + 3; got != want {
			t.Fatalf("the other partition's execution was claim %d, want %d", got, want)
		}
	})
}

// TestClaimWithoutClaimNext runs the contract path (grant + claim) a server
// without the ff_claim_next extension needs, and checks it costs 2 round trips.
func TestClaimWithoutClaimNext(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		id := f.create(CreateOptions{Payload: notUTF8, Tags: map[string]string{"a": "1"}})
		rt := &roundTrips{Client: valkeytest.Counting(db)}
		w, err := Connect(ctx, withoutClaimNext(rt), f.options(nil))
		must(t, err, "Connect")
		defer w.Close(ctx)

		first := measure(rt, rt.Client.(*valkeytest.CountingClient), func() {
			task := claim(t, w) // learns that ff_claim_next is missing
			if task.ID != id || string(task.Payload) != string(notUTF8) || task.Tags["a"] != "1" || task.AttemptType != "initial" {
				t.Fatalf("claimed %+v, want %s with its payload and tags", task, id)
			}
			must(t, task.Complete(ctx, nil), "Complete")
		})
		if !w.noClaimNext.Load() {
			t.Fatalf("worker did not switch to grant + claim")
		}
		f.create(CreateOptions{})
		var task *Task
		later := measure(rt, rt.Client.(*valkeytest.CountingClient), func() { task = claim(t, w) })
		// First: peek, the refused ff_claim_next, grant+claim, Complete. Later: peek, grant+claim.
		want := []cost{{roundTrips: 4, fcalls: 4}, {roundTrips: 2, fcalls: 2}}
		if diff := cmp.Diff(want, []cost{first, later}, cmp.AllowUnexported(cost{})); diff != "" {
			t.Fatalf("costs of the first and a later claim (-want +got):\n%s", diff)
		}
		must(t, task.Complete(ctx, nil), "Complete")
	})
}

type cost struct{ roundTrips, fcalls int }

func measure(rt *roundTrips, c *valkeytest.CountingClient, f func()) cost {
	n0, f0 := rt.n.Load(), c.Count("FCALL")
	f()
	return cost{roundTrips: int(rt.n.Load() - n0), fcalls: c.Count("FCALL") - f0}
}

// TestPromotesDelayedOfOthers: an execution another client created with a
// delay is promoted and claimed once due, also while the worker's polls claim
// straight in its partition (the promotion runs on its timer, not only on a
// peek).
func TestPromotesDelayedOfOthers(t *testing.T) {
	forEachTarget(t, func(t *testing.T, db valkey.Client) {
		ctx := context.Background()
		f := newFixture(t, db)
		w := f.connect(nil)
		delayed := f.create(CreateOptions{Kind: "later", DelayUntil: time.Now().Add(50 * time.Millisecond)})
		f.create(CreateOptions{})
		waitFor(t, "the delayed execution to be claimed", func() bool {
			task, err := w.ClaimNext(ctx)
			if errors.Is(err, ErrNoTask) {
				return false
			}
			must(t, err, "ClaimNext")
			must(t, task.Complete(ctx, nil), "Complete")
			if task.ID != delayed {
				f.create(CreateOptions{}) // keep the lane's partition busy
			}
			return task.ID == delayed
		})
	})
}
