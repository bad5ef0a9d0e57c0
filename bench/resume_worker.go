package main

import (
	"context"
	"fmt"
	"time"

	"github.com/flowfabric/ffgo/keyspace"
	"github.com/flowfabric/ffgo/signal"
	"github.com/flowfabric/ffgo/worker"
	"github.com/valkey-io/valkey-go"
)

// Worker resume modes: the suspended execution runs under worker.Run.
const (
	// resumeWorkerSelf: the signal is delivered through the same Worker
	// (Worker.DeliverSignal), which may wake its own Run loop.
	resumeWorkerSelf resumeMode = "worker-self"
	// resumeWorkerOther: the signal is delivered by another process's
	// worker.Client (here: a second valkey client); the Run loop only learns
	// of the resumed execution by polling.
	resumeWorkerOther resumeMode = "worker-other"
)

// runResumeWorker runs rounds suspend → signal → resume cycles under
// worker.Run. Each round creates an execution, wakes the Run loop (not
// timed), waits until the handler has suspended it, waits after (to let the
// Run loop's back-off grow as it would while a real signal is awaited), then
// delivers the signal and times until the resumed handler starts.
func runResumeWorker(ctx context.Context, db, sigDB valkey.Client, l ffLane, rounds int, mode resumeMode, after time.Duration) (resumeResult, error) {
	w, err := connectWorker(ctx, db, l.lane, 1)
	if err != nil {
		return resumeResult{}, err
	}
	defer w.Close(context.WithoutCancel(ctx))
	if err := w.Client().EnsureWaitpointSecret(ctx, "k1", benchSecret); err != nil {
		return resumeResult{}, fmt.Errorf("waitpoint secret: %w", err)
	}
	sender := w.Client()
	if mode == resumeWorkerOther {
		sender, err = worker.NewClient(ctx, sigDB, worker.ClientOptions{ManagedLibrary: true})
		if err != nil {
			return resumeResult{}, err
		}
	}
	type suspended struct {
		id keyspace.ExecutionID
		wp worker.Waitpoint
	}
	suspendedC := make(chan suspended, 1)
	resumedC := make(chan time.Time, 1)
	errC := make(chan error, 1)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		err := w.Run(runCtx, func(ctx context.Context, t *worker.Task) error {
			if t.AttemptType == "resumed" {
				resumedC <- time.Now() // the resumed handler runs
				return t.Complete(ctx, nil)
			}
			s, err := t.Suspend(ctx, worker.SuspendOptions{Condition: signal.AnyOf("go")})
			if err != nil {
				errC <- fmt.Errorf("suspend: %w", err)
				return err
			}
			suspendedC <- suspended{t.ID, s.Waitpoint}
			return nil
		})
		if err != nil {
			errC <- err
		}
	}()
	resumeLat := make([]time.Duration, 0, rounds)
	deliverLat := make([]time.Duration, 0, rounds)
	wait := func(d time.Duration) error {
		select {
		case err := <-errC:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	for i := range rounds {
		if i > 0 && i%250 == 0 {
			logf("  resume/%s: %d/%d rounds", mode, i, rounds)
		}
		if _, err := l.createExecutions(ctx, db, 1, make([]byte, 64)); err != nil {
			return resumeResult{}, err
		}
		w.Wake()
		var s suspended
		select {
		case s = <-suspendedC:
		case err := <-errC:
			return resumeResult{}, err
		case <-time.After(10 * time.Second):
			return resumeResult{}, fmt.Errorf("round %d: the worker did not suspend the execution within 10s", i)
		}
		if after > 0 {
			if err := wait(after); err != nil {
				return resumeResult{}, err
			}
		}
		t0 := time.Now()
		out, err := sender.DeliverSignal(ctx, s.id, s.wp.ID, worker.Signal{Name: "go", Token: s.wp.Token, Lane: s.wp.Lane})
		if err != nil {
			return resumeResult{}, fmt.Errorf("deliver signal: %w", err)
		}
		deliverLat = append(deliverLat, time.Since(t0))
		if !out.Resumed() {
			return resumeResult{}, fmt.Errorf("deliver signal: effect %q, want resumed", out.Effect)
		}
		select {
		case at := <-resumedC:
			resumeLat = append(resumeLat, at.Sub(t0))
		case err := <-errC:
			return resumeResult{}, err
		case <-time.After(10 * time.Second):
			return resumeResult{}, fmt.Errorf("round %d: the resumed execution was not claimed within 10s", i)
		}
	}
	return resumeResult{Mode: mode, Rounds: rounds, Resume: summarize(resumeLat), Deliver: summarize(deliverLat)}, nil
}
