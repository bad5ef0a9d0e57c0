package keyspace

import (
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Partition is a flow/execution partition index N. Every key of one
// execution carries its hash tag "{fp:N}", so all of them live in one slot
// of a Valkey cluster. Methods on Partition build the partition-level keys
// (lane indexes, lease expiry, waitpoints, signals, the HMAC keystore, ...).
//
// Key builders never validate their string arguments (lane ids, worker
// instance ids, waitpoint ids): they place them verbatim, as the Lua library
// and the Rust worker do. Validate ids at the edge (ValidateLane,
// ParseExecutionID) instead.
type Partition uint16

// Tag returns the partition's hash tag, "{fp:N}".
func (p Partition) Tag() string {
	return "{fp:" + strconv.FormatUint(uint64(p), 10) + "}"
}

// String returns the hash tag, "{fp:N}".
func (p Partition) String() string { return p.Tag() }

// Slot returns the Valkey Cluster hash slot of every key of the partition.
func (p Partition) Slot() uint16 { return HashSlot(p.Tag()) }

// key joins "ff", kind, the partition's tag and the given parts with ':'.
func (p Partition) key(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString("ff:")
	b.WriteString(kind)
	b.WriteByte(':')
	b.WriteString(p.Tag())
	for _, s := range parts {
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

// Noop returns the placeholder key "ff:noop:{fp:N}". It fills KEYS slots a
// call does not use (for example no idempotency key) while keeping every key
// of the call in the partition's slot. Nothing ever reads or writes it.
func (p Partition) Noop() string { return p.key("noop") }

// LaneEligible returns "ff:idx:{fp:N}:lane:<lane>:eligible" (ZSET of
// execution ids, score -(priority*10^12)+created_at; lowest is next).
func (p Partition) LaneEligible(lane string) string { return p.lane(lane, "eligible") }

// LaneDelayed returns "ff:idx:{fp:N}:lane:<lane>:delayed" (ZSET, score
// delay_until ms).
func (p Partition) LaneDelayed(lane string) string { return p.lane(lane, "delayed") }

// LaneActive returns "ff:idx:{fp:N}:lane:<lane>:active" (ZSET, score lease
// expiry at claim time).
func (p Partition) LaneActive(lane string) string { return p.lane(lane, "active") }

// LaneTerminal returns "ff:idx:{fp:N}:lane:<lane>:terminal" (ZSET, score
// terminal time ms).
func (p Partition) LaneTerminal(lane string) string { return p.lane(lane, "terminal") }

// LaneSuspended returns "ff:idx:{fp:N}:lane:<lane>:suspended" (ZSET, score
// suspension timeout or 9999999999999).
func (p Partition) LaneSuspended(lane string) string { return p.lane(lane, "suspended") }

// LaneBlockedDependencies returns "ff:idx:{fp:N}:lane:<lane>:blocked:dependencies".
func (p Partition) LaneBlockedDependencies(lane string) string {
	return p.lane(lane, "blocked:dependencies")
}

// LaneBlockedBudget returns "ff:idx:{fp:N}:lane:<lane>:blocked:budget".
func (p Partition) LaneBlockedBudget(lane string) string { return p.lane(lane, "blocked:budget") }

// LaneBlockedQuota returns "ff:idx:{fp:N}:lane:<lane>:blocked:quota".
func (p Partition) LaneBlockedQuota(lane string) string { return p.lane(lane, "blocked:quota") }

// LaneBlockedRoute returns "ff:idx:{fp:N}:lane:<lane>:blocked:route", where
// executions wait for a worker with the required capabilities.
func (p Partition) LaneBlockedRoute(lane string) string { return p.lane(lane, "blocked:route") }

// LaneBlockedOperator returns "ff:idx:{fp:N}:lane:<lane>:blocked:operator".
func (p Partition) LaneBlockedOperator(lane string) string {
	return p.lane(lane, "blocked:operator")
}

func (p Partition) lane(lane, suffix string) string {
	return p.key("idx", "lane", lane, suffix)
}

// LeaseExpiry returns "ff:idx:{fp:N}:lease_expiry" (ZSET of execution ids,
// score current lease expiry, refreshed by renew).
func (p Partition) LeaseExpiry() string { return p.key("idx", "lease_expiry") }

// WorkerLeases returns "ff:idx:{fp:N}:worker:<instance>:leases" (SET of the
// execution ids leased by one worker instance).
func (p Partition) WorkerLeases(workerInstanceID string) string {
	return p.key("idx", "worker", workerInstanceID, "leases")
}

// AttemptTimeout returns "ff:idx:{fp:N}:attempt_timeout" (ZSET).
func (p Partition) AttemptTimeout() string { return p.key("idx", "attempt_timeout") }

// ExecutionDeadline returns "ff:idx:{fp:N}:execution_deadline" (ZSET).
func (p Partition) ExecutionDeadline() string { return p.key("idx", "execution_deadline") }

// AllExecutions returns "ff:idx:{fp:N}:all_executions" (SET).
func (p Partition) AllExecutions() string { return p.key("idx", "all_executions") }

// SuspensionTimeout returns "ff:idx:{fp:N}:suspension_timeout" (ZSET).
func (p Partition) SuspensionTimeout() string { return p.key("idx", "suspension_timeout") }

// PendingWaitpointExpiry returns "ff:idx:{fp:N}:pending_waitpoint_expiry"
// (ZSET whose members are waitpoint ids, not execution ids).
func (p Partition) PendingWaitpointExpiry() string {
	return p.key("idx", "pending_waitpoint_expiry")
}

// SignalDelivery returns "ff:part:{fp:N}:signal_delivery", the partition's
// signal-delivery feed (STREAM).
func (p Partition) SignalDelivery() string { return p.key("part", "signal_delivery") }

// HMACSecrets returns "ff:sec:{fp:N}:waitpoint_hmac", the waitpoint HMAC
// keystore (HASH, one identical copy per partition; see package waitpoint).
func (p Partition) HMACSecrets() string { return p.key("sec", "waitpoint_hmac") }

// Idempotency returns "ff:idem:{fp:N}:<namespace>:<key>", the create-time
// idempotency key (STRING holding the execution id).
func (p Partition) Idempotency(namespace, idempotencyKey string) string {
	return p.key("idem", namespace, idempotencyKey)
}

// Waitpoint returns "ff:wp:{fp:N}:<waitpoint_id>" (HASH).
func (p Partition) Waitpoint(waitpointID string) string { return p.key("wp", waitpointID) }

// WaitpointSignals returns "ff:wp:{fp:N}:<waitpoint_id>:signals" (STREAM).
func (p Partition) WaitpointSignals(waitpointID string) string {
	return p.key("wp", waitpointID, "signals")
}

// WaitpointCondition returns "ff:wp:{fp:N}:<waitpoint_id>:condition" (HASH).
func (p Partition) WaitpointCondition(waitpointID string) string {
	return p.key("wp", waitpointID, "condition")
}

// Signal returns "ff:signal:{fp:N}:<signal_id>" (HASH).
func (p Partition) Signal(signalID string) string { return p.key("signal", signalID) }

// SignalPayload returns "ff:signal:{fp:N}:<signal_id>:payload" (STRING).
func (p Partition) SignalPayload(signalID string) string {
	return p.key("signal", signalID, "payload")
}

// SignalDedup returns "ff:sigdedup:{fp:N}:<waitpoint_id>:<idempotency_key>"
// (STRING holding the first signal id). Pass Noop() instead when the signal
// has no idempotency key.
func (p Partition) SignalDedup(waitpointID, idempotencyKey string) string {
	return p.key("sigdedup", waitpointID, idempotencyKey)
}

// FlowPartition returns the partition of a flow's keys and of every
// execution that belongs to the flow: CRC16 of the flow id's 16 raw bytes
// modulo numPartitions. A numPartitions of 0 means DefaultFlowPartitions.
//
// Test vector: flow 550e8400-e29b-41d4-a716-446655440000 with 256
// partitions is {fp:24}.
func FlowPartition(flowID uuid.UUID, numPartitions uint16) Partition {
	return Partition(CRC16(flowID[:]) % orDefault(numPartitions, DefaultFlowPartitions))
}

// LanePartition returns the partition of a solo execution (one outside any
// flow) on the given lane: CRC16 of the lane id's bytes modulo
// numPartitions (FlowFabric's default "solo partitioner"). A numPartitions
// of 0 means DefaultFlowPartitions.
//
// Test vectors with 256 partitions: "default" is {fp:86}, "workers-a" is
// {fp:193}.
func LanePartition(lane string, numPartitions uint16) Partition {
	return Partition(CRC16([]byte(lane)) % orDefault(numPartitions, DefaultFlowPartitions))
}

// BudgetTag returns the budget hash tag "{b:M}" of a budget id, M = CRC16 of
// the id's 16 raw bytes modulo numPartitions (0 means
// DefaultBudgetPartitions).
func BudgetTag(budgetID uuid.UUID, numPartitions uint16) string {
	m := CRC16(budgetID[:]) % orDefault(numPartitions, DefaultBudgetPartitions)
	return "{b:" + strconv.FormatUint(uint64(m), 10) + "}"
}

// QuotaTag returns the quota hash tag "{q:K}" of a quota policy id, K = CRC16
// of the id's 16 raw bytes modulo numPartitions (0 means
// DefaultQuotaPartitions).
func QuotaTag(quotaPolicyID uuid.UUID, numPartitions uint16) string {
	k := CRC16(quotaPolicyID[:]) % orDefault(numPartitions, DefaultQuotaPartitions)
	return "{q:" + strconv.FormatUint(uint64(k), 10) + "}"
}

func orDefault(n, def uint16) uint16 {
	if n == 0 {
		return def
	}
	return n
}
