package signal_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flowfabric/ffgo/signal"
)

func TestResumeConditionJSON(t *testing.T) {
	tests := []struct {
		name string
		cond signal.ResumeCondition
		want string
	}{
		{"single by name", signal.Single(signal.ByName("approve")),
			`{"condition_type":"signal_set","required_signal_names":["approve"],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"single wildcard", signal.Single(signal.Wildcard()),
			`{"condition_type":"signal_set","required_signal_names":[],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"any of", signal.AnyOf("a", "b"),
			`{"condition_type":"signal_set","required_signal_names":["a","b"],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"all of", signal.AllOf("a", "b"),
			`{"condition_type":"signal_set","required_signal_names":["a","b"],"signal_match_mode":"all","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"count", signal.Count(2, "x", "x", "y"),
			`{"condition_type":"signal_set","required_signal_names":["x","x","y"],"signal_match_mode":"count","minimum_signal_count":2,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"operator only", signal.OperatorOnly(),
			`{"condition_type":"signal_set","required_signal_names":["__operator_only__"],"signal_match_mode":"all","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{"timeout only with behaviour", signal.TimeoutOnly().WithTimeoutBehavior(signal.TimeoutAutoResume).WithoutOperatorOverride(),
			`{"condition_type":"signal_set","required_signal_names":["__timeout_only__"],"signal_match_mode":"all","minimum_signal_count":1,"timeout_behavior":"auto_resume","allow_operator_override":false}`},
		{"composite pattern 3",
			signal.Composite(signal.AllOfNodes(
				signal.SingleNode("wpk:a", signal.Wildcard()),
				signal.SingleNode("wpk:b", signal.ByName("go")))),
			`{"v":1,"composite":true,"timeout_behavior":"fail","allow_operator_override":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"AllOf","path":"","members":[{"kind":"Single","path":"members[0]","waitpoint_key":"wpk:a","matcher":{"kind":"Wildcard"}},{"kind":"Single","path":"members[1]","waitpoint_key":"wpk:b","matcher":{"kind":"ByName","name":"go"}}]}}`},
		{"composite nested count and never",
			signal.Composite(signal.AllOfNodes(
				signal.AllOfNodes(
					signal.CountNode(2, signal.DistinctSources, "wpk:a", "wpk:b").Matching(signal.ByName("ok")),
					signal.NeverBySignalNode()),
				signal.CountNode(1, signal.DistinctWaitpoints, "wpk:c"))),
			`{"v":1,"composite":true,"timeout_behavior":"fail","allow_operator_override":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"AllOf","path":"","members":[{"kind":"AllOf","path":"members[0]","members":[{"kind":"Count","path":"members[0].members[0]","n":2,"count_kind":"DistinctSources","matcher":{"kind":"ByName","name":"ok"},"waitpoints":["wpk:a","wpk:b"]},{"kind":"NeverBySignal","path":"members[0].members[1]"}]},{"kind":"Count","path":"members[1]","n":1,"count_kind":"DistinctWaitpoints","matcher":null,"waitpoints":["wpk:c"]}]}}`},
		{"composite single root", signal.Composite(signal.SingleNode("wpk:a", signal.ByName("x"))),
			`{"v":1,"composite":true,"timeout_behavior":"fail","allow_operator_override":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"Single","path":"","waitpoint_key":"wpk:a","matcher":{"kind":"ByName","name":"x"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.cond)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("JSON mismatch (-want +got):\n%s", diff)
			}
			s, err := tt.cond.JSON()
			if err != nil || s != string(got) {
				t.Errorf("JSON() = %q, %v; want %q", s, err, got)
			}
		})
	}
}

func TestResumeConditionInvalid(t *testing.T) {
	deep := signal.SingleNode("k", signal.Wildcard())
	for i := 0; i < signal.MaxCompositeDepth; i++ {
		deep = signal.AllOfNodes(deep)
	}
	tests := []struct {
		name string
		cond signal.ResumeCondition
	}{
		{"zero", signal.ResumeCondition{}},
		{"any of nothing", signal.AnyOf()},
		{"all of nothing", signal.AllOf()},
		{"empty name", signal.AnyOf("a", "")},
		{"by name empty", signal.Single(signal.ByName(""))},
		{"count zero", signal.Count(0, "a")},
		{"count too few names", signal.Count(3, "a", "b")},
		{"empty allof", signal.Composite(signal.AllOfNodes())},
		{"single no key", signal.Composite(signal.SingleNode("", signal.Wildcard()))},
		{"count n 0", signal.Composite(signal.CountNode(0, signal.DistinctSignals, "k"))},
		{"count no waitpoints", signal.Composite(signal.CountNode(1, signal.DistinctSignals))},
		{"distinct waitpoints over", signal.Composite(signal.CountNode(3, signal.DistinctWaitpoints, "a", "b"))},
		{"unknown count kind", signal.Composite(signal.CountNode(1, "Bogus", "a"))},
		{"zero node", signal.Composite(signal.Node{})},
		{"too deep", signal.Composite(deep)},
		{"byname empty in count", signal.Composite(signal.CountNode(1, signal.DistinctSignals, "a").Matching(signal.ByName("")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cond.Validate(); !errors.Is(err, signal.ErrInvalidCondition) {
				t.Errorf("Validate() = %v, want ErrInvalidCondition", err)
			}
			if _, err := json.Marshal(tt.cond); !errors.Is(err, signal.ErrInvalidCondition) {
				t.Errorf("Marshal error = %v, want ErrInvalidCondition", err)
			}
		})
	}
	// One level less than too deep is fine.
	ok := signal.SingleNode("k", signal.Wildcard())
	for i := 1; i < signal.MaxCompositeDepth; i++ {
		ok = signal.AllOfNodes(ok)
	}
	if err := signal.Composite(ok).Validate(); err != nil {
		t.Errorf("depth %d: %v", signal.MaxCompositeDepth, err)
	}
}

func TestResumePolicyJSON(t *testing.T) {
	d := uint64(1500)
	tests := []struct {
		name string
		p    signal.ResumePolicy
		want string
	}{
		{"default", signal.DefaultResumePolicy(),
			`{"resume_target":"runnable","close_waitpoint_on_resume":true,"consume_matched_signals":true,"retain_signal_buffer_until_closed":false}`},
		{"delay", func() signal.ResumePolicy { p := signal.DefaultResumePolicy(); p.ResumeDelayMs = &d; return p }(),
			`{"resume_target":"runnable","close_waitpoint_on_resume":true,"consume_matched_signals":true,"retain_signal_buffer_until_closed":false,"resume_delay_ms":1500}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOutcome(t *testing.T) {
	tests := []struct {
		status, id, effect string
		want               signal.Outcome
		resumed, matched   bool
		wantErr            bool
	}{
		{status: "OK", id: "s1", effect: "no_op", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectNoOp}},
		{status: "OK", id: "s1", effect: "appended_to_waitpoint", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectAppended}, matched: true},
		{status: "OK", id: "s1", effect: "resume_condition_satisfied", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectResumed}, resumed: true, matched: true},
		{status: "OK", id: "s1", effect: "appended_to_waitpoint_duplicate", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectAppendedDuplicate}, matched: true},
		{status: "OK", id: "s1", effect: "signal_ignored_not_in_condition", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectIgnoredNotInCondition}},
		{status: "OK", id: "s1", effect: "signal_ignored_matcher_failed", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectIgnoredMatcherFailed}},
		{status: "OK", id: "s1", effect: "buffered_for_pending_waitpoint", want: signal.Outcome{SignalID: "s1", Effect: signal.EffectBuffered}},
		{status: "DUPLICATE", id: "s0", want: signal.Outcome{SignalID: "s0", Duplicate: true}},
		{status: "OK", id: "s1", effect: "bogus", wantErr: true},
		{status: "OK", id: "", effect: "no_op", wantErr: true},
		{status: "DUPLICATE", id: "", wantErr: true},
		{status: "ALREADY_SATISFIED", id: "s1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.status+"/"+tt.effect, func(t *testing.T) {
			got, err := signal.ParseOutcome(tt.status, tt.id, tt.effect)
			if tt.wantErr {
				if !errors.Is(err, signal.ErrUnknownOutcome) {
					t.Fatalf("err = %v, want ErrUnknownOutcome", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Resumed() != tt.resumed || got.Effect.Matched() != tt.matched {
				t.Errorf("Resumed=%v Matched=%v, want %v %v", got.Resumed(), got.Effect.Matched(), tt.resumed, tt.matched)
			}
		})
	}
}

func TestParseResumeConditionRoundTrip(t *testing.T) {
	conds := []signal.ResumeCondition{
		signal.Single(signal.ByName("approve")),
		signal.Single(signal.Wildcard()),
		signal.AnyOf("a", "b"),
		signal.AllOf("a", "b"),
		signal.Count(2, "x", "x", "y"),
		signal.OperatorOnly(),
		signal.TimeoutOnly().WithTimeoutBehavior(signal.TimeoutEscalate).WithoutOperatorOverride(),
		signal.Composite(signal.AllOfNodes(
			signal.AllOfNodes(signal.CountNode(2, signal.DistinctSources, "wpk:a", "wpk:b").Matching(signal.ByName("ok")), signal.NeverBySignalNode()),
			signal.SingleNode("wpk:c", signal.Wildcard()),
			signal.CountNode(1, signal.DistinctWaitpoints, "wpk:d"))),
	}
	for _, c := range conds {
		want, err := c.JSON()
		if err != nil {
			t.Fatal(err)
		}
		p, err := signal.ParseResumeCondition(want)
		if err != nil {
			t.Fatalf("parse %s: %v", want, err)
		}
		got, err := p.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if p.IsComposite() != c.IsComposite() || p.RequiresTimeout() != c.RequiresTimeout() {
			t.Errorf("%s: composite/timeout flags lost", want)
		}
	}
}

func TestParseResumeConditionForeign(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "rust single", in: `{"condition_type":"signal_set","required_signal_names":["approve"],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`,
			want: `{"condition_type":"signal_set","required_signal_names":["approve"],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{name: "bare defaults", in: `{"required_signal_names":["a"]}`,
			want: `{"condition_type":"signal_set","required_signal_names":["a"],"signal_match_mode":"any","minimum_signal_count":1,"timeout_behavior":"fail","allow_operator_override":true}`},
		{name: "composite without paths", in: `{"composite":true,"tree":{"kind":"AllOf","members":[{"kind":"Single","waitpoint_key":"k","matcher":null},{"kind":"Count","n":1,"waitpoints":["k"]}]}}`,
			want: `{"v":1,"composite":true,"timeout_behavior":"fail","allow_operator_override":true,"condition_type":"composite","required_signal_names":[],"signal_match_mode":"composite","minimum_signal_count":1,"tree":{"kind":"AllOf","path":"","members":[{"kind":"Single","path":"members[0]","waitpoint_key":"k","matcher":{"kind":"Wildcard"}},{"kind":"Count","path":"members[1]","n":1,"count_kind":"DistinctWaitpoints","matcher":null,"waitpoints":["k"]}]}}`},
		{name: "not json", in: `{`, wantErr: true},
		{name: "unknown mode", in: `{"required_signal_names":["a"],"signal_match_mode":"most"}`, wantErr: true},
		{name: "version 2", in: `{"composite":true,"v":2,"tree":{"kind":"NeverBySignal"}}`, wantErr: true},
		{name: "unknown kind", in: `{"composite":true,"tree":{"kind":"AnyOf","members":[]}}`, wantErr: true},
		{name: "unknown matcher", in: `{"composite":true,"tree":{"kind":"Single","waitpoint_key":"k","matcher":{"kind":"Regex"}}}`, wantErr: true},
		{name: "invalid tree", in: `{"composite":true,"tree":{"kind":"AllOf","members":[]}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := signal.ParseResumeCondition(tt.in)
			if tt.wantErr {
				if !errors.Is(err, signal.ErrInvalidCondition) {
					t.Fatalf("err = %v, want ErrInvalidCondition", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSatisfiers(t *testing.T) {
	tests := []struct {
		name       string
		susp, cond map[string]string
		want       []string
		ok         bool
	}{
		{"composite", map[string]string{"close_reason": "resumed", "all_satisfier_signals": `["s1","s2"]`}, nil, []string{"s1", "s2"}, true},
		{"matchers in order", map[string]string{"close_reason": "resumed"},
			map[string]string{"matcher:10:signal_id": "s10", "matcher:2:signal_id": "s2", "matcher:1:signal_id": "", "matcher:0:name": "a", "matcher:0:signal_id": "s0"},
			[]string{"s0", "s2", "s10"}, true},
		{"not resumed", map[string]string{"close_reason": "timed_out_fail"}, nil, nil, false},
		{"open", map[string]string{}, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := signal.Satisfiers(tt.susp, tt.cond)
			if ok != tt.ok || !cmp.Equal(got, tt.want) {
				t.Errorf("Satisfiers = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
