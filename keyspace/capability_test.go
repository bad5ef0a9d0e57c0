package keyspace

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidateCapability(t *testing.T) {
	tests := []struct {
		token string
		msg   string // "" = valid
	}{
		{"gpu", ""},
		{"cuda-12.1", ""},
		{"东京-gpu", ""},
		{"a=b:c/d", ""},
		{"", `keyspace: capability "": empty token`},
		{"gpu,cuda", `keyspace: capability "gpu,cuda": contains ',' (the CSV delimiter)`},
		{"gpu ", `keyspace: capability "gpu ": contains whitespace or control character U+0020`},
		{"g\tpu", `keyspace: capability "g\tpu": contains whitespace or control character U+0009`},
		{"gpu\n", `keyspace: capability "gpu\n": contains whitespace or control character U+000A`},
		{"\x00", `keyspace: capability "\x00": contains whitespace or control character U+0000`},
		{"gpu\x7f", `keyspace: capability "gpu\x7f": contains whitespace or control character U+007F`},
		{"gpu\u0085", `keyspace: capability "gpu\u0085": contains whitespace or control character U+0085`},
		{"gpu\u00a0x", `keyspace: capability "gpu\u00a0x": contains whitespace or control character U+00A0`},
		{"gpu\u3000", `keyspace: capability "gpu\u3000": contains whitespace or control character U+3000`},
		{"gpu\xff", `keyspace: capability "gpu\xff": not valid UTF-8`},
	}
	for _, tt := range tests {
		err := ValidateCapability(tt.token)
		if tt.msg == "" {
			if err != nil {
				t.Errorf("ValidateCapability(%q): %v", tt.token, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidCapability) {
			t.Errorf("ValidateCapability(%q) = %v, want ErrInvalidCapability", tt.token, err)
			continue
		}
		var ce *CapabilityError
		if !errors.As(err, &ce) || ce.Token != tt.token {
			t.Errorf("ValidateCapability(%q): error does not name the token: %#v", tt.token, err)
		}
		if diff := cmp.Diff(tt.msg, err.Error()); diff != "" {
			t.Errorf("ValidateCapability(%q) (-want +got):\n%s", tt.token, diff)
		}
	}
}

// tokens returns n distinct tokens of the given width ("c001", ...).
func tokens(n, width int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%0*d", width-1, i)
	}
	return out
}

func TestCapabilityCSV(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
		msg  string
	}{
		{"none", nil, "", ""},
		{"sorted dedup", []string{"gpu", "cuda", "gpu", "avx"}, "avx,cuda,gpu", ""},
		{"byte order", []string{"b", "B", "東", "a", "Z"}, "B,Z,a,b,東", ""},
		{"first bad token named", []string{"ok", "bad one", "", "x,y"}, "", `keyspace: capability "bad one": contains whitespace or control character U+0020`},
		{"256 tokens", tokens(256, 4), strings.Join(tokens(256, 4), ","), ""},
		{"256 tokens plus duplicates", append(tokens(256, 4), tokens(10, 4)...), strings.Join(tokens(256, 4), ","), ""},
		{"257 tokens", tokens(257, 4), "", "keyspace: capability set: has 257 distinct tokens, limit 256"},
		{"4096 bytes", []string{strings.Repeat("a", 4096)}, strings.Repeat("a", 4096), ""},
		{"4097 bytes", []string{strings.Repeat("a", 4097)}, "", "keyspace: capability set: CSV is 4097 bytes, limit 4096"},
		{"4097 bytes from commas", []string{strings.Repeat("a", 2048), strings.Repeat("b", 2048)}, "", "keyspace: capability set: CSV is 4097 bytes, limit 4096"},
	}
	for _, tt := range tests {
		got, err := CapabilityCSV(tt.in)
		gotMsg := ""
		if err != nil {
			gotMsg = err.Error()
			if !errors.Is(err, ErrInvalidCapability) {
				t.Errorf("%s: %v does not match ErrInvalidCapability", tt.name, err)
			}
		}
		if diff := cmp.Diff(struct{ CSV, Err string }{tt.want, tt.msg}, struct{ CSV, Err string }{got, gotMsg}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
	in := []string{"b", "a"}
	if _, err := CapabilityCSV(in); err != nil || in[0] != "b" {
		t.Errorf("CapabilityCSV changed its input: %v, %v", in, err)
	}
}

func TestParseCapabilityCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
		msg  string
	}{
		{"empty", "", nil, ""},
		{"commas only", ",,,", nil, ""},
		{"order kept, empties skipped", "gpu,,cuda,gpu,", []string{"gpu", "cuda", "gpu"}, ""},
		{"256 with duplicates", strings.Repeat("x,", 256), strings.Split(strings.Repeat("x,", 255)+"x", ","), ""},
		{"257 with duplicates", strings.Repeat("x,", 257), nil, "keyspace: capability set: has more than 256 tokens"},
		{"4096 bytes", strings.Repeat("a", 4096), []string{strings.Repeat("a", 4096)}, ""},
		{"4097 bytes", strings.Repeat(",", 4097), nil, "keyspace: capability set: CSV is 4097 bytes, limit 4096"},
	}
	for _, tt := range tests {
		got, err := ParseCapabilityCSV(tt.in)
		gotMsg := ""
		if err != nil {
			gotMsg = err.Error()
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s tokens (-want +got):\n%s", tt.name, diff)
		}
		if gotMsg != tt.msg {
			t.Errorf("%s: error %q, want %q", tt.name, gotMsg, tt.msg)
		}
	}
}

func TestMissingCapabilities(t *testing.T) {
	tests := []struct {
		required, worker, want []string
	}{
		{nil, nil, nil},
		{nil, []string{"gpu"}, nil},
		{[]string{"cuda", "gpu"}, []string{"gpu"}, []string{"cuda"}}, // spec §7 verified example
		{[]string{"gpu", "cuda", "gpu", "avx"}, nil, []string{"avx", "cuda", "gpu"}},
		{[]string{"GPU"}, []string{"gpu"}, []string{"GPU"}}, // case-sensitive
		{[]string{"gpu"}, []string{"gpu", "cuda"}, nil},
	}
	for _, tt := range tests {
		got := MissingCapabilities(tt.required, tt.worker)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("MissingCapabilities(%q, %q) (-want +got):\n%s", tt.required, tt.worker, diff)
		}
	}
}

func TestValidateLane(t *testing.T) {
	tests := []struct {
		lane, msg string
	}{
		{"default", ""},
		{"a", ""},
		{"with space ~", ""},
		{strings.Repeat("l", 64), ""},
		{"", `keyspace: invalid lane id: "": want 1..64 bytes, got 0`},
		{strings.Repeat("l", 65), `keyspace: invalid lane id: "` + strings.Repeat("l", 65) + `": want 1..64 bytes, got 65`},
		{"tab\there", `keyspace: invalid lane id: "tab\there": byte 3 is 0x09, want printable ASCII 0x20..0x7e`},
		{"東", `keyspace: invalid lane id: "東": byte 0 is 0xe6, want printable ASCII 0x20..0x7e`},
		{"del\x7f", `keyspace: invalid lane id: "del\x7f": byte 3 is 0x7f, want printable ASCII 0x20..0x7e`},
	}
	for _, tt := range tests {
		err := ValidateLane(tt.lane)
		got := ""
		if err != nil {
			got = err.Error()
			if !errors.Is(err, ErrInvalidLane) {
				t.Errorf("ValidateLane(%q): %v does not match ErrInvalidLane", tt.lane, err)
			}
		}
		if got != tt.msg {
			t.Errorf("ValidateLane(%q) = %q, want %q", tt.lane, got, tt.msg)
		}
	}
}

// FuzzCapabilityCSV: for any token list (split from the fuzz input on
// '\x1f'), CapabilityCSV never panics; an accepted CSV parses back to
// sorted, distinct, valid tokens within the limits, and every rejection
// matches ErrInvalidCapability.
func FuzzCapabilityCSV(f *testing.F) {
	for _, s := range []string{"gpu\x1fcuda\x1fgpu", "", "a,b", "东京-gpu\x1f\x1fx", "gpu \x1fz", strings.Repeat("x\x1f", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in []string
		if s != "" {
			in = strings.Split(s, "\x1f")
		}
		csv, err := CapabilityCSV(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidCapability) {
				t.Fatalf("CapabilityCSV(%q): %v does not match ErrInvalidCapability", in, err)
			}
			return
		}
		back, err := ParseCapabilityCSV(csv)
		if err != nil {
			t.Fatalf("ParseCapabilityCSV(%q) of an accepted CSV: %v", csv, err)
		}
		for i, tok := range back {
			if err := ValidateCapability(tok); err != nil {
				t.Fatalf("token %q of %q: %v", tok, csv, err)
			}
			if i > 0 && back[i-1] >= tok {
				t.Fatalf("CSV %q not sorted and distinct at %d", csv, i)
			}
		}
		if len(MissingCapabilities(in, back)) != 0 {
			t.Fatalf("CSV %q lacks some of %q", csv, in)
		}
	})
}
