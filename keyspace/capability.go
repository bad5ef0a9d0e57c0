package keyspace

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Capability limits of FlowFabric's claim path (claim-lease spec §7). Both
// bounds are inclusive: 256 tokens and 4096 bytes are accepted.
const (
	MaxCapabilityTokens   = 256
	MaxCapabilityCSVBytes = 4096
)

// ErrInvalidCapability matches (errors.Is) every error of the capability
// helpers.
var ErrInvalidCapability = errors.New("keyspace: invalid capability")

// CapabilityError describes a rejected capability token or set.
type CapabilityError struct {
	Token  string // the offending token; empty for set-level problems
	Reason string
	set    bool // the problem is the whole set (count or size), not Token
}

func (e *CapabilityError) Error() string {
	if e.set {
		return "keyspace: capability set: " + e.Reason
	}
	return fmt.Sprintf("keyspace: capability %s: %s", quoteShort(e.Token), e.Reason)
}

func setError(format string, args ...any) error {
	return &CapabilityError{Reason: fmt.Sprintf(format, args...), set: true}
}

// Is reports whether target is ErrInvalidCapability.
func (e *CapabilityError) Is(target error) bool { return target == ErrInvalidCapability }

// ValidateCapability checks one capability token as FlowFabric's worker and
// scheduler do at ingress: it must be non-empty valid UTF-8 without ',' (the
// CSV delimiter), whitespace (Unicode White_Space) or control characters.
// Printable characters above 0x7F are allowed ("東京-gpu"). The result is
// also accepted by the library's create-time check (no byte <= 0x20 or 0x7F).
func ValidateCapability(token string) error {
	fail := func(reason string) error { return &CapabilityError{Token: token, Reason: reason} }
	switch {
	case token == "":
		return fail("empty token")
	case !utf8.ValidString(token):
		return fail("not valid UTF-8")
	case strings.Contains(token, ","):
		return fail(`contains ',' (the CSV delimiter)`)
	}
	for _, r := range token {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fail(fmt.Sprintf("contains whitespace or control character %U", r))
		}
	}
	return nil
}

// CapabilityCSV validates tokens and returns them sorted by bytes,
// de-duplicated and joined with ',': the worker capability CSV sent with
// every claim-grant request and advertised in the worker's caps hash. No
// tokens gives "". More than MaxCapabilityTokens distinct tokens or a CSV
// longer than MaxCapabilityCSVBytes is an error. The first invalid token (in
// the given order) is the one the error names.
func CapabilityCSV(tokens []string) (string, error) {
	for _, t := range tokens {
		if err := ValidateCapability(t); err != nil {
			return "", err
		}
	}
	set := slices.Clone(tokens)
	slices.Sort(set)
	set = slices.Compact(set)
	if len(set) > MaxCapabilityTokens {
		return "", setError("has %d distinct tokens, limit %d", len(set), MaxCapabilityTokens)
	}
	csv := strings.Join(set, ",")
	if len(csv) > MaxCapabilityCSVBytes {
		return "", setError("CSV is %d bytes, limit %d", len(csv), MaxCapabilityCSVBytes)
	}
	return csv, nil
}

// ParseCapabilityCSV splits a capability CSV the way the library does at
// grant time: "" is the empty set, empty tokens are skipped, a CSV above
// MaxCapabilityCSVBytes or with more than MaxCapabilityTokens non-empty
// tokens (duplicates counted) is an error. Tokens are returned in CSV order
// and are not otherwise validated.
func ParseCapabilityCSV(csv string) ([]string, error) {
	if len(csv) > MaxCapabilityCSVBytes {
		return nil, setError("CSV is %d bytes, limit %d", len(csv), MaxCapabilityCSVBytes)
	}
	var tokens []string
	for t := range strings.SplitSeq(csv, ",") {
		if t == "" {
			continue
		}
		if len(tokens) == MaxCapabilityTokens {
			return nil, setError("has more than %d tokens", MaxCapabilityTokens)
		}
		tokens = append(tokens, t)
	}
	return tokens, nil
}

// MissingCapabilities returns the required tokens absent from worker, sorted
// by bytes and de-duplicated: the library's match rule (exact, case-sensitive
// bytes). An empty result means the worker may claim. Joined with ',', it is
// the detail of the library's capability_mismatch error.
func MissingCapabilities(required, worker []string) []string {
	have := make(map[string]bool, len(worker))
	for _, t := range worker {
		have[t] = true
	}
	var missing []string
	for _, t := range required {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	slices.Sort(missing)
	return slices.Compact(missing)
}

// MaxLaneBytes is the longest lane id FlowFabric's ingress accepts.
const MaxLaneBytes = 64

// ErrInvalidLane matches (errors.Is) every error of ValidateLane.
var ErrInvalidLane = errors.New("keyspace: invalid lane id")

// ValidateLane checks a lane id as FlowFabric's ingress does: 1 to 64 bytes,
// each printable ASCII 0x20..0x7E.
func ValidateLane(lane string) error {
	if lane == "" || len(lane) > MaxLaneBytes {
		return fmt.Errorf("%w: %s: want 1..%d bytes, got %d",
			ErrInvalidLane, quoteShort(lane), MaxLaneBytes, len(lane))
	}
	for i := 0; i < len(lane); i++ {
		if c := lane[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: %s: byte %d is 0x%02x, want printable ASCII 0x20..0x7e",
				ErrInvalidLane, quoteShort(lane), i, c)
		}
	}
	return nil
}
