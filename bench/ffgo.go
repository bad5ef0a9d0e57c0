package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// countingClient counts the round trips a valkey.Client makes: one per Do,
// one per DoMulti (a pipeline), and the commands inside them.
type countingClient struct {
	valkey.Client
	names nameCounter
}

func (c *countingClient) Do(ctx context.Context, cmd valkey.Completed) valkey.ValkeyResult {
	c.names.trip(cmd.Commands()[0])
	return c.Client.Do(ctx, cmd)
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...valkey.Completed) []valkey.ValkeyResult {
	names := make([]string, len(cmds))
	for i, cmd := range cmds {
		names[i] = cmd.Commands()[0]
	}
	c.names.trip(names...)
	return c.Client.DoMulti(ctx, cmds...)
}

// nameCounter counts round trips and the commands sent in them, by name.
type nameCounter struct {
	mu    sync.Mutex
	trips int64
	cmds  map[string]int64
}

func (n *nameCounter) trip(names ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmds == nil {
		n.cmds = map[string]int64{}
	}
	n.trips++
	for _, name := range names {
		n.cmds[strings.ToLower(name)]++
	}
}

// take returns the counts so far and starts again from zero.
func (n *nameCounter) take() (trips int64, cmds map[string]int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	trips, cmds = n.trips, n.cmds
	n.trips, n.cmds = 0, map[string]int64{}
	return trips, cmds
}

// ffLane is where the benchmark's executions live: one lane, and so one
// partition (solo executions are placed by their lane).
type ffLane struct {
	lane string
	part keyspace.Partition
}

func newLane(name string) ffLane {
	return ffLane{lane: name, part: keyspace.LanePartition(name, keyspace.DefaultFlowPartitions)}
}

func (l ffLane) createCmd(c valkey.CommandClient, payload []byte) (valkey.Completed, keyspace.ExecutionID) {
	id := keyspace.NewExecutionID(l.part)
	k := keyspace.ExecKeys(id)
	p := l.part
	cmd := ffscripts.CreateExecutionCmd(c, ffscripts.CreateExecutionKeys{
		ExecCore: k.Core(), Payload: k.Payload(), Policy: k.Policy(), Tags: k.Tags(),
		SchedulingZset: p.LaneEligible(l.lane), IdempotencyKey: p.Noop(),
		ExecutionDeadline: p.ExecutionDeadline(), AllExecutions: p.AllExecutions(),
	}, ffscripts.CreateExecutionArgs{
		ExecutionID: id.String(), Namespace: "bench", LaneID: l.lane, ExecutionKind: "bench",
		CreatorIdentity: "bench", PolicyJSON: "{}", InputPayload: payload, TagsJSON: "{}",
		PartitionID: strconv.Itoa(int(p)),
	})
	return cmd, id
}

// createExecutions creates n executions with the given payload, pipelined in
// batches, and returns their ids.
func (l ffLane) createExecutions(ctx context.Context, c valkey.Client, n int, payload []byte) ([]keyspace.ExecutionID, error) {
	const batch = 200
	ids := make([]keyspace.ExecutionID, 0, n)
	for done := 0; done < n; {
		m := min(batch, n-done)
		cmds := make(valkey.Commands, 0, m)
		for range m {
			cmd, id := l.createCmd(c, payload)
			cmds = append(cmds, cmd)
			ids = append(ids, id)
		}
		for _, r := range c.DoMulti(ctx, cmds...) {
			if _, err := ffscripts.ParseCreateExecution(r); err != nil {
				return nil, fmt.Errorf("create execution: %w", err)
			}
		}
		done += m
	}
	return ids, nil
}

func (l ffLane) claimNextKeys(instance string) ffscripts.ClaimNextKeys {
	p := l.part
	return ffscripts.ClaimNextKeys{
		LaneEligible: p.LaneEligible(l.lane), LaneBlockedRoute: p.LaneBlockedRoute(l.lane),
		LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(instance),
		LaneActive: p.LaneActive(l.lane), AttemptTimeout: p.AttemptTimeout(),
		ExecutionDeadline: p.ExecutionDeadline(),
	}
}

func claimNextArgs(lane, instance string) ffscripts.ClaimNextArgs {
	return ffscripts.ClaimNextArgs{
		WorkerID: "bench", WorkerInstanceID: instance, LaneID: lane,
		LeaseID: uuid.NewString(), AttemptID: uuid.NewString(),
		LeaseTTLMs: 30000, RenewBeforeMs: 20000, AttemptPolicyJSON: "{}",
	}
}

// claimed is what a claim hands the handler and what completing it needs.
type claimed struct {
	id      keyspace.ExecutionID
	lease   string
	epoch   int64
	attempt string
	index   int64
	kind    string // attempt type: initial, retry, resumed, ...
	payload []byte
}

func (l ffLane) claimNext(ctx context.Context, c *ffscripts.Client, instance string) (claimed, error) {
	r, err := c.ClaimNext(ctx, l.claimNextKeys(instance), claimNextArgs(l.lane, instance))
	if err != nil {
		return claimed{}, err
	}
	id, err := keyspace.ParseExecutionID(r.ExecutionID)
	if err != nil {
		return claimed{}, err
	}
	return claimed{id: id, lease: r.LeaseID, epoch: r.LeaseEpoch, attempt: r.AttemptID,
		index: r.AttemptIndex, kind: r.AttemptType, payload: r.Payload}, nil
}

func (l ffLane) completeKeys(t claimed, instance string) ffscripts.CompleteExecutionKeys {
	k := keyspace.ExecKeys(t.id)
	p := l.part
	idx := uint32(t.index)
	return ffscripts.CompleteExecutionKeys{
		ExecCore: k.Core(), AttemptHash: k.Attempt(idx), LeaseExpiry: p.LeaseExpiry(),
		WorkerLeases: p.WorkerLeases(instance), LaneTerminal: p.LaneTerminal(l.lane),
		LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(), LaneActive: p.LaneActive(l.lane),
		StreamMeta: k.StreamMeta(idx), Result: k.Result(), AttemptTimeout: p.AttemptTimeout(),
		ExecutionDeadline: p.ExecutionDeadline(),
	}
}

func completeArgs(t claimed, result []byte) ffscripts.CompleteExecutionArgs {
	return ffscripts.CompleteExecutionArgs{ExecutionID: t.id.String(), LeaseID: t.lease,
		LeaseEpoch: strconv.FormatInt(t.epoch, 10), AttemptID: t.attempt, ResultPayload: result}
}

func (l ffLane) complete(ctx context.Context, c *ffscripts.Client, t claimed, instance string) error {
	_, err := c.CompleteExecution(ctx, l.completeKeys(t, instance), completeArgs(t, []byte("ok")))
	return err
}

// drainResult is one timed drain of n tasks.
type drainResult struct {
	N       int
	Elapsed time.Duration
	Lat     latencies // claim (or pop) sent → completion acknowledged
}

func (d drainResult) rate() float64 { return float64(d.N) / d.Elapsed.Seconds() }

// drainScripts drains the lane with the generated calls directly: workers
// goroutines loop over ff_claim_next + ff_complete_execution on one shared
// client until the lane is empty. It is the stand-in for the worker package's
// Run loop with MaxConcurrentTasks = workers.
func drainScripts(ctx context.Context, db valkey.Client, l ffLane, n, workers int) (drainResult, error) {
	const instance = "bench-1"
	c := ffscripts.New(db)
	return drainLoop(ctx, n, workers, func() (bool, error) {
		t, err := l.claimNext(ctx, c, instance)
		if errors.Is(err, ffscripts.ErrNoEligibleExecution) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		return false, l.complete(ctx, c, t, instance)
	}, nil)
}

// drainLoop runs workers goroutines that each call task until it reports the queue empty
// or fails; every successful call is one executed task, whose latency is recorded. The
// n-th task stamps the elapsed time and then runs last (when not nil), e.g. to release
// blocked poppers. The first error ends the drain; so does a count other than n.
func drainLoop(ctx context.Context, n, workers int, task func() (empty bool, err error), last func() error) (drainResult, error) {
	var (
		mu    sync.Mutex
		lats  = make([]time.Duration, 0, n)
		done  atomic.Int64
		end   atomic.Int64
		wg    sync.WaitGroup
		first error
		once  sync.Once
	)
	fail := func(err error) { once.Do(func() { first = err }) }
	start := time.Now()
	defer progress("drain", n, &done)()
	for range workers {
		wg.Go(func() {
			local := make([]time.Duration, 0, n/workers+1)
			defer func() {
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				t0 := time.Now()
				empty, err := task()
				if err != nil {
					fail(err)
					return
				}
				if empty {
					return
				}
				local = append(local, time.Since(t0))
				if done.Add(1) == int64(n) {
					end.Store(int64(time.Since(start)))
					if last != nil {
						if err := last(); err != nil {
							fail(err)
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return drainResult{}, first
	}
	if got := done.Load(); got != int64(n) {
		return drainResult{}, fmt.Errorf("drained %d executions, want %d", got, n)
	}
	return drainResult{N: n, Elapsed: time.Duration(end.Load()), Lat: summarize(lats)}, nil
}

// checkDrained verifies that the lane holds n terminal executions and nothing
// eligible or active: every drained execution really completed.
func (l ffLane) checkDrained(ctx context.Context, db valkey.Client, n int) error {
	p := l.part
	res := db.DoMulti(ctx,
		db.B().Zcard().Key(p.LaneTerminal(l.lane)).Build(),
		db.B().Zcard().Key(p.LaneEligible(l.lane)).Build(),
		db.B().Zcard().Key(p.LaneActive(l.lane)).Build())
	var got [3]int64
	for i, r := range res {
		v, err := r.AsInt64()
		if err != nil {
			return err
		}
		got[i] = v
	}
	if got != [3]int64{int64(n), 0, 0} {
		return fmt.Errorf("after the drain: %d terminal, %d eligible, %d active; want %d, 0, 0", got[0], got[1], got[2], n)
	}
	return nil
}
