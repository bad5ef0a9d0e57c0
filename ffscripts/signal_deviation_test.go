package ffscripts_test

// Pins for the suspend/signal reference defects fixed on purpose (lua/DEVIATIONS.md,
// section "Suspend → signal → resume").

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/valkey-io/valkey-go"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/signal"
)

// TestSignalStaleWaitpoint (§13.2): a waitpoint of an earlier suspension — closed by an
// operator resume, by ff_close_waitpoint, or simply not the current one — can never
// resume a later suspension with its old token.
func TestSignalStaleWaitpoint(t *testing.T) {
	tests := []struct {
		name string
		end  func(t *testing.T, e *exe, wp string) // ends the first suspension
	}{
		{"after operator resume", func(t *testing.T, e *exe, wp string) {
			if _, err := e.resumeExec(wp, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"after signal resume", nil},
		{"after auto-resume timeout", func(t *testing.T, e *exe, wp string) {
			e.f.do(e.f.db.B().Hset().Key(e.x("suspension:current")).FieldValue().
				FieldValue("timeout_at", "1").FieldValue("timeout_behavior", "auto_resume").Build())
			if r, err := e.expireSusp(); err != nil || r.Outcome != "auto_resume" {
				t.Fatalf("expire: %+v %v", r, err)
			}
		}},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				cond := signal.AllOf("go", "go2")
				first, err := e.suspendOn(l, sreq{cond: cond})
				if err != nil {
					t.Fatal(err)
				}
				if tt.end != nil {
					tt.end(t, e, first.WaitpointID)
				} else {
					for _, n := range []string{"go", "go2"} {
						if _, err := e.deliverTo(first.WaitpointID, dreq{name: n, token: first.WaitpointToken}); err != nil {
							t.Fatal(err)
						}
					}
				}
				if _, err := e.grant("w-a", "wi-a", ""); err != nil {
					t.Fatal(err)
				}
				nl, err := e.claimResumed("w-a", "wi-a", 30000)
				if err != nil {
					t.Fatal(err)
				}
				second, err := e.suspendOn(nl, sreq{cond: cond})
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range []string{"go", "go2"} {
					_, err := e.deliverTo(first.WaitpointID, dreq{name: n, token: first.WaitpointToken})
					if code := sigCode(t, err); code != "waitpoint_closed" {
						t.Fatalf("old waitpoint %s: %q, want waitpoint_closed", n, code)
					}
				}
				if got := e.core()["lifecycle_phase"]; got != "suspended" {
					t.Fatalf("phase %s: the old token resumed the new suspension", got)
				}
				if h := f.hgetallKey(f.wpKey(second.WaitpointID)); h["state"] != "active" || h["signal_count"] != "0" {
					t.Errorf("new waitpoint: %v", h)
				}
				// The old waitpoint id was archived in the execution's waitpoint history.
				ok, _ := f.do(f.db.B().Sismember().Key(e.x("waitpoints")).Member(first.WaitpointID).Build()).AsBool()
				if !ok {
					t.Errorf("first waitpoint not in waitpoint history")
				}
			})
		}
		t.Run("closed by ff_close_waitpoint", func(t *testing.T) {
			f := f0.sub(t)
			sigInitKeystore(t, f)
			e, l := f.running()
			r, err := e.suspendOn(l, sreq{cond: signal.Single(signal.Wildcard())})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.closeWP(r.WaitpointID, ""); err != nil {
				t.Fatal(err)
			}
			if h := f.hgetallKey(f.wpKey(r.WaitpointID)); h["close_reason"] != "proactive_close" {
				t.Errorf("close_reason %q", h["close_reason"])
			}
			_, err = e.deliverTo(r.WaitpointID, dreq{name: "x", token: r.WaitpointToken})
			if code := sigCode(t, err); code != "waitpoint_closed" {
				t.Errorf("signal to closed waitpoint: %q", code)
			}
			// The operator can still resume.
			if rr, err := e.resumeExec(r.WaitpointID, nil); err != nil || rr.PublicState != "waiting" {
				t.Errorf("resume: %+v %v", rr, err)
			}
		})
		t.Run("token bound to another execution", func(t *testing.T) {
			f := f0.sub(t)
			sigInitKeystore(t, f)
			a, la := f.running()
			b, lb := f.running()
			ra, err := a.suspendOn(la, sreq{cond: signal.Single(signal.Wildcard())})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.suspendOn(lb, sreq{cond: signal.Single(signal.Wildcard())}); err != nil {
				t.Fatal(err)
			}
			// a's waitpoint and token, aimed at b's execution.
			_, err = b.deliverTo(ra.WaitpointID, dreq{name: "x", token: ra.WaitpointToken})
			if code := sigCode(t, err); code != "invalid_token" {
				t.Errorf("cross-execution signal: %q", code)
			}
			if b.core()["lifecycle_phase"] != "suspended" || a.core()["lifecycle_phase"] != "suspended" {
				t.Errorf("a cross-execution signal changed state")
			}
		})
	})
}

// TestSignalEmptyNumerics (§13.3): "" in a numeric slot takes the documented default
// instead of raising a Lua runtime error; garbage is invalid_input before any write.
func TestSignalEmptyNumerics(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		pending := "40000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		pr, err := e.pendingWP(l, pending, "wpk:p", f.serverMs()+60000)
		if err != nil {
			t.Fatal(err)
		}
		bk, ba := e.deliverArgs(pending, dreq{name: "x", token: pr.WaitpointToken, idem: "i"})
		bcmd := ffscripts.BufferSignalForPendingWaitpointCmd(f.db, ffscripts.BufferSignalForPendingWaitpointKeys{
			ExecCore: bk.ExecCore, WaitpointCondition: bk.WaitpointCondition, WaitpointSignals: bk.WaitpointSignals,
			ExecSignals: bk.ExecSignals, SignalHash: bk.SignalHash, SignalPayload: bk.SignalPayload,
			Idempotency: bk.Idempotency, WaitpointHash: bk.WaitpointHash, HMACSecrets: bk.HMACSecrets},
			ffscripts.BufferSignalForPendingWaitpointArgs(ba))
		// The in-tree Rust wrapper sends "" in ARGV 14, 16 and 17.
		r, err := ffscripts.ParseBufferSignalForPendingWaitpoint(f.sigRaw(bcmd, map[int]string{14: "", 15: "", 16: "", 17: ""}, 0))
		if err != nil || r.Effect != string(signal.EffectBuffered) {
			t.Fatalf("buffer with empty numerics: %+v %v", r, err)
		}
		// "" dedup_ttl_ms is the 24 h default: the same key is a duplicate.
		if r2, err := ffscripts.ParseBufferSignalForPendingWaitpoint(f.sigRaw(bcmd, map[int]string{1: "other", 14: ""}, 0)); err != nil || r2.Status != "DUPLICATE" {
			t.Errorf("replay: %+v %v", r2, err)
		}
		garbage := []struct {
			slot   int
			detail string
		}{
			{13, "created_at must be a number, got: soon"},
			{14, "dedup_ttl_ms must be a number, got: soon"},
			{15, "resume_delay_ms must be a number, got: soon"},
			{16, "signal_maxlen must be a number, got: soon"},
			{17, "max_signals_per_execution must be a number, got: soon"},
		}
		for _, g := range garbage {
			before := f.zcard(e.x("signals"))
			_, err := ffscripts.ParseBufferSignalForPendingWaitpoint(f.sigRaw(bcmd, map[int]string{1: "g", 10: "", g.slot: "soon"}, 0))
			var fe *ffscripts.Error
			if sigCode(t, err) != "invalid_input" || !errors.As(err, &fe) || !cmp.Equal(fe.Detail, []string{g.detail}) {
				t.Errorf("slot %d: %v", g.slot, err)
			}
			if f.zcard(e.x("signals")) != before {
				t.Errorf("slot %d: recorded a signal", g.slot)
			}
		}
		// Values Valkey could not take back as a count or TTL.
		for _, slot := range []int{14, 16} {
			_, err := ffscripts.ParseBufferSignalForPendingWaitpoint(f.sigRaw(bcmd, map[int]string{1: "big", 10: "", slot: "9223372036854775807"}, 0))
			if code := sigCode(t, err); code != "invalid_input" {
				t.Errorf("huge slot %d: %q", slot, code)
			}
		}
		// Legacy callers that leave the optional tail off entirely (14 KEYS are not
		// allowed, but missing ARGV slots take defaults).
		_, err = ffscripts.ParseBufferSignalForPendingWaitpoint(f.sigRaw(bcmd, map[int]string{1: "short"}, 14))
		if code := sigCode(t, err); code != "missing_token" {
			t.Errorf("missing tail: %q", code)
		}

		// ff_create_pending_waitpoint with a non-numeric expires_at.
		pcmd := ffscripts.CreatePendingWaitpointCmd(f.db, ffscripts.CreatePendingWaitpointKeys{ExecCore: e.x("core"),
			WaitpointHash: f.wpKey("p2"), PendingWaitpointExpiry: e.idx("pending_waitpoint_expiry"), HMACSecrets: f.secKey()},
			ffscripts.CreatePendingWaitpointArgs{ExecutionID: e.id, WaitpointID: "p2", WaitpointKey: "k"})
		for _, v := range []string{"", "later"} {
			_, err := ffscripts.ParseCreatePendingWaitpoint(f.sigRaw(pcmd, map[int]string{5: v}, 0))
			if code := sigCode(t, err); code != "invalid_input" || f.exists(f.wpKey("p2")) {
				t.Errorf("expires_at %q: %q", v, code)
			}
		}

		// Too few KEYS from a raw caller: a structured answer, not a runtime error.
		dk0, da0 := e.deliverArgs(pending, dreq{name: "x", token: pr.WaitpointToken})
		short := []struct {
			name string
			cmd  valkey.Completed
			keep int
			code string
		}{
			{"deliver without feed", ffscripts.DeliverSignalCmd(f.db, dk0, da0), 14, "invalid_input"},
			{"deliver without hmac", ffscripts.DeliverSignalCmd(f.db, dk0, da0), 13, "invalid_keys_missing_hmac"},
			{"deliver with 3", ffscripts.DeliverSignalCmd(f.db, dk0, da0), 3, "invalid_input"},
			{"buffer without hmac", bcmd, 8, "invalid_keys_missing_hmac"},
			{"buffer with 2", bcmd, 2, "invalid_input"},
			{"create pending without hmac", pcmd5(f, e), 3, "invalid_keys_missing_hmac"},
		}
		for _, c := range short {
			res := f.sigRawKeys(c.cmd, c.keep, map[int]string{1: "short-" + c.name}, 0)
			var err error
			if c.name == "create pending without hmac" {
				_, err = ffscripts.ParseCreatePendingWaitpoint(res)
			} else {
				_, err = ffscripts.ParseDeliverSignal(res)
			}
			if code := sigCode(t, err); code != c.code {
				t.Errorf("%s: %q, want %q", c.name, code, c.code)
			}
		}

		// ff_expire_suspension on a suspension without a timeout is not due.
		rep, err := e.suspendOn(l, sreq{cond: signal.Single(signal.Wildcard())})
		if err != nil {
			t.Fatal(err)
		}
		if x, err := e.expireSusp(); err != nil || x.Outcome != "not_yet_due" {
			t.Errorf("expire without timeout: %+v %v", x, err)
		}
		// ff_deliver_signal with "" everywhere optional.
		dk, da := e.deliverArgs(rep.WaitpointID, dreq{name: "x", token: rep.WaitpointToken})
		d, err := ffscripts.ParseDeliverSignal(f.sigRaw(ffscripts.DeliverSignalCmd(f.db, dk, da),
			map[int]string{9: "", 11: "", 12: "", 13: "", 14: "", 15: "", 16: "", 17: ""}, 0))
		if err != nil || d.Effect != string(signal.EffectResumed) {
			t.Errorf("deliver with empty numerics: %+v %v", d, err)
		}
	})
}

// TestSignalValidationNoWrites (§13.12): malformed input to ff_suspend_execution answers
// a structured error and leaves every key as it was.
func TestSignalValidationNoWrites(t *testing.T) {
	tests := []struct {
		name     string
		r        sreq
		mod      func(*ffscripts.SuspendExecutionKeys, *ffscripts.SuspendExecutionArgs)
		noSecret bool
		keepKeys int // send only the first keepKeys KEYS (a caller passing too few)
		code     string
	}{
		{name: "condition not json", r: sreq{condJSON: `{"required_signal_names":`}, code: "invalid_input"},
		{name: "condition not object", r: sreq{condJSON: `"approve"`}, code: "invalid_input"},
		{name: "names not array", r: sreq{condJSON: `{"required_signal_names":"approve"}`}, code: "invalid_input"},
		{name: "name not string", r: sreq{condJSON: `{"required_signal_names":[1]}`}, code: "invalid_input"},
		{name: "min count not number", r: sreq{condJSON: `{"required_signal_names":["a"],"minimum_signal_count":"2"}`}, code: "invalid_input"},
		{name: "composite tree missing", r: sreq{condJSON: `{"composite":true,"v":1}`}, code: "invalid_input"},
		{name: "composite members not array", r: sreq{condJSON: `{"composite":true,"tree":{"kind":"AllOf","path":"","members":5}}`}, code: "invalid_input"},
		{name: "composite count without n", r: sreq{condJSON: `{"composite":true,"tree":{"kind":"Count","path":"","waitpoints":["a"]}}`}, code: "invalid_input"},
		{name: "extra key empty", r: sreq{cond: signal.Single(signal.Wildcard()), extras: []string{"wpk:x", ""}}, code: "additional_waitpoint_binding_malformed"},
		{name: "extras without count", r: sreq{cond: signal.Single(signal.Wildcard()), extras: []string{"wpk:x"}},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) { a.NumExtraWaitpoints = 0 }, code: "invalid_input"},
		{name: "keystore empty with extras", r: sreq{cond: signal.Single(signal.Wildcard()), extras: []string{"wpk:x"}}, noSecret: true, code: "hmac_secret_not_initialized"},
		{name: "no hmac key", r: sreq{cond: signal.Single(signal.Wildcard())}, keepKeys: 16, code: "invalid_keys_missing_hmac"},
		{name: "empty suspension id", r: sreq{cond: signal.Single(signal.Wildcard())},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) { a.SuspensionID = "" }, code: "invalid_input"},
		{name: "partial fence", r: sreq{cond: signal.Single(signal.Wildcard())},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) { a.LeaseEpoch = "" }, code: "partial_fence_triple"},
		{name: "no fence", r: sreq{cond: signal.Single(signal.Wildcard())},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) {
				a.LeaseEpoch, a.LeaseID, a.AttemptID = "", "", ""
			}, code: "fence_required"},
		{name: "stale lease", r: sreq{cond: signal.Single(signal.Wildcard())},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) { a.LeaseID = "other" }, code: "stale_lease"},
		{name: "wrong attempt index", r: sreq{cond: signal.Single(signal.Wildcard())},
			mod: func(k *ffscripts.SuspendExecutionKeys, a *ffscripts.SuspendExecutionArgs) { a.AttemptIndex = 7 }, code: "invalid_lease_for_suspend"},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				if tt.noSecret {
					f.do(f.db.B().Del().Key(f.secKey()).Build())
				}
				k, a := e.suspendArgs(l, tt.r)
				if tt.mod != nil {
					tt.mod(&k, &a)
				}
				watched := []string{k.SuspensionCurrent, k.WaitpointHash, k.WaitpointCondition, k.WaitpointHistory, k.AttemptHash}
				for _, x := range k.Extras {
					watched = append(watched, x.WaitpointHash, x.WaitpointCondition)
				}
				before, wb := e.snapshot(), f.dumpKeys(watched)
				_, err := ffscripts.ParseSuspendExecution(f.sigRawKeys(ffscripts.SuspendExecutionCmd(f.db, k, a), tt.keepKeys, nil, 0))
				if code := sigCode(t, err); code != tt.code {
					t.Fatalf("code %q, want %q", code, tt.code)
				}
				if diff := cmp.Diff(before, e.snapshot()); diff != "" {
					t.Errorf("execution keys changed (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(wb, f.dumpKeys(watched)); diff != "" {
					t.Errorf("suspension keys changed (-before +after):\n%s", diff)
				}
			})
		}
	})
}

// pcmd5 is a valid create-pending command (its first ARGV gets overwritten by the caller).
func pcmd5(f *fx, e *exe) valkey.Completed {
	return ffscripts.CreatePendingWaitpointCmd(f.db, ffscripts.CreatePendingWaitpointKeys{ExecCore: e.x("core"),
		WaitpointHash: f.wpKey("p3"), PendingWaitpointExpiry: e.idx("pending_waitpoint_expiry"), HMACSecrets: f.secKey()},
		ffscripts.CreatePendingWaitpointArgs{ExecutionID: e.id, WaitpointID: "p3", WaitpointKey: "k", ExpiresAt: f.serverMs() + 60000})
}

func (f *fx) dumpKeys(keys []string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if k == "" {
			continue
		}
		if b, err := f.do(f.db.B().Dump().Key(k).Build()).ToString(); err == nil {
			out[k] = b
		}
	}
	return out
}

// TestSignalSuspendLegacyShape: the 17 KEYS / 17 ARGV suspend (no dedup key, no extras)
// that older callers send is accepted (spec §6.3).
func TestSignalSuspendLegacyShape(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		k, a := e.suspendArgs(l, sreq{cond: signal.Single(signal.ByName("go"))})
		r, err := ffscripts.ParseSuspendExecution(f.sigRawKeys(ffscripts.SuspendExecutionCmd(f.db, k, a), 17, nil, 18))
		if err != nil || r.Status != "OK" || r.ExtraCount != 0 || r.WaitpointID != a.WaitpointID {
			t.Fatalf("legacy suspend: %+v %v", r, err)
		}
		if d, err := e.deliverTo(r.WaitpointID, dreq{name: "go", token: r.WaitpointToken}); err != nil || d.Effect != string(signal.EffectResumed) {
			t.Fatalf("deliver: %+v %v", d, err)
		}
	})
}
