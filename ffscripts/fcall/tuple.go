package fcall

import (
	"fmt"
	"strconv"

	"github.com/valkey-io/valkey-go"
)

// Tuple is a decoded success reply {1, status, fields...}.
type Tuple struct {
	Function string
	Status   string
	Fields   []valkey.ValkeyMessage
}

// ParseTuple decodes a reply that follows the library's tuple convention. An error tuple
// {0, code, details...} becomes an *Error; a transport or server error is returned as
// it came, wrapped with the function name.
func ParseTuple(function string, r valkey.ValkeyResult) (Tuple, error) {
	t := Tuple{Function: function}
	arr, err := r.ToArray()
	if err != nil {
		if valkey.IsValkeyNil(err) {
			return t, &ReplyError{Function: function, Msg: "nil reply"}
		}
		if _, ok := valkey.IsValkeyErr(err); ok {
			return t, fmt.Errorf("%s: %w", function, err)
		}
		if r.Error() != nil {
			return t, fmt.Errorf("%s: %w", function, err)
		}
		return t, &ReplyError{Function: function, Msg: "not a tuple: " + err.Error()}
	}
	if len(arr) < 2 {
		return t, &ReplyError{Function: function, Msg: fmt.Sprintf("a tuple of %d elements", len(arr))}
	}
	if !arr[0].IsInt64() {
		return t, &ReplyError{Function: function, Msg: "first element is not an integer"}
	}
	ok, _ := arr[0].AsInt64()
	status, err := arr[1].ToString()
	if err != nil {
		return t, &ReplyError{Function: function, Msg: "second element is not a string"}
	}
	switch ok {
	case 1:
		t.Status, t.Fields = status, arr[2:]
		return t, nil
	case 0:
		e := &Error{Function: function, Code: status}
		if len(arr) > 2 {
			e.Detail = make([]string, 0, len(arr)-2)
			for _, m := range arr[2:] {
				s, err := m.ToString()
				if err != nil {
					// Integers and nils are possible in foreign libraries; keep their text.
					if v, ierr := m.AsInt64(); ierr == nil {
						s = strconv.FormatInt(v, 10)
					}
				}
				e.Detail = append(e.Detail, s)
			}
		}
		return t, e
	default:
		return t, &ReplyError{Function: function, Msg: fmt.Sprintf("first element is %d, want 1 or 0", ok)}
	}
}

// Len is the number of fields after the status.
func (t Tuple) Len() int { return len(t.Fields) }

// UnexpectedStatus is the error for a success status the annotations do not list.
func (t Tuple) UnexpectedStatus() error {
	return &ReplyError{Function: t.Function, Msg: fmt.Sprintf("status %q", t.Status)}
}

func (t Tuple) field(i int, name string) (valkey.ValkeyMessage, error) {
	if i >= len(t.Fields) {
		return valkey.ValkeyMessage{}, &ReplyError{Function: t.Function, Msg: fmt.Sprintf("%s reply has no field %d (%s)", t.Status, i, name)}
	}
	return t.Fields[i], nil
}

func (t Tuple) fieldErr(i int, name string, err error) error {
	return &ReplyError{Function: t.Function, Msg: fmt.Sprintf("%s reply field %d (%s): %v", t.Status, i, name, err)}
}

// Has reports whether field i is present; optional trailing fields may be missing.
func (t Tuple) Has(i int) bool { return i < len(t.Fields) }

// String returns field i as a string. Integers are accepted and formatted.
func (t Tuple) String(i int, name string) (string, error) {
	m, err := t.field(i, name)
	if err != nil {
		return "", err
	}
	return messageString(m, func(err error) error { return t.fieldErr(i, name, err) })
}

func messageString(m valkey.ValkeyMessage, wrap func(error) error) (string, error) {
	if m.IsString() {
		s, _ := m.ToString()
		return s, nil
	}
	if m.IsInt64() {
		v, _ := m.AsInt64()
		return strconv.FormatInt(v, 10), nil
	}
	if m.IsNil() {
		return "", nil
	}
	_, err := m.ToString()
	if err == nil {
		err = fmt.Errorf("not a string")
	}
	return "", wrap(err)
}

// Bytes returns field i as bytes (a copy).
func (t Tuple) Bytes(i int, name string) ([]byte, error) {
	s, err := t.String(i, name)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Int returns field i as an int64. The empty string is 0, as the library writes unset
// numeric fields as "".
func (t Tuple) Int(i int, name string) (int64, error) {
	m, err := t.field(i, name)
	if err != nil {
		return 0, err
	}
	if m.IsInt64() {
		v, _ := m.AsInt64()
		return v, nil
	}
	s, err := messageString(m, func(err error) error { return t.fieldErr(i, name, err) })
	if err != nil {
		return 0, err
	}
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, t.fieldErr(i, name, fmt.Errorf("%q is not an integer", s))
	}
	return v, nil
}

// Float returns field i as a float64; "" is 0.
func (t Tuple) Float(i int, name string) (float64, error) {
	s, err := t.String(i, name)
	if err != nil || s == "" {
		return 0, err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, t.fieldErr(i, name, fmt.Errorf("%q is not a number", s))
	}
	return v, nil
}

// Bool returns field i as a bool: "1"/"true" are true, "0"/"false"/"" are false.
func (t Tuple) Bool(i int, name string) (bool, error) {
	s, err := t.String(i, name)
	if err != nil {
		return false, err
	}
	switch s {
	case "1", "true":
		return true, nil
	case "0", "false", "":
		return false, nil
	}
	return false, t.fieldErr(i, name, fmt.Errorf("%q is not a boolean", s))
}

// Strings returns fields i.. as strings.
func (t Tuple) Strings(i int, name string) ([]string, error) {
	if i >= len(t.Fields) {
		return nil, nil
	}
	out := make([]string, 0, len(t.Fields)-i)
	for j := i; j < len(t.Fields); j++ {
		s, err := t.String(j, name)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Ints returns fields i.. as int64s.
func (t Tuple) Ints(i int, name string) ([]int64, error) {
	if i >= len(t.Fields) {
		return nil, nil
	}
	out := make([]int64, 0, len(t.Fields)-i)
	for j := i; j < len(t.Fields); j++ {
		v, err := t.Int(j, name)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
