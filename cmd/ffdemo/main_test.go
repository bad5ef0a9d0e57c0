package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoOnEmbedded runs a small demo end to end on the embedded engine.
func TestDemoOnEmbedded(t *testing.T) {
	var out bytes.Buffer
	cfg := config{n: 40, workers: 2, concurrency: 3, flakyEvery: 10, approvals: 2, crashes: 2, timeout: time.Minute}
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"completed   40 of 40", "retried     3 ", "resumed     2 ", "reclaimed   2 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
