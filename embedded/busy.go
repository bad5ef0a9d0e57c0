package embedded

import (
	"context"
	"sync"
	"time"
)

// busyCtx is the context gopher-lua checks before every instruction: its
// Done channel closes when the running function passes the busy limit. One
// per server, re-armed for each call, so a call costs a timer reset instead
// of a new context and timer. Done reads b.done without the lock: the field
// only changes in arm, and arm and every read run under Server.mu.
type busyCtx struct {
	limit time.Duration
	done  chan struct{}
	timer *time.Timer

	mu     sync.Mutex // guards active, fired and the close of done
	active bool
	fired  bool
}

func newBusyCtx(limit time.Duration) *busyCtx {
	return &busyCtx{limit: limit, done: make(chan struct{})}
}

// arm starts the clock for one call.
func (b *busyCtx) arm() {
	b.mu.Lock()
	if b.fired {
		b.done = make(chan struct{})
		b.fired = false
	}
	b.active = true
	b.mu.Unlock()
	if b.timer == nil {
		b.timer = time.AfterFunc(b.limit, b.fire)
	} else {
		b.timer.Reset(b.limit)
	}
}

// disarm stops the clock; it reports whether the limit was hit.
func (b *busyCtx) disarm() bool {
	b.timer.Stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active = false
	return b.fired
}

func (b *busyCtx) fire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active && !b.fired {
		close(b.done)
		b.fired = true
	}
}

func (b *busyCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (b *busyCtx) Done() <-chan struct{}       { return b.done }
func (b *busyCtx) Value(any) any               { return nil }

func (b *busyCtx) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fired {
		return context.DeadlineExceeded
	}
	return nil
}
