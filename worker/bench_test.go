package worker

import (
	"context"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeytest"
)

// BenchmarkClaimComplete measures one claim and its Complete on the standalone
// server, with the ff_claim_next fast path and with the contract's grant +
// claim; compare the two with benchstat.
func BenchmarkClaimComplete(b *testing.B) {
	for _, path := range []string{"claim_next", "grant_claim"} {
		b.Run(path, func(b *testing.B) {
			db := valkeytest.Standalone(b)
			f := newFixture(b, db)
			var fns ffscripts.Functions = ffscripts.New(db)
			if path == "grant_claim" {
				fns = noClaimNextFake{Functions: fns, db: db}
			}
			ctx := context.Background()
			w, err := connect(ctx, db, fns, f.options(nil))
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
