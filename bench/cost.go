package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// fnCost is the server cost of one library function measured in isolation:
// INFO commandstats around a batch of calls of that function alone.
type fnCost struct {
	Name        string
	Calls       int64
	UsecPerCall float64 // cmdstat_fcall usec / calls: the whole call, Lua included
	NestedCalls float64 // data commands the function ran per call (redis.call)
	NestedUsec  float64 // their usec per call; the rest of UsecPerCall is Lua and glue
}

// parallel runs fn(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first error
		once  sync.Once
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// measure resets the server statistics, runs fn, and returns the FCALL cost
// per call split into nested data commands and the rest.
func measure(ctx context.Context, db valkey.Client, name string, fn func() error) (fnCost, error) {
	if err := resetStats(ctx, db); err != nil {
		return fnCost{}, err
	}
	if err := fn(); err != nil {
		return fnCost{}, fmt.Errorf("%s: %w", name, err)
	}
	st, err := readStats(ctx, db)
	if err != nil {
		return fnCost{}, err
	}
	f := st["fcall"]
	if f.Calls == 0 {
		return fnCost{}, fmt.Errorf("%s: no FCALL counted", name)
	}
	var nested cmdStat
	for n, s := range st {
		if n != "fcall" {
			nested.Calls += s.Calls
			nested.Usec += s.Usec
		}
	}
	c := float64(f.Calls)
	return fnCost{Name: name, Calls: f.Calls, UsecPerCall: float64(f.Usec) / c,
		NestedCalls: float64(nested.Calls) / c, NestedUsec: float64(nested.Usec) / c}, nil
}

// functionCosts measures the functions of an execution's life one at a time,
// m calls each, on a fresh lane: create, claim_next, renew, complete; the
// contract claim path (grant + claim); suspend, deliver_signal and the
// resumed claim_next.
func functionCosts(ctx context.Context, db valkey.Client, lane ffLane, m, workers int, payload []byte) ([]fnCost, error) {
	const instance = "bench-cost"
	c := ffscripts.New(db)
	var out []fnCost
	add := func(name string, fn func() error) error {
		fc, err := measure(ctx, db, name, fn)
		if err != nil {
			return err
		}
		out = append(out, fc)
		return nil
	}
	ts := make([]claimed, m)
	claimAll := func() error {
		return parallel(m, workers, func(i int) error {
			var err error
			ts[i], err = lane.claimNext(ctx, c, instance)
			return err
		})
	}
	completeAll := func() error {
		return parallel(m, workers, func(i int) error { return lane.complete(ctx, c, ts[i], instance) })
	}
	var ids []keyspace.ExecutionID
	create := func() error {
		var err error
		ids, err = lane.createExecutions(ctx, db, m, payload)
		return err
	}

	// 1. the drain path: create, claim_next, renew, complete
	if err := add("ff_create_execution", create); err != nil {
		return nil, err
	}
	if err := add("ff_claim_next", claimAll); err != nil {
		return nil, err
	}
	if err := add("ff_renew_lease", func() error {
		return parallel(m, workers, func(i int) error {
			t := ts[i]
			k := keyspace.ExecKeys(t.id)
			_, err := c.RenewLease(ctx, ffscripts.RenewLeaseKeys{ExecCore: k.Core(),
				LeaseCurrent: k.LeaseCurrent(), LeaseHistory: k.LeaseHistory(), LeaseExpiry: lane.part.LeaseExpiry()},
				ffscripts.RenewLeaseArgs{ExecutionID: t.id.String(), AttemptIndex: strconv.FormatInt(t.index, 10),
					AttemptID: t.attempt, LeaseID: t.lease, LeaseEpoch: strconv.FormatInt(t.epoch, 10),
					LeaseTTLMs: 30000, LeaseHistoryGraceMs: 5000})
			return err
		})
	}); err != nil {
		return nil, err
	}
	if err := add("ff_complete_execution", completeAll); err != nil {
		return nil, err
	}

	// 2. the contract claim path: issue a grant, then claim it
	if err := create(); err != nil {
		return nil, err
	}
	if err := add("ff_issue_claim_grant", func() error {
		return parallel(m, workers, func(i int) error {
			k := keyspace.ExecKeys(ids[i])
			_, err := c.IssueClaimGrant(ctx, ffscripts.IssueClaimGrantKeys{ExecCore: k.Core(),
				ClaimGrant: k.ClaimGrant(), LaneEligible: lane.part.LaneEligible(lane.lane)},
				ffscripts.IssueClaimGrantArgs{ExecutionID: ids[i].String(), WorkerID: "bench",
					WorkerInstanceID: instance, LaneID: lane.lane, GrantTTLMs: 5000})
			return err
		})
	}); err != nil {
		return nil, err
	}
	if err := add("ff_claim_execution", func() error {
		return parallel(m, workers, func(i int) error {
			k := keyspace.ExecKeys(ids[i])
			p := lane.part
			lease, attempt := uuid.NewString(), uuid.NewString()
			r, err := c.ClaimExecution(ctx, ffscripts.ClaimExecutionKeys{ExecCore: k.Core(),
				ClaimGrant: k.ClaimGrant(), LaneEligible: p.LaneEligible(lane.lane), LeaseExpiry: p.LeaseExpiry(),
				WorkerLeases: p.WorkerLeases(instance), AttemptHash: k.Attempt(0), AttemptUsage: k.AttemptUsage(0),
				AttemptPolicy: k.AttemptPolicy(0), AttemptsZset: k.Attempts(), LeaseCurrent: k.LeaseCurrent(),
				LeaseHistory: k.LeaseHistory(), LaneActive: p.LaneActive(lane.lane), AttemptTimeout: p.AttemptTimeout(),
				ExecutionDeadline: p.ExecutionDeadline()},
				ffscripts.ClaimExecutionArgs{ExecutionID: ids[i].String(), WorkerID: "bench",
					WorkerInstanceID: instance, LaneID: lane.lane, LeaseID: lease, LeaseTTLMs: 30000,
					RenewBeforeMs: 20000, AttemptID: attempt, AttemptPolicyJSON: "{}"})
			if err == nil {
				ts[i] = claimed{id: ids[i], lease: r.LeaseID, epoch: r.LeaseEpoch, attempt: r.AttemptID, index: r.AttemptIndex}
			}
			return err
		})
	}); err != nil {
		return nil, err
	}
	if err := completeAll(); err != nil {
		return nil, err
	}

	// 3. suspend → signal → resumed claim
	if err := lane.installSecret(ctx, c); err != nil {
		return nil, err
	}
	if err := create(); err != nil {
		return nil, err
	}
	if err := claimAll(); err != nil {
		return nil, err
	}
	ws := make([]waiting, m)
	if err := add("ff_suspend_execution", func() error {
		return parallel(m, workers, func(i int) error {
			var err error
			ws[i], err = lane.suspend(ctx, c, ts[i], instance)
			return err
		})
	}); err != nil {
		return nil, err
	}
	if err := add("ff_deliver_signal", func() error {
		return parallel(m, workers, func(i int) error { return lane.deliver(ctx, db, ws[i]) })
	}); err != nil {
		return nil, err
	}
	if err := add("ff_claim_next (resumed)", claimAll); err != nil {
		return nil, err
	}
	if err := completeAll(); err != nil {
		return nil, err
	}
	return out, nil
}
