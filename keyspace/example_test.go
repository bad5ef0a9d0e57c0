package keyspace_test

import (
	"fmt"

	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/uuid"
)

func Example() {
	cfg := keyspace.DefaultPartitionConfig() // or keyspace.ReadPartitionConfig(ctx, client)

	// A solo execution lives in its lane's partition.
	p := cfg.LanePartition("default")
	eid := keyspace.ExecutionIDWithUUID(p, uuid.MustParse("550e8400-e29b-41d4-a716-446655440000"))
	fmt.Println(eid)

	k := keyspace.ExecKeys(eid)
	fmt.Println(k.Core())
	fmt.Println(k.Attempt(0))
	fmt.Println(p.LaneEligible("default"))
	fmt.Println(p.Noop())
	fmt.Println(keyspace.CheckSameSlot(k.Core(), k.LeaseCurrent(), p.LeaseExpiry(), p.Noop()))

	// Ids read back from Valkey are parsed strictly.
	_, err := keyspace.ParseExecutionID("550e8400-e29b-41d4-a716-446655440000")
	fmt.Println(err)

	csv, _ := keyspace.CapabilityCSV([]string{"gpu", "cuda", "gpu"})
	fmt.Println(csv)
	// Output:
	// {fp:86}:550e8400-e29b-41d4-a716-446655440000
	// ff:exec:{fp:86}:{fp:86}:550e8400-e29b-41d4-a716-446655440000:core
	// ff:attempt:{fp:86}:{fp:86}:550e8400-e29b-41d4-a716-446655440000:0
	// ff:idx:{fp:86}:lane:default:eligible
	// ff:noop:{fp:86}
	// <nil>
	// keyspace: execution id "550e8400-e29b-41d4-a716-446655440000": bare uuid without the "{fp:N}:" partition tag
	// cuda,gpu
}
