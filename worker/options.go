package worker

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/flowfabric/ffgo/keyspace"
)

// Options configures a Worker. WorkerID, InstanceID and at least one lane are
// required; every other field has a default.
type Options struct {
	// Namespace scopes the worker's registration keys (alive key, capability
	// advertisement, workers index). Default "default".
	Namespace string

	// WorkerID names the logical worker (a deployment); it is recorded on every
	// lease. Required.
	WorkerID string

	// InstanceID names this process. Two live processes with the same id are
	// refused by Connect (ErrDuplicateInstance). Required.
	InstanceID string

	// Lanes the worker claims from. Each poll starts with the next lane in
	// turn and tries the others when it has nothing; a lane found empty is
	// tried after the others for PollInterval. At least one; each must pass
	// keyspace.ValidateLane.
	Lanes []string

	// Capabilities the worker offers. An execution that requires a capability
	// the worker lacks is never claimed by it. Tokens are validated with
	// keyspace.ValidateCapability; at most 256 distinct tokens and 4096 bytes of
	// CSV.
	Capabilities []string

	// LeaseTTL is the lease length asked for on every claim and renewal.
	// Default 30s; at least 100ms.
	LeaseTTL time.Duration

	// RenewAfter is how long after a claim or renewal the lease is renewed.
	// Default two thirds of LeaseTTL; must be shorter than LeaseTTL.
	RenewAfter time.Duration

	// MaxConcurrentTasks is the number of tasks the worker holds at once.
	// Default 1.
	MaxConcurrentTasks int

	// PollInterval is the first back-off after an empty poll in Run; it doubles
	// up to MaxPollInterval and resets once work is found. Defaults 20ms and 1s.
	// Polls look for due delayed executions at most once per PollInterval, and
	// at blocked:route sets and for leases past their expiry (to reclaim) at
	// most once per MaxPollInterval.
	PollInterval    time.Duration
	MaxPollInterval time.Duration

	// PartitionWindow is how many partitions one read of the window looks at;
	// the window rolls forward on every read so all partitions are covered. Default 32 (capped at
	// the partition count). Reclaim scans read as many lease-expiry sets, in a
	// window of their own that rolls at every scan.
	PartitionWindow int

	// ScanLimit is how many candidates of one partition ff_claim_next examines.
	// Default 16.
	ScanLimit int

	// GrantTTL is the lifetime of the claim grants the worker issues itself
	// (the fallback claim path). Default 5s.
	GrantTTL time.Duration

	// ShutdownTimeout is how long Run waits for running handlers after its
	// context is cancelled before it cancels their contexts and hands their
	// executions back. Default 30s.
	ShutdownTimeout time.Duration

	// ManagedLibrary says the server's flowfabric library is loaded by someone
	// else, so Connect does not load it. The worker then works with whatever
	// compatible library the server runs and falls back to the contract
	// functions when the ff_claim_next extension is missing.
	ManagedLibrary bool

	// PollOnly turns the wake-up subscription off: the worker then learns of
	// new work from other processes only at its next poll. By default Connect
	// subscribes, on one dedicated connection, to the wake-up channel of every
	// lane (keyspace.WakeChannel), where the library publishes each execution
	// that becomes claimable; a backing-off Run loop then claims at once, in
	// the execution's partition.
	PollOnly bool

	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
}

// config is Options after validation and defaults, plus derived values.
type config struct {
	Options
	capsCSV  string
	lanesCSV string
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
}

// validate checks o and fills in the defaults.
func (o Options) validate() (config, error) {
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.WorkerID == "" {
		return config{}, invalid("WorkerID is required")
	}
	if o.InstanceID == "" {
		return config{}, invalid("InstanceID is required")
	}
	if len(o.Lanes) == 0 {
		return config{}, invalid("at least one lane is required")
	}
	seen := map[string]bool{}
	for _, l := range o.Lanes {
		if err := keyspace.ValidateLane(l); err != nil {
			return config{}, invalid("lane %q: %v", l, err)
		}
		if seen[l] {
			return config{}, invalid("lane %q listed twice", l)
		}
		seen[l] = true
	}
	for _, c := range o.Capabilities {
		if err := keyspace.ValidateCapability(c); err != nil {
			return config{}, invalid("capability %q: %v", c, err)
		}
	}
	caps, err := keyspace.CapabilityCSV(o.Capabilities)
	if err != nil {
		return config{}, invalid("capabilities: %v", err)
	}
	lanes := strings.Join(slices.Sorted(slices.Values(o.Lanes)), ",")
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.LeaseTTL < 100*time.Millisecond {
		return config{}, invalid("LeaseTTL %v is below 100ms", o.LeaseTTL)
	}
	if o.RenewAfter == 0 {
		o.RenewAfter = o.LeaseTTL * 2 / 3
	}
	if o.RenewAfter <= 0 || o.RenewAfter >= o.LeaseTTL {
		return config{}, invalid("RenewAfter %v must be positive and shorter than LeaseTTL %v", o.RenewAfter, o.LeaseTTL)
	}
	if o.MaxConcurrentTasks == 0 {
		o.MaxConcurrentTasks = 1
	}
	if o.MaxConcurrentTasks < 0 {
		return config{}, invalid("MaxConcurrentTasks %d is negative", o.MaxConcurrentTasks)
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = time.Second
	}
	if o.PollInterval < 0 || o.MaxPollInterval < o.PollInterval {
		return config{}, invalid("PollInterval %v and MaxPollInterval %v must satisfy 0 < PollInterval <= MaxPollInterval", o.PollInterval, o.MaxPollInterval)
	}
	if o.PartitionWindow == 0 {
		o.PartitionWindow = 32
	}
	if o.PartitionWindow < 0 {
		return config{}, invalid("PartitionWindow %d is negative", o.PartitionWindow)
	}
	if o.ScanLimit == 0 {
		o.ScanLimit = 16
	}
	if o.ScanLimit < 0 || o.ScanLimit > 1000 {
		return config{}, invalid("ScanLimit %d is outside 1..1000", o.ScanLimit)
	}
	if o.GrantTTL == 0 {
		o.GrantTTL = 5 * time.Second
	}
	if o.GrantTTL < 0 {
		return config{}, invalid("GrantTTL %v is negative", o.GrantTTL)
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 30 * time.Second
	}
	if o.ShutdownTimeout < 0 {
		return config{}, invalid("ShutdownTimeout %v is negative", o.ShutdownTimeout)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return config{Options: o, capsCSV: caps, lanesCSV: lanes}, nil
}

// aliveTTL is the duplicate-instance guard's TTL: twice the lease, at least 1s
// (spec claim-lease §3.3).
func (c config) aliveTTL() time.Duration {
	return max(2*c.LeaseTTL, time.Second)
}
