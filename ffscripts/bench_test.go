package ffscripts_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/valkey-io/valkey-go"
)

// benchExecution loads the library on VALKEY_ADDR and creates one execution
// in partition p; calls with its keys and arguments then answer DUPLICATE.
func benchExecution(b *testing.B, p keyspace.Partition) (valkey.Client, *ffscripts.Client, ffscripts.CreateExecutionKeys, ffscripts.CreateExecutionArgs) {
	b.Helper()
	db := valkeytest.Standalone(b)
	ctx := context.Background()
	if err := ffscripts.Load(ctx, db); err != nil {
		b.Fatal(err)
	}
	k, a := createArgs(keyspace.NewExecutionID(p))
	c := ffscripts.New(db)
	if _, err := c.CreateExecution(ctx, k, a); err != nil {
		b.Fatal(err)
	}
	return db, c, k, a
}

// BenchmarkCall compares one generated call with the same FCALL written by hand with
// valkey-go, on the same server in the same run: ff_create_execution with 8 keys and 13
// arguments, answered with a DUPLICATE tuple after the first call. Compare the two with
// benchstat; the generated path should cost at most 5% and 2 allocations more.
func BenchmarkCall(b *testing.B) {
	db, c, k, a := benchExecution(b, 200)
	ctx := context.Background()

	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := c.CreateExecution(ctx, k, a)
			if err != nil || r.Status != "DUPLICATE" {
				b.Fatalf("%+v %v", r, err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cmd := db.B().Fcall().Function("ff_create_execution").Numkeys(8).
				Key(k.ExecCore, k.Payload, k.Policy, k.Tags, k.SchedulingZset, k.IdempotencyKey, k.ExecutionDeadline, k.AllExecutions).
				Arg(a.ExecutionID, a.Namespace, a.LaneID, a.ExecutionKind, strconv.FormatInt(a.Priority, 10),
					a.CreatorIdentity, a.PolicyJSON, string(a.InputPayload), "", "", a.TagsJSON, "", a.PartitionID).
				Build()
			arr, err := db.Do(ctx, cmd).ToArray()
			if err != nil || len(arr) < 3 {
				b.Fatal(err)
			}
			flag, _ := arr[0].AsInt64()
			status, _ := arr[1].ToString()
			id, _ := arr[2].ToString()
			if flag != 1 || status != "DUPLICATE" || id == "" {
				b.Fatalf("%d %s %s", flag, status, id)
			}
		}
	})
}

// BenchmarkCodec isolates what the generated layer adds: building the command and decoding
// a reply (one real DUPLICATE reply, fetched once), without the round trip that dominates
// BenchmarkCall.
func BenchmarkCodec(b *testing.B) {
	db, _, k, a := benchExecution(b, 201)
	ctx := context.Background()
	reply := db.Do(ctx, ffscripts.CreateExecutionCmd(db, k, a))

	b.Run("generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cmd := ffscripts.CreateExecutionCmd(db, k, a)
			if len(cmd.Commands()) != 24 {
				b.Fatal("bad command")
			}
			r, err := ffscripts.ParseCreateExecution(reply)
			if err != nil || r.Status != "DUPLICATE" {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			cmd := db.B().Fcall().Function("ff_create_execution").Numkeys(8).
				Key(k.ExecCore, k.Payload, k.Policy, k.Tags, k.SchedulingZset, k.IdempotencyKey, k.ExecutionDeadline, k.AllExecutions).
				Arg(a.ExecutionID, a.Namespace, a.LaneID, a.ExecutionKind, strconv.FormatInt(a.Priority, 10),
					a.CreatorIdentity, a.PolicyJSON, string(a.InputPayload), "", "", a.TagsJSON, "", a.PartitionID).
				Build()
			if len(cmd.Commands()) != 24 {
				b.Fatal("bad command")
			}
			arr, err := reply.ToArray()
			if err != nil || len(arr) < 3 {
				b.Fatal(err)
			}
			flag, _ := arr[0].AsInt64()
			status, _ := arr[1].ToString()
			id, _ := arr[2].ToString()
			if flag != 1 || status != "DUPLICATE" || id == "" {
				b.Fatal(flag, status, id)
			}
		}
	})
}
