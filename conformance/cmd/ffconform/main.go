// Command ffconform certifies servers against the flowfabric library contract: it runs the
// claim and signal scenarios on every target and prints a scenario × target table, and
// optionally the differential mode (embedded engine vs a real Valkey).
//
//	ffconform -target embedded -target valkey://127.0.0.1:16379 \
//	          -target cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003 -diff 1000
//
// Targets also come from FFCONFORM_TARGETS (space-separated) when no -target is given.
// With -load=false the library must already be loaded (ff_version must answer this
// build's version): that certifies a deployment someone else loaded.
//
// The differential mode flushes its Valkey between sequences, so it starts a private
// valkey-server (from PATH) unless -diff-valkey names one that may be flushed. With
// -diff-reference old.lua the Valkey side runs that library and the embedded side the
// candidate: the differences are what a Lua change alters (beside the engines' known ones).
// Exit status: 0 when everything passed, 1 on a failure, 2 on a usage or setup error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/conformance"
	"github.com/valkey-io/valkey-go"
)

type targetList []string

func (l *targetList) String() string     { return strings.Join(*l, " ") }
func (l *targetList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run())
}

func run() int {
	var targets targetList
	flag.Var(&targets, "target", "target to certify: embedded, valkey://host:port or cluster://host:port,... (repeatable)")
	load := flag.Bool("load", true, "load the library on every primary first (false: certify the library already loaded)")
	pattern := flag.String("run", "", "only scenarios whose name matches this regexp")
	diff := flag.Int("diff", 0, "differential sequences to run (0: none)")
	diffSeed := flag.Uint64("diff-seed", 0, "seed of the first differential sequence (0: from the clock)")
	diffSteps := flag.Int("diff-steps", 20, "calls per differential sequence")
	diffValkey := flag.String("diff-valkey", "", "valkey://host:port the differential mode may FLUSHALL (default: start a private valkey-server)")
	library := flag.String("library", "", "load this library file (FUNCTION LOAD REPLACE) on every target and on both differential sides instead of the generated one")
	diffRef := flag.String("diff-reference", "", "differential mode: load this library file on the Valkey side (e.g. the last release's), the candidate (-library, or the generated one) on the embedded side, to see what a Lua change alters")
	verbose := flag.Bool("v", false, "trace every differential step and print per-function coverage")
	flag.Parse()
	if len(targets) == 0 {
		if env := os.Getenv("FFCONFORM_TARGETS"); env != "" {
			targets = strings.Fields(env)
		} else {
			targets = targetList{"embedded"}
		}
	}
	ctx := context.Background()
	src, err := readLibrary(*library)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffconform:", err)
		return 2
	}
	refSrc := src
	if *diffRef != "" {
		if refSrc, err = readLibrary(*diffRef); err != nil {
			fmt.Fprintln(os.Stderr, "ffconform:", err)
			return 2
		}
	}
	scs, err := conformance.Select(conformance.Scenarios(), *pattern)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffconform:", err)
		return 2
	}
	rep := &conformance.Report{Scenarios: scs}
	failed := false
	if len(scs) > 0 {
		for _, spec := range targets {
			var t *conformance.Target
			var err error
			if src != "" {
				t, err = conformance.OpenSource(ctx, spec, src)
			} else {
				t, err = conformance.Open(ctx, spec, *load)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "ffconform:", err)
				return 2
			}
			rep.Add(conformance.RunAll(ctx, t, scs)...)
			t.Close()
		}
		rep.Write(os.Stdout)
		failed = rep.Failed()
	}
	if *diff > 0 {
		var replay []string
		if *library != "" {
			replay = append(replay, "-library "+*library)
		}
		if *diffRef != "" {
			replay = append(replay, "-diff-reference "+*diffRef)
		}
		ok, err := runDiff(ctx, *diff, *diffSeed, *diffSteps, *diffValkey, refSrc, src, strings.Join(replay, " "), *verbose)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ffconform:", err)
			return 2
		}
		failed = failed || !ok
	}
	if failed {
		return 1
	}
	return 0
}

// readLibrary reads a library file ("" for none: the generated library).
func readLibrary(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

func runDiff(ctx context.Context, n int, seed uint64, steps int, addr, refSrc, src, replay string, verbose bool) (bool, error) {
	if addr == "" {
		srv, err := conformance.StartValkeyServer(ctx)
		if err != nil {
			return false, err
		}
		defer srv.Close()
		addr = srv.Addr
	} else {
		addr = strings.TrimPrefix(addr, "valkey://")
	}
	c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if seed == 0 {
		seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	}
	cfg := conformance.DiffConfig{Seed: seed, Sequences: n, Steps: steps, Reference: c, RefSource: refSrc, EmbSource: src, ReplayFlags: replay}
	if verbose {
		cfg.Log = os.Stdout
	}
	start := time.Now()
	st, err := conformance.RunDiff(ctx, cfg)
	fmt.Printf("\ndifferential embedded vs valkey (%s): seeds %d..%d, %d sequences, %d calls, %d restarts, %d inconclusive, %v\n",
		addr, seed, seed+uint64(n)-1, st.Sequences, st.Calls, st.Retries, st.Inconclusive, time.Since(start).Round(time.Millisecond))
	if verbose {
		fmt.Print(st.Coverage())
	}
	var df *conformance.DiffFailure
	if errors.As(err, &df) {
		fmt.Printf("FAIL\n%v\n", df)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	fmt.Println("PASS")
	return true, nil
}
