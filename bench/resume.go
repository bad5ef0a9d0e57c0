package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
	"github.com/google/uuid"
	"github.com/valkey-io/valkey-go"
)

// benchSecret is the waitpoint HMAC secret installed in the benchmark's
// partition (any 32 bytes, hex).
const benchSecret = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// installSecret puts kid k1 with benchSecret in the partition's keystore.
func (l ffLane) installSecret(ctx context.Context, c *ffscripts.Client) error {
	_, err := c.RotateWaitpointHMACSecret(ctx,
		ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: l.part.HMACSecrets()},
		ffscripts.RotateWaitpointHMACSecretArgs{NewKid: "k1", NewSecretHex: benchSecret})
	if err != nil && !errors.Is(err, ffscripts.ErrRotationConflict) {
		return fmt.Errorf("install HMAC secret: %w", err)
	}
	return nil
}

// waiting is a suspended execution and what a signal to it needs.
type waiting struct {
	id       keyspace.ExecutionID
	waitpt   string
	token    string
	instance string
}

var (
	condJSON   = must(signal.AnyOf("go").JSON())
	policyJSON = must(signal.DefaultResumePolicy().JSON())
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func (l ffLane) suspendKeys(t claimed, instance, wp string) ffscripts.SuspendExecutionKeys {
	k := keyspace.ExecKeys(t.id)
	p := l.part
	return ffscripts.SuspendExecutionKeys{
		ExecCore: k.Core(), AttemptHash: k.Attempt(uint32(t.index)), LeaseCurrent: k.LeaseCurrent(),
		LeaseHistory: k.LeaseHistory(), LeaseExpiry: p.LeaseExpiry(), WorkerLeases: p.WorkerLeases(instance),
		SuspensionCurrent: k.SuspensionCurrent(), WaitpointHash: p.Waitpoint(wp),
		WaitpointSignals: p.WaitpointSignals(wp), SuspensionTimeout: p.SuspensionTimeout(),
		PendingWaitpointExpiry: p.PendingWaitpointExpiry(), LaneActive: p.LaneActive(l.lane),
		LaneSuspended: p.LaneSuspended(l.lane), WaitpointHistory: k.Waitpoints(),
		WaitpointCondition: p.WaitpointCondition(wp), AttemptTimeout: p.AttemptTimeout(),
		HMACSecrets: p.HMACSecrets(), SuspendDedup: p.Noop(),
	}
}

// suspend suspends a claimed execution on a fresh waitpoint waiting for a
// signal named "go".
func (l ffLane) suspend(ctx context.Context, c *ffscripts.Client, t claimed, instance string) (waiting, error) {
	wp := uuid.NewString()
	r, err := c.SuspendExecution(ctx, l.suspendKeys(t, instance, wp), ffscripts.SuspendExecutionArgs{
		ExecutionID: t.id.String(), AttemptIndex: t.index, AttemptID: t.attempt, LeaseID: t.lease,
		LeaseEpoch: fmt.Sprint(t.epoch), SuspensionID: uuid.NewString(), WaitpointID: wp,
		WaitpointKey: "wpk:" + wp, ReasonCode: "waiting_for_signal", RequestedBy: "worker",
		ResumeConditionJSON: condJSON, ResumePolicyJSON: policyJSON,
	})
	if err != nil {
		return waiting{}, fmt.Errorf("suspend: %w", err)
	}
	return waiting{id: t.id, waitpt: r.WaitpointID, token: r.WaitpointToken, instance: instance}, nil
}

func (l ffLane) deliverCmd(c valkey.CommandClient, w waiting) valkey.Completed {
	k := keyspace.ExecKeys(w.id)
	p := l.part
	sig := uuid.NewString()
	return ffscripts.DeliverSignalCmd(c, ffscripts.DeliverSignalKeys{
		ExecCore: k.Core(), WaitpointCondition: p.WaitpointCondition(w.waitpt),
		WaitpointSignals: p.WaitpointSignals(w.waitpt), ExecSignals: k.Signals(),
		SignalHash: p.Signal(sig), SignalPayload: p.SignalPayload(sig), Idempotency: p.Noop(),
		WaitpointHash: p.Waitpoint(w.waitpt), SuspensionCurrent: k.SuspensionCurrent(),
		LaneEligible: p.LaneEligible(l.lane), LaneSuspended: p.LaneSuspended(l.lane),
		LaneDelayed: p.LaneDelayed(l.lane), SuspensionTimeout: p.SuspensionTimeout(),
		HMACSecrets: p.HMACSecrets(), SignalDeliveryFeed: p.SignalDelivery(),
	}, ffscripts.DeliverSignalArgs{
		SignalID: sig, ExecutionID: w.id.String(), WaitpointID: w.waitpt, SignalName: "go",
		SignalCategory: "callback", SourceType: "bench", SourceIdentity: "bench",
		WaitpointToken: w.token,
	})
}

// deliver sends the signal that satisfies w's condition.
func (l ffLane) deliver(ctx context.Context, db valkey.Client, w waiting) error {
	r, err := ffscripts.ParseDeliverSignal(db.Do(ctx, l.deliverCmd(db, w)))
	if err != nil {
		return fmt.Errorf("deliver signal: %w", err)
	}
	if r.Effect != string(signal.EffectResumed) {
		return fmt.Errorf("deliver signal: effect %q, want %q", r.Effect, signal.EffectResumed)
	}
	return nil
}

// resumeMode is how the waiting worker learns that its execution is
// claimable again.
type resumeMode string

const (
	// resumeFeed: the worker blocks in XREAD on the partition's signal
	// delivery feed (which ff_deliver_signal appends to) and claims as soon as
	// an entry arrives.
	resumeFeed resumeMode = "feed"
	// resumePoll: the worker polls ff_claim_next at a fixed interval.
	resumePoll resumeMode = "poll"
)

// resumeResult is the latency from the signal being sent to the resumed
// handler running, and, for reference, the delivery call's own round trip.
type resumeResult struct {
	Label   string
	Mode    resumeMode
	Rounds  int
	Resume  latencies
	Deliver latencies
}

// runResume runs rounds suspend → signal → resume cycles on lane l. The worker
// side uses workerDB, the signal is sent by a separate client sigDB.
func runResume(ctx context.Context, workerDB, sigDB valkey.Client, l ffLane, rounds int, mode resumeMode, poll time.Duration) (resumeResult, error) {
	const instance = "bench-resume"
	c := ffscripts.New(workerDB)
	if err := l.installSecret(ctx, c); err != nil {
		return resumeResult{}, err
	}
	feed := l.part.SignalDelivery()
	resumeLat := make([]time.Duration, 0, rounds)
	deliverLat := make([]time.Duration, 0, rounds)
	payload := make([]byte, 64)
	for i := range rounds {
		if i > 0 && i%250 == 0 {
			logf("  resume/%s: %d/%d rounds", mode, i, rounds)
		}
		if _, err := l.createExecutions(ctx, workerDB, 1, payload); err != nil {
			return resumeResult{}, err
		}
		t, err := l.claimNext(ctx, c, instance)
		if err != nil {
			return resumeResult{}, fmt.Errorf("claim: %w", err)
		}
		w, err := l.suspend(ctx, c, t, instance)
		if err != nil {
			return resumeResult{}, err
		}
		// the feed position before the signal, so the wait sees only newer entries
		last := "$"
		if mode == resumeFeed {
			ids, err := workerDB.Do(ctx, workerDB.B().Xrevrange().Key(feed).End("+").Start("-").Count(1).Build()).AsXRange()
			if err != nil {
				return resumeResult{}, fmt.Errorf("XREVRANGE feed: %w", err)
			}
			last = "0-0"
			if len(ids) == 1 {
				last = ids[0].ID
			}
		}
		type got struct {
			at  time.Time
			err error
		}
		resumed := make(chan got, 1)
		go func() {
			at, err := waitResumed(ctx, workerDB, c, l, instance, w.id, mode, feed, last, poll)
			resumed <- got{at, err}
		}()
		t0 := time.Now()
		if err := l.deliver(ctx, sigDB, w); err != nil {
			return resumeResult{}, err
		}
		deliverLat = append(deliverLat, time.Since(t0))
		g := <-resumed
		if g.err != nil {
			return resumeResult{}, g.err
		}
		resumeLat = append(resumeLat, g.at.Sub(t0))
	}
	return resumeResult{Mode: mode, Rounds: rounds, Resume: summarize(resumeLat), Deliver: summarize(deliverLat)}, nil
}

// waitResumed waits until the suspended execution id can be claimed again,
// claims it (the resumed attempt), notes the time the handler would start,
// and completes it.
func waitResumed(ctx context.Context, db valkey.Client, c *ffscripts.Client, l ffLane, instance string,
	id keyspace.ExecutionID, mode resumeMode, feed, last string, poll time.Duration) (time.Time, error) {
	for ctx.Err() == nil {
		if mode == resumeFeed {
			err := db.Do(ctx, db.B().Xread().Count(1).Block(5000).Streams().Key(feed).Id(last).Build()).Error()
			if err != nil {
				return time.Time{}, fmt.Errorf("XREAD feed: %w", err)
			}
		}
		t, err := l.claimNext(ctx, c, instance)
		if errors.Is(err, ffscripts.ErrNoEligibleExecution) {
			if mode == resumePoll {
				time.Sleep(poll)
			}
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("claim resumed: %w", err)
		}
		at := time.Now() // the resumed handler starts here
		if t.id != id || t.kind != "resumed" {
			return time.Time{}, fmt.Errorf("claimed %s (%s), want the resumed %s", t.id, t.kind, id)
		}
		return at, l.complete(ctx, c, t, instance)
	}
	return time.Time{}, ctx.Err()
}
