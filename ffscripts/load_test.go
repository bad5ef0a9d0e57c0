package ffscripts_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/valkey-io/valkey-go"
)

// TestLoadAndCall loads the library with Load on a standalone server and on a cluster,
// checks ff_version on every node, calls one function with arguments through the
// generated client, and checks that a second Load sends no FUNCTION LOAD.
func TestLoadAndCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(testing.TB) valkey.Client
	}{
		{"standalone", valkeytest.Standalone},
		{"cluster", valkeytest.Cluster},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			db := tc.client(t)
			if err := ffscripts.Load(ctx, db); err != nil {
				t.Fatalf("Load: %v", err)
			}
			for addr, n := range db.Nodes() {
				v, err := ffscripts.New(n).Version(ctx, ffscripts.VersionKeys{}, ffscripts.VersionArgs{})
				if err != nil || v != ffscripts.LibraryVersion {
					t.Errorf("%s: ff_version = %q, %v; want %q", addr, v, err, ffscripts.LibraryVersion)
				}
			}

			// One call with arguments, in a partition of its own so the cluster routes it.
			c := ffscripts.New(db)
			eid := keyspace.NewExecutionID(keyspace.Partition(time.Now().UnixNano() % 256))
			k, a := createArgs(eid)
			r, err := c.CreateExecution(ctx, k, a)
			if err != nil {
				t.Fatalf("CreateExecution: %v", err)
			}
			if r.Status != "OK" || r.ExecutionID != eid.String() || r.PublicState != "waiting" {
				t.Errorf("CreateExecution = %+v; want OK %s waiting", r, eid)
			}
			r, err = c.CreateExecution(ctx, k, a)
			if err != nil || r.Status != "DUPLICATE" || r.ExecutionID != eid.String() {
				t.Errorf("second CreateExecution = %+v, %v; want DUPLICATE %s", r, err, eid)
			}

			counting := valkeytest.Counting(db)
			if err := ffscripts.Load(ctx, counting); err != nil {
				t.Fatalf("second Load: %v", err)
			}
			if n := counting.Count("FUNCTION LOAD"); n != 0 {
				t.Errorf("second Load sent %d FUNCTION LOAD; want none", n)
			}
		})
	}
}

// createArgs is a minimal ff_create_execution for eid in lane "load-test".
func createArgs(eid keyspace.ExecutionID) (ffscripts.CreateExecutionKeys, ffscripts.CreateExecutionArgs) {
	x, p := keyspace.ExecKeys(eid), eid.Partition()
	const lane = "load-test"
	k := ffscripts.CreateExecutionKeys{
		ExecCore:          x.Core(),
		Payload:           x.Payload(),
		Policy:            x.Policy(),
		Tags:              x.Tags(),
		SchedulingZset:    p.LaneEligible(lane),
		IdempotencyKey:    p.Noop(),
		ExecutionDeadline: p.ExecutionDeadline(),
		AllExecutions:     p.AllExecutions(),
	}
	a := ffscripts.CreateExecutionArgs{
		ExecutionID:   eid.String(),
		Namespace:     "test",
		LaneID:        lane,
		ExecutionKind: "noop",
		Priority:      5,
		PolicyJSON:    "{}",
		InputPayload:  []byte("\x00payload\xff"),
		TagsJSON:      "{}",
		PartitionID:   strings.TrimSuffix(strings.TrimPrefix(p.Tag(), "{fp:"), "}"),
	}
	return k, a
}

// TestCrossSlotKeysAreAnError checks that keys from two partitions, which valkey-go's
// cluster builder refuses with a panic, come back from the generated call as an error.
func TestCrossSlotKeysAreAnError(t *testing.T) {
	ctx := context.Background()
	db := valkeytest.Cluster(t)
	k, a := createArgs(keyspace.NewExecutionID(keyspace.Partition(1)))
	other, _ := createArgs(keyspace.NewExecutionID(keyspace.Partition(2)))
	k.Payload = other.Payload
	_, err := ffscripts.New(db).CreateExecution(ctx, k, a)
	var be *fcall.BuildError
	if !errors.As(err, &be) || be.Function != ffscripts.FnCreateExecution {
		t.Fatalf("CreateExecution with keys in two slots = %v; want a *fcall.BuildError", err)
	}
}
