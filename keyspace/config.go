package keyspace

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// Default partition counts, used when ff:config:partitions lacks a field,
// holds something that is not a decimal number 1..65535, or does not exist.
const (
	DefaultFlowPartitions   = 256
	DefaultBudgetPartitions = 32
	DefaultQuotaPartitions  = 32
)

// Field names of the ff:config:partitions hash.
const (
	FieldNumFlowPartitions   = "num_flow_partitions"
	FieldNumBudgetPartitions = "num_budget_partitions"
	FieldNumQuotaPartitions  = "num_quota_partitions"
)

// PartitionConfig holds the partition counts a deployment uses. The server
// writes them once to ff:config:partitions; workers read them at start-up.
// A count of 0 behaves as its default.
type PartitionConfig struct {
	NumFlowPartitions   uint16
	NumBudgetPartitions uint16
	NumQuotaPartitions  uint16

	// Defaulted names the hash fields that were absent, invalid or 0 and so
	// fell back to their default, in the order flow, budget, quota. All
	// three when the hash does not exist; empty when the server's values
	// were used. Callers log it; the config is usable either way.
	Defaulted []string
}

// DefaultPartitionConfig returns 256 flow, 32 budget and 32 quota
// partitions, FlowFabric's defaults.
func DefaultPartitionConfig() PartitionConfig {
	return PartitionConfig{
		NumFlowPartitions:   DefaultFlowPartitions,
		NumBudgetPartitions: DefaultBudgetPartitions,
		NumQuotaPartitions:  DefaultQuotaPartitions,
	}
}

// PartitionConfigFromFields builds a config from the fields of the
// ff:config:partitions hash (an HGETALL reply). Each count falls back to its
// default on its own when its field is absent, not a decimal number, 0 or
// above 65535; such fields are listed in Defaulted.
func PartitionConfigFromFields(fields map[string]string) PartitionConfig {
	var c PartitionConfig
	read := func(field string, def uint16) uint16 {
		n, err := strconv.ParseUint(fields[field], 10, 16)
		if err != nil || n == 0 {
			c.Defaulted = append(c.Defaulted, field)
			return def
		}
		return uint16(n)
	}
	c.NumFlowPartitions = read(FieldNumFlowPartitions, DefaultFlowPartitions)
	c.NumBudgetPartitions = read(FieldNumBudgetPartitions, DefaultBudgetPartitions)
	c.NumQuotaPartitions = read(FieldNumQuotaPartitions, DefaultQuotaPartitions)
	return c
}

// ReadPartitionConfig reads ff:config:partitions with HGETALL. A missing
// hash or missing/invalid fields are not errors: they fall back to the
// defaults as FlowFabric's workers do, and Defaulted says which. The error is
// the transport's or a reply that is not a hash; it names the key.
func ReadPartitionConfig(ctx context.Context, client valkey.CommandClient) (PartitionConfig, error) {
	fields, err := client.Do(ctx, client.B().Hgetall().Key(ConfigPartitionsKey).Build()).AsStrMap()
	if err != nil {
		return PartitionConfig{}, fmt.Errorf("keyspace: HGETALL %s: %w", ConfigPartitionsKey, err)
	}
	return PartitionConfigFromFields(fields), nil
}

// FlowPartition returns the partition of a flow and of its member
// executions, using c.NumFlowPartitions.
func (c PartitionConfig) FlowPartition(flowID uuid.UUID) Partition {
	return FlowPartition(flowID, c.NumFlowPartitions)
}

// LanePartition returns the partition of a solo execution on lane, using
// c.NumFlowPartitions.
func (c PartitionConfig) LanePartition(lane string) Partition {
	return LanePartition(lane, c.NumFlowPartitions)
}

// NewFlowExecutionID mints a random execution id in the partition of flow
// flowID.
func (c PartitionConfig) NewFlowExecutionID(flowID uuid.UUID) ExecutionID {
	return NewExecutionID(c.FlowPartition(flowID))
}

// NewSoloExecutionID mints a random execution id for a solo execution on
// lane.
func (c PartitionConfig) NewSoloExecutionID(lane string) ExecutionID {
	return NewExecutionID(c.LanePartition(lane))
}

// BudgetTag returns the "{b:M}" tag of a budget id, using
// c.NumBudgetPartitions.
func (c PartitionConfig) BudgetTag(budgetID uuid.UUID) string {
	return BudgetTag(budgetID, c.NumBudgetPartitions)
}

// QuotaTag returns the "{q:K}" tag of a quota policy id, using
// c.NumQuotaPartitions.
func (c PartitionConfig) QuotaTag(quotaPolicyID uuid.UUID) string {
	return QuotaTag(quotaPolicyID, c.NumQuotaPartitions)
}

// Partitions yields every flow partition 0..NumFlowPartitions-1, for
// scanners and for writes that fan out to every partition (the HMAC
// keystore).
func (c PartitionConfig) Partitions() iter.Seq[Partition] {
	n := int(orDefault(c.NumFlowPartitions, DefaultFlowPartitions))
	return func(yield func(Partition) bool) {
		for i := range n {
			if !yield(Partition(i)) {
				return
			}
		}
	}
}

// ErrPartitionOutOfRange is returned (wrapped) by Check for an execution id
// whose partition is not below the configured flow partition count.
var ErrPartitionOutOfRange = errors.New("keyspace: partition out of range")

// Check reports whether id's partition exists under c. ParseExecutionID does
// not check this, because an id keeps its partition whatever the config
// says; a worker uses Check to refuse ids from a differently sized
// deployment.
func (c PartitionConfig) Check(id ExecutionID) error {
	n := orDefault(c.NumFlowPartitions, DefaultFlowPartitions)
	if uint16(id.Partition()) >= n {
		return fmt.Errorf("%w: execution id %q has partition %d, want below %d",
			ErrPartitionOutOfRange, id, id.Partition(), n)
	}
	return nil
}
