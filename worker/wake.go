package worker

import (
	"context"
	"errors"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/keyspace"
)

// wakeHint is one wake-up message: an execution of lane that has just become
// claimable.
type wakeHint struct {
	lane string
	id   keyspace.ExecutionID
}

// startWakeups subscribes to the wake-up channel of every lane on a dedicated
// connection and returns once the server confirmed the subscription, the first
// attempt failed, or ctx ended. It never fails Connect: without a subscription
// the worker still polls. Close stops the subscription (stopWakeups).
func (w *Worker) startWakeups(ctx context.Context) {
	w.wakeLanes = map[string]string{}
	var channels []string
	for _, lane := range w.cfg.Lanes { // distinct (validated)
		ch := keyspace.WakeChannel(lane)
		w.wakeLanes[ch] = lane
		channels = append(channels, ch)
	}
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	w.stopWake = stop
	w.wakeDone = make(chan struct{})
	first := make(chan error, 1)
	go w.listen(lctx, channels, first)
	select {
	case err := <-first:
		if err != nil {
			w.cfg.Logger.Warn("wake-up subscription failed; new work is seen at the next poll until it is back",
				"channels", channels, "err", err)
		}
	case <-ctx.Done():
	}
}

// stopWakeups ends the subscription and waits for its goroutine.
func (w *Worker) stopWakeups() {
	if w.stopWake == nil {
		return
	}
	w.stopWake()
	<-w.wakeDone
}

// listen holds the subscription until ctx ends (Close), subscribing again after
// a lost connection with a back-off from PollInterval to MaxPollInterval; it
// also ends when the valkey client turns out to be closed. The outcome of the
// first attempt goes to first: nil once every channel is confirmed, else the
// error.
func (w *Worker) listen(ctx context.Context, channels []string, first chan<- error) {
	defer close(w.wakeDone)
	report := func(err error) {
		select {
		case first <- err:
		default:
		}
	}
	backoff := w.cfg.PollInterval
	for {
		subscribed := make(chan struct{}, 1)
		hctx := valkey.WithOnSubscriptionHook(ctx, func(s valkey.PubSubSubscription) {
			// Runs on the connection's reader: no waiting here.
			if s.Kind == "subscribe" && s.Count == int64(len(channels)) {
				select {
				case subscribed <- struct{}{}:
				default:
				}
				report(nil)
				// Messages published while we were not subscribed are lost: poll once.
				w.Wake()
			}
		})
		err := w.db.Dedicated(func(c valkey.DedicatedClient) error {
			return c.Receive(hctx, c.B().Subscribe().Channel(channels...).Build(), w.onWake)
		})
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, valkey.ErrClosing) {
			report(err)
			w.cfg.Logger.Warn("wake-up subscription ended: the valkey client is closed", "channels", channels)
			return
		}
		if err == nil {
			err = errors.New("unsubscribed by the server")
		}
		report(err)
		select {
		case <-subscribed:
			backoff = w.cfg.PollInterval // it worked for a while: retry soon
		default:
		}
		w.cfg.Logger.Warn("wake-up subscription lost; subscribing again", "channels", channels,
			"retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, w.cfg.MaxPollInterval)
	}
}

// onWake handles one wake-up message: it keeps the execution as a hint for
// Run's next claim (when none is pending) and wakes Run. It runs on the
// connection's reader, so it never blocks.
func (w *Worker) onWake(m valkey.PubSubMessage) {
	lane, ok := w.wakeLanes[m.Channel]
	if !ok {
		return
	}
	id, err := keyspace.ParseExecutionID(m.Message)
	if err == nil && w.parts.Check(id) == nil {
		select {
		case w.hints <- wakeHint{lane: lane, id: id}:
		default:
		}
	} else {
		w.cfg.Logger.Debug("wake-up message is not an execution id of this deployment",
			"channel", m.Channel, "message", m.Message)
	}
	w.Wake()
}

// takeHint returns the pending wake-up hint, if any.
func (w *Worker) takeHint() (wakeHint, bool) {
	select {
	case h := <-w.hints:
		return h, true
	default:
		return wakeHint{}, false
	}
}

// claimHinted claims in the partition of a wake-up hint with one call (with
// ff_claim_next, the best eligible execution there; on the contract path the
// hinted execution itself). It returns nil when there is nothing to claim there
// (another worker was first, or the execution waits in the delayed set for a
// poll to promote it) or the claim failed; Run then polls as usual.
func (w *Worker) claimHinted(ctx context.Context, h wakeHint) []*Task {
	if ctx.Err() != nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(w.cfg.LeaseTTL, 10*time.Second))
	defer cancel()
	c := candidate{part: h.id.Partition(), head: h.id}
	var t *Task
	var err error
	if w.noClaimNext.Load() {
		t, err = w.claimWithGrant(cctx, h.lane, c.part, c.head)
	} else if t, err = w.claimOne(cctx, h.lane, c); err == nil {
		w.stick(w.lanes[h.lane], c.part)
	}
	if err != nil {
		w.cfg.Logger.Debug("claim after a wake-up found nothing; polling", "execution_id", h.id,
			"lane", h.lane, "err", err)
		return nil
	}
	return []*Task{t}
}
