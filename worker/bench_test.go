package worker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/signal"
)

// BenchmarkClaimComplete measures one claim and its Complete on the standalone
// server, with the ff_claim_next fast path and with the contract's grant +
// claim; compare the two with benchstat.
func BenchmarkClaimComplete(b *testing.B) {
	for _, path := range []string{"claim_next", "grant_claim"} {
		b.Run(path, func(b *testing.B) {
			db := valkeytest.Standalone(b)
			f := newFixture(b, db)
			var wdb valkey.Client = db
			if path == "grant_claim" {
				wdb = withoutClaimNext(db)
			}
			ctx := context.Background()
			w, err := Connect(ctx, wdb, f.options(nil))
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close(ctx)
			for b.Loop() {
				b.StopTimer()
				if _, err := f.client.Create(ctx, CreateOptions{Lane: f.lane, Kind: "bench", Payload: []byte("x")}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				task, err := w.ClaimNext(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := task.Complete(ctx, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResumeLatency measures, with Run, the time from a signal that
// resumes an execution to its handler running again (issue #8's latency), on
// the standalone server, three ways in one run:
//
//   - wake_up: the signal comes from another Client and the worker learns of
//     the resume from its wake-up subscription (the default);
//   - poll_only: the same with Options.PollOnly, so the resume is seen at the
//     next poll (MaxPollInterval 100ms) — the reference;
//   - local_wake: PollOnly, but the signal goes through the worker's own
//     Client, which wakes the Run loop in process.
//
// Each iteration lets Run settle into its back-off first (150ms). Reports the
// p50 and p99 latency in ms (compare wake_up with poll_only), and the p50s of
// its two parts: the DeliverSignal call, and from its return to the handler
// (the part the wake-up mechanism owns; the handler may even start first).
//
//	VALKEY_ADDR=127.0.0.1:16379 go test ./worker -run '^$' -bench ResumeLatency -benchtime 100x
func BenchmarkResumeLatency(b *testing.B) {
	for _, mode := range []string{"wake_up", "poll_only", "local_wake"} {
		b.Run(mode, func(b *testing.B) {
			db := valkeytest.Standalone(b)
			f := newFixture(b, db)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			must(b, f.client.EnsureWaitpointSecret(ctx, "k1", "00112233445566778899aabbccddeeff"), "secret")
			w, err := Connect(ctx, db, f.options(func(o *Options) {
				o.MaxPollInterval = 100 * time.Millisecond
				o.PollOnly = mode != "wake_up"
			}))
			must(b, err, "Connect")
			defer w.Close(context.Background())
			signaller := f.client
			if mode == "local_wake" {
				signaller = w.Client()
			}
			suspended := make(chan Waitpoint)
			resumed := make(chan time.Time)
			go w.Run(ctx, func(ctx context.Context, t *Task) error {
				if t.AttemptType == "resumed" {
					resumed <- time.Now()
					return nil
				}
				s, err := t.Suspend(ctx, SuspendOptions{Condition: signal.AnyOf("go")})
				if err != nil {
					return err
				}
				suspended <- s.Waitpoint
				return nil
			})
			var lat, deliver, after []time.Duration
			for b.Loop() {
				id := f.create(CreateOptions{})
				wp := <-suspended
				time.Sleep(150 * time.Millisecond) // let the loop settle into its back-off
				start := time.Now()
				if _, err := signaller.DeliverSignal(ctx, id, wp.ID, Signal{Name: "go", Token: wp.Token, Lane: wp.Lane}); err != nil {
					b.Fatal(err)
				}
				delivered := time.Now()
				ran := <-resumed
				deliver = append(deliver, delivered.Sub(start))
				after = append(after, ran.Sub(delivered))
				lat = append(lat, ran.Sub(start))
			}
			b.ReportMetric(percentileMs(lat, 50), "p50-ms")
			b.ReportMetric(percentileMs(lat, 99), "p99-ms")
			b.ReportMetric(percentileMs(deliver, 50), "deliver-p50-ms")
			b.ReportMetric(percentileMs(after, 50), "after-deliver-p50-ms")
		})
	}
}

// percentileMs returns the p-th percentile of lat in ms (nearest rank).
func percentileMs(lat []time.Duration, p int) float64 {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return float64(s[max(i, 0)].Microseconds()) / 1000
}
