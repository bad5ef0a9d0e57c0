package fcall_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts/fcall"
	"github.com/flowfabric/ffgo/internal/valkeytest"
	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"
)

// eval returns what a Lua script's return value looks like to valkey-go, the way a
// library function's reply does.
func eval(t testing.TB, db valkey.Client, script string, args ...string) valkey.ValkeyResult {
	t.Helper()
	return db.Do(context.Background(), db.B().Eval().Script(script).Numkeys(0).Arg(args...).Build())
}

func TestParseTuple(t *testing.T) {
	db := valkeytest.Standalone(t)
	type result struct {
		Status string
		Fields []string
		Err    string
		Code   string
		Detail []string
	}
	for _, tc := range []struct {
		name   string
		script string
		want   result
	}{
		{"ok with fields", "return {1, 'OK', 'a', '42'}", result{Status: "OK", Fields: []string{"a", "42"}}},
		{"ok without fields", "return {1, 'OK'}", result{Status: "OK", Fields: []string{}}},
		{"duplicate", "return {1, 'DUPLICATE', 'x'}", result{Status: "DUPLICATE", Fields: []string{"x"}}},
		{"integer field", "return {1, 'OK', 7}", result{Status: "OK", Fields: []string{"7"}}},
		{"error with details", "return {0, 'execution_not_active', 'success', '2', 'terminal', ''}",
			result{Err: "ff_x: execution_not_active (success, 2, terminal, )", Code: "execution_not_active", Detail: []string{"success", "2", "terminal", ""}}},
		{"error without details", "return {0, 'stale_lease'}", result{Err: "ff_x: stale_lease", Code: "stale_lease"}},
		{"not a tuple", "return 'hello'", result{Err: "ff_x: unexpected reply: not a tuple: valkey: parse error: valkey message type blob string is not a array"}},
		{"too short", "return {1}", result{Err: "ff_x: unexpected reply: a tuple of 1 elements"}},
		{"bad flag", "return {2, 'OK'}", result{Err: "ff_x: unexpected reply: first element is 2, want 1 or 0"}},
		{"string flag", "return {'1', 'OK'}", result{Err: "ff_x: unexpected reply: first element is not an integer"}},
		{"server error", "return redis.error_reply('ERR boom')", result{Err: "ff_x: boom"}},
		{"nil", "return nil", result{Err: "ff_x: unexpected reply: nil reply"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tup, err := fcall.ParseTuple("ff_x", eval(t, db, tc.script))
			var got result
			if err != nil {
				got.Err = err.Error()
				var fe *fcall.Error
				if errors.As(err, &fe) {
					got.Code, got.Detail = fe.Code, fe.Detail
				}
			} else {
				got.Status = tup.Status
				got.Fields = []string{}
				for i := range tup.Len() {
					s, err := tup.String(i, "f")
					if err != nil {
						t.Fatal(err)
					}
					got.Fields = append(got.Fields, s)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTupleTypedFields(t *testing.T) {
	db := valkeytest.Standalone(t)
	tup, err := fcall.ParseTuple("ff_x", eval(t, db, "return {1, 'OK', '12', '', 'x', '1.5', '1', '0', 'yes'}"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tup.Int(0, "a"); v != 12 || err != nil {
		t.Errorf("Int(0) = %d, %v", v, err)
	}
	if v, err := tup.Int(1, "b"); v != 0 || err != nil {
		t.Errorf("Int of empty = %d, %v; want 0", v, err)
	}
	if _, err := tup.Int(2, "c"); err == nil || err.Error() != `ff_x: unexpected reply: OK reply field 2 (c): "x" is not an integer` {
		t.Errorf("Int of x: %v", err)
	}
	if v, err := tup.Float(3, "d"); v != 1.5 || err != nil {
		t.Errorf("Float = %v, %v", v, err)
	}
	if v, err := tup.Bool(4, "e"); !v || err != nil {
		t.Errorf("Bool(1) = %v, %v", v, err)
	}
	if v, err := tup.Bool(5, "f"); v || err != nil {
		t.Errorf("Bool(0) = %v, %v", v, err)
	}
	if _, err := tup.Bool(6, "g"); err == nil {
		t.Error("Bool(yes) did not fail")
	}
	if _, err := tup.String(9, "missing"); err == nil || err.Error() != "ff_x: unexpected reply: OK reply has no field 9 (missing)" {
		t.Errorf("missing field: %v", err)
	}
	if tup.Has(9) || !tup.Has(6) {
		t.Error("Has is wrong")
	}
	rest, err := tup.Strings(4, "rest")
	if diff := cmp.Diff([]string{"1", "0", "yes"}, rest); diff != "" || err != nil {
		t.Errorf("Strings(4) %v (-want +got):\n%s", err, diff)
	}
}

func TestErrorIs(t *testing.T) {
	sentinel := fcall.Code("stale_lease")
	err := error(&fcall.Error{Function: "ff_renew_lease", Code: "stale_lease"})
	if !errors.Is(err, sentinel) {
		t.Error("errors.Is does not match the sentinel of the same code")
	}
	if errors.Is(err, fcall.Code("lease_expired")) {
		t.Error("errors.Is matches another code")
	}
	if errors.Is(sentinel, err) {
		t.Error("a sentinel matches a concrete error as target")
	}
}

// FuzzParseTuple sends arbitrary elements through a real server and ParseTuple: any reply
// decodes or fails with an error, never a panic.
func FuzzParseTuple(f *testing.F) {
	db := valkeytest.Standalone(f)
	f.Add("1", "OK", "a", "b")
	f.Add("0", "stale_lease", "", "x")
	f.Add("x", "", "\x00", "1e400")
	f.Fuzz(func(t *testing.T, a, b, c, d string) {
		r := eval(t, db, "local out = {} for i, v in ipairs(ARGV) do out[i] = tonumber(v) or v end return out", a, b, c, d)
		tup, err := fcall.ParseTuple("ff_fuzz", r)
		if err != nil {
			return
		}
		for i := range tup.Len() {
			tup.String(i, "f")
			tup.Int(i, "f")
			tup.Float(i, "f")
			tup.Bool(i, "f")
		}
	})
}
