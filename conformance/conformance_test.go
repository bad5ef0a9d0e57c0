package conformance

import (
	"context"
	"os"
	"strings"
	"testing"
)

// testTargets opens the targets this run can reach: always the embedded engine, plus the
// shared standalone Valkey (VALKEY_ADDR) and cluster (VALKEY_CLUSTER_ADDRS) when set. The
// library is loaded (FUNCTION LOAD REPLACE only where it differs); scenarios work in their
// own random partitions, so the shared servers are never flushed.
func testTargets(t *testing.T) []*Target {
	t.Helper()
	specs := []string{"embedded"}
	if a := os.Getenv("VALKEY_ADDR"); a != "" {
		specs = append(specs, "valkey://"+strings.Split(a, ",")[0])
	}
	if a := os.Getenv("VALKEY_CLUSTER_ADDRS"); a != "" {
		specs = append(specs, "cluster://"+a)
	}
	var out []*Target
	for _, spec := range specs {
		tg, err := Open(context.Background(), spec, true)
		if err != nil {
			t.Fatalf("open %s: %v", spec, err)
		}
		t.Cleanup(tg.Close)
		out = append(out, tg)
	}
	return out
}

// TestScenarios runs every contract scenario on every reachable target.
func TestScenarios(t *testing.T) {
	ctx := context.Background()
	for _, tg := range testTargets(t) {
		t.Run(tg.Kind, func(t *testing.T) {
			for i, sc := range Scenarios() {
				t.Run(sc.Name, func(t *testing.T) {
					r := RunScenario(ctx, tg, sc, i)
					switch r.Status {
					case "fail":
						t.Error(r.Detail)
					case "skip":
						t.Skip(r.Detail)
					}
				})
			}
		})
	}
}
