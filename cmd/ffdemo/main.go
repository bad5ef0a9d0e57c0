// Command ffdemo runs FlowFabric workers over a batch of executions and reports
// what happened. By default everything runs in-process on the embedded engine
// (no server needed); -addr (or FFGO_VALKEY_ADDR) points it at a real Valkey,
// and a comma-separated list at a cluster.
//
// The batch has ordinary tasks, some that fail once and are retried, and some
// that suspend until an approver delivers a signal; and before the workers
// start, one more worker claims a few executions and crashes, so that the
// others reclaim them once its leases run out. Progress is printed while the
// workers run, then a summary.
//
//	go run ./cmd/ffdemo
//	go run ./cmd/ffdemo -addr 127.0.0.1:16379 -n 2000 -workers 4
package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/embedded"
	"github.com/flowfabric/ffgo/keyspace"
	ffsignal "github.com/flowfabric/ffgo/signal"
	"github.com/flowfabric/ffgo/worker"
)

type config struct {
	addr        string
	n           int
	workers     int
	concurrency int
	flakyEvery  int
	approvals   int
	crashes     int
	work        time.Duration
	timeout     time.Duration
	verbose     bool
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", os.Getenv("FFGO_VALKEY_ADDR"), "Valkey address, or comma-separated cluster addresses; empty runs the embedded engine (env FFGO_VALKEY_ADDR)")
	flag.IntVar(&cfg.n, "n", 1000, "executions to create")
	flag.IntVar(&cfg.workers, "workers", 3, "worker instances")
	flag.IntVar(&cfg.concurrency, "concurrency", 8, "tasks each worker runs at once")
	flag.IntVar(&cfg.flakyEvery, "flaky-every", 25, "every k-th execution fails its first attempt and is retried (0: none)")
	flag.IntVar(&cfg.approvals, "approvals", 2, "executions that suspend until an approval signal arrives")
	flag.IntVar(&cfg.crashes, "crashes", 2, "executions claimed by a worker that then crashes, reclaimed by the others after its lease (500ms) runs out")
	flag.DurationVar(&cfg.work, "work", time.Millisecond, "simulated work per task")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "give up after this long")
	flag.BoolVar(&cfg.verbose, "v", false, "log the workers' info messages")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ffdemo:", err)
		os.Exit(1)
	}
}

// server is where the demo runs: the configured Valkey, or a fresh embedded
// engine.
type server struct {
	what  string
	opt   valkey.ClientOption
	close func()
}

func open(addr string) (*server, error) {
	if addr == "" {
		srv, err := embedded.New()
		if err != nil {
			return nil, err
		}
		return &server{what: "embedded engine (in-process)", opt: srv.ClientOption(), close: func() { srv.Close() }}, nil
	}
	addrs := strings.Split(addr, ",")
	what := "Valkey at " + addr
	if len(addrs) > 1 {
		what = "Valkey cluster at " + addr
	}
	return &server{what: what, opt: valkey.ClientOption{InitAddress: addrs, DisableCache: true}, close: func() {}}, nil
}

// client opens a client of the server.
func (s *server) client() (valkey.Client, error) {
	c, err := valkey.NewClient(s.opt)
	if err != nil {
		return nil, fmt.Errorf("connecting to the %s: %w", s.what, err)
	}
	return c, nil
}

// stats are the counters the handlers keep.
type stats struct {
	completed, failedOnce, resumed, suspended atomic.Int64
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	if cfg.n < 1 || cfg.workers < 1 || cfg.concurrency < 1 || cfg.approvals < 0 || cfg.approvals > cfg.n ||
		cfg.crashes < 0 || cfg.crashes > cfg.n {
		return errors.New("need -n >= 1, -workers >= 1, -concurrency >= 1, 0 <= -approvals <= -n and 0 <= -crashes <= -n")
	}
	srv, err := open(cfg.addr)
	if err != nil {
		return err
	}
	defer srv.close()
	db, err := srv.client()
	if err != nil {
		return err
	}
	defer db.Close()
	where := srv.what
	level := slog.LevelWarn
	if cfg.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// Own names, so runs on a shared server never meet.
	runID := randomHex(4)
	// The crashed worker's executions have a lane of their own, so that it
	// claims nothing else; the other workers serve both lanes.
	ns, lane, crashLane := "ffdemo-"+runID, "demo-"+runID, "demo-"+runID+"-c"
	client, err := worker.NewClient(ctx, db, worker.ClientOptions{Namespace: ns})
	if err != nil {
		return err
	}
	if err := client.EnsureWaitpointSecret(ctx, "k1", randomHex(32)); err != nil {
		return err
	}
	fmt.Fprintf(out, "ffdemo: %s, %d partitions, namespace %s, lane %s\n", where, client.PartitionConfig().NumFlowPartitions, ns, lane)

	ids, err := createBatch(ctx, client, cfg, lane, crashLane)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "created %d executions (%d fail once, %d wait for approval) across the partitions\n",
		len(ids), flakyCount(cfg), cfg.approvals)

	crashed, err := crash(ctx, srv, cfg, ns, crashLane, runID)
	if err != nil {
		return err
	}
	if crashed > 0 {
		fmt.Fprintf(out, "a worker claimed %d executions and crashed; their leases run out in %v\n", crashed, crashLease)
	}

	var st stats
	approvalsDue := make(chan approval, cfg.approvals)
	start := time.Now()
	runCtx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var workers []*worker.Worker
	for i := range cfg.workers {
		w, err := worker.Connect(ctx, db, worker.Options{
			Namespace: ns, WorkerID: "ffdemo", InstanceID: fmt.Sprintf("ffdemo-%s-%d", runID, i+1),
			Lanes: []string{lane, crashLane}, MaxConcurrentTasks: cfg.concurrency, LeaseTTL: 10 * time.Second,
			MaxPollInterval: 100 * time.Millisecond, Logger: log, ManagedLibrary: true,
		})
		if err != nil {
			stopWorkers()
			wg.Wait()
			return err
		}
		workers = append(workers, w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(runCtx, handler(cfg, &st, approvalsDue)); err != nil {
				log.Error("worker stopped", "err", err)
			}
		}()
	}
	defer func() {
		stopWorkers()
		wg.Wait()
		for _, w := range workers {
			w.Close(context.Background())
		}
	}()
	// The approver: a person or a webhook, acting a little later.
	go approve(runCtx, workers[0], approvalsDue, log)

	others, err := waitDone(ctx, cfg, &st, workers, out, start, crashed)
	if err != nil {
		reportPending(context.WithoutCancel(ctx), client, ids, out)
		return err
	}
	elapsed := time.Since(start)
	stopWorkers()
	wg.Wait()
	return summarize(ctx, client, ids, elapsed, others, crashed, &st, out)
}

func flakyCount(cfg config) int {
	if cfg.flakyEvery <= 0 {
		return 0
	}
	return (cfg.n - cfg.approvals - cfg.crashes) / cfg.flakyEvery
}

// createBatch creates the executions in random partitions: approvals first,
// then those the crashed worker takes (on crashLane), then the rest.
func createBatch(ctx context.Context, client *worker.Client, cfg config, lane, crashLane string) ([]keyspace.ExecutionID, error) {
	parts := client.PartitionConfig().NumFlowPartitions
	ids := make([]keyspace.ExecutionID, 0, cfg.n)
	for i := range cfg.n {
		opts := worker.CreateOptions{
			ID:      keyspace.NewExecutionID(keyspace.Partition(rand.IntN(int(parts)))),
			Lane:    lane,
			Kind:    "resize",
			Payload: []byte(fmt.Sprintf(`{"image":%d}`, i)),
			Tags:    map[string]string{"demo.batch": "1"},
			Retry:   &worker.RetryPolicy{MaxRetries: 2, Delay: 20 * time.Millisecond},
		}
		switch {
		case i < cfg.approvals:
			opts.Kind, opts.Priority = "approval", 100
		case i < cfg.approvals+cfg.crashes:
			opts.Lane = crashLane
		case cfg.flakyEvery > 0 && (i-cfg.approvals-cfg.crashes+1)%cfg.flakyEvery == 0:
			opts.Kind = "flaky"
		}
		id, err := client.Create(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("creating execution %d: %w", i, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// crashLease is the lease of the worker that crashes.
const crashLease = 500 * time.Millisecond

// crash connects one more worker on its own connection, claims cfg.crashes
// executions with it and drops the connection: a process killed mid-task,
// whose leases nobody renews. The other workers reclaim the executions once
// the leases have run out.
func crash(ctx context.Context, srv *server, cfg config, ns, lane, runID string) (int, error) {
	if cfg.crashes == 0 {
		return 0, nil
	}
	db, err := srv.client()
	if err != nil {
		return 0, err
	}
	w, err := worker.Connect(ctx, db, worker.Options{
		Namespace: ns, WorkerID: "ffdemo", InstanceID: "ffdemo-" + runID + "-crashes", Lanes: []string{lane},
		MaxConcurrentTasks: cfg.crashes, LeaseTTL: crashLease, ManagedLibrary: true, PollOnly: true,
		Logger: slog.New(slog.DiscardHandler), // its renewals fail after the crash
	})
	if err != nil {
		db.Close()
		return 0, err
	}
	defer func() {
		// The crash: the connection goes first, so Close can hand nothing
		// back and only stops the worker's goroutines (its renewals fail).
		db.Close()
		w.Close(context.WithoutCancel(ctx))
	}()
	claimed := 0
	for tries := 0; claimed < cfg.crashes && tries < 100*cfg.crashes; tries++ {
		if _, err := w.ClaimNext(ctx); err == nil {
			claimed++
		} else if !errors.Is(err, worker.ErrNoTask) {
			return claimed, err
		}
	}
	return claimed, nil
}

type approval struct {
	id keyspace.ExecutionID
	wp worker.Waitpoint
}

func handler(cfg config, st *stats, approvals chan<- approval) worker.Handler {
	return func(ctx context.Context, t *worker.Task) error {
		switch {
		case t.Kind == "approval" && t.AttemptType != "resumed":
			s, err := t.Suspend(ctx, worker.SuspendOptions{Condition: ffsignal.AnyOf("approve", "reject"), Timeout: time.Minute})
			if err != nil {
				return err
			}
			st.suspended.Add(1)
			approvals <- approval{id: t.ID, wp: s.Waitpoint}
			return nil
		case t.Kind == "approval":
			st.resumed.Add(1)
		case t.Kind == "flaky" && t.AttemptIndex == 0:
			st.failedOnce.Add(1)
			return errors.New("simulated transient failure")
		}
		if cfg.work > 0 {
			select {
			case <-time.After(cfg.work):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if err := t.Complete(ctx, []byte(`{"ok":true}`)); err != nil {
			return err
		}
		st.completed.Add(1)
		return nil
	}
}

// approve delivers an approval signal to each suspended execution.
func approve(ctx context.Context, w *worker.Worker, due <-chan approval, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-due:
			time.Sleep(50 * time.Millisecond) // somebody reads the request
			_, err := w.DeliverSignal(ctx, a.id, a.wp.ID, worker.Signal{
				Name: "approve", Token: a.wp.Token, Lane: a.wp.Lane, Payload: []byte(`{"by":"ffdemo"}`),
				IdempotencyKey: "approval"})
			if err != nil && ctx.Err() == nil {
				log.Error("delivering the approval failed", "execution_id", a.id, "err", err)
			}
		}
	}
}

// waitDone prints progress until every execution completed. It returns how
// long after start all but the crashed worker's executions had.
func waitDone(ctx context.Context, cfg config, st *stats, workers []*worker.Worker, out io.Writer, start time.Time, crashed int) (time.Duration, error) {
	var others time.Duration
	check := time.NewTicker(5 * time.Millisecond)
	defer check.Stop()
	show := time.NewTicker(250 * time.Millisecond)
	defer show.Stop()
	deadline := time.After(cfg.timeout)
	for {
		done := st.completed.Load()
		if others == 0 && done >= int64(cfg.n-crashed) {
			others = time.Since(start)
		}
		if done >= int64(cfg.n) {
			return others, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-deadline:
			return 0, fmt.Errorf("timed out after %v with %d of %d completed", cfg.timeout, done, cfg.n)
		case <-check.C:
		case <-show.C:
			running := 0
			for _, w := range workers {
				running += w.Running()
			}
			fmt.Fprintf(out, "  %5d/%d completed, %2d running, %d retried, %d suspended, %d resumed\n",
				done, cfg.n, running, st.failedOnce.Load(), st.suspended.Load(), st.resumed.Load())
		}
	}
}

// summarize reads every execution's final state from the server.
func summarize(ctx context.Context, client *worker.Client, ids []keyspace.ExecutionID, elapsed, others time.Duration, crashed int, st *stats, out io.Writer) error {
	byState := map[string]int{}
	retried, reclaimed := 0, 0
	for _, id := range ids {
		s, err := client.State(ctx, id)
		if err != nil {
			return err
		}
		byState[s.PublicState]++
		if s.Retries > 0 {
			retried++
		}
		if s.Reclaims > 0 {
			reclaimed++
		}
	}
	fmt.Fprintf(out, "\nsummary (from the server's state):\n")
	fmt.Fprintf(out, "  completed   %d of %d\n", byState["completed"], len(ids))
	fmt.Fprintf(out, "  retried     %d (failed once, then completed)\n", retried)
	fmt.Fprintf(out, "  resumed     %d (suspended, signalled, resumed)\n", st.resumed.Load())
	fmt.Fprintf(out, "  reclaimed   %d (their worker crashed; taken over when the lease ran out)\n", reclaimed)
	fmt.Fprintf(out, "  elapsed     %v\n", elapsed.Round(time.Millisecond))
	if crashed == 0 {
		fmt.Fprintf(out, "  throughput  %.0f executions/s\n", float64(byState["completed"])/elapsed.Seconds())
	} else {
		// The reclaimed ones wait for their lease to run out: leave them out.
		fmt.Fprintf(out, "  throughput  %.0f executions/s (the %d others, done in %v)\n",
			float64(len(ids)-crashed)/others.Seconds(), len(ids)-crashed, others.Round(time.Millisecond))
	}
	if byState["completed"] != len(ids) {
		return fmt.Errorf("not every execution completed: %v", byState)
	}
	return nil
}

// reportPending lists the executions that did not complete, for a run that
// gave up.
func reportPending(ctx context.Context, client *worker.Client, ids []keyspace.ExecutionID, out io.Writer) {
	for _, id := range ids {
		s, err := client.State(ctx, id)
		if err != nil {
			fmt.Fprintf(out, "  %s: %v\n", id, err)
			continue
		}
		if s.PublicState != "completed" {
			fmt.Fprintf(out, "  %s %s: %s (%s: %s), %d attempts\n", id, s.Kind, s.PublicState, s.BlockingReason, s.BlockingDetail, s.Attempts)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	crand.Read(b)
	return hex.EncodeToString(b)
}
