package keyspace

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ExecutionID identifies one execution: "{fp:N}:<uuid>", the partition's
// hash tag followed by a UUID in canonical lowercase hyphenated form, e.g.
// "{fp:42}:550e8400-e29b-41d4-a716-446655440000".
//
// The partition of an execution is always the N inside its id; it is never
// recomputed from a hash or a configuration. The zero value is the id
// "{fp:0}:00000000-0000-0000-0000-000000000000" and reports IsZero.
type ExecutionID struct {
	partition Partition
	id        uuid.UUID
}

// NewExecutionID mints an execution id in partition p with a fresh random
// (version 4) UUID. Pick p with FlowPartition for an execution of a flow and
// with LanePartition for a solo execution.
func NewExecutionID(p Partition) ExecutionID {
	return ExecutionID{partition: p, id: uuid.New()}
}

// ExecutionIDWithUUID returns the execution id of UUID id in partition p,
// for callers that derive ids deterministically.
func ExecutionIDWithUUID(p Partition, id uuid.UUID) ExecutionID {
	return ExecutionID{partition: p, id: id}
}

// Partition returns the partition N of the id's "{fp:N}" tag.
func (e ExecutionID) Partition() Partition { return e.partition }

// UUID returns the id's UUID part.
func (e ExecutionID) UUID() uuid.UUID { return e.id }

// IsZero reports whether e is the zero ExecutionID (partition 0, nil UUID).
func (e ExecutionID) IsZero() bool { return e == ExecutionID{} }

// String returns the wire form "{fp:N}:<uuid>".
func (e ExecutionID) String() string {
	return e.partition.Tag() + ":" + e.id.String()
}

// MarshalText returns the wire form, so an ExecutionID encodes as a JSON
// string.
func (e ExecutionID) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses the wire form strictly, like ParseExecutionID.
func (e *ExecutionID) UnmarshalText(text []byte) error {
	parsed, err := ParseExecutionID(string(text))
	if err != nil {
		return err
	}
	*e = parsed
	return nil
}

// ErrInvalidExecutionID matches (errors.Is) every error ParseExecutionID
// returns.
var ErrInvalidExecutionID = errors.New("keyspace: invalid execution id")

// ExecutionIDError describes a string that is not a valid execution id.
type ExecutionIDError struct {
	Input  string // the rejected text
	Reason string // what is wrong with it
}

func (e *ExecutionIDError) Error() string {
	return fmt.Sprintf("keyspace: execution id %s: %s", quoteShort(e.Input), e.Reason)
}

// Is reports whether target is ErrInvalidExecutionID.
func (e *ExecutionIDError) Is(target error) bool { return target == ErrInvalidExecutionID }

const execIDPrefix = "{fp:"

// ParseExecutionID parses "{fp:N}:<uuid>" strictly. It accepts exactly the
// form String produces, so ParseExecutionID(s).String() == s for every
// accepted s:
//   - the "{fp:" prefix and the "}:" separator are required, so a bare UUID
//     is rejected;
//   - N is a decimal number 0..65535 without sign or leading zeros;
//   - the UUID is 36 characters, lowercase hex, hyphenated.
//
// N is not compared with the partition count; see PartitionConfig.Check.
// A malformed id is an error, never replaced by a fresh one. Errors are
// *ExecutionIDError and match ErrInvalidExecutionID.
func ParseExecutionID(s string) (ExecutionID, error) {
	fail := func(format string, args ...any) (ExecutionID, error) {
		return ExecutionID{}, &ExecutionIDError{Input: s, Reason: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return fail("empty")
	}
	if !strings.HasPrefix(s, execIDPrefix) {
		if _, err := uuid.Parse(s); err == nil {
			return fail("bare uuid without the \"{fp:N}:\" partition tag")
		}
		return fail("missing %q prefix", execIDPrefix)
	}
	rest := s[len(execIDPrefix):]
	end := strings.Index(rest, "}:")
	if end < 0 {
		return fail("missing \"}:\" after the partition number")
	}
	number, tail := rest[:end], rest[end+2:]
	p, reason := parsePartitionNumber(number)
	if reason != "" {
		return fail("partition %q: %s", number, reason)
	}
	id, reason := parseCanonicalUUID(tail)
	if reason != "" {
		return fail("uuid %q: %s", tail, reason)
	}
	return ExecutionID{partition: p, id: id}, nil
}

// parsePartitionNumber parses a decimal u16 without sign or leading zeros.
// It returns a non-empty reason when s is not one.
func parsePartitionNumber(s string) (Partition, string) {
	if s == "" {
		return 0, "empty"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, "not a decimal number"
		}
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, "leading zero"
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, "out of range 0..65535"
	}
	return Partition(n), ""
}

// parseCanonicalUUID accepts only the 36-character lowercase hyphenated form.
func parseCanonicalUUID(s string) (uuid.UUID, string) {
	if len(s) != 36 {
		return uuid.UUID{}, fmt.Sprintf("want 36 characters in 8-4-4-4-12 form, got %d", len(s))
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, "not a uuid"
	}
	if id.String() != s {
		return uuid.UUID{}, "not canonical (lowercase hex, hyphenated)"
	}
	return id, ""
}

// quoteShort quotes s for an error message, cutting long input so an error
// never carries kilobytes of hostile text.
func quoteShort(s string) string {
	const max = 96
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
