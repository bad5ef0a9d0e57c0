package embedded

import (
	"testing"
	"time"
)

// A key re-timed over and over (a lease renewed) leaves stale heap entries;
// the index rebuilds before they dominate, and the key still expires on time.
func TestExpiryIndexStaysSmall(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	s, e := newEmbeddedEngine(t, WithTime(t0))
	e.rawDo(t, "SET", "lease", "v", "PX", "1000")
	for i := range 5000 {
		if got := e.rawDo(t, "PEXPIRE", "lease", "1000"); got != ":1\r\n" {
			t.Fatalf("PEXPIRE %d: %q", i, got)
		}
		s.FastForward(time.Millisecond)
	}
	s.mu.Lock()
	heapLen, keys := len(s.exp.heap), len(s.exp.last)
	s.mu.Unlock()
	if keys != 1 || heapLen > 2*keys+1024+1 {
		t.Errorf("index holds %d heap entries for %d keys", heapLen, keys)
	}
	// The last renewal was at t0+4999ms: deadline t0+5999ms.
	s.SetTime(t0.Add(5999 * time.Millisecond))
	if got := e.rawDo(t, "EXISTS", "lease"); got != ":1\r\n" {
		t.Errorf("EXISTS at the deadline = %q, want :1", got)
	}
	s.SetTime(t0.Add(6000 * time.Millisecond))
	if got := e.rawDo(t, "EXISTS", "lease"); got != ":0\r\n" {
		t.Errorf("EXISTS 1ms after the deadline = %q, want :0", got)
	}
}
