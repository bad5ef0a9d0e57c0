package conformance

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

var (
	flagDiff      = flag.Int("conformance-diff", 1000, "number of differential sequences")
	flagDiffSeed  = flag.Uint64("conformance-seed", 1, "seed of the first differential sequence (fixed, so a run is reproducible; 0: derived from the time, printed)")
	flagDiffSteps = flag.Int("conformance-steps", 20, "calls per differential sequence")
	flagDiffTrace = flag.Bool("conformance-trace", false, "print every differential step")
)

// privateServer starts a valkey-server of this test's own (flushed freely), or skips.
func privateServer(t *testing.T) *ValkeyServer {
	t.Helper()
	srv, err := StartValkeyServer(context.Background())
	if errors.Is(err, ErrNoValkeyServer) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// TestDifferential applies seeded random call sequences to a private Valkey and to the
// embedded engine, comparing replies and keyspaces after every step.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	srv := privateServer(t)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seed := *flagDiffSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	cfg := DiffConfig{Seed: seed, Sequences: *flagDiff, Steps: *flagDiffSteps, Reference: c}
	if *flagDiffTrace {
		cfg.Log = os.Stdout
	}
	start := time.Now()
	st, err := RunDiff(context.Background(), cfg)
	t.Logf("seeds %d..%d: %d sequences, %d steps, %d calls, %d restarts, %d inconclusive in %v",
		seed, seed+uint64(cfg.Sequences)-1, st.Sequences, st.Steps, st.Calls, st.Retries, st.Inconclusive, time.Since(start).Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("reference outcomes per function:\n%s", st.Coverage())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestReplayCommandNamesLibraries: a failure found with other libraries than
// the generated one prints a replay command that loads them again.
func TestReplayCommandNamesLibraries(t *testing.T) {
	f := &DiffFailure{Seed: 42, Step: 3, Msg: "differs", ReplayFlags: "-diff-reference /tmp/old.lua"}
	want := "-diff 1 -diff-seed 42 -diff-steps 4 -v -diff-reference /tmp/old.lua"
	if !strings.Contains(f.Error(), want) {
		t.Fatalf("failure text lacks %q:\n%s", want, f.Error())
	}
}
