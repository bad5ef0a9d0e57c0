package ffscripts_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowfabric/ffgo/ffscripts"
	"github.com/flowfabric/ffgo/signal"
)

// sstep is one signal of a scenario: to waitpoint #wp (0 = primary) with that waitpoint's
// token unless tokenOf says otherwise, expecting effect (or error code).
type sstep struct {
	wp      int
	tokenOf int // -1: the waitpoint's own token
	name    string
	source  string
	effect  signal.Effect
	code    string
}

func st(wp int, name string, effect signal.Effect) sstep {
	return sstep{wp: wp, tokenOf: -1, name: name, effect: effect}
}

// TestSignalConditions: suspend → signals → resume for every condition shape (spec §6.5).
func TestSignalConditions(t *testing.T) {
	pattern3 := signal.Composite(signal.AllOfNodes(
		signal.SingleNode("wpk:a", signal.Wildcard()),
		signal.SingleNode("wpk:b", signal.ByName("go"))))
	tests := []struct {
		name    string
		cond    signal.ResumeCondition
		condRaw string
		keys    []string // primary key, then extras (composite)
		steps   []sstep
		resumed bool
	}{
		{name: "single by name", cond: signal.Single(signal.ByName("approve")),
			steps: []sstep{st(0, "other", signal.EffectNoOp), st(0, "approve", signal.EffectResumed)}, resumed: true},
		{name: "single wildcard", cond: signal.Single(signal.Wildcard()),
			steps: []sstep{st(0, "anything", signal.EffectResumed)}, resumed: true},
		{name: "any of", cond: signal.AnyOf("approve", "reject"),
			steps: []sstep{st(0, "x", signal.EffectNoOp), st(0, "reject", signal.EffectResumed)}, resumed: true},
		{name: "all of", cond: signal.AllOf("a", "b"),
			steps: []sstep{st(0, "a", signal.EffectAppended), st(0, "a", signal.EffectNoOp), st(0, "b", signal.EffectResumed)}, resumed: true},
		{name: "all of unmet", cond: signal.AllOf("a", "b"),
			steps: []sstep{st(0, "a", signal.EffectAppended), st(0, "c", signal.EffectNoOp)}},
		{name: "count", cond: signal.Count(2, "x", "x", "y"),
			steps: []sstep{st(0, "x", signal.EffectAppended), st(0, "x", signal.EffectResumed)}, resumed: true},
		{name: "count mixed names", cond: signal.Count(2, "x", "x", "y"),
			steps: []sstep{st(0, "y", signal.EffectAppended), st(0, "y", signal.EffectNoOp), st(0, "x", signal.EffectResumed)}, resumed: true},
		{name: "operator only never by signal", cond: signal.OperatorOnly(),
			steps: []sstep{st(0, "approve", signal.EffectNoOp), st(0, "", signal.EffectNoOp)}},
		{name: "composite pattern 3", cond: pattern3, keys: []string{"wpk:a", "wpk:b"},
			steps: []sstep{
				st(1, "wrong", signal.EffectIgnoredMatcherFailed),
				{wp: 0, tokenOf: 1, name: "x", code: "invalid_token"},
				st(0, "x", signal.EffectAppended),
				st(0, "x", signal.EffectAppendedDuplicate),
				st(1, "go", signal.EffectResumed),
			}, resumed: true},
		{name: "composite resumed from primary", cond: pattern3, keys: []string{"wpk:b", "wpk:a"},
			steps: []sstep{st(1, "x", signal.EffectAppended), st(0, "go", signal.EffectResumed)}, resumed: true},
		{name: "composite count distinct sources",
			cond: signal.Composite(signal.CountNode(2, signal.DistinctSources, "wpk:a")),
			keys: []string{"wpk:a"},
			steps: []sstep{
				{wp: 0, tokenOf: -1, name: "s", source: "one", effect: signal.EffectAppended},
				{wp: 0, tokenOf: -1, name: "s", source: "one", effect: signal.EffectAppendedDuplicate},
				{wp: 0, tokenOf: -1, name: "s", source: "two", effect: signal.EffectResumed},
			}, resumed: true},
		{name: "composite count distinct waitpoints",
			cond: signal.Composite(signal.CountNode(2, signal.DistinctWaitpoints, "wpk:a", "wpk:b", "wpk:c").Matching(signal.ByName("done"))),
			keys: []string{"wpk:a", "wpk:b", "wpk:c"},
			steps: []sstep{
				st(0, "done", signal.EffectAppended), st(0, "done", signal.EffectAppendedDuplicate),
				st(2, "nope", signal.EffectIgnoredMatcherFailed), st(2, "done", signal.EffectResumed),
			}, resumed: true},
		{name: "composite count distinct signals",
			cond:  signal.Composite(signal.CountNode(3, signal.DistinctSignals, "wpk:a")),
			keys:  []string{"wpk:a"},
			steps: []sstep{st(0, "a", signal.EffectAppended), st(0, "a", signal.EffectAppended), st(0, "b", signal.EffectResumed)}, resumed: true},
		{name: "composite nested allof with count",
			cond: signal.Composite(signal.AllOfNodes(
				signal.AllOfNodes(
					signal.SingleNode("wpk:a", signal.ByName("ok")),
					signal.CountNode(2, signal.DistinctSources, "wpk:b")),
				signal.SingleNode("wpk:c", signal.Wildcard()))),
			keys: []string{"wpk:a", "wpk:b", "wpk:c"},
			steps: []sstep{
				st(2, "any", signal.EffectAppended),
				{wp: 1, tokenOf: -1, name: "v", source: "s1", effect: signal.EffectAppended},
				st(0, "ok", signal.EffectAppended),
				{wp: 1, tokenOf: -1, name: "v", source: "s2", effect: signal.EffectResumed},
			}, resumed: true},
		{name: "composite waitpoint not in tree",
			cond:  signal.Composite(signal.SingleNode("wpk:a", signal.Wildcard())),
			keys:  []string{"wpk:zzz", "wpk:a"},
			steps: []sstep{st(0, "x", signal.EffectIgnoredNotInCondition), st(1, "x", signal.EffectResumed)}, resumed: true},
		{name: "composite never by signal",
			cond:  signal.Composite(signal.AllOfNodes(signal.SingleNode("wpk:a", signal.Wildcard()), signal.NeverBySignalNode())),
			keys:  []string{"wpk:a"},
			steps: []sstep{st(0, "x", signal.EffectAppended), st(0, "y", signal.EffectAppendedDuplicate)}},
		{name: "composite unsupported version",
			condRaw: `{"v":2,"composite":true,"tree":{"kind":"Single","path":"","waitpoint_key":"wpk:a","matcher":null}}`,
			keys:    []string{"wpk:a"},
			steps:   []sstep{st(0, "x", signal.EffectIgnoredNotInCondition)}},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				r := sreq{cond: tt.cond, condJSON: tt.condRaw}
				if len(tt.keys) > 0 {
					r.wpKey, r.extras = tt.keys[0], tt.keys[1:]
				}
				rep, err := e.suspendOn(l, r)
				if err != nil {
					t.Fatalf("suspend: %v", err)
				}
				if got := e.state(); got != "suspended/unowned/not_applicable/waiting_for_signal/attempt_interrupted/suspended" {
					t.Fatalf("state after suspend = %s", got)
				}
				wps := sigWaitpoints(t, rep)
				var sigs []string
				matched, total := map[int]int{}, map[int]int{}
				for i, s := range tt.steps {
					tok := wps[s.wp].token
					if s.tokenOf >= 0 {
						tok = wps[s.tokenOf].token
					}
					id := "sig-" + strconv.Itoa(i) + "-" + e.id[len(e.id)-8:]
					d, err := e.deliverTo(wps[s.wp].id, dreq{name: s.name, token: tok, sourceID: s.source, signalID: id})
					if code := sigCode(t, err); code != s.code {
						t.Fatalf("step %d (%s on wp %d): code %q, want %q", i, s.name, s.wp, code, s.code)
					}
					if err != nil {
						continue
					}
					out, perr := signal.ParseOutcome(d.Status, d.SignalID, d.Effect)
					if perr != nil {
						t.Fatalf("step %d: %v", i, perr)
					}
					if out.Effect != s.effect {
						t.Fatalf("step %d (%s on wp %d): effect %s, want %s", i, s.name, s.wp, out.Effect, s.effect)
					}
					if out.Effect.Matched() {
						sigs = append(sigs, id)
						matched[s.wp]++
					}
					total[s.wp]++
					if h := f.hgetallKey(f.sigKey(id)); h["observed_effect"] != string(s.effect) || h["target_waitpoint_id"] != wps[s.wp].id || h["signal_name"] != s.name {
						t.Errorf("step %d: signal hash %v", i, h)
					}
					feed, err := f.do(f.db.B().Xrevrange().Key(f.feedKey()).End("+").Start("-").Count(1).Build()).AsXRange()
					if err != nil || len(feed) != 1 || feed[0].FieldValues["signal_id"] != id || feed[0].FieldValues["effect"] != string(s.effect) {
						t.Errorf("step %d: delivery feed %+v %v", i, feed, err)
					}
				}
				for i, w := range wps {
					h := f.hgetallKey(f.wpKey(w.id))
					if h["signal_count"] != strconv.Itoa(total[i]) || h["matched_signal_count"] != strconv.Itoa(matched[i]) {
						t.Errorf("waitpoint %d: signal_count %s matched %s, want %d %d", i, h["signal_count"], h["matched_signal_count"], total[i], matched[i])
					}
				}
				susp := e.hgetall(e.x("suspension:current"))
				if !tt.resumed {
					if got := e.core()["lifecycle_phase"]; got != "suspended" {
						t.Fatalf("phase = %s, want suspended", got)
					}
					return
				}
				if got := e.state(); got != sWaitingResum {
					t.Fatalf("state = %s, want %s", got, sWaitingResum)
				}
				if _, ok := e.score(e.laneIdx("eligible")); !ok {
					t.Errorf("not in lane eligible")
				}
				if _, ok := e.score(e.laneIdx("suspended")); ok {
					t.Errorf("still in lane suspended")
				}
				if susp["close_reason"] != "resumed" || susp["closed_at"] == "" {
					t.Errorf("suspension not closed: %v", susp)
				}
				// Every waitpoint of the suspension is closed, the primary too (§13.1 fixed).
				for i, w := range wps {
					h := f.hgetallKey(f.wpKey(w.id))
					c := f.hgetallKey(f.wpCond(w.id))
					if h["state"] != "closed" || h["close_reason"] != "resumed" || c["closed"] != "1" {
						t.Errorf("waitpoint %d: state=%q reason=%q condition closed=%q", i, h["state"], h["close_reason"], c["closed"])
					}
				}
				if rep.ExtraCount > 0 || tt.cond.IsComposite() {
					var all []string
					if err := json.Unmarshal([]byte(susp["all_satisfier_signals"]), &all); err != nil {
						t.Fatalf("all_satisfier_signals %q: %v", susp["all_satisfier_signals"], err)
					}
					last := "sig-" + strconv.Itoa(len(tt.steps)-1) + "-" + e.id[len(e.id)-8:]
					if susp["closer_signal_id"] != last {
						t.Errorf("closer_signal_id = %q, want %q", susp["closer_signal_id"], last)
					}
					if !slices.Contains(all, last) || len(all) == 0 {
						t.Errorf("all_satisfier_signals = %v", all)
					}
					for _, k := range []string{"suspension:current:satisfied_set", "suspension:current:satisfied_set:signals", "suspension:current:member_map"} {
						if e.exists(e.x(k)) {
							t.Errorf("%s not cleaned up", k)
						}
					}
				}
				// What a worker reads after the resumed claim: the satisfying signals.
				ids, ok := signal.Satisfiers(susp, f.hgetallKey(f.wpCond(wps[0].id)))
				last := "sig-" + strconv.Itoa(len(tt.steps)-1) + "-" + e.id[len(e.id)-8:]
				if !ok || !slices.Contains(ids, last) {
					t.Errorf("Satisfiers = %v, %v; want them to include %s", ids, ok, last)
				}
				for _, id := range ids {
					if !slices.Contains(sigs, id) {
						t.Errorf("satisfier %s was not a matched signal (%v)", id, sigs)
					}
				}
				// The same attempt continues after a resumed claim, with epoch + 1.
				before := e.core()
				if _, err := e.grant("w-b", "wi-b", ""); err != nil {
					t.Fatalf("grant: %v", err)
				}
				nl, err := e.claimResumed("w-b", "wi-b", 30000)
				if err != nil {
					t.Fatalf("claim resumed: %v", err)
				}
				if nl.aid != l.aid || nl.index != l.index || nl.epoch != strconv.FormatInt(i64(before["current_lease_epoch"])+1, 10) {
					t.Errorf("resumed claim attempt %s/%d epoch %s; want %s/%d epoch %d+1", nl.aid, nl.index, nl.epoch, l.aid, l.index, i64(before["current_lease_epoch"]))
				}
			})
		}
	})
}

// TestSignalResumeDelay: a signal (and an operator resume) with resume_delay_ms parks the
// execution in lane delayed; promote moves it to eligible with the attempt kept.
func TestSignalResumeDelay(t *testing.T) {
	tests := []struct {
		name     string
		operator bool
	}{{"signal", false}, {"operator resume", true}}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				rep, err := e.suspendOn(l, sreq{cond: signal.Single(signal.ByName("go"))})
				if err != nil {
					t.Fatal(err)
				}
				before := f.serverMs()
				if tt.operator {
					r, err := e.resumeExec(rep.WaitpointID, ptr(int64(5000)))
					if err != nil || r.PublicState != "delayed" {
						t.Fatalf("resume: %+v %v", r, err)
					}
				} else {
					d, err := e.deliverTo(rep.WaitpointID, dreq{name: "go", token: rep.WaitpointToken, delay: ptr(int64(5000))})
					if err != nil || d.Effect != string(signal.EffectResumed) {
						t.Fatalf("deliver: %+v %v", d, err)
					}
				}
				want := "runnable/unowned/not_eligible_until_time/waiting_for_resume_delay/attempt_interrupted/delayed"
				if got := e.state(); got != want {
					t.Fatalf("state = %s, want %s", got, want)
				}
				score, ok := e.score(e.laneIdx("delayed"))
				if !ok || int64(score) < before+5000 || int64(score) > f.serverMs()+5000 {
					t.Fatalf("delayed score %v (ok %v), want now+5000", score, ok)
				}
				if got := e.where(); !cmp.Equal(got, []string{"delayed"}) {
					t.Errorf("indexes = %v, want [delayed]", got)
				}
				if _, err := e.promote(int64(score) + 1); err != nil {
					t.Fatalf("promote: %v", err)
				}
				if got := e.state(); got != sWaitingResum {
					t.Fatalf("state after promote = %s, want %s", got, sWaitingResum)
				}
				if _, err := e.grant("w-a", "wi-a", ""); err != nil {
					t.Fatal(err)
				}
				nl, err := e.claimResumed("w-a", "wi-a", 30000)
				if err != nil || nl.aid != l.aid || nl.attemptType != "resumed" {
					t.Fatalf("claim resumed: %+v %v", nl, err)
				}
			})
		}
	})
}

// TestSignalIdempotency: replaying a signal with the same idempotency key answers
// DUPLICATE with the first signal id and records nothing; replaying a suspend with the same
// key answers the identical reply without any check or write.
func TestSignalIdempotency(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		rep, err := e.suspendOn(l, sreq{cond: signal.AllOf("a", "b"), idem: "s-1", dedupTTL: ptr(int64(120000))})
		if err != nil {
			t.Fatal(err)
		}
		k, a := e.suspendArgs(l, sreq{cond: signal.AllOf("a", "b"), idem: "s-1", dedupTTL: ptr(int64(120000))})
		a.SuspensionID, a.WaitpointID, a.WaitpointKey = "other", "other", "other"
		again, err := f.c.SuspendExecution(f.ctx, k, a)
		if err != nil {
			t.Fatalf("suspend replay: %v", err)
		}
		if diff := cmp.Diff(rep, again); diff != "" {
			t.Errorf("suspend replay differs (-first +replay):\n%s", diff)
		}
		pttl, _ := f.do(f.db.B().Pttl().Key(k.SuspendDedup).Build()).AsInt64()
		if pttl <= 0 || pttl > 120000 {
			t.Errorf("dedup PTTL = %d, want (0, 120000]", pttl)
		}
		if f.exists("ff:wp:" + f.tag + ":other") {
			t.Errorf("suspend replay wrote a waitpoint")
		}

		steps := []struct {
			name, idem string
			ttl        *int64
			status     string
			effect     signal.Effect
			sameAs     int // index of the step whose signal id a DUPLICATE returns
		}{
			{"a", "i0", nil, "OK", signal.EffectAppended, -1},
			{"a", "i0", nil, "DUPLICATE", "", 0},
			{"b", "i0", nil, "DUPLICATE", "", 0}, // the key wins, whatever the content
			{"zzz", "i1", ptr(int64(0)), "OK", signal.EffectNoOp, -1},
			{"zzz", "i1", ptr(int64(0)), "OK", signal.EffectNoOp, -1}, // ttl 0: no dedup
		}
		var ids []string
		for i, s := range steps {
			n0 := f.zcard(e.x("signals"))
			d, err := e.deliverTo(rep.WaitpointID, dreq{name: s.name, token: rep.WaitpointToken, idem: s.idem, dedupTTL: s.ttl})
			if err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			ids = append(ids, d.SignalID)
			if d.Status != s.status || signal.Effect(d.Effect) != s.effect {
				t.Fatalf("step %d: %s %s, want %s %s", i, d.Status, d.Effect, s.status, s.effect)
			}
			n1 := f.zcard(e.x("signals"))
			if s.status == "DUPLICATE" {
				if d.SignalID != ids[s.sameAs] || n1 != n0 {
					t.Errorf("step %d: duplicate id %s (want %s), signals %d→%d", i, d.SignalID, ids[s.sameAs], n0, n1)
				}
			} else if n1 != n0+1 {
				t.Errorf("step %d: signals %d→%d", i, n0, n1)
			}
		}
		pttl, _ = f.do(f.db.B().Pttl().Key("ff:sigdedup:" + f.tag + ":" + rep.WaitpointID + ":i0").Build()).AsInt64()
		if pttl <= 0 || pttl > 86400000 {
			t.Errorf("signal dedup PTTL = %d, want the 24 h default", pttl)
		}
	})
}

// TestSignalLimits: max_signals_per_execution counts every accepted signal; 0 disables it.
func TestSignalLimits(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		rep, err := e.suspendOn(l, sreq{cond: signal.Single(signal.ByName("never"))})
		if err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			max  int64
			code string
		}{{2, ""}, {2, ""}, {2, "signal_limit_exceeded"}, {3, ""}, {3, "signal_limit_exceeded"}, {0, ""}}
		for i, s := range steps {
			_, err := e.deliverTo(rep.WaitpointID, dreq{name: "x", token: rep.WaitpointToken, maxSignals: ptr(s.max)})
			if code := sigCode(t, err); code != s.code {
				t.Fatalf("step %d (max %d): %q, want %q", i, s.max, code, s.code)
			}
		}
		if n := f.zcard(e.x("signals")); n != 4 {
			t.Errorf("exec_signals = %d, want 4", n)
		}
		if got := f.hgetallKey(f.wpKey(rep.WaitpointID))["signal_count"]; got != "4" {
			t.Errorf("signal_count = %s, want 4", got)
		}
	})
}

func (f *fx) exists(key string) bool {
	n, err := f.do(f.db.B().Exists().Key(key).Build()).AsInt64()
	if err != nil {
		f.t.Fatalf("EXISTS: %v", err)
	}
	return n == 1
}

// TestSignalPending: a pending waitpoint buffers signals; suspending on it replays them.
func TestSignalPending(t *testing.T) {
	tests := []struct {
		name      string
		buffered  []string
		cond      signal.ResumeCondition
		status    string
		after     []sstep // signals delivered after an OK suspend
		wantState string
	}{
		{name: "buffered signal satisfies", buffered: []string{"approve"}, cond: signal.Single(signal.ByName("approve")),
			status: "ALREADY_SATISFIED", wantState: sRunning},
		{name: "buffered half of all-of", buffered: []string{"a", "zz"}, cond: signal.AllOf("a", "b"),
			status: "OK", after: []sstep{st(0, "a", signal.EffectNoOp), st(0, "b", signal.EffectResumed)}, wantState: sWaitingResum},
		{name: "buffered count reaches n", buffered: []string{"x", "x"}, cond: signal.Count(2, "x", "x"),
			status: "ALREADY_SATISFIED", wantState: sRunning},
		{name: "nothing buffered", cond: signal.Single(signal.Wildcard()),
			status: "OK", after: []sstep{st(0, "x", signal.EffectResumed)}, wantState: sWaitingResum},
		{name: "composite never satisfied by replay", buffered: []string{"go"},
			cond:   signal.Composite(signal.SingleNode("wpk:p", signal.ByName("go"))),
			status: "OK", after: []sstep{st(0, "go", signal.EffectResumed)}, wantState: sWaitingResum},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				wp := "00000000-0000-0000-0000-" + e.id[len(e.id)-12:]
				pr, err := e.pendingWP(l, wp, "wpk:p", f.serverMs()+60000)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := e.pendingWP(l, wp, "wpk:p", f.serverMs()+60000); sigCode(t, err) != "waitpoint_already_exists" {
					t.Errorf("second create: %v", err)
				}
				if _, err := e.deliverTo(wp, dreq{name: "x", token: pr.WaitpointToken}); sigCode(t, err) != "waitpoint_pending_use_buffer_script" {
					t.Errorf("deliver to pending: %v", err)
				}
				for i, n := range tt.buffered {
					b, err := e.bufferTo(wp, dreq{name: n, token: pr.WaitpointToken, idem: "b" + strconv.Itoa(i)})
					if err != nil || b.Effect != string(signal.EffectBuffered) {
						t.Fatalf("buffer %s: %+v %v", n, b, err)
					}
					dup, err := e.bufferTo(wp, dreq{name: n, token: pr.WaitpointToken, idem: "b" + strconv.Itoa(i)})
					if err != nil || dup.Status != "DUPLICATE" || dup.SignalID != b.SignalID {
						t.Fatalf("buffer replay: %+v %v", dup, err)
					}
				}
				rq := sreq{cond: tt.cond, wp: wp, usePending: true, idem: "p-1", dedupTTL: ptr(int64(60000))}
				rep, err := e.suspendOn(l, rq)
				if err != nil {
					t.Fatalf("suspend: %v", err)
				}
				if again, err := e.suspendOn(l, rq); err != nil || !cmp.Equal(again, rep) {
					t.Fatalf("suspend replay: %+v %v, want %+v", again, err, rep)
				}
				want := ffscripts.SuspendExecutionReply{Status: tt.status, SuspensionID: rep.SuspensionID,
					WaitpointID: wp, WaitpointKey: "wpk:p", WaitpointToken: pr.WaitpointToken}
				if diff := cmp.Diff(want, rep); diff != "" {
					t.Fatalf("suspend reply (-want +got):\n%s", diff)
				}
				for i, s := range tt.after {
					d, err := e.deliverTo(wp, dreq{name: s.name, token: pr.WaitpointToken})
					if err != nil || signal.Effect(d.Effect) != s.effect {
						t.Fatalf("after %d: %+v %v, want %s", i, d, err, s.effect)
					}
				}
				if got := e.state(); got != tt.wantState {
					t.Errorf("state = %s, want %s", got, tt.wantState)
				}
				if tt.status == "ALREADY_SATISFIED" {
					if e.exists(e.x("suspension:current")) {
						t.Errorf("ALREADY_SATISFIED created a suspension record")
					}
					if h := f.hgetallKey(f.wpKey(wp)); h["state"] != "closed" || h["close_reason"] != "resumed" {
						t.Errorf("waitpoint %v", h)
					}
				}
			})
		}
	})
}

// TestSignalPendingErrors: the checks of suspend's pending branch and of buffering.
func TestSignalPendingErrors(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		expired := "10000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		if _, err := e.pendingWP(l, expired, "wpk:e", f.serverMs()-1); err != nil {
			t.Fatal(err)
		}
		closed := "20000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		pc, err := e.pendingWP(l, closed, "wpk:c", f.serverMs()+60000)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := e.closeWP(closed, "never_committed"); err != nil || r.Result != "" {
			t.Fatalf("close: %+v %v", r, err)
		}
		if r, err := e.closeWP(closed, ""); err != nil || r.Result != "already_closed" {
			t.Fatalf("close again: %+v %v", r, err)
		}
		if h := f.hgetallKey(f.wpKey(closed)); h["close_reason"] != "never_committed" {
			t.Errorf("close_reason %q", h["close_reason"])
		}
		// A closed waitpoint id can be pending again, as a fresh record.
		again := "50000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		if _, err := e.pendingWP(l, again, "wpk:g", f.serverMs()+60000); err != nil {
			t.Fatal(err)
		}
		if _, err := e.closeWP(again, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.pendingWP(l, again, "wpk:g", f.serverMs()+60000); err != nil {
			t.Fatalf("re-create closed: %v", err)
		}
		if h := f.hgetallKey(f.wpKey(again)); h["state"] != "pending" || h["close_reason"] != "" || h["closed_at"] != "" {
			t.Errorf("re-created waitpoint %v", h)
		}
		if _, err := e.closeWP("missing", ""); sigCode(t, err) != "waitpoint_not_found" {
			t.Errorf("close missing: %v", err)
		}
		if _, err := e.bufferTo(closed, dreq{name: "x", token: pc.WaitpointToken}); sigCode(t, err) != "waitpoint_closed" {
			t.Errorf("buffer to closed: %v", err)
		}
		if _, err := e.bufferTo("missing", dreq{name: "x", token: pc.WaitpointToken}); sigCode(t, err) != "waitpoint_not_found" {
			t.Errorf("buffer to missing: %v", err)
		}
		fresh := "30000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		if _, err := e.pendingWP(l, fresh, "wpk:f", f.serverMs()+60000); err != nil {
			t.Fatal(err)
		}
		e2, l2 := f.running()
		foreign := "60000000-0000-0000-0000-" + e2.id[len(e2.id)-12:]
		if _, err := e2.pendingWP(l2, foreign, "wpk:o", f.serverMs()+60000); err != nil {
			t.Fatal(err)
		}
		unbound := "70000000-0000-0000-0000-" + e.id[len(e.id)-12:]
		if _, err := e.pendingWP(l, unbound, "wpk:u", f.serverMs()+60000); err != nil {
			t.Fatal(err)
		}
		f.do(f.db.B().Hset().Key(f.wpKey(unbound)).FieldValue().FieldValue("waitpoint_token", "").Build())
		cond := signal.Single(signal.Wildcard())
		cases := []struct {
			name string
			r    sreq
			code string
		}{
			{"missing", sreq{cond: cond, wp: "missing", usePending: true}, "waitpoint_not_found"},
			{"expired", sreq{cond: cond, wp: expired, usePending: true}, "pending_waitpoint_expired"},
			{"closed", sreq{cond: cond, wp: closed, usePending: true}, "waitpoint_not_pending"},
			{"with extras", sreq{cond: cond, wp: fresh, usePending: true, extras: []string{"wpk:x"}}, "use_pending_with_extras_unsupported"},
			{"other execution", sreq{cond: cond, wp: foreign, usePending: true}, "invalid_waitpoint_for_execution"},
			{"not token bound", sreq{cond: cond, wp: unbound, usePending: true}, "waitpoint_not_token_bound"},
			{"bad condition", sreq{condJSON: `{"required_signal_names":"approve"}`, wp: fresh, usePending: true}, "invalid_input"},
		}
		for _, c := range cases {
			before := e.snapshot()
			wpBefore := f.hgetallKey(f.wpKey(c.r.wp))
			_, err := e.suspendOn(l, c.r)
			if code := sigCode(t, err); code != c.code {
				t.Errorf("%s: %q, want %q", c.name, code, c.code)
			}
			if diff := cmp.Diff(before, e.snapshot()); diff != "" {
				t.Errorf("%s wrote (-before +after):\n%s", c.name, diff)
			}
			if diff := cmp.Diff(wpBefore, f.hgetallKey(f.wpKey(c.r.wp))); diff != "" {
				t.Errorf("%s changed the waitpoint:\n%s", c.name, diff)
			}
		}
		if got := e.state(); got != sRunning {
			t.Errorf("state %s", got)
		}
	})
}

// TestSignalTimeout: ff_expire_suspension for every timeout behaviour (spec §6.7).
func TestSignalTimeout(t *testing.T) {
	tests := []struct {
		behavior signal.TimeoutBehavior
		outcome  string
		public   string
		state    string
		wpReason string
		attempt  string
	}{
		{"", "fail", "failed", sFailed, "timed_out_fail", "ended_failure"},
		{signal.TimeoutFail, "fail", "failed", sFailed, "timed_out_fail", "ended_failure"},
		{signal.TimeoutCancel, "cancel", "cancelled", sCancelled, "timed_out_cancel", "ended_cancelled"},
		{signal.TimeoutExpire, "expire", "expired", sExpired, "timed_out_expire", "ended_failure"},
		{signal.TimeoutAutoResume, "auto_resume", "waiting", sWaitingResum, "timed_out_auto_resume", "suspended"},
		{signal.TimeoutAutoResumeWithTimeoutSignal, "auto_resume", "waiting", sWaitingResum, "timed_out_auto_resume", "suspended"},
		{signal.TimeoutEscalate, "escalate", "suspended", "suspended/unowned/not_applicable/paused_by_operator/attempt_interrupted/suspended", "", "suspended"},
		{"bogus", "bogus", "failed", sFailed, "timed_out_fail", "ended_failure"},
	}
	sigEachTarget(t, func(t *testing.T, f0 *fx) {
		for _, tt := range tests {
			t.Run("behavior="+string(tt.behavior), func(t *testing.T) {
				f := f0.sub(t)
				sigInitKeystore(t, f)
				e, l := f.running()
				due := f.serverMs() - 1
				rep, err := e.suspendOn(l, sreq{cond: signal.Composite(signal.AllOfNodes(
					signal.SingleNode("wpk:a", signal.Wildcard()), signal.SingleNode("wpk:b", signal.Wildcard()))),
					wpKey: "wpk:a", extras: []string{"wpk:b"}, timeoutAt: &due, behavior: tt.behavior})
				if err != nil {
					t.Fatal(err)
				}
				if s, ok := e.score(e.idx("suspension_timeout")); !ok || int64(s) != due {
					t.Fatalf("suspension_timeout score %v %v", s, ok)
				}
				r, err := e.expireSusp()
				if err != nil {
					t.Fatalf("expire: %v", err)
				}
				if diff := cmp.Diff(ffscripts.ExpireSuspensionReply{Status: "OK", Outcome: tt.outcome, PublicState: tt.public}, r); diff != "" {
					t.Fatalf("reply (-want +got):\n%s", diff)
				}
				if got := e.state(); got != tt.state {
					t.Errorf("state = %s, want %s", got, tt.state)
				}
				if _, ok := e.score(e.idx("suspension_timeout")); ok {
					t.Errorf("still in suspension_timeout")
				}
				if got := e.hget(e.attempt(0), "attempt_state"); got != tt.attempt {
					t.Errorf("attempt_state = %s, want %s", got, tt.attempt)
				}
				for _, w := range sigWaitpoints(t, rep) {
					h := f.hgetallKey(f.wpKey(w.id))
					want := "closed"
					if tt.wpReason == "" {
						want = "active"
					}
					if h["state"] != want || h["close_reason"] != tt.wpReason {
						t.Errorf("waitpoint %s: %s/%s, want %s/%s", w.key, h["state"], h["close_reason"], want, tt.wpReason)
					}
				}
				if tt.behavior == signal.TimeoutEscalate {
					s := e.hgetall(e.x("suspension:current"))
					if s["reason_code"] != "waiting_for_operator_review" || s["timeout_at"] != "" {
						t.Errorf("suspension after escalate: %v", s)
					}
					// No timeout any more: not due, and a signal can still resume.
					if r, err := e.expireSusp(); err != nil || r.Outcome != "not_yet_due" {
						t.Errorf("expire after escalate: %+v %v", r, err)
					}
					w := sigWaitpoints(t, rep)
					for i, x := range w {
						d, err := e.deliverTo(x.id, dreq{name: "x", token: x.token})
						want := signal.EffectAppended
						if i == len(w)-1 {
							want = signal.EffectResumed
						}
						if err != nil || signal.Effect(d.Effect) != want {
							t.Fatalf("signal after escalate: %+v %v", d, err)
						}
					}
				} else if r, err := e.expireSusp(); err != nil || r.Outcome == tt.outcome {
					t.Errorf("second expire: %+v %v", r, err)
				}
			})
		}
		t.Run("not due and cleaned", func(t *testing.T) {
			f := f0.sub(t)
			sigInitKeystore(t, f)
			e, l := f.running()
			if r, err := e.expireSusp(); err != nil || r.Outcome != "not_suspended_cleaned" {
				t.Errorf("active: %+v %v", r, err)
			}
			later := f.serverMs() + 600000
			if _, err := e.suspendOn(l, sreq{cond: signal.Single(signal.Wildcard()), timeoutAt: &later}); err != nil {
				t.Fatal(err)
			}
			if r, err := e.expireSusp(); err != nil || r.Outcome != "not_yet_due" {
				t.Errorf("not due: %+v %v", r, err)
			}
			s := e.hgetall(e.x("suspension:current"))
			w := f.hgetallKey(f.wpKey(s["waitpoint_id"]))
			if want := strconv.FormatInt(later, 10); s["timeout_at"] != want || w["expires_at"] != want {
				t.Errorf("timeout_at %q, waitpoint expires_at %q, want %s", s["timeout_at"], w["expires_at"], want)
			}
			g := f.newExec()
			if r, err := g.expireSusp(); err != nil || r.Outcome != "not_found_cleaned" {
				t.Errorf("missing: %+v %v", r, err)
			}
		})
	})
}

// TestSignalRaceCancel: a signal after a cancel is refused, and a cancel after the
// resuming signal finds a runnable execution; nothing is left half-done either way.
func TestSignalRaceCancel(t *testing.T) {
	sigEachTarget(t, func(t *testing.T, f *fx) {
		e, l := f.running()
		rep, err := e.suspendOn(l, sreq{cond: signal.Single(signal.ByName("go"))})
		if err != nil {
			t.Fatal(err)
		}
		cr, err := e.cancelSuspended(rep.WaitpointID)
		if err != nil || cr.Result != "cancelled" {
			t.Fatalf("cancel: %+v %v", cr, err)
		}
		n0 := f.zcard(e.x("signals"))
		if _, err := e.deliverTo(rep.WaitpointID, dreq{name: "go", token: rep.WaitpointToken}); sigCode(t, err) != "target_not_signalable" {
			t.Errorf("signal after cancel: %v", err)
		}
		if got := e.state(); got != sCancelled {
			t.Errorf("state = %s", got)
		}
		if n := f.zcard(e.x("signals")); n != n0 {
			t.Errorf("refused signal was recorded")
		}

		// The other order: the resuming signal first (sent as a pipelined command), then cancel.
		e2, l2 := f.running()
		rep2, err := e2.suspendOn(l2, sreq{cond: signal.Single(signal.ByName("go"))})
		if err != nil {
			t.Fatal(err)
		}
		dk, da := e2.deliverArgs(rep2.WaitpointID, dreq{name: "go", token: rep2.WaitpointToken})
		res := f.db.DoMulti(f.ctx, ffscripts.DeliverSignalCmd(f.db, dk, da))
		d, err := ffscripts.ParseDeliverSignal(res[0])
		if err != nil || d.Effect != string(signal.EffectResumed) {
			t.Fatalf("deliver: %+v %v", d, err)
		}
		cr2, err := e2.cancelSuspended(rep2.WaitpointID)
		if err != nil {
			t.Fatalf("cancel after resume: %v", err)
		}
		if cr2.PreviousPhase != "runnable" || e2.state() != sCancelled {
			t.Errorf("cancel after resume: %+v state %s", cr2, e2.state())
		}
		if _, ok := e2.score(e2.laneIdx("eligible")); ok {
			t.Errorf("cancelled execution still eligible")
		}
		var fe *ffscripts.Error
		_, err = e2.deliverTo(rep2.WaitpointID, dreq{name: "go", token: rep2.WaitpointToken})
		if !errors.As(err, &fe) || fe.Function != "ff_deliver_signal" || !errors.Is(err, ffscripts.ErrTargetNotSignalable) {
			t.Errorf("late signal: %v", err)
		}
	})
}
