package conformance

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"
)

var (
	flagDiff      = flag.Int("conformance-diff", 1000, "number of differential sequences")
	flagDiffSeed  = flag.Uint64("conformance-seed", 1, "seed of the first differential sequence (fixed, so a run is reproducible; 0: derived from the time, printed)")
	flagDiffSteps = flag.Int("conformance-steps", 20, "calls per differential sequence")
	flagDiffTrace = flag.Bool("conformance-trace", false, "print every differential step")
)

// privateClient starts a valkey-server of this test's own (flushed freely),
// or skips, and returns a client of it; both end with the test.
func privateClient(t *testing.T) valkey.Client {
	t.Helper()
	srv, err := StartValkeyServer(context.Background())
	if errors.Is(err, ErrNoValkeyServer) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestDifferential applies seeded random call sequences to a private Valkey and to the
// embedded engine, comparing replies and keyspaces after every step.
func TestDifferential(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := privateClient(t)
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
