package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
)

// target is a server the integration tests run against.
type target struct {
	name    string
	connect func(t *testing.T) valkey.Client
}

func targets() []target {
	return []target{
		{"valkey", func(t *testing.T) valkey.Client { return valkeytest.Standalone(t) }},
		{"cluster", func(t *testing.T) valkey.Client { return valkeytest.Cluster(t) }},
		{"embedded", connectEmbedded},
	}
}

func connectEmbedded(t *testing.T) valkey.Client {
	t.Helper()
	srv, err := embedded.New()
	if err != nil {
		t.Fatalf("embedded.New: %v", err)
	}
	c, err := valkey.NewClient(srv.ClientOption())
	if err != nil {
		srv.Close()
		t.Fatalf("embedded client: %v", err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return c
}

// forEachTarget runs f as a subtest on every target.
func forEachTarget(t *testing.T, f func(t *testing.T, db valkey.Client)) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			f(t, tg.connect(t))
		})
	}
}

// fixture is one test's isolated names: its own namespace and lane (so its own
// lane partition) on a shared server.
type fixture struct {
	t      testing.TB
	db     valkey.Client
	ns     string
	lane   string
	client *Client
}

func newFixture(t testing.TB, db valkey.Client) *fixture {
	t.Helper()
	suffix := uuid.NewString()[:8]
	f := &fixture{t: t, db: db, ns: "wt-" + suffix, lane: "lane-" + suffix}
	c, err := NewClient(context.Background(), db, ClientOptions{Namespace: f.ns})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	f.client = c
	return f
}

// options returns worker options for this fixture with a fresh instance id.
func (f *fixture) options(mod func(*Options)) Options {
	o := Options{
		Namespace:  f.ns,
		WorkerID:   "w",
		InstanceID: "i-" + uuid.NewString()[:8],
		Lanes:      []string{f.lane},
		Logger:     testLogger(),
		// A whole window of one partition keeps polls cheap on the shared server.
		PartitionWindow: 1,
	}
	if mod != nil {
		mod(&o)
	}
	return o
}

// connect starts a worker closed at the end of the test.
func (f *fixture) connect(mod func(*Options)) *Worker {
	f.t.Helper()
	w, err := Connect(context.Background(), f.db, f.options(mod))
	if err != nil {
		f.t.Fatalf("Connect: %v", err)
	}
	f.t.Cleanup(func() { w.Close(context.Background()) })
	return w
}

// create makes an execution on the fixture's lane.
func (f *fixture) create(opts CreateOptions) keyspace.ExecutionID {
	f.t.Helper()
	if opts.Lane == "" {
		opts.Lane = f.lane
	}
	if opts.Kind == "" {
		opts.Kind = "test"
	}
	id, err := f.client.Create(context.Background(), opts)
	if err != nil {
		f.t.Fatalf("Create: %v", err)
	}
	return id
}

// ensureSecret makes sure every partition can mint waitpoint tokens, without
// rotating a secret another test installed on the shared server.
func (f *fixture) ensureSecret() {
	f.t.Helper()
	must(f.t, f.client.EnsureWaitpointSecret(context.Background(), "k1", "00112233445566778899aabbccddeeff"), "EnsureWaitpointSecret")
}

func (f *fixture) state(id keyspace.ExecutionID) State {
	f.t.Helper()
	s, err := f.client.State(context.Background(), id)
	if err != nil {
		f.t.Fatalf("State(%s): %v", id, err)
	}
	return s
}

// claim claims the next task or fails the test.
func claim(t *testing.T, w *Worker) *Task {
	t.Helper()
	task, err := w.ClaimNext(context.Background())
	if err != nil {
		t.Fatalf("ClaimNext: %v", err)
	}
	return task
}

func testLogger() *slog.Logger {
	if os.Getenv("WORKER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// roundTrips counts the calls that reach the server: one per Do, one per
// DoMulti (a pipeline, which a cluster client fans out to the nodes at once).
type roundTrips struct {
	valkey.Client
	n atomic.Int64
}

func (c *roundTrips) Do(ctx context.Context, cmd valkey.Completed) valkey.ValkeyResult {
	c.n.Add(1)
	return c.Client.Do(ctx, cmd)
}

func (c *roundTrips) DoMulti(ctx context.Context, cmds ...valkey.Completed) []valkey.ValkeyResult {
	c.n.Add(1)
	return c.Client.DoMulti(ctx, cmds...)
}

// runUntil runs w.Run with handler while wait runs (wait may fail the test),
// then stops it and checks that Run returned no error.
func runUntil(t *testing.T, w *Worker, handler Handler, wait func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, handler) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait()
}

// waitFor polls cond until it holds, failing the test after a generous bound.
// It is a wait for a state the server reaches, not a timing assertion.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

func signalAny(names ...string) signal.ResumeCondition { return signal.AnyOf(names...) }

// claimNextSwap is a valkey.Client that sends every ff_claim_next call as the
// command swap builds from the call's words (FCALL, the name, numkeys, the
// keys, the arguments); everything else goes through unchanged. Tests use it
// to play a server without the extension, or one that answers badly.
type claimNextSwap struct {
	valkey.Client
	swap func(words []string) valkey.Completed
}

// claimNextLeaseWord is the index of the lease_id argument (the attempt_id
// follows) in the words of an ff_claim_next call.
const claimNextLeaseWord = 3 + 7 + 4

func (c *claimNextSwap) replace(cmd valkey.Completed) valkey.Completed {
	words := cmd.Commands()
	if len(words) > 1 && strings.EqualFold(words[0], "FCALL") && words[1] == ffscripts.FnClaimNext {
		return c.swap(words)
	}
	return cmd
}

func (c *claimNextSwap) Do(ctx context.Context, cmd valkey.Completed) valkey.ValkeyResult {
	return c.Client.Do(ctx, c.replace(cmd))
}

func (c *claimNextSwap) DoMulti(ctx context.Context, cmds ...valkey.Completed) []valkey.ValkeyResult {
	out := make(valkey.Commands, len(cmds))
	for i, cmd := range cmds {
		out[i] = c.replace(cmd)
	}
	return c.Client.DoMulti(ctx, out...)
}

// withoutClaimNext answers ff_claim_next as a server without the extension
// does: the server's own reply to an unknown function, so the check is real.
func withoutClaimNext(db valkey.Client) *claimNextSwap {
	return &claimNextSwap{Client: db, swap: func([]string) valkey.Completed {
		return db.B().Fcall().Function("ff_no_such_function").Numkeys(0).Build()
	}}
}
