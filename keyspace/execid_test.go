package keyspace

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestParseExecutionIDValid(t *testing.T) {
	tests := []struct {
		in   string
		part Partition
		uuid string
	}{
		{"{fp:42}:" + testUUID, 42, testUUID},
		{"{fp:0}:" + testUUID, 0, testUUID},
		{"{fp:65535}:" + testUUID, 65535, testUUID},
		{"{fp:7}:00000000-0000-0000-0000-000000000000", 7, "00000000-0000-0000-0000-000000000000"},
		{"{fp:300}:6ba7b810-9dad-11d1-80b4-00c04fd430c8", 300, "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}, // v1: any version is accepted
	}
	for _, tt := range tests {
		id, err := ParseExecutionID(tt.in)
		if err != nil {
			t.Errorf("ParseExecutionID(%q): %v", tt.in, err)
			continue
		}
		got := struct {
			Part   Partition
			UUID   string
			String string
		}{id.Partition(), id.UUID().String(), id.String()}
		want := struct {
			Part   Partition
			UUID   string
			String string
		}{tt.part, tt.uuid, tt.in}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseExecutionID(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseExecutionIDInvalid(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		{"", `keyspace: execution id "": empty`},
		{testUUID, `keyspace: execution id "550e8400-e29b-41d4-a716-446655440000": bare uuid without the "{fp:N}:" partition tag`},
		{"x", `keyspace: execution id "x": missing "{fp:" prefix`},
		{"{p:7}:" + testUUID, `keyspace: execution id "{p:7}:550e8400-e29b-41d4-a716-446655440000": missing "{fp:" prefix`},
		{"{b:7}:" + testUUID, `keyspace: execution id "{b:7}:550e8400-e29b-41d4-a716-446655440000": missing "{fp:" prefix`},
		{" {fp:7}:" + testUUID, `keyspace: execution id " {fp:7}:550e8400-e29b-41d4-a716-446655440000": missing "{fp:" prefix`},
		{"{FP:7}:" + testUUID, `keyspace: execution id "{FP:7}:550e8400-e29b-41d4-a716-446655440000": missing "{fp:" prefix`},
		{"{fp:7}" + testUUID, `keyspace: execution id "{fp:7}550e8400-e29b-41d4-a716-446655440000": missing "}:" after the partition number`},
		{"{fp:7:" + testUUID, `keyspace: execution id "{fp:7:550e8400-e29b-41d4-a716-446655440000": missing "}:" after the partition number`},
		{"{fp:}:" + testUUID, `keyspace: execution id "{fp:}:550e8400-e29b-41d4-a716-446655440000": partition "": empty`},
		{"{fp:07}:" + testUUID, `keyspace: execution id "{fp:07}:550e8400-e29b-41d4-a716-446655440000": partition "07": leading zero`},
		{"{fp:00}:" + testUUID, `keyspace: execution id "{fp:00}:550e8400-e29b-41d4-a716-446655440000": partition "00": leading zero`},
		{"{fp:+7}:" + testUUID, `keyspace: execution id "{fp:+7}:550e8400-e29b-41d4-a716-446655440000": partition "+7": not a decimal number`},
		{"{fp:-1}:" + testUUID, `keyspace: execution id "{fp:-1}:550e8400-e29b-41d4-a716-446655440000": partition "-1": not a decimal number`},
		{"{fp: 7}:" + testUUID, `keyspace: execution id "{fp: 7}:550e8400-e29b-41d4-a716-446655440000": partition " 7": not a decimal number`},
		{"{fp:0x7}:" + testUUID, `keyspace: execution id "{fp:0x7}:550e8400-e29b-41d4-a716-446655440000": partition "0x7": not a decimal number`},
		{"{fp:65536}:" + testUUID, `keyspace: execution id "{fp:65536}:550e8400-e29b-41d4-a716-446655440000": partition "65536": out of range 0..65535`},
		{"{fp:99999999999999999999}:" + testUUID, `keyspace: execution id "{fp:99999999999999999999}:550e8400-e29b-41d4-a716-446655440000": partition "99999999999999999999": out of range 0..65535`},
		{"{fp:7}:", `keyspace: execution id "{fp:7}:": uuid "": want 36 characters in 8-4-4-4-12 form, got 0`},
		{"{fp:7}:" + strings.ToUpper(testUUID), `keyspace: execution id "{fp:7}:550E8400-E29B-41D4-A716-446655440000": uuid "550E8400-E29B-41D4-A716-446655440000": not canonical (lowercase hex, hyphenated)`},
		{"{fp:7}:550e8400e29b41d4a716446655440000", `keyspace: execution id "{fp:7}:550e8400e29b41d4a716446655440000": uuid "550e8400e29b41d4a716446655440000": want 36 characters in 8-4-4-4-12 form, got 32`},
		{"{fp:7}:{" + testUUID + "}", `keyspace: execution id "{fp:7}:{550e8400-e29b-41d4-a716-446655440000}": uuid "{550e8400-e29b-41d4-a716-446655440000}": want 36 characters in 8-4-4-4-12 form, got 38`},
		{"{fp:7}:urn:uuid:" + testUUID, `keyspace: execution id "{fp:7}:urn:uuid:550e8400-e29b-41d4-a716-446655440000": uuid "urn:uuid:550e8400-e29b-41d4-a716-446655440000": want 36 characters in 8-4-4-4-12 form, got 45`},
		{"{fp:7}:" + testUUID + " ", `keyspace: execution id "{fp:7}:550e8400-e29b-41d4-a716-446655440000 ": uuid "550e8400-e29b-41d4-a716-446655440000 ": want 36 characters in 8-4-4-4-12 form, got 37`},
		{"{fp:7}:550e8400-e29b-41d4-a716-44665544000g", `keyspace: execution id "{fp:7}:550e8400-e29b-41d4-a716-44665544000g": uuid "550e8400-e29b-41d4-a716-44665544000g": not a uuid`},
		{"{fp:7}:550e8400+e29b-41d4-a716-446655440000", `keyspace: execution id "{fp:7}:550e8400+e29b-41d4-a716-446655440000": uuid "550e8400+e29b-41d4-a716-446655440000": not a uuid`},
		{"{fp:7}:{fp:7}:" + testUUID, `keyspace: execution id "{fp:7}:{fp:7}:550e8400-e29b-41d4-a716-446655440000": uuid "{fp:7}:550e8400-e29b-41d4-a716-446655440000": want 36 characters in 8-4-4-4-12 form, got 43`},
		{strings.Repeat("{fp:", 40), `keyspace: execution id "{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:{fp:"...: missing "}:" after the partition number`},
	}
	for _, tt := range tests {
		id, err := ParseExecutionID(tt.in)
		if err == nil {
			t.Errorf("ParseExecutionID(%q) = %v, want an error", tt.in, id)
			continue
		}
		if !errors.Is(err, ErrInvalidExecutionID) {
			t.Errorf("ParseExecutionID(%q): %v does not match ErrInvalidExecutionID", tt.in, err)
		}
		var ie *ExecutionIDError
		if !errors.As(err, &ie) || ie.Input != tt.in {
			t.Errorf("ParseExecutionID(%q): error %#v does not carry the input", tt.in, err)
		}
		if diff := cmp.Diff(tt.msg, err.Error()); diff != "" {
			t.Errorf("ParseExecutionID(%q) message (-want +got):\n%s", tt.in, diff)
		}
		if !id.IsZero() {
			t.Errorf("ParseExecutionID(%q) returned non-zero id %v with an error", tt.in, id)
		}
	}
}

func TestNewExecutionID(t *testing.T) {
	a, b := NewExecutionID(24), NewExecutionID(24)
	if a == b {
		t.Errorf("two minted ids are equal: %v", a)
	}
	if a.Partition() != 24 || a.UUID().Version() != 4 {
		t.Errorf("minted id %v: partition %d version %d, want 24 and 4", a, a.Partition(), a.UUID().Version())
	}
	back, err := ParseExecutionID(a.String())
	if err != nil || back != a {
		t.Errorf("round trip of %v: got %v, %v", a, back, err)
	}
	cfg := DefaultPartitionConfig()
	if got := cfg.NewSoloExecutionID("default").Partition(); got != 86 {
		t.Errorf("NewSoloExecutionID(default) partition %d, want 86", got)
	}
	if got := cfg.NewFlowExecutionID(uuid.MustParse(testUUID)).Partition(); got != 24 {
		t.Errorf("NewFlowExecutionID partition %d, want 24", got)
	}
	var zero ExecutionID
	if !zero.IsZero() || zero.String() != "{fp:0}:00000000-0000-0000-0000-000000000000" {
		t.Errorf("zero id: IsZero %v, String %q", zero.IsZero(), zero.String())
	}
}

func TestExecutionIDJSON(t *testing.T) {
	id := ExecutionIDWithUUID(42, uuid.MustParse(testUUID))
	type doc struct {
		ID ExecutionID `json:"id"`
	}
	b, err := json.Marshal(doc{id})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"{fp:42}:` + testUUID + `"}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
	var back doc
	if err := json.Unmarshal(b, &back); err != nil || back.ID != id {
		t.Errorf("Unmarshal = %v, %v; want %v", back.ID, err, id)
	}
	err = json.Unmarshal([]byte(`{"id":"`+testUUID+`"}`), &back)
	if !errors.Is(err, ErrInvalidExecutionID) {
		t.Errorf("Unmarshal of a bare uuid: %v, want ErrInvalidExecutionID", err)
	}
}

func TestPartitionConfigCheck(t *testing.T) {
	cfg := PartitionConfig{NumFlowPartitions: 16}
	if err := cfg.Check(ExecutionIDWithUUID(15, uuid.Nil)); err != nil {
		t.Errorf("partition 15 of 16: %v", err)
	}
	err := cfg.Check(ExecutionIDWithUUID(16, uuid.Nil))
	if !errors.Is(err, ErrPartitionOutOfRange) {
		t.Errorf("partition 16 of 16: %v, want ErrPartitionOutOfRange", err)
	}
	if err := (PartitionConfig{}).Check(ExecutionIDWithUUID(255, uuid.Nil)); err != nil {
		t.Errorf("zero config, partition 255: %v", err)
	}
}

// FuzzParseExecutionID: the parser never panics, accepts only what String
// reproduces byte for byte, and every rejection matches the sentinel.
func FuzzParseExecutionID(f *testing.F) {
	for _, s := range []string{
		"{fp:42}:" + testUUID, "{fp:0}:" + testUUID, "{fp:65535}:" + testUUID, testUUID,
		"{fp:07}:" + testUUID, "{fp:65536}:" + testUUID, "{fp:7}:" + strings.ToUpper(testUUID),
		"{fp:7}:{" + testUUID + "}", "{fp:}:", "{fp:", "", "{fp:1}:{fp:1}:x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseExecutionID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidExecutionID) {
				t.Fatalf("ParseExecutionID(%q): error %v does not match ErrInvalidExecutionID", s, err)
			}
			if !id.IsZero() {
				t.Fatalf("ParseExecutionID(%q): non-zero id with an error", s)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ParseExecutionID(%q).String() = %q", s, id.String())
		}
		k := ExecKeys(id)
		if err := CheckSameSlot(k.Core(), k.Attempt(3), id.Partition().Noop()); err != nil {
			t.Fatal(err)
		}
	})
}
