package keyspace

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

const testUUID = "550e8400-e29b-41d4-a716-446655440000"

func TestPartitionVectors(t *testing.T) {
	flow := uuid.MustParse(testUUID)
	tests := []struct {
		name string
		got  Partition
		want Partition
	}{
		{"flow 550e8400 / 256", FlowPartition(flow, 256), 24},
		{"lane default / 256", LanePartition("default", 256), 86},
		{"lane workers-a / 256", LanePartition("workers-a", 256), 193},
		{"zero count means 256", LanePartition("default", 0), 86},
		{"config flow", DefaultPartitionConfig().FlowPartition(flow), 24},
		{"config lane", DefaultPartitionConfig().LanePartition("workers-a"), 193},
		{"zero config lane", PartitionConfig{}.LanePartition("workers-a"), 193},
		{"one partition", LanePartition("default", 1), 0},
		{"lane default / 7", LanePartition("default", 7), 54870 % 7},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if got, want := BudgetTag(flow, 32), "{b:24}"; got != want { // 36888 % 32 = 24
		t.Errorf("BudgetTag = %q, want %q", got, want)
	}
	if got, want := QuotaTag(flow, 0), "{q:24}"; got != want {
		t.Errorf("QuotaTag = %q, want %q", got, want)
	}
	if got, want := BudgetTag(flow, 5), "{b:3}"; got != want { // 36888 % 5 = 3
		t.Errorf("BudgetTag(5) = %q, want %q", got, want)
	}
}

// TestKeySchema pins every key builder to the exact string of the specs
// (claim-lease §3, suspend-signal §1.2).
func TestKeySchema(t *testing.T) {
	eid := ExecutionIDWithUUID(7, uuid.MustParse(testUUID))
	k := ExecKeys(eid)
	p := eid.Partition()
	E := "{fp:7}:{fp:7}:" + testUUID
	got := map[string]string{
		"Core":                       k.Core(),
		"Payload":                    k.Payload(),
		"Result":                     k.Result(),
		"Policy":                     k.Policy(),
		"Tags":                       k.Tags(),
		"LeaseCurrent":               k.LeaseCurrent(),
		"LeaseHistory":               k.LeaseHistory(),
		"ClaimGrant":                 k.ClaimGrant(),
		"Attempts":                   k.Attempts(),
		"SuspensionCurrent":          k.SuspensionCurrent(),
		"SuspensionSatisfiedSet":     k.SuspensionSatisfiedSet(),
		"SuspensionSatisfiedSignals": k.SuspensionSatisfiedSignals(),
		"SuspensionMemberMap":        k.SuspensionMemberMap(),
		"Waitpoints":                 k.Waitpoints(),
		"Signals":                    k.Signals(),
		"SuspendDedup":               k.SuspendDedup("idem-1"),
		"Attempt(0)":                 k.Attempt(0),
		"Attempt(12)":                k.Attempt(12),
		"AttemptUsage(1)":            k.AttemptUsage(1),
		"AttemptPolicy(1)":           k.AttemptPolicy(1),
		"AttemptSummary(1)":          k.AttemptSummary(1),
		"Stream(2)":                  k.Stream(2),
		"StreamMeta(2)":              k.StreamMeta(2),
		"Exec.Noop":                  k.Noop(),

		"Noop":                    p.Noop(),
		"LaneEligible":            p.LaneEligible("default"),
		"LaneDelayed":             p.LaneDelayed("default"),
		"LaneActive":              p.LaneActive("default"),
		"LaneTerminal":            p.LaneTerminal("default"),
		"LaneSuspended":           p.LaneSuspended("default"),
		"LaneBlockedDependencies": p.LaneBlockedDependencies("default"),
		"LaneBlockedBudget":       p.LaneBlockedBudget("default"),
		"LaneBlockedQuota":        p.LaneBlockedQuota("default"),
		"LaneBlockedRoute":        p.LaneBlockedRoute("default"),
		"LaneBlockedOperator":     p.LaneBlockedOperator("default"),
		"LeaseExpiry":             p.LeaseExpiry(),
		"WorkerLeases":            p.WorkerLeases("w-1"),
		"AttemptTimeout":          p.AttemptTimeout(),
		"ExecutionDeadline":       p.ExecutionDeadline(),
		"AllExecutions":           p.AllExecutions(),
		"SuspensionTimeout":       p.SuspensionTimeout(),
		"PendingWaitpointExpiry":  p.PendingWaitpointExpiry(),
		"SignalDelivery":          p.SignalDelivery(),
		"HMACSecrets":             p.HMACSecrets(),
		"Idempotency":             p.Idempotency("ns", "ik"),
		"Waitpoint":               p.Waitpoint("wp1"),
		"WaitpointSignals":        p.WaitpointSignals("wp1"),
		"WaitpointCondition":      p.WaitpointCondition("wp1"),
		"Signal":                  p.Signal("s1"),
		"SignalPayload":           p.SignalPayload("s1"),
		"SignalDedup":             p.SignalDedup("wp1", "ik"),

		"WorkerAlive":  WorkerAlive("ns", "w-1"),
		"WorkerCaps":   WorkerCaps("ns", "w-1"),
		"WorkersIndex": WorkersIndex("ns"),
		"LaneConfig":   LaneConfig("default"),
		"LaneCounts":   LaneCounts("default"),
	}
	want := map[string]string{
		"Core":                       "ff:exec:" + E + ":core",
		"Payload":                    "ff:exec:" + E + ":payload",
		"Result":                     "ff:exec:" + E + ":result",
		"Policy":                     "ff:exec:" + E + ":policy",
		"Tags":                       "ff:exec:" + E + ":tags",
		"LeaseCurrent":               "ff:exec:" + E + ":lease:current",
		"LeaseHistory":               "ff:exec:" + E + ":lease:history",
		"ClaimGrant":                 "ff:exec:" + E + ":claim_grant",
		"Attempts":                   "ff:exec:" + E + ":attempts",
		"SuspensionCurrent":          "ff:exec:" + E + ":suspension:current",
		"SuspensionSatisfiedSet":     "ff:exec:" + E + ":suspension:current:satisfied_set",
		"SuspensionSatisfiedSignals": "ff:exec:" + E + ":suspension:current:satisfied_set:signals",
		"SuspensionMemberMap":        "ff:exec:" + E + ":suspension:current:member_map",
		"Waitpoints":                 "ff:exec:" + E + ":waitpoints",
		"Signals":                    "ff:exec:" + E + ":signals",
		"SuspendDedup":               "ff:dedup:suspend:" + E + ":idem-1",
		"Attempt(0)":                 "ff:attempt:" + E + ":0",
		"Attempt(12)":                "ff:attempt:" + E + ":12",
		"AttemptUsage(1)":            "ff:attempt:" + E + ":1:usage",
		"AttemptPolicy(1)":           "ff:attempt:" + E + ":1:policy",
		"AttemptSummary(1)":          "ff:attempt:" + E + ":1:summary",
		"Stream(2)":                  "ff:stream:" + E + ":2",
		"StreamMeta(2)":              "ff:stream:" + E + ":2:meta",
		"Exec.Noop":                  "ff:noop:{fp:7}",

		"Noop":                    "ff:noop:{fp:7}",
		"LaneEligible":            "ff:idx:{fp:7}:lane:default:eligible",
		"LaneDelayed":             "ff:idx:{fp:7}:lane:default:delayed",
		"LaneActive":              "ff:idx:{fp:7}:lane:default:active",
		"LaneTerminal":            "ff:idx:{fp:7}:lane:default:terminal",
		"LaneSuspended":           "ff:idx:{fp:7}:lane:default:suspended",
		"LaneBlockedDependencies": "ff:idx:{fp:7}:lane:default:blocked:dependencies",
		"LaneBlockedBudget":       "ff:idx:{fp:7}:lane:default:blocked:budget",
		"LaneBlockedQuota":        "ff:idx:{fp:7}:lane:default:blocked:quota",
		"LaneBlockedRoute":        "ff:idx:{fp:7}:lane:default:blocked:route",
		"LaneBlockedOperator":     "ff:idx:{fp:7}:lane:default:blocked:operator",
		"LeaseExpiry":             "ff:idx:{fp:7}:lease_expiry",
		"WorkerLeases":            "ff:idx:{fp:7}:worker:w-1:leases",
		"AttemptTimeout":          "ff:idx:{fp:7}:attempt_timeout",
		"ExecutionDeadline":       "ff:idx:{fp:7}:execution_deadline",
		"AllExecutions":           "ff:idx:{fp:7}:all_executions",
		"SuspensionTimeout":       "ff:idx:{fp:7}:suspension_timeout",
		"PendingWaitpointExpiry":  "ff:idx:{fp:7}:pending_waitpoint_expiry",
		"SignalDelivery":          "ff:part:{fp:7}:signal_delivery",
		"HMACSecrets":             "ff:sec:{fp:7}:waitpoint_hmac",
		"Idempotency":             "ff:idem:{fp:7}:ns:ik",
		"Waitpoint":               "ff:wp:{fp:7}:wp1",
		"WaitpointSignals":        "ff:wp:{fp:7}:wp1:signals",
		"WaitpointCondition":      "ff:wp:{fp:7}:wp1:condition",
		"Signal":                  "ff:signal:{fp:7}:s1",
		"SignalPayload":           "ff:signal:{fp:7}:s1:payload",
		"SignalDedup":             "ff:sigdedup:{fp:7}:wp1:ik",

		"WorkerAlive":  "ff:worker:ns:w-1:alive",
		"WorkerCaps":   "ff:worker:ns:w-1:caps",
		"WorkersIndex": "ff:idx:ns:workers",
		"LaneConfig":   "ff:lane:default:config",
		"LaneCounts":   "ff:lane:default:counts",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}

	// Every tagged key shares the partition's slot; global keys do not
	// carry a tag.
	global := map[string]bool{"WorkerAlive": true, "WorkerCaps": true, "WorkersIndex": true, "LaneConfig": true, "LaneCounts": true}
	var tagged []string
	for name, key := range got {
		if global[name] {
			if strings.Contains(key, "{") {
				t.Errorf("global key %s = %q has a hash tag", name, key)
			}
			continue
		}
		tagged = append(tagged, key)
	}
	if err := CheckSameSlot(append([]string{p.Tag()}, tagged...)...); err != nil {
		t.Error(err)
	}
	if got, want := p.Slot(), HashSlot("{fp:7}"); got != want {
		t.Errorf("Slot = %d, want %d", got, want)
	}
}

// TestKeysWithHostileParts: builders place ids verbatim, and even a lane or
// waitpoint id containing braces cannot move a key out of the partition's
// slot, because the partition tag comes first.
func TestKeysWithHostileParts(t *testing.T) {
	p := Partition(3)
	keys := []string{
		p.LaneEligible("{other}"),
		p.WorkerLeases("}{x}"),
		p.Waitpoint("{fp:9}"),
		p.SignalDedup("{", "}"),
		p.Idempotency("", ""),
	}
	if err := CheckSameSlot(append([]string{p.Noop()}, keys...)...); err != nil {
		t.Error(err)
	}
}

func TestPartitions(t *testing.T) {
	var got []Partition
	for p := range (PartitionConfig{NumFlowPartitions: 4}).Partitions() {
		got = append(got, p)
	}
	if diff := cmp.Diff([]Partition{0, 1, 2, 3}, got); diff != "" {
		t.Errorf("Partitions (-want +got):\n%s", diff)
	}
	n := 0
	for p := range (PartitionConfig{}).Partitions() {
		n++
		if p == 9 {
			break
		}
	}
	if n != 10 {
		t.Errorf("early break: visited %d partitions, want 10", n)
	}
	n = 0
	for range DefaultPartitionConfig().Partitions() {
		n++
	}
	if n != 256 {
		t.Errorf("default config: %d partitions, want 256", n)
	}
}
