package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/valkey-io/valkey-go"
)

// A Target is one server the scenarios run on: the embedded engine, a standalone Valkey
// or a Valkey cluster. Scenarios reach it only through Client (the generated ffscripts
// calls and plain reads for state assertions).
type Target struct {
	Name   string        // the spec it was opened from, e.g. "valkey://127.0.0.1:16379"
	Kind   string        // "embedded", "valkey" or "cluster"
	Client valkey.Client // the valkey-go client of the target

	// Embedded is the engine behind an embedded target, nil otherwise. Its clock is
	// frozen and moved only by the scenarios, so expiry needs no waiting.
	Embedded *embedded.Server

	closers []func()
}

// baseTime is where an embedded target's clock starts: fixed, so runs are repeatable.
var baseTime = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// Open connects to the target named by spec:
//
//	embedded                       a fresh in-process engine (clock frozen at a fixed time)
//	valkey://host:port             a standalone Valkey
//	cluster://host:port,host:port  a Valkey cluster (the seed nodes)
//
// With load set, the generated library is loaded on every primary (FUNCTION LOAD REPLACE
// when the version or the code differs, as ffscripts.Load does). Without it the server
// must already run a library that answers ff_version with ffscripts.LibraryVersion: that
// certifies a deployment loaded by someone else.
func Open(ctx context.Context, spec string, load bool) (*Target, error) {
	t, err := dial(spec)
	if err != nil {
		return nil, err
	}
	if load {
		err = ffscripts.Load(ctx, t.Client)
	} else {
		err = checkVersion(ctx, t.Client)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: %w", spec, err)
	}
	return t, nil
}

func dial(spec string) (*Target, error) {
	switch {
	case spec == "embedded":
		return openEmbedded(embedded.WithTime(baseTime))
	case strings.HasPrefix(spec, "valkey://"):
		addr := strings.TrimPrefix(spec, "valkey://")
		if addr == "" || strings.Contains(addr, ",") {
			return nil, fmt.Errorf("target %q: want valkey://host:port (use cluster:// for several nodes)", spec)
		}
		c, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", spec, err)
		}
		return &Target{Name: spec, Kind: "valkey", Client: c, closers: []func(){c.Close}}, nil
	case strings.HasPrefix(spec, "cluster://"):
		addrs := strings.Split(strings.TrimPrefix(spec, "cluster://"), ",")
		if addrs[0] == "" {
			return nil, fmt.Errorf("target %q: want cluster://host:port[,host:port...]", spec)
		}
		c, err := valkey.NewClient(valkey.ClientOption{InitAddress: addrs, DisableCache: true, ShuffleInit: true})
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", spec, err)
		}
		if n := len(c.Nodes()); n < 2 {
			c.Close()
			return nil, fmt.Errorf("target %q: the client sees %d node(s); is it a cluster?", spec, n)
		}
		return &Target{Name: spec, Kind: "cluster", Client: c, closers: []func(){c.Close}}, nil
	}
	return nil, fmt.Errorf("unknown target %q: want embedded, valkey://host:port or cluster://host:port,...", spec)
}

func openEmbedded(opts ...embedded.Option) (*Target, error) {
	s, err := embedded.New(opts...)
	if err != nil {
		return nil, err
	}
	c, err := valkey.NewClient(s.ClientOption())
	if err != nil {
		s.Close()
		return nil, err
	}
	return &Target{Name: "embedded", Kind: "embedded", Client: c, Embedded: s,
		closers: []func(){c.Close, func() { s.Close() }}}, nil
}

// checkVersion verifies that every primary answers ff_version with our version.
func checkVersion(ctx context.Context, c valkey.Client) error {
	var errs []error
	for addr, n := range c.Nodes() {
		v, err := ffscripts.New(n).Version(ctx, ffscripts.VersionKeys{}, ffscripts.VersionArgs{})
		if err != nil {
			if strings.HasPrefix(err.Error(), "READONLY") {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: ff_version: %w (load the library, or run with -load)", addr, err))
			continue
		}
		if v != ffscripts.LibraryVersion {
			errs = append(errs, fmt.Errorf("%s: ff_version = %q, this suite checks %q", addr, v, ffscripts.LibraryVersion))
		}
	}
	return errors.Join(errs...)
}

// Close releases the client (and stops an embedded engine).
func (t *Target) Close() {
	for _, f := range t.closers {
		f()
	}
	t.closers = nil
}

// CanMoveClock reports whether scenarios can move the target's clock (embedded only).
func (t *Target) CanMoveClock() bool { return t.Embedded != nil }

// NowMs returns the target's time in ms, as the library computes "now" from TIME.
func (t *Target) NowMs(ctx context.Context) (int64, error) {
	if t.Embedded != nil {
		return t.Embedded.Now().UnixMilli(), nil
	}
	v, err := t.Client.Do(ctx, t.Client.B().Time().Build()).AsStrSlice()
	if err != nil {
		return 0, fmt.Errorf("TIME: %w", err)
	}
	if len(v) != 2 {
		return 0, fmt.Errorf("TIME: %d elements", len(v))
	}
	var sec, usec int64
	if _, err := fmt.Sscan(v[0], &sec); err != nil {
		return 0, fmt.Errorf("TIME: %w", err)
	}
	if _, err := fmt.Sscan(v[1], &usec); err != nil {
		return 0, fmt.Errorf("TIME: %w", err)
	}
	return sec*1000 + usec/1000, nil
}

// OpenEmbeddedWith returns an embedded target running the library source src instead
// of the generated one: the suite's own tests load deliberately broken libraries this
// way (never on a shared server).
func OpenEmbeddedWith(ctx context.Context, src string) (*Target, error) {
	t, err := openEmbedded(embedded.WithTime(baseTime))
	if err != nil {
		return nil, err
	}
	if err := loadSource(ctx, t.Client, src); err != nil {
		t.Close()
		return nil, fmt.Errorf("loading the library: %w", err)
	}
	return t, nil
}

// OpenSource connects to the target named by spec and loads the library source src
// (FUNCTION LOAD REPLACE on every primary), for trying a library that is not the
// generated one: a Lua change before `go generate`, or a candidate release.
func OpenSource(ctx context.Context, spec, src string) (*Target, error) {
	t, err := dial(spec)
	if err != nil {
		return nil, err
	}
	for addr, n := range t.Client.Nodes() {
		err := loadSource(ctx, n, src)
		if err != nil && !strings.HasPrefix(err.Error(), "READONLY") {
			t.Close()
			return nil, fmt.Errorf("%s: loading the library on %s: %w", spec, addr, err)
		}
	}
	return t, nil
}
