package fcall

import (
	"strings"
)

// Error is a {0, code, details...} reply of a library function.
//
// Sentinels made with Code match any *Error of the same code through errors.Is, whatever
// the function or details:
//
//	errors.Is(err, ffscripts.ErrStaleLease)
type Error struct {
	Function string   // the Lua function that answered, e.g. ff_renew_lease
	Code     string   // the error code, e.g. stale_lease
	Detail   []string // the detail slots after the code, as sent
}

// Code returns a sentinel for an error code.
func Code(code string) *Error { return &Error{Code: code} }

func (e *Error) Error() string {
	var b strings.Builder
	if e.Function != "" {
		b.WriteString(e.Function)
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if len(e.Detail) > 0 {
		b.WriteString(" (")
		for i, d := range e.Detail {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(d)
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Is matches a sentinel of the same code. A sentinel is an *Error without a Function.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Function == "" && t.Code == e.Code
}

// ReplyError reports a reply that does not have the shape the function's annotations
// promise: a server running another library version, or a bug in the Lua.
type ReplyError struct {
	Function string
	Msg      string
}

func (e *ReplyError) Error() string { return e.Function + ": unexpected reply: " + e.Msg }

// BuildError reports a command that could not be built, such as keys in different cluster
// slots.
type BuildError struct {
	Function string
	Msg      string
}

func (e *BuildError) Error() string { return e.Function + ": " + e.Msg }
