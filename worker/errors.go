package worker

import (
	"errors"

	"github.com/flowfabric/ffgo/ffscripts"
)

var (
	// ErrNoTask is returned by ClaimNext when no execution could be claimed in the
	// partitions it looked at. Poll again later.
	ErrNoTask = errors.New("worker: no claimable execution")

	// ErrAtCapacity is returned when all MaxConcurrentTasks permits are held. A
	// grant passed to ClaimFromGrant or ClaimFromReclaimGrant is left untouched.
	ErrAtCapacity = errors.New("worker: at capacity")

	// ErrLeaseLost is the cause of a task context cancelled because the lease is
	// gone: expired, revoked, or superseded by another claim.
	ErrLeaseLost = errors.New("worker: lease lost")

	// ErrTaskDone is returned by a Task operation after the task has ended
	// (completed, failed, cancelled, delayed, suspended or released).
	ErrTaskDone = errors.New("worker: task already ended")

	// ErrDuplicateInstance is returned by Connect when another live process holds
	// the same worker instance id.
	ErrDuplicateInstance = errors.New("worker: duplicate worker instance id")

	// ErrClosed is returned by operations on a closed Worker.
	ErrClosed = errors.New("worker: closed")

	// ErrInvalidOptions matches every configuration error of Connect and NewClient.
	ErrInvalidOptions = errors.New("worker: invalid options")
)

// permanentError marks a handler error that must not be retried.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that Run fails the task terminally instead of
// scheduling a retry. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// isLeaseLoss reports whether a library error means this worker no longer
// holds the lease, so the task must stop.
func isLeaseLoss(err error) bool {
	return errors.Is(err, ffscripts.ErrLeaseExpired) ||
		errors.Is(err, ffscripts.ErrLeaseRevoked) ||
		errors.Is(err, ffscripts.ErrStaleLease) ||
		errors.Is(err, ffscripts.ErrExecutionNotActive) ||
		errors.Is(err, ffscripts.ErrExecutionNotFound) ||
		errors.Is(err, ffscripts.ErrNoActiveLease)
}

// isRetryableClaim reports whether a claim error only means "someone else got
// there first" or "not claimable right now", so the next candidate is tried.
func isRetryableClaim(err error) bool {
	return errors.Is(err, ffscripts.ErrExecutionNotEligible) ||
		errors.Is(err, ffscripts.ErrExecutionNotInEligibleSet) ||
		errors.Is(err, ffscripts.ErrGrantAlreadyExists) ||
		errors.Is(err, ffscripts.ErrExecutionNotLeaseable) ||
		errors.Is(err, ffscripts.ErrLeaseConflict) ||
		errors.Is(err, ffscripts.ErrActiveAttemptExists) ||
		errors.Is(err, ffscripts.ErrInvalidClaimGrant) ||
		errors.Is(err, ffscripts.ErrClaimGrantExpired) ||
		errors.Is(err, ffscripts.ErrExecutionNotFound) ||
		errors.Is(err, ffscripts.ErrNoEligibleExecution) ||
		errors.Is(err, ffscripts.ErrNotAResumedExecution)
}
