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
// finds nothing. While claims come back full, a second loop claims beside the
// first, so that a claim is in flight while tasks run.
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
	r := &runner{w: w, h: h, work: make(chan *Task), full: make(chan struct{}, 1), done: make(chan struct{})}
	var boost sync.WaitGroup
	boost.Add(1)
	go func() {
		defer boost.Done()
		r.boost(ctx)
	}()
	r.poll(ctx)
	close(r.done)
	boost.Wait()
	return w.shutdown(&r.wg, r.work)
}

// runner is one Run: two claim loops feeding the handler goroutines.
//
// One loop claims, waits for its round trip, hands the tasks out, and only
// then claims again: while it waits nothing else is asked of the server, and
// while the handlers' completions are in flight it waits for their permits.
// So under load a second loop (boost) claims beside it for as long as claims
// come back full, keeping a claim in flight while the other's tasks run. It
// starts when the polling loop's claim filled every permit it had and stops at
// the first claim that does not: an idle or lightly loaded worker polls from
// one loop only.
type runner struct {
	w *Worker
	h Handler
	// Handler goroutines are kept for the next task rather than started per
	// task, so their stacks, grown by the first task, are reused: a task goes
	// to an idle one when there is one, else to a new one. There are at most as
	// many as tasks ran at once.
	work chan *Task
	wg   sync.WaitGroup
	full chan struct{} // a claim came back full: boost may claim beside poll
	done chan struct{} // poll has stopped
}

// poll is the main claim loop: it waits for a permit, claims, and backs off
// from PollInterval to MaxPollInterval while claims find nothing.
func (r *runner) poll(ctx context.Context) {
	w := r.w
	backoff := w.cfg.PollInterval
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	for !w.isClosed() {
		select {
		case w.permits <- struct{}{}:
		case <-ctx.Done():
			return
		}
		k := r.takePermits()
		var tasks []*Task
		var err error
		if h, ok := w.takeHint(); ok {
			tasks = w.claimHinted(ctx, h)
		}
		if len(tasks) == 0 {
			tasks, err = w.claimDetached(ctx, k)
		}
		r.start(k, tasks)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !errors.Is(err, ErrNoTask) {
				w.cfg.Logger.Error("claim failed", "err", err)
			}
			timer.Reset(backoff)
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				timer.Stop()
				backoff = w.cfg.PollInterval
			case <-timer.C:
				backoff = min(2*backoff, w.cfg.MaxPollInterval)
			}
			continue
		}
		backoff = w.cfg.PollInterval
		if len(tasks) == k {
			select {
			case r.full <- struct{}{}:
			default:
			}
		}
	}
}

// boost claims beside poll while claims come back full.
func (r *runner) boost(ctx context.Context) {
	w := r.w
	for {
		select {
		case <-r.full:
		case <-r.done:
			return
		}
		for !w.isClosed() {
			select {
			case w.permits <- struct{}{}:
			case <-r.done:
				return
			}
			k := r.takePermits()
			tasks, err := w.claimDetached(ctx, k)
			r.start(k, tasks)
			// Errors are poll's to report and back off from.
			if err != nil || len(tasks) < k {
				break
			}
		}
	}
}

// takePermits takes every free permit beside the one just taken: one claim
// round trip can claim that many.
func (r *runner) takePermits() int {
	k := 1
	for k < r.w.cfg.MaxConcurrentTasks && r.w.acquire() {
		k++
	}
	return k
}

// start gives the permits of the k claims that found nothing back and hands
// the tasks to handler goroutines.
func (r *runner) start(k int, tasks []*Task) {
	for range k - len(tasks) {
		r.w.releasePermit()
	}
	for _, t := range tasks {
		select {
		case r.work <- t:
		default:
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.w.handle(t, r.h)
				for t := range r.work {
					r.w.handle(t, r.h)
				}
			}()
		}
	}
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
