package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// Handler processes one claimed task. Returning nil completes the execution
// (with no result) unless the handler ended the task itself; returning an error
// fails it, with a retry when the retry policy allows one and the error is not
// wrapped with Permanent. ctx is the task's context (Task.Context).
type Handler func(ctx context.Context, t *Task) error

// errAbandoned ends a task locally when the server could not be told the
// outcome; the lease then expires and the execution is reclaimed.
var errAbandoned = errors.New("worker: task abandoned after its outcome could not be reported")

// Run claims and handles tasks until ctx is cancelled, running up to
// MaxConcurrentTasks handlers at once. Empty polls back off from PollInterval
// to MaxPollInterval; Wake, and every wake-up message of the worker's lanes,
// cuts a back-off short. After a wake-up message Run first claims in the
// partition of the execution it names (one round trip), and polls when that
// finds nothing.
//
// When ctx is cancelled Run stops claiming and waits up to ShutdownTimeout for
// running handlers; it then hands back the executions still held (their
// handlers' contexts are cancelled) and returns nil. Call Close afterwards.
func (w *Worker) Run(ctx context.Context, h Handler) error {
	if w.isClosed() {
		return ErrClosed
	}
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrInvalidOptions)
	}
	var wg sync.WaitGroup
	// Handler goroutines are kept for the next task rather than started per
	// task, so their stacks, grown by the first task, are reused: a task goes
	// to an idle one when there is one, else to a new one. There are at most as
	// many as tasks ran at once.
	work := make(chan *Task)
	backoff := w.cfg.PollInterval
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
loop:
	for !w.isClosed() {
		select {
		case w.permits <- struct{}{}:
		case <-ctx.Done():
			break loop
		}
		// Take every free permit: one poll can claim that many.
		k := 1
		for k < w.cfg.MaxConcurrentTasks && w.acquire() {
			k++
		}
		var tasks []*Task
		var err error
		if h, ok := w.takeHint(); ok {
			tasks = w.claimHinted(ctx, h)
		}
		if len(tasks) == 0 {
			tasks, err = w.claimDetached(ctx, k)
		}
		for range k - len(tasks) {
			w.releasePermit()
		}
		if err != nil {
			if ctx.Err() != nil {
				break loop
			}
			if !errors.Is(err, ErrNoTask) {
				w.cfg.Logger.Error("claim failed", "err", err)
			}
			timer.Reset(backoff)
			select {
			case <-ctx.Done():
				break loop
			case <-w.wake:
				timer.Stop()
				backoff = w.cfg.PollInterval
			case <-timer.C:
				backoff = min(2*backoff, w.cfg.MaxPollInterval)
			}
			continue
		}
		backoff = w.cfg.PollInterval
		for _, t := range tasks {
			select {
			case work <- t:
			default:
				wg.Add(1)
				go func() {
					defer wg.Done()
					w.handle(t, h)
					for t := range work {
						w.handle(t, h)
					}
				}()
			}
		}
	}
	return w.shutdown(&wg, work)
}

// claimDetached claims with a context that survives ctx's cancellation, so a
// claim the server already made is never dropped half-way; ctx only decides
// whether to start.
func (w *Worker) claimDetached(ctx context.Context, k int) ([]*Task, error) {
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(w.cfg.LeaseTTL, 10*time.Second))
	defer cancel()
	return w.claimUpTo(cctx, k)
}

// shutdown lets the idle handler goroutines go (closing work), waits for the
// running handlers up to ShutdownTimeout, then hands back what is still held.
func (w *Worker) shutdown(wg *sync.WaitGroup, work chan *Task) error {
	close(work)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return nil
	case <-timer.C:
	}
	w.cfg.Logger.Warn("shutdown timeout: handing back executions still running", "running", w.Running())
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.LeaseTTL)
	defer cancel()
	return w.releaseHeld(ctx)
}

// handle runs h and reports the outcome the handler did not report itself.
// Whatever happens, the task ends and its permit goes back.
func (w *Worker) handle(t *Task, h Handler) {
	// The task's attributes are added only to what is logged: a logger per
	// task would cost every task an allocation.
	logError := func(msg string, args ...any) {
		w.cfg.Logger.Error(msg, append([]any{"execution_id", t.ID, "kind", t.Kind, "attempt", t.AttemptIndex}, args...)...)
	}
	var herr error
	panicked := false
	func() {
		defer func() {
			if r := recover(); r != nil {
				panicked = true
				herr = fmt.Errorf("panic: %v", r)
				logError("handler panicked", "panic", r, "stack", string(debug.Stack()))
			}
		}()
		herr = h(t.Context(), t)
	}()
	if t.Done() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.LeaseTTL)
	defer cancel()
	var err error
	if herr == nil {
		err = t.Complete(ctx, nil)
	} else {
		category := "handler_error"
		if panicked {
			category = "panic"
		}
		_, err = t.Fail(ctx, herr.Error(), FailOptions{Terminal: IsPermanent(herr), Category: category})
	}
	if err == nil || t.Done() {
		return
	}
	logError("reporting the outcome failed; handing the execution back", "err", err)
	if rerr := t.Release(ctx); rerr != nil && !t.Done() {
		logError("handing back failed; the lease will expire", "err", rerr)
		t.end(errAbandoned)
	}
}
