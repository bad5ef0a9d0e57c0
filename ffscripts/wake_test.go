package ffscripts_test

// Pins extension E1 (lua/DEVIATIONS.md): every transition that makes an execution
// claimable publishes its id on the lane's wake-up channel "ff:wake:<lane>", and no
// other transition does. Replies and keys are covered by the contract tests; here only
// the messages are checked.

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/signal"
)

// endOfRow is the last message a row publishes itself; the messages before it are the row's.
const endOfRow = "end-of-row"

// wakeSub is a subscription to one lane's wake-up channel.
type wakeSub struct {
	msgs chan string
	done chan error
}

// subscribeWake subscribes to ff:wake:<lane> on a dedicated connection and returns once
// the server confirmed the subscription. It ends with the test.
func subscribeWake(t *testing.T, db valkey.Client, lane string) *wakeSub {
	t.Helper()
	ch := "ff:wake:" + lane
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	ctx = valkey.WithOnSubscriptionHook(ctx, func(s valkey.PubSubSubscription) {
		if s.Kind == "subscribe" && s.Channel == ch {
			close(ready)
		}
	})
	s := &wakeSub{msgs: make(chan string, 64), done: make(chan error, 1)}
	conn, release := db.Dedicate()
	go func() {
		s.done <- conn.Receive(ctx, conn.B().Subscribe().Channel(ch).Build(), func(m valkey.PubSubMessage) {
			s.msgs <- m.Message
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-s.done
		release()
	})
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("SUBSCRIBE %s: %v", ch, err)
	}
	return s
}

// until publishes endOfRow through the node that serves the partition of f (so it
// follows the functions' own messages on a cluster too) and returns every message
// received before it.
func (s *wakeSub) until(t *testing.T, f *fx) []string {
	t.Helper()
	pub := f.db.B().Eval().Script("return redis.call('PUBLISH', ARGV[1], ARGV[2])").
		Numkeys(1).Key("ff:wake-test:"+f.tag).Arg("ff:wake:"+f.lane, endOfRow).Build()
	if err := f.do(pub).Error(); err != nil {
		t.Fatalf("PUBLISH %s: %v", endOfRow, err)
	}
	var got []string
	for m := range s.msgs {
		if m == endOfRow {
			return got
		}
		got = append(got, m)
	}
	return got
}

func TestWakeChannel(t *testing.T) {
	policy := func(delayMs string) string {
		return `{"max_retries":1,"backoff":{"type":"fixed","delay_ms":` + delayMs + `}}`
	}
	// suspended runs an execution and suspends it on a one-signal condition.
	suspended := func(t *testing.T, f *fx) (*exe, swp) {
		e, l := f.running()
		r, err := e.suspendOn(l, sreq{cond: signal.AnyOf("go")})
		if err != nil {
			t.Fatalf("suspend: %v", err)
		}
		return e, sigWaitpoints(t, r)[0]
	}
	tests := []struct {
		name string
		// run makes the transitions and returns the execution and how many times its id
		// must have been published.
		run func(t *testing.T, f *fx) (*exe, int)
	}{
		{"create eligible", func(t *testing.T, f *fx) (*exe, int) {
			e := f.newExec()
			e.mustCreate(nil)
			return e, 1
		}},
		{"create delayed", func(t *testing.T, f *fx) (*exe, int) {
			e := f.newExec()
			e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				a.DelayUntil = ptr(f.serverMs() + 60000)
			})
			return e, 0
		}},
		{"create with a past delay (eligible, D5)", func(t *testing.T, f *fx) (*exe, int) {
			e := f.newExec()
			e.mustCreate(func(k *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				k.SchedulingZset = e.laneIdx("delayed")
				a.DelayUntil = ptr(f.serverMs() - 1000)
			})
			return e, 1
		}},
		{"promote", func(t *testing.T, f *fx) (*exe, int) {
			e := f.newExec()
			now := f.serverMs()
			e.mustCreate(func(_ *ffscripts.CreateExecutionKeys, a *ffscripts.CreateExecutionArgs) {
				a.DelayUntil = ptr(now + 60000)
			})
			if r, err := e.promote(now + 1000); err != nil || r.Result != "not_yet_due" {
				t.Fatalf("promote before due: %+v %v", r, err)
			}
			if r, err := e.promote(now + 60000); err != nil || r.Result != "promoted" {
				t.Fatalf("promote: %+v %v", r, err)
			}
			return e, 1
		}},
		{"block and unblock", func(t *testing.T, f *fx) (*exe, int) {
			e := f.newExec()
			e.mustCreate(nil)
			now := f.serverMs()
			if _, err := e.block("waiting_for_capable_worker", now); err != nil {
				t.Fatalf("block: %v", err)
			}
			if _, err := e.unblock(now, ""); err != nil {
				t.Fatalf("unblock: %v", err)
			}
			return e, 2
		}},
		{"fail with a retry due at once", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if r, err := e.fail(l, "boom", policy("0")); err != nil || r.Result != "retry_scheduled" {
				t.Fatalf("fail: %+v %v", r, err)
			}
			return e, 2
		}},
		{"fail with a retry backoff", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if r, err := e.fail(l, "boom", policy("1000")); err != nil || r.Result != "retry_scheduled" {
				t.Fatalf("fail: %+v %v", r, err)
			}
			return e, 1
		}},
		{"fail terminal", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if r, err := e.fail(l, "boom", ""); err != nil || r.Result != "terminal_failed" {
				t.Fatalf("fail: %+v %v", r, err)
			}
			return e, 1
		}},
		{"complete", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if _, err := e.complete(l, ""); err != nil {
				t.Fatalf("complete: %v", err)
			}
			return e, 1
		}},
		{"delay until now (hand-back)", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if _, err := e.delay(l, f.serverMs()-1); err != nil {
				t.Fatalf("delay: %v", err)
			}
			return e, 2
		}},
		{"delay into the future", func(t *testing.T, f *fx) (*exe, int) {
			e, l := f.running()
			if _, err := e.delay(l, f.serverMs()+60000); err != nil {
				t.Fatalf("delay: %v", err)
			}
			return e, 1
		}},
		{"suspend", func(t *testing.T, f *fx) (*exe, int) {
			e, _ := suspended(t, f)
			return e, 1
		}},
		{"signal resumes", func(t *testing.T, f *fx) (*exe, int) {
			e, wp := suspended(t, f)
			if r, err := e.deliverTo(wp.id, dreq{name: "go", token: wp.token}); err != nil || r.Effect != "resume_condition_satisfied" {
				t.Fatalf("deliver: %+v %v", r, err)
			}
			return e, 2
		}},
		{"signal resumes with a delay", func(t *testing.T, f *fx) (*exe, int) {
			e, wp := suspended(t, f)
			if r, err := e.deliverTo(wp.id, dreq{name: "go", token: wp.token, delay: ptr(int64(60000))}); err != nil || r.Effect != "resume_condition_satisfied" {
				t.Fatalf("deliver: %+v %v", r, err)
			}
			return e, 1
		}},
		{"signal does not match", func(t *testing.T, f *fx) (*exe, int) {
			e, wp := suspended(t, f)
			if r, err := e.deliverTo(wp.id, dreq{name: "other", token: wp.token}); err != nil || r.Effect != "no_op" {
				t.Fatalf("deliver: %+v %v", r, err)
			}
			return e, 1
		}},
		{"operator resume", func(t *testing.T, f *fx) (*exe, int) {
			e, wp := suspended(t, f)
			if r, err := e.resumeExec(wp.id, nil); err != nil || r.PublicState != "waiting" {
				t.Fatalf("resume: %+v %v", r, err)
			}
			return e, 2
		}},
		{"operator resume with a delay", func(t *testing.T, f *fx) (*exe, int) {
			e, wp := suspended(t, f)
			if r, err := e.resumeExec(wp.id, ptr(int64(60000))); err != nil || r.PublicState != "delayed" {
				t.Fatalf("resume: %+v %v", r, err)
			}
			return e, 1
		}},
		{"suspension timeout auto-resumes", func(t *testing.T, f *fx) (*exe, int) {
			e, _ := suspended(t, f)
			f.do(f.db.B().Hset().Key(e.x("suspension:current")).FieldValue().
				FieldValue("timeout_at", "1").FieldValue("timeout_behavior", "auto_resume").Build())
			if r, err := e.expireSusp(); err != nil || r.Outcome != "auto_resume" {
				t.Fatalf("expire: %+v %v", r, err)
			}
			return e, 2
		}},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				s := subscribeWake(t, f.db, f.lane)
				e, n := tt.run(t, f)
				got := s.until(t, f)
				var want []string
				for range n {
					want = append(want, e.id)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("messages on ff:wake:%s (-want +got):\n%s", f.lane, diff)
				}
			})
		}
	})
}
