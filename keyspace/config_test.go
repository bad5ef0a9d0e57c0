package keyspace

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

func TestPartitionConfigFromFields(t *testing.T) {
	all := []string{FieldNumFlowPartitions, FieldNumBudgetPartitions, FieldNumQuotaPartitions}
	tests := []struct {
		name   string
		fields map[string]string
		want   PartitionConfig
	}{
		{"missing hash", nil, PartitionConfig{256, 32, 32, all}},
		{"all set", map[string]string{
			"num_flow_partitions": "64", "num_budget_partitions": "8", "num_quota_partitions": "4",
		}, PartitionConfig{64, 8, 4, nil}},
		{"max u16", map[string]string{
			"num_flow_partitions": "65535", "num_budget_partitions": "1", "num_quota_partitions": "2",
		}, PartitionConfig{65535, 1, 2, nil}},
		{"per-field fallback", map[string]string{
			"num_flow_partitions": "0", "num_budget_partitions": "x", "num_quota_partitions": "65536",
		}, PartitionConfig{256, 32, 32, all}},
		{"negative and blank", map[string]string{
			"num_flow_partitions": "-1", "num_budget_partitions": "", "num_quota_partitions": "16",
		}, PartitionConfig{256, 32, 16, []string{FieldNumFlowPartitions, FieldNumBudgetPartitions}}},
		{"only flow", map[string]string{"num_flow_partitions": "128", "other": "9"},
			PartitionConfig{128, 32, 32, []string{FieldNumBudgetPartitions, FieldNumQuotaPartitions}}},
	}
	for _, tt := range tests {
		got := PartitionConfigFromFields(tt.fields)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	if diff := cmp.Diff(PartitionConfig{256, 32, 32, nil}, DefaultPartitionConfig()); diff != "" {
		t.Errorf("DefaultPartitionConfig (-want +got):\n%s", diff)
	}
}

func newMiniClient(t *testing.T) (*miniredis.Miniredis, valkey.Client) {
	t.Helper()
	m := miniredis.RunT(t)
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{m.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return m, c
}

func TestReadPartitionConfig(t *testing.T) {
	ctx := context.Background()
	m, c := newMiniClient(t)

	got, err := ReadPartitionConfig(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPartitionConfig()
	want.Defaulted = []string{FieldNumFlowPartitions, FieldNumBudgetPartitions, FieldNumQuotaPartitions}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("missing hash (-want +got):\n%s", diff)
	}

	m.HSet(ConfigPartitionsKey, "num_flow_partitions", "16", "num_budget_partitions", "bad", "num_quota_partitions", "4")
	got, err = ReadPartitionConfig(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(PartitionConfig{16, 32, 4, []string{FieldNumBudgetPartitions}}, got); diff != "" {
		t.Errorf("partial hash (-want +got):\n%s", diff)
	}

	m.Del(ConfigPartitionsKey)
	if err := m.Set(ConfigPartitionsKey, "not a hash"); err != nil {
		t.Fatal(err)
	}
	_, err = ReadPartitionConfig(ctx, c)
	if err == nil {
		t.Fatal("wrong type: got no error")
	}
	if want := "keyspace: HGETALL ff:config:partitions: WRONGTYPE"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("wrong type error = %q, want prefix %q", err, want)
	}

	m.Close()
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := ReadPartitionConfig(ctx, c); err == nil {
		t.Error("closed server: got no error")
	}
}

// TestReadPartitionConfigValkey reads the shared server's config without
// writing it (other engineers use the same server) and checks the result
// against a raw HGETALL.
func TestReadPartitionConfigValkey(t *testing.T) {
	c := valkeytest.Standalone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := c.Do(ctx, c.B().Hgetall().Key(ConfigPartitionsKey).Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadPartitionConfig(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(PartitionConfigFromFields(raw), got); diff != "" {
		t.Errorf("ReadPartitionConfig vs HGETALL %v (-want +got):\n%s", raw, diff)
	}
	t.Logf("server config: %+v", got)
}
