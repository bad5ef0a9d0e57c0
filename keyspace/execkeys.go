package keyspace

import "strconv"

// Exec builds the keys of one execution. Get one with ExecKeys.
//
// Per-execution keys repeat the hash tag: the builder joins the partition
// tag and the full execution id, which already starts with the tag, e.g.
// "ff:exec:{fp:7}:{fp:7}:550e8400-...:core". Valkey hashes on the first tag,
// so every key lands in the partition's slot. This doubled tag is part of
// FlowFabric's wire contract.
type Exec struct {
	id   ExecutionID
	base string // "{fp:N}:{fp:N}:<uuid>"
}

// ExecKeys returns the key builder of execution id. The partition comes from
// the id itself.
func ExecKeys(id ExecutionID) Exec {
	return Exec{id: id, base: id.Partition().Tag() + ":" + id.String()}
}

// ID returns the execution id.
func (k Exec) ID() ExecutionID { return k.id }

// Partition returns the execution's partition; its methods build the
// partition-level keys (indexes, waitpoints, signals) in the same slot.
func (k Exec) Partition() Partition { return k.id.Partition() }

// Noop returns the partition's placeholder key "ff:noop:{fp:N}".
func (k Exec) Noop() string { return k.id.Partition().Noop() }

func (k Exec) exec(suffix string) string { return "ff:exec:" + k.base + ":" + suffix }

func (k Exec) attempt(i uint32, suffix string) string {
	key := "ff:attempt:" + k.base + ":" + strconv.FormatUint(uint64(i), 10)
	if suffix != "" {
		key += ":" + suffix
	}
	return key
}

func (k Exec) stream(i uint32, suffix string) string {
	key := "ff:stream:" + k.base + ":" + strconv.FormatUint(uint64(i), 10)
	if suffix != "" {
		key += ":" + suffix
	}
	return key
}

// Core returns "ff:exec:T:E:core", the authoritative state hash (exec_core).
func (k Exec) Core() string { return k.exec("core") }

// Payload returns "ff:exec:T:E:payload" (STRING, input payload).
func (k Exec) Payload() string { return k.exec("payload") }

// Result returns "ff:exec:T:E:result" (STRING, result payload).
func (k Exec) Result() string { return k.exec("result") }

// Policy returns "ff:exec:T:E:policy" (STRING, policy JSON as submitted).
func (k Exec) Policy() string { return k.exec("policy") }

// Tags returns "ff:exec:T:E:tags" (HASH, user tags).
func (k Exec) Tags() string { return k.exec("tags") }

// LeaseCurrent returns "ff:exec:T:E:lease:current" (HASH, current lease).
func (k Exec) LeaseCurrent() string { return k.exec("lease:current") }

// LeaseHistory returns "ff:exec:T:E:lease:history" (STREAM of lease events).
func (k Exec) LeaseHistory() string { return k.exec("lease:history") }

// ClaimGrant returns "ff:exec:T:E:claim_grant" (HASH, the outstanding grant).
func (k Exec) ClaimGrant() string { return k.exec("claim_grant") }

// Attempts returns "ff:exec:T:E:attempts" (ZSET of attempt indexes).
func (k Exec) Attempts() string { return k.exec("attempts") }

// SuspensionCurrent returns "ff:exec:T:E:suspension:current" (HASH).
func (k Exec) SuspensionCurrent() string { return k.exec("suspension:current") }

// SuspensionSatisfiedSet returns
// "ff:exec:T:E:suspension:current:satisfied_set" (SET, composite conditions).
func (k Exec) SuspensionSatisfiedSet() string {
	return k.exec("suspension:current:satisfied_set")
}

// SuspensionSatisfiedSignals returns
// "ff:exec:T:E:suspension:current:satisfied_set:signals" (SET of satisfier
// signal ids, composite conditions).
func (k Exec) SuspensionSatisfiedSignals() string {
	return k.exec("suspension:current:satisfied_set:signals")
}

// SuspensionMemberMap returns "ff:exec:T:E:suspension:current:member_map"
// (HASH, composite conditions).
func (k Exec) SuspensionMemberMap() string { return k.exec("suspension:current:member_map") }

// Waitpoints returns "ff:exec:T:E:waitpoints" (SET of the waitpoint ids of
// earlier suspensions, "waitpoint_history").
func (k Exec) Waitpoints() string { return k.exec("waitpoints") }

// Signals returns "ff:exec:T:E:signals" (ZSET of accepted signal ids, score
// accepted_at ms; "exec_signals").
func (k Exec) Signals() string { return k.exec("signals") }

// SuspendDedup returns "ff:dedup:suspend:T:E:<idempotency_key>" (HASH with
// field "outcome"). Pass Noop() instead when the suspend call has no
// idempotency key.
func (k Exec) SuspendDedup(idempotencyKey string) string {
	return "ff:dedup:suspend:" + k.base + ":" + idempotencyKey
}

// Attempt returns "ff:attempt:T:E:<i>" (HASH, attempt record).
func (k Exec) Attempt(i uint32) string { return k.attempt(i, "") }

// AttemptUsage returns "ff:attempt:T:E:<i>:usage" (HASH).
func (k Exec) AttemptUsage(i uint32) string { return k.attempt(i, "usage") }

// AttemptPolicy returns "ff:attempt:T:E:<i>:policy" (HASH, flattened attempt
// policy).
func (k Exec) AttemptPolicy(i uint32) string { return k.attempt(i, "policy") }

// AttemptSummary returns "ff:attempt:T:E:<i>:summary" (HASH, durable
// summary document).
func (k Exec) AttemptSummary(i uint32) string { return k.attempt(i, "summary") }

// Stream returns "ff:stream:T:E:<i>" (STREAM of attempt output frames).
func (k Exec) Stream(i uint32) string { return k.stream(i, "") }

// StreamMeta returns "ff:stream:T:E:<i>:meta" (HASH, stream metadata).
func (k Exec) StreamMeta(i uint32) string { return k.stream(i, "meta") }
