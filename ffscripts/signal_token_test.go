package ffscripts_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/signal"
)

// sigRaw sends cmd with ARGV slots replaced (1-based ARGV index → raw value), for the
// inputs a typed binding cannot express (garbage in an int slot, a missing slot).
func (f *fx) sigRaw(cmd valkey.Completed, argv map[int]string, dropFrom int) valkey.ValkeyResult {
	return f.sigRawKeys(cmd, 0, argv, dropFrom)
}

// sigRawKeys is sigRaw that also keeps only the first keep KEYS (0: all).
func (f *fx) sigRawKeys(cmd valkey.Completed, keep int, argv map[int]string, dropFrom int) valkey.ValkeyResult {
	parts := cmd.Commands() // FCALL name numkeys keys... args...
	nk, _ := strconv.Atoi(parts[2])
	keys := append([]string{}, parts[3:3+nk]...)
	if keep > 0 {
		keys = keys[:keep]
	}
	args := append([]string{}, parts[3+nk:]...)
	for i, v := range argv {
		args[i-1] = v
	}
	if dropFrom > 0 {
		args = args[:dropFrom-1]
	}
	return f.do(f.db.B().Arbitrary("FCALL", parts[1], strconv.Itoa(len(keys))).Keys(keys...).Args(args...).Build())
}

// TestSignalTokens: forged, malformed, foreign, unknown-kid, expired-kid and rotated
// tokens (spec §4.4). Every refusal stamps last_hmac_validation_failed_at and records
// nothing.
func TestSignalTokens(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		rep, err := e.suspendOn(l, sreq{cond: signal.Single(signal.ByName("never")),
			extras: nil})
		if err != nil {
			t.Fatal(err)
		}
		e2, l2 := f.running()
		other, err := e2.suspendOn(l2, sreq{cond: signal.Single(signal.Wildcard())})
		if err != nil {
			t.Fatal(err)
		}
		tok := rep.WaitpointToken
		kid, digest, _ := strings.Cut(tok, ":")
		if kid != "k1" || len(digest) != 40 || strings.ToLower(digest) != digest {
			t.Fatalf("minted token %q", tok)
		}
		zeros := strings.Repeat("0", 40)
		tests := []struct {
			name, wp, token, code string
		}{
			{"valid", rep.WaitpointID, tok, ""},
			{"missing", rep.WaitpointID, "", "missing_token"},
			{"forged digest", rep.WaitpointID, "k1:" + zeros, "invalid_token"},
			{"one bit off", rep.WaitpointID, tok[:len(tok)-1] + string(tok[len(tok)-1]^1), "invalid_token"},
			{"uppercase", rep.WaitpointID, "k1:" + strings.ToUpper(digest), "invalid_token"},
			{"short digest", rep.WaitpointID, "k1:abc", "invalid_token"},
			{"long digest", rep.WaitpointID, tok + "0", "invalid_token"},
			{"no colon", rep.WaitpointID, "abc", "invalid_token"},
			{"empty kid", rep.WaitpointID, ":" + digest, "invalid_token"},
			{"colon last", rep.WaitpointID, "k1:", "invalid_token"},
			{"unknown kid", rep.WaitpointID, "k9:" + digest, "invalid_token"},
			{"token of another waitpoint", rep.WaitpointID, other.WaitpointToken, "invalid_token"},
			{"unknown waitpoint", "no-such-wp", tok, "invalid_token"},
			{"binary junk", rep.WaitpointID, "k1:\x00\xff" + zeros[:38], "invalid_token"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := f.zcard(e.x("signals"))
				f.do(f.db.B().Hdel().Key(e.x("core")).Field("last_hmac_validation_failed_at").Build())
				_, err := e.deliverTo(tt.wp, dreq{name: "x", token: tt.token})
				if code := sigCode(t, err); code != tt.code {
					t.Fatalf("code %q, want %q", code, tt.code)
				}
				stamped := e.hget(e.x("core"), "last_hmac_validation_failed_at") != ""
				if stamped != (tt.code != "") {
					t.Errorf("last_hmac_validation_failed_at stamped=%v", stamped)
				}
				want := before
				if tt.code == "" {
					want++
				}
				if n := f.zcard(e.x("signals")); n != want {
					t.Errorf("exec_signals %d, want %d", n, want)
				}
			})
		}

		t.Run("rotation", func(t *testing.T) {
			// k1 → k2 with a grace: old tokens keep working, new ones carry k2.
			if r, err := f.rotate("k2", strings.Repeat("ab", 32), 60000); err != nil || r.Action != "rotated" || r.Kid != "k1" || r.NewKid != "k2" {
				t.Fatalf("rotate: %+v %v", r, err)
			}
			if _, err := e.deliverTo(rep.WaitpointID, dreq{name: "x", token: tok}); err != nil {
				t.Fatalf("k1 token within grace: %v", err)
			}
			e3, l3 := f.running()
			r3, err := e3.suspendOn(l3, sreq{cond: signal.Single(signal.Wildcard())})
			if err != nil || !strings.HasPrefix(r3.WaitpointToken, "k2:") {
				t.Fatalf("suspend after rotation: %+v %v", r3, err)
			}
			// k2 → k3 with no grace: k2 expires at once, k1 keeps its own expiry.
			if _, err := f.rotate("k3", strings.Repeat("cd", 32), 0); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * time.Millisecond)
			if _, err := e3.deliverTo(r3.WaitpointID, dreq{name: "x", token: r3.WaitpointToken}); sigCode(t, err) != "token_expired" {
				t.Errorf("k2 token after its grace: %v", err)
			}
			if _, err := e.deliverTo(rep.WaitpointID, dreq{name: "x", token: tok}); err != nil {
				t.Errorf("k1 token still within its own grace: %v", err)
			}
			lk, err := f.listKids()
			if err != nil || lk.CurrentKid != "k3" || lk.KidCount != 1 || len(lk.KidExpiries) != 2 || lk.KidExpiries[0] != "k1" {
				t.Errorf("list: %+v %v", lk, err)
			}
		})
	})
}

// TestSignalTokenVectors: the spec §4.2 vectors, checked through ff_deliver_signal against
// hand-written waitpoint records (a valid token reaches the lifecycle checks and answers
// waitpoint_pending_use_buffer_script; a wrong one answers invalid_token).
func TestSignalTokenVectors(t *testing.T) {
	tests := []struct {
		secret, wp, key, created, mac string
	}{
		{sigSecret, "11111111-1111-1111-1111-111111111111", "wpk:test", "1700000000000", "62f98bf08c9e335d409a0484757fd1c8f9804ad8"},
		{strings.Repeat("ab", 80), "x", "y", "1", "c7aeecb15024dd9aedd1b83a0f9fbb06eb00d258"},
	}
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, _ := f.running()
		for i, tt := range tests {
			kid := "v" + strconv.Itoa(i)
			if _, err := f.rotate(kid, tt.secret, 60000); err != nil {
				t.Fatal(err)
			}
			f.do(f.db.B().Hset().Key(f.wpKey(tt.wp)).FieldValue().FieldValue("waitpoint_id", tt.wp).
				FieldValue("execution_id", e.id).FieldValue("waitpoint_key", tt.key).
				FieldValue("created_at", tt.created).FieldValue("state", "pending").Build())
			_, err := e.deliverTo(tt.wp, dreq{name: "x", token: kid + ":" + tt.mac})
			if code := sigCode(t, err); code != "waitpoint_pending_use_buffer_script" {
				t.Errorf("vector %d: %q", i, code)
			}
			bad := []byte(tt.mac)
			bad[0] ^= 1
			_, err = e.deliverTo(tt.wp, dreq{name: "x", token: kid + ":" + string(bad)})
			if code := sigCode(t, err); code != "invalid_token" {
				t.Errorf("vector %d altered: %q", i, code)
			}
		}
	})
}

// TestSignalHMACRotation: ff_rotate_waitpoint_hmac_secret and ff_list_waitpoint_hmac_kids
// (spec §6.10, §6.11, §11.9), the kid-rotation invariant fixed (§13.9).
func TestSignalHMACRotation(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		f.do(f.db.B().Del().Key(f.secKey()).Build())
		lk, err := f.listKids()
		if diff := cmp.Diff(ffscripts.ListWaitpointHMACKidsReply{Status: "OK", KidExpiries: lk.KidExpiries}, lk); diff != "" || err != nil || len(lk.KidExpiries) != 0 {
			t.Fatalf("empty list (-want +got) %v:\n%s", err, diff)
		}
		s1, s2, s3 := strings.Repeat("11", 32), strings.Repeat("22", 32), strings.Repeat("33", 32)
		steps := []struct {
			kid, hex string
			grace    int64
			want     ffscripts.RotateWaitpointHMACSecretReply
			code     string
		}{
			{"k1", s1, 1000, ffscripts.RotateWaitpointHMACSecretReply{Status: "OK", Action: "rotated", Kid: "", NewKid: "k1", GcCount: 0}, ""},
			{"k1", s1, 1000, ffscripts.RotateWaitpointHMACSecretReply{Status: "OK", Action: "noop", Kid: "k1"}, ""},
			{"k1", s2, 1000, ffscripts.RotateWaitpointHMACSecretReply{}, "rotation_conflict"},
			{"k2", s2, 600000, ffscripts.RotateWaitpointHMACSecretReply{Status: "OK", Action: "rotated", Kid: "k1", NewKid: "k2", GcCount: 0}, ""},
			// Back to k1 (still stored with an expiry): it becomes current without one.
			{"k1", s3, 600000, ffscripts.RotateWaitpointHMACSecretReply{Status: "OK", Action: "rotated", Kid: "k2", NewKid: "k1", GcCount: 0}, ""},
			{"", s1, 0, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_kid"},
			{"a:b", s1, 0, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_kid"},
			{"k4", "", 0, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_secret_hex"},
			{"k4", "abc", 0, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_secret_hex"},
			{"k4", "zz", 0, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_secret_hex"},
			{"k4", s1, -1, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_grace_ms"},
			{"k4", s1, 9007199254740992, ffscripts.RotateWaitpointHMACSecretReply{}, "invalid_grace_ms"},
		}
		for i, s := range steps {
			r, err := f.rotate(s.kid, s.hex, s.grace)
			if code := sigCode(t, err); code != s.code {
				t.Fatalf("step %d: %q, want %q", i, code, s.code)
			}
			if err == nil {
				if diff := cmp.Diff(s.want, r); diff != "" {
					t.Errorf("step %d (-want +got):\n%s", i, diff)
				}
			}
		}
		ks := f.hgetallKey(f.secKey())
		if _, ok := ks["expires_at:k1"]; ok || ks["current_kid"] != "k1" || ks["secret:k1"] != s3 {
			t.Errorf("current kid k1 must carry no expiry and the new secret: %v", ks)
		}
		lk, err = f.listKids()
		if err != nil || lk.CurrentKid != "k1" || lk.KidCount != 1 || len(lk.KidExpiries) != 2 || lk.KidExpiries[0] != "k2" {
			t.Errorf("list: %+v %v", lk, err)
		}
		// A later rotation's GC never removes the current kid's secret.
		f.do(f.db.B().Hset().Key(f.secKey()).FieldValue().FieldValue("expires_at:k2", "1").Build())
		r, err := f.rotate("k5", s1, 1000)
		if err != nil || r.GcCount != 1 {
			t.Fatalf("rotate with gc: %+v %v", r, err)
		}
		ks = f.hgetallKey(f.secKey())
		if ks["secret:k1"] != s3 || ks["current_kid"] != "k5" || ks["secret:k2"] != "" {
			t.Errorf("after gc: %v", ks)
		}
		// Several retired kids are listed sorted by kid.
		if _, err := f.rotate("k0", s2, 600000); err != nil {
			t.Fatal(err)
		}
		lk, err = f.listKids()
		if err != nil || lk.CurrentKid != "k0" || lk.KidCount != 2 || len(lk.KidExpiries) != 4 ||
			lk.KidExpiries[0] != "k1" || lk.KidExpiries[2] != "k5" {
			t.Errorf("list after k0: %+v %v", lk, err)
		}
		// Grace that is not an integer cannot be typed; send it raw.
		cmd := ffscripts.RotateWaitpointHMACSecretCmd(f.db, ffscripts.RotateWaitpointHMACSecretKeys{HMACSecrets: f.secKey()},
			ffscripts.RotateWaitpointHMACSecretArgs{NewKid: "k6", NewSecretHex: s1})
		for _, g := range []string{"1.5", "abc", "", "nan"} {
			_, err := ffscripts.ParseRotateWaitpointHMACSecret(f.sigRaw(cmd, map[int]string{3: g}, 0))
			if code := sigCode(t, err); code != "invalid_grace_ms" {
				t.Errorf("grace %q: %q", g, code)
			}
		}
	})
}
