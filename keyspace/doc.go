// Package keyspace is FlowFabric's key schema in Go: execution ids, the
// partition mapping, every key the flowfabric function library reads or
// writes, the partition config and capability sets. Callers never format a
// key by hand.
//
// # Execution ids and partitions
//
// An execution id is "{fp:N}:<uuid>". N is the execution's partition; its
// hash tag "{fp:N}" is in every key of the execution, so one FCALL's keys
// share a cluster slot. ParseExecutionID is strict (a bare UUID, "{fp:07}",
// an uppercase UUID are errors matching ErrInvalidExecutionID), and a
// malformed id is never replaced by a fresh one. New ids are minted in the
// partition of their flow (FlowPartition: CRC16 of the flow UUID's bytes) or,
// for solo executions, of their lane (LanePartition: CRC16 of the lane
// name), modulo the flow partition count read from ff:config:partitions with
// ReadPartitionConfig.
//
// # Keys
//
//	k := keyspace.ExecKeys(eid)        // per-execution keys
//	k.Core()                           // ff:exec:{fp:7}:{fp:7}:<uuid>:core
//	k.Attempt(0)                       // ff:attempt:{fp:7}:{fp:7}:<uuid>:0
//	p := eid.Partition()               // partition-level keys
//	p.LaneEligible("default")          // ff:idx:{fp:7}:lane:default:eligible
//	p.Noop()                           // ff:noop:{fp:7}, the unused-slot placeholder
//	keyspace.WorkerCaps("ns", "w-1")   // global keys have no tag
//
// Per-execution keys carry the tag twice ("ff:exec:{fp:7}:{fp:7}:..."): the
// builder joins the tag and the id, which starts with the tag. That is
// FlowFabric's wire contract; Valkey hashes on the first tag.
//
// CheckSameSlot verifies that the keys of one call share a slot (HashSlot is
// Valkey's CLUSTER KEYSLOT), for tests and for a cluster client.
//
// # Capabilities
//
// CapabilityCSV validates a worker's capability tokens (non-empty, no ',',
// no whitespace or control characters, UTF-8 above 0x7F allowed, at most 256
// tokens and 4096 bytes) and returns the sorted, de-duplicated CSV the claim
// functions take. Errors name the bad token and match ErrInvalidCapability.
package keyspace
