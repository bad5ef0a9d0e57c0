package signal

import (
	"errors"
	"fmt"
)

// Effect is what a delivered signal did (the effect string of ff_deliver_signal,
// stored as the signal's observed_effect).
type Effect string

// Effects of ff_deliver_signal and ff_buffer_signal_for_pending_waitpoint.
const (
	// EffectNoOp: recorded, but no open matcher of the condition accepts it.
	EffectNoOp Effect = "no_op"
	// EffectAppended: it satisfied part of the condition; the suspension still waits.
	EffectAppended Effect = "appended_to_waitpoint"
	// EffectResumed: it completed the condition; the execution was resumed.
	EffectResumed Effect = "resume_condition_satisfied"
	// EffectAppendedDuplicate: composite only; it matched but added nothing new.
	EffectAppendedDuplicate Effect = "appended_to_waitpoint_duplicate"
	// EffectIgnoredNotInCondition: composite only; the waitpoint is not in the tree.
	EffectIgnoredNotInCondition Effect = "signal_ignored_not_in_condition"
	// EffectIgnoredMatcherFailed: composite only; no matcher accepts its name.
	EffectIgnoredMatcherFailed Effect = "signal_ignored_matcher_failed"
	// EffectBuffered: kept for a pending waitpoint, evaluated when the suspension starts.
	EffectBuffered Effect = "buffered_for_pending_waitpoint"
)

// Known reports whether e is one of the effects above.
func (e Effect) Known() bool {
	switch e {
	case EffectNoOp, EffectAppended, EffectResumed, EffectAppendedDuplicate,
		EffectIgnoredNotInCondition, EffectIgnoredMatcherFailed, EffectBuffered:
		return true
	}
	return false
}

// Matched reports whether the signal counted toward the condition (the waitpoint's
// matched_signal_count). Buffered signals are evaluated later and report false.
func (e Effect) Matched() bool {
	switch e {
	case EffectAppended, EffectResumed, EffectAppendedDuplicate:
		return true
	}
	return false
}

// ErrUnknownOutcome is returned by ParseOutcome for a status or effect it does not know.
var ErrUnknownOutcome = errors.New("signal: unknown delivery outcome")

// Outcome is the typed result of delivering (or buffering) one signal.
type Outcome struct {
	// SignalID is the accepted signal's id; for a duplicate, the id stored by the first
	// delivery with the same idempotency key.
	SignalID string
	// Effect is what the signal did; empty for a duplicate (the first delivery's signal
	// hash holds its observed_effect).
	Effect Effect
	// Duplicate is true when the idempotency key was already used: nothing was recorded.
	Duplicate bool
}

// Resumed reports whether this delivery resumed the execution.
func (o Outcome) Resumed() bool { return o.Effect == EffectResumed }

// ParseOutcome builds an Outcome from the reply of ff_deliver_signal or
// ff_buffer_signal_for_pending_waitpoint: status "OK" with (signal_id, effect), or
// "DUPLICATE" with (signal_id).
func ParseOutcome(status, signalID, effect string) (Outcome, error) {
	switch status {
	case "DUPLICATE":
		if signalID == "" {
			return Outcome{}, fmt.Errorf("%w: DUPLICATE without a signal id", ErrUnknownOutcome)
		}
		return Outcome{SignalID: signalID, Duplicate: true}, nil
	case "OK":
		e := Effect(effect)
		if !e.Known() {
			return Outcome{}, fmt.Errorf("%w: effect %q", ErrUnknownOutcome, effect)
		}
		if signalID == "" {
			return Outcome{}, fmt.Errorf("%w: OK without a signal id", ErrUnknownOutcome)
		}
		return Outcome{SignalID: signalID, Effect: e}, nil
	}
	return Outcome{}, fmt.Errorf("%w: status %q", ErrUnknownOutcome, status)
}
