package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario once at a small size on a private
// valkey-server, so that `make bench` keeps working: every side must drain
// its tasks, every resume round must resume, and the report must have a row
// for each. It asserts no timing.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if _, err := exec.LookPath("valkey-server"); err != nil {
		t.Skip("valkey-server is not on PATH (scripts/install-valkey.sh installs it)")
	}
	cfg := config{server: "valkey-server", tree: "smoke test", n: 300, embeddedN: 300, payload: 256, workers: 4,
		runs: 1, rounds: 20, calls: 50, poll: time.Millisecond, after: 2 * time.Millisecond,
		idleRounds: 2, idleAfter: 20 * time.Millisecond, drain: true, resume: true, cost: true, embedded: true,
		ffgoModes: []string{"worker", "claimnext", "scripts"}}
	var out bytes.Buffer
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, row := range []string{"| baseline |", "| ffgo/worker |", "| ffgo/claimnext |", "| ffgo/scripts |",
		"| asynq |", "| worker-other |", "| scripts-feed |", "| ff_claim_next |", "| ff_complete_execution |",
		"| embedded |"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("report lacks a %q row:\n%s", row, out.String())
		}
	}
}
