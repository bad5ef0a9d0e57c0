package fcall

import (
	"fmt"
	"strconv"

	"github.com/valkey-io/valkey-go"
)

// Int encodes an integer argument.
func Int(v int64) string { return strconv.FormatInt(v, 10) }

// Float encodes a float argument in the shortest form that reads back the same.
func Float(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Bool encodes a boolean argument as "1" or "0".
func Bool(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// Bytes passes a binary payload without copying it.
func Bytes(v []byte) string { return valkey.BinaryString(v) }

// OptInt encodes an optional integer: nil is "".
func OptInt(v *int64) string {
	if v == nil {
		return ""
	}
	return Int(*v)
}

// OptFloat encodes an optional float: nil is "".
func OptFloat(v *float64) string {
	if v == nil {
		return ""
	}
	return Float(*v)
}

// OptBool encodes an optional boolean: nil is "".
func OptBool(v *bool) string {
	if v == nil {
		return ""
	}
	return Bool(*v)
}

// OptString encodes an optional string of a bracketed tail: nil is "".
func OptString(v *string) string {
	if v == nil {
		return ""
	}
	return *v
}

// OptBytes encodes an optional payload of a bracketed tail: nil is "".
func OptBytes(v *[]byte) string {
	if v == nil {
		return ""
	}
	return Bytes(*v)
}

// Build runs a generated command builder and turns its panic (valkey-go's builder panics
// on keys in different cluster slots) into a *BuildError.
func Build[K, A any](function string, build func(valkey.CommandClient, K, A) valkey.Completed, c valkey.CommandClient, k K, a A) (cmd valkey.Completed, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &BuildError{Function: function, Msg: fmt.Sprint(r)}
		}
	}()
	return build(c, k, a), nil
}

// ParseString decodes a bulk-string reply.
func ParseString(function string, r valkey.ValkeyResult) (string, error) {
	s, err := r.ToString()
	if err != nil {
		return "", wrapReply(function, r, err)
	}
	return s, nil
}

// ParseInt decodes an integer reply.
func ParseInt(function string, r valkey.ValkeyResult) (int64, error) {
	v, err := r.AsInt64()
	if err != nil {
		return 0, wrapReply(function, r, err)
	}
	return v, nil
}

// ParseRaw returns the reply message as it came, or the server's error.
func ParseRaw(function string, r valkey.ValkeyResult) (valkey.ValkeyMessage, error) {
	m, err := r.ToMessage()
	if err != nil {
		return m, fmt.Errorf("%s: %w", function, err)
	}
	if err := m.Error(); err != nil {
		return m, fmt.Errorf("%s: %w", function, err)
	}
	return m, nil
}

func wrapReply(function string, r valkey.ValkeyResult, err error) error {
	if r.Error() != nil {
		return fmt.Errorf("%s: %w", function, err)
	}
	return &ReplyError{Function: function, Msg: err.Error()}
}
