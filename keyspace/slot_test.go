package keyspace

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint16
	}{
		{[]byte("123456789"), 0x31C3}, // CRC-16/XMODEM check value
		{nil, 0},
		// spec claim-lease §2.1 vectors
		{[]byte{0x55, 0x0e, 0x84, 0x00, 0xe2, 0x9b, 0x41, 0xd4, 0xa7, 0x16, 0x44, 0x66, 0x55, 0x44, 0x00, 0x00}, 36888},
		{[]byte("default"), 54870},
		{[]byte("workers-a"), 11969},
	}
	for _, tt := range tests {
		if got := CRC16(tt.in); got != tt.want {
			t.Errorf("CRC16(%q) = %d (0x%04X), want %d (0x%04X)", tt.in, got, got, tt.want, tt.want)
		}
	}
}

// Slots below were read from a real Valkey 8.0.1 started with
// --cluster-enabled yes: CLUSTER KEYSLOT <key>.
func TestHashSlotMatchesValkey(t *testing.T) {
	tests := map[string]uint16{
		"123456789": 12739,
		"foo":       12182,
		"bar":       5061,
		"somekey":   11058,
		"{fp:7}":    2729,
		"ff:exec:{fp:7}:{fp:7}:550e8400-e29b-41d4-a716-446655440000:core": 2729,
		"ff:noop:{fp:255}":      15470,
		"ff:config:partitions":  6415,
		"a{}b":                  13694,
		"{}":                    15257,
		"{":                     4092,
		"}":                     12090,
		"x{y":                   2740,
		"x}y{":                  8402,
		"{{a}}":                 10276,
		"{a}{b}":                15495,
		"a{b}c":                 3300,
		"{fp:0}":                14926,
		"{fp:24}":               360,
		"{fp:65535}":            10558,
		"ff:worker:ns:w1:alive": 316,
		"东京-gpu":                583,
		"":                      0,
	}
	for key, want := range tests {
		if got := HashSlot(key); got != want {
			t.Errorf("HashSlot(%q) = %d, want %d (CLUSTER KEYSLOT)", key, got, want)
		}
	}
}

func TestHashTag(t *testing.T) {
	tests := map[string]string{
		"ff:exec:{fp:7}:{fp:7}:x:core": "fp:7",
		"{a}{b}":                       "a",
		"{{a}}":                        "{a",
		"a{}b{c}":                      "a{}b{c}", // first tag empty: whole key
		"x{y":                          "x{y",
		"plain":                        "plain",
	}
	for key, want := range tests {
		if got := HashTag(key); got != want {
			t.Errorf("HashTag(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestCheckSameSlot(t *testing.T) {
	p := Partition(7)
	if err := CheckSameSlot(); err != nil {
		t.Errorf("no keys: %v", err)
	}
	if err := CheckSameSlot("anything"); err != nil {
		t.Errorf("one key: %v", err)
	}
	if err := CheckSameSlot(p.Noop(), p.LeaseExpiry(), "ff:x:{fp:7}"); err != nil {
		t.Errorf("same tag: %v", err)
	}
	err := CheckSameSlot(p.Noop(), p.LeaseExpiry(), Partition(8).Noop())
	if !errors.Is(err, ErrCrossSlot) {
		t.Fatalf("cross slot: got %v, want ErrCrossSlot", err)
	}
	want := `keyspace: keys in different hash slots: key 2 "ff:noop:{fp:8}" is in slot 15174, key 0 "ff:noop:{fp:7}" is in slot 2729`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error text (-want +got):\n%s", diff)
	}
}
