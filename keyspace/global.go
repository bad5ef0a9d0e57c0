package keyspace

// Global keys carry no hash tag: in a cluster each lands on the slot of its
// own name. Namespaces and ids are placed verbatim; braces in FlowFabric's
// docs ("ff:worker:{ns}:{inst}:alive") are placeholders, not hash tags.

// ConfigPartitionsKey is the global hash holding the partition counts
// (fields num_flow_partitions, num_budget_partitions, num_quota_partitions);
// read it with ReadPartitionConfig.
const ConfigPartitionsKey = "ff:config:partitions"

// LanesIndexKey is the global lane registry "ff:idx:lanes".
const LanesIndexKey = "ff:idx:lanes"

// DAGCompletionsChannel is the Pub/Sub channel on which terminal transitions
// of flow members are published as JSON {execution_id, flow_id, outcome}.
const DAGCompletionsChannel = "ff:dag:completions"

// WakeChannel returns "ff:wake:<lane>", the Pub/Sub channel on which the
// library publishes the id of every execution of the lane that becomes
// claimable (created or promoted eligible, unblocked, resumed, a retry or a
// hand-back due at once). It is an ffgo extension, not FlowFabric's contract.
// The channel names the lane only: the eligible sets, and so the claims, are
// per lane, not per namespace.
func WakeChannel(lane string) string { return "ff:wake:" + lane }

// WorkerAlive returns "ff:worker:<namespace>:<instance>:alive" (STRING "1"
// with a PX TTL; the duplicate-instance guard).
func WorkerAlive(namespace, workerInstanceID string) string {
	return "ff:worker:" + namespace + ":" + workerInstanceID + ":alive"
}

// WorkerCaps returns "ff:worker:<namespace>:<instance>:caps" (HASH: worker_id,
// lanes_csv, caps_csv, ttl_ms, registered_at_ms, last_heartbeat_ms).
func WorkerCaps(namespace, workerInstanceID string) string {
	return "ff:worker:" + namespace + ":" + workerInstanceID + ":caps"
}

// WorkersIndex returns "ff:idx:<namespace>:workers" (SET of the worker
// instance ids of a namespace).
func WorkersIndex(namespace string) string {
	return "ff:idx:" + namespace + ":workers"
}

// LaneConfig returns "ff:lane:<lane>:config" (lane registry).
func LaneConfig(lane string) string { return "ff:lane:" + lane + ":config" }

// LaneCounts returns "ff:lane:<lane>:counts" (lane registry).
func LaneCounts(lane string) string { return "ff:lane:" + lane + ":counts" }
