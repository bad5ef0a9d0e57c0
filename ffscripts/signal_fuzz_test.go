package ffscripts_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/flowfabric/ffgo/signal"
)

// sigFuzzPart is the one partition every fuzz iteration of this process uses; each
// iteration also removes what it wrote (sigForget), so long runs do not fill the server.
var sigFuzzPart = 30000 + rand.IntN(30000)

func sigFuzzFx(t *testing.T) *fx {
	tg := targets(t)[0]
	f := newFx(t, tg.db)
	f.part, f.tag = sigFuzzPart, fmt.Sprintf("{fp:%d}", sigFuzzPart)
	if f.hgetallKey(f.secKey())["current_kid"] != "k1" {
		sigInitKeystore(t, f)
	}
	return f
}

// sigForget removes the keys an iteration wrote for execution e: its own keys, its lane
// indexes, its entries in the partition indexes, and the given waitpoints and signals.
func sigForget(t *testing.T, f *fx, e *exe, wps []string, sigs []string) {
	t.Cleanup(func() {
		keys := []string{}
		for _, s := range []string{"core", "payload", "policy", "tags", "result", "lease:current",
			"lease:history", "claim_grant", "attempts", "suspension:current", "waitpoints", "signals",
			"suspension:current:satisfied_set", "suspension:current:satisfied_set:signals",
			"suspension:current:member_map"} {
			keys = append(keys, e.x(s))
		}
		keys = append(keys, e.attempt(0), e.attempt(0)+":usage", e.attempt(0)+":policy", e.streamKey(0)+":meta")
		for _, z := range []string{"eligible", "delayed", "active", "suspended", "terminal"} {
			keys = append(keys, e.laneIdx(z))
		}
		for _, w := range wps {
			keys = append(keys, f.wpKey(w), f.wpStream(w), f.wpCond(w))
		}
		for _, s := range sigs {
			keys = append(keys, f.sigKey(s), f.sigKey(s)+":payload")
		}
		for _, k := range keys {
			f.do(f.db.B().Unlink().Key(k).Build())
		}
		for _, z := range []string{"lease_expiry", "attempt_timeout", "execution_deadline", "suspension_timeout", "pending_waitpoint_expiry"} {
			f.do(f.db.B().Zrem().Key(e.idx(z)).Member(e.id).Build())
		}
		f.do(f.db.B().Srem().Key(e.idx("all_executions")).Member(e.id).Build())
		f.do(f.db.B().Srem().Key(e.workerSet("wi-a")).Member(e.id).Build())
	})
}

// sigAllowed lists the structured errors an untrusted signal may earn; anything else
// (above all a Lua runtime error, which sigCode turns into a test failure) is a bug.
var sigAllowed = map[string]bool{"": true, "invalid_input": true, "missing_token": true,
	"invalid_token": true, "token_expired": true, "waitpoint_closed": true,
	"target_not_signalable": true, "signal_limit_exceeded": true}

// FuzzDeliverSignal feeds untrusted signal input (token, waitpoint id, name, source,
// idempotency key, payload) to ff_deliver_signal on a suspended execution: the answer is
// a reply or a structured error, never a Lua runtime error, and the execution is left in
// a state of the contract.
func FuzzDeliverSignal(f *testing.F) {
	f.Add("", "", "approve", "src", "", []byte(`{"ok":true}`), uint8(0))
	f.Add("k1:0000000000000000000000000000000000000000", "", "approve", "src", "i", []byte{0, 255}, uint8(1))
	f.Add("k1:", "wp", "", "", "idem", []byte(nil), uint8(2))
	f.Add(":::", "{fp:1}", "%s%d", "\x00", "\xff", []byte("\n"), uint8(3))
	f.Add("k9:abc", "", "approve", "src", "", []byte("x"), uint8(4))
	f.Fuzz(func(t *testing.T, token, wp, name, source, idem string, payload []byte, mode uint8) {
		fx := sigFuzzFx(t)
		e, l := fx.running()
		rep, err := e.suspendOn(l, sreq{cond: signal.AnyOf("approve", "reject")})
		if err != nil {
			t.Fatalf("suspend: %v", err)
		}
		sig := "fz-" + e.id[len(e.id)-12:]
		sigForget(t, fx, e, []string{rep.WaitpointID}, []string{sig})
		switch mode % 4 {
		case 1: // the real token, fuzzed content
			token = rep.WaitpointToken
		case 2: // the real token with the fuzzed string appended
			token = rep.WaitpointToken + token
		}
		if wp == "" || mode%2 == 1 {
			wp = rep.WaitpointID
		}
		if idem != "" {
			defer fx.do(fx.db.B().Unlink().Key("ff:sigdedup:" + fx.tag + ":" + wp + ":" + idem).Build())
		}
		d, err := e.deliverTo(wp, dreq{name: name, token: token, sourceID: source, idem: idem, payload: payload, signalID: sig})
		code := sigCode(t, err)
		if !sigAllowed[code] {
			t.Fatalf("unexpected code %q", code)
		}
		if err == nil {
			if _, perr := signal.ParseOutcome(d.Status, d.SignalID, d.Effect); perr != nil {
				t.Fatalf("outcome: %v", perr)
			}
			if len(payload) > 0 {
				b, _ := fx.do(fx.db.B().Get().Key(fx.sigKey(d.SignalID) + ":payload").Build()).AsBytes()
				if string(b) != string(payload) {
					t.Fatalf("payload stored as %q, sent %q", b, payload)
				}
			}
		}
		phase := e.core()["lifecycle_phase"]
		if phase != "suspended" && phase != "runnable" {
			t.Fatalf("phase %q", phase)
		}
		if (phase == "runnable") != (err == nil && d.Effect == string(signal.EffectResumed)) {
			t.Fatalf("phase %s after %+v", phase, d)
		}
	})
}

// FuzzSuspendCondition feeds untrusted resume_condition_json to ff_suspend_execution and a
// signal to the result: replies or structured errors only, and a refused condition
// writes nothing.
func FuzzSuspendCondition(f *testing.F) {
	for _, s := range []string{
		`{"required_signal_names":["a"]}`, `{}`, `[]`, `null`, `1`, `"x"`, `{`,
		`{"required_signal_names":[null]}`, `{"minimum_signal_count":-1}`, `{"minimum_signal_count":1e300}`,
		`{"signal_match_mode":{}}`, `{"composite":true}`, `{"composite":true,"v":1,"tree":[]}`,
		`{"composite":true,"tree":{"kind":"AllOf","path":"","members":[{"kind":"Single","path":"members[0]","waitpoint_key":"wpk:a","matcher":{"kind":"ByName","name":"go"}}]}}`,
		`{"composite":true,"tree":{"kind":"Count","path":{},"n":1,"count_kind":7,"matcher":5,"waitpoints":["wpk:a",1]}}`,
		`{"composite":1,"tree":{"kind":"AllOf","members":[[],{},null,1]}}`,
		`{"composite":true,"tree":{"kind":"AllOf","path":"","members":[{"kind":"AllOf","path":"x","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[{"kind":"AllOf","members":[]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}]}}`,
	} {
		f.Add(s, "go")
	}
	f.Fuzz(func(t *testing.T, cond, name string) {
		if len(cond) > 1<<16 {
			return
		}
		fx := sigFuzzFx(t)
		e, l := fx.running()
		k, a := e.suspendArgs(l, sreq{condJSON: "{}", wpKey: "wpk:a"})
		a.ResumeConditionJSON = cond
		sig := "fz-" + e.id[len(e.id)-12:]
		sigForget(t, fx, e, []string{a.WaitpointID}, []string{sig})
		rep, err := fx.c.SuspendExecution(fx.ctx, k, a)
		code := sigCode(t, err)
		switch code {
		case "":
		case "invalid_input":
			if fx.exists(k.WaitpointHash) || fx.exists(k.SuspensionCurrent) {
				t.Fatalf("refused condition wrote the waitpoint or the suspension")
			}
			return
		default:
			t.Fatalf("unexpected code %q", code)
		}
		d, err := e.deliverTo(rep.WaitpointID, dreq{name: name, token: rep.WaitpointToken, signalID: sig})
		if c := sigCode(t, err); !sigAllowed[c] {
			t.Fatalf("deliver: unexpected code %q", c)
		}
		if err == nil {
			if _, perr := signal.ParseOutcome(d.Status, d.SignalID, d.Effect); perr != nil {
				t.Fatalf("outcome: %v", perr)
			}
		}
		if r, err := e.expireSusp(); sigCode(t, err) != "" || r.Status != "OK" {
			t.Fatalf("expire: %+v %v", r, err)
		}
		if _, err := e.resumeExec(rep.WaitpointID, nil); !sigAllowed[sigCode(t, err)] && sigCode(t, err) != "execution_not_suspended" {
			t.Fatalf("resume: %v", err)
		}
	})
}
