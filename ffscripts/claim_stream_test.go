package ffscripts_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/google/go-cmp/cmp"
)

// frame appends a frame as lease holder l; mod adjusts the arguments.
func (e *exe) frame(l *lease, payload string, mod func(*ffscripts.AppendFrameArgs)) (ffscripts.AppendFrameReply, error) {
	a := ffscripts.AppendFrameArgs{ExecutionID: e.id, AttemptIndex: strconv.FormatInt(l.index, 10),
		LeaseID: l.leaseID, LeaseEpoch: l.epoch, FrameType: "log", Payload: []byte(payload),
		Encoding: "utf8", Source: "worker", RetentionMaxlen: ptr(int64(10000)), AttemptID: l.aid,
		MaxPayloadBytes: ptr(int64(65536))}
	if mod != nil {
		mod(&a)
	}
	return e.f.c.AppendFrame(e.f.ctx, ffscripts.AppendFrameKeys{ExecCore: e.x("core"),
		Stream: e.streamKey(l.index), StreamMeta: e.streamKey(l.index) + ":meta",
		StreamSummary: e.attempt(l.index) + ":summary"}, a)
}

func TestAppendFrame(t *testing.T) {
	eachTarget(t, func(t *testing.T, f *fx) {
		t.Run("durable", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			r1, err := e.frame(l, "hello", func(a *ffscripts.AppendFrameArgs) { a.CorrelationID = "c1" })
			if err != nil || r1.FrameCount != 1 || r1.EntryID == "" || r1.SummaryVersion != "" {
				t.Fatalf("frame = %+v %v", r1, err)
			}
			r2, err := e.frame(l, "world!", nil)
			if err != nil || r2.FrameCount != 2 {
				t.Fatalf("frame 2 = %+v %v", r2, err)
			}
			m := e.hgetall(e.streamKey(0) + ":meta")
			want := map[string]string{"frame_count": "2", "total_bytes": "11", "last_sequence": r2.EntryID,
				"has_durable_frame": "1", "closed_at": "", "stream_id": e.id + ":0", "attempt_id": l.aid}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("meta %s = %q, want %q", k, m[k], v)
				}
			}
			xs, err := f.do(f.db.B().Xrange().Key(e.streamKey(0)).Start("-").End("+").Build()).AsXRange()
			if err != nil || len(xs) != 2 || xs[0].FieldValues["payload"] != "hello" ||
				xs[0].FieldValues["correlation_id"] != "c1" || xs[1].FieldValues["mode"] != "durable" {
				t.Errorf("stream %+v %v", xs, err)
			}
			// completing closes the stream meta; later frames find the execution terminal
			if _, err := e.complete(l, ""); err != nil {
				t.Fatal(err)
			}
			if e.hget(e.streamKey(0)+":meta", "closed_reason") != "attempt_success" {
				t.Errorf("meta not closed: %v", e.hgetall(e.streamKey(0)+":meta"))
			}
			if _, err := e.frame(l, "late", nil); code(err) != "stream_closed" {
				t.Errorf("frame after complete = %v", err)
			}
		})

		tests := []struct {
			name  string
			setup func(e *exe, l *lease)
			mod   func(l *lease, a *ffscripts.AppendFrameArgs)
			want  string
		}{
			{"too_large", nil, func(l *lease, a *ffscripts.AppendFrameArgs) { a.MaxPayloadBytes = ptr(int64(3)) }, "retention_limit_exceeded"},
			{"stale_epoch", nil, func(l *lease, a *ffscripts.AppendFrameArgs) { a.LeaseEpoch = "2" }, "stale_owner_cannot_append"},
			{"wrong_lease", nil, func(l *lease, a *ffscripts.AppendFrameArgs) { a.LeaseID = "x" }, "stale_owner_cannot_append"},
			{"wrong_attempt_index", nil, func(l *lease, a *ffscripts.AppendFrameArgs) { a.AttemptIndex = "1" }, "stale_owner_cannot_append"},
			{"revoked", func(e *exe, l *lease) { e.revoke("", "ops", "wi-a") }, nil, "stale_owner_cannot_append"},
			{"closed_meta", func(e *exe, l *lease) {
				e.frame(l, "x", nil)
				e.f.do(e.f.db.B().Hset().Key(e.streamKey(0)+":meta").FieldValue().FieldValue("closed_at", "1").Build())
			}, nil, "stream_closed"},
			{"summary_not_object", nil, func(l *lease, a *ffscripts.AppendFrameArgs) {
				a.StreamMode, a.Payload = "summary", []byte(`5`)
			}, "invalid_input"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				e := f.newExec()
				e.mustCreate(nil)
				l := e.mustGrantClaim("w-a", "wi-a", 30000)
				if tc.setup != nil {
					tc.setup(e, l)
				}
				_, err := e.frame(l, "data", func(a *ffscripts.AppendFrameArgs) {
					if tc.mod != nil {
						tc.mod(l, a)
					}
				})
				if got := code(err); got != tc.want {
					t.Errorf("frame = %q, want %q", got, tc.want)
				}
			})
		}

		t.Run("expired_lease_not_marked", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 0)
			if _, err := e.frame(l, "x", nil); code(err) != "stale_owner_cannot_append" {
				t.Errorf("frame = %v", err)
			}
			if e.state() != sRunning {
				t.Errorf("append marked the lease: %s", e.state())
			}
		})

		t.Run("summary_merge_patch", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			summary := func(p string) ffscripts.AppendFrameReply {
				t.Helper()
				r, err := e.frame(l, p, func(a *ffscripts.AppendFrameArgs) { a.StreamMode = "summary" })
				if err != nil {
					t.Fatalf("summary %s: %v", p, err)
				}
				return r
			}
			summary(`{"a":{"b":1,"c":2},"d":"x"}`)
			r := summary(`{"a":{"b":null,"e":3},"d":"__ff_null__"}`)
			if r.SummaryVersion != "2" {
				t.Errorf("version %q", r.SummaryVersion)
			}
			s := e.hgetall(e.attempt(0) + ":summary")
			if diff := cmp.Diff(map[string]any{"a": map[string]any{"c": 2.0, "e": 3.0}, "d": nil}, decodeJSON(t, s["document"])); diff != "" {
				t.Errorf("document (-want +got):\n%s", diff)
			}
			if s["version"] != "2" || s["first_applied_ms"] == "" || s["patch_kind"] != "json-merge-patch" {
				t.Errorf("summary hash %v", s)
			}
		})

		t.Run("best_effort_expires", func(t *testing.T) {
			e := f.newExec()
			e.mustCreate(nil)
			l := e.mustGrantClaim("w-a", "wi-a", 30000)
			if _, err := e.frame(l, "tick", func(a *ffscripts.AppendFrameArgs) {
				a.StreamMode, a.TTLMs = "best_effort", ptr(int64(5000))
			}); err != nil {
				t.Fatal(err)
			}
			pttl, _ := f.do(f.db.B().Pttl().Key(e.streamKey(0)).Build()).AsInt64()
			if pttl <= 0 || pttl > 10000 {
				t.Errorf("best-effort stream PTTL %d, want (0, 10000]", pttl)
			}
			if _, err := e.frame(l, "durable", nil); err != nil {
				t.Fatal(err)
			}
			if pttl, _ := f.do(f.db.B().Pttl().Key(e.streamKey(0)).Build()).AsInt64(); pttl != -1 {
				t.Errorf("durable frame kept the TTL: %d", pttl)
			}
		})
	})
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}
