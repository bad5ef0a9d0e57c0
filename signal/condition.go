// Package signal gives Go types to the JSON and reply strings of FlowFabric's
// suspend → signal → resume path: the resume condition a suspension waits for, the
// resume policy stored with it, and the outcome of a delivered signal.
//
// A ResumeCondition marshals to exactly the resume_condition_json that
// ff_suspend_execution reads (spec suspend-signal §3.1):
//
//	cond := signal.AnyOf("approve", "reject")
//	b, err := json.Marshal(cond)
//
// Composite conditions (RFC-014) span several waitpoints and are built from nodes:
//
//	cond := signal.Composite(signal.AllOfNodes(
//		signal.SingleNode("wpk:a", signal.Wildcard()),
//		signal.SingleNode("wpk:b", signal.ByName("go")),
//	))
package signal

import (
	"encoding/json"
	"errors"
	"fmt"
)

// TimeoutBehavior is what happens when a suspension's timeout passes.
type TimeoutBehavior string

// Timeout behaviours understood by ff_expire_suspension.
const (
	TimeoutFail                        TimeoutBehavior = "fail"
	TimeoutCancel                      TimeoutBehavior = "cancel"
	TimeoutExpire                      TimeoutBehavior = "expire"
	TimeoutAutoResume                  TimeoutBehavior = "auto_resume"
	TimeoutAutoResumeWithTimeoutSignal TimeoutBehavior = "auto_resume_with_timeout_signal"
	TimeoutEscalate                    TimeoutBehavior = "escalate"
)

// MatchMode is the signal_match_mode of a non-composite condition.
type MatchMode string

// Match modes. MatchCount behaves like MatchAny with minimum_signal_count = N on the
// server, so a count condition lists at least N matchers.
const (
	MatchAny   MatchMode = "any"
	MatchAll   MatchMode = "all"
	MatchCount MatchMode = "count"
)

// Sentinel names the Rust SDK uses for conditions no signal can satisfy.
const (
	OperatorOnlyName = "__operator_only__"
	TimeoutOnlyName  = "__timeout_only__"
)

// MaxCompositeDepth is the deepest composite tree accepted (the root has depth 1).
const MaxCompositeDepth = 4

// ErrInvalidCondition wraps every validation error of a condition.
var ErrInvalidCondition = errors.New("signal: invalid resume condition")

// ResumeCondition is what a suspension waits for. Build it with Single, AnyOf, AllOf,
// Count, OperatorOnly, TimeoutOnly or Composite; the zero value is invalid.
type ResumeCondition struct {
	names       []string
	mode        MatchMode
	min         int
	tree        *Node
	timeout     TimeoutBehavior
	noOverride  bool
	onlyTimeout bool
	wildcard    bool
}

// Single waits for one signal accepted by m (a name, or any signal for Wildcard).
func Single(m Matcher) ResumeCondition {
	if m.kind == matchByName {
		return ResumeCondition{mode: MatchAny, min: 1, names: []string{m.name}}
	}
	return ResumeCondition{mode: MatchAny, min: 1, names: []string{}, wildcard: true}
}

// AnyOf waits for the first signal whose name is one of names.
func AnyOf(names ...string) ResumeCondition {
	return ResumeCondition{mode: MatchAny, min: 1, names: append([]string{}, names...)}
}

// AllOf waits until a signal of every name has arrived (a name listed twice needs two).
func AllOf(names ...string) ResumeCondition {
	return ResumeCondition{mode: MatchAll, min: 1, names: append([]string{}, names...)}
}

// Count waits for n signals, each satisfying a distinct entry of names (so a name
// listed three times can count three times). len(names) must be at least n.
func Count(n int, names ...string) ResumeCondition {
	return ResumeCondition{mode: MatchCount, min: n, names: append([]string{}, names...)}
}

// OperatorOnly is never satisfied by a signal: only ff_resume_execution (or the
// timeout) ends the suspension.
func OperatorOnly() ResumeCondition {
	return ResumeCondition{mode: MatchAll, min: 1, names: []string{OperatorOnlyName}}
}

// TimeoutOnly is never satisfied by a signal; the suspension must have a timeout.
func TimeoutOnly() ResumeCondition {
	return ResumeCondition{mode: MatchAll, min: 1, names: []string{TimeoutOnlyName},
		onlyTimeout: true}
}

// Composite waits for a tree of conditions over several waitpoints (RFC-014 v1).
// Node paths are assigned when the condition is marshalled.
func Composite(root Node) ResumeCondition {
	r := root
	return ResumeCondition{mode: "composite", min: 1, names: []string{}, tree: &r}
}

// WithTimeoutBehavior returns c carrying timeout_behavior b in its JSON. The server
// takes the behaviour from the suspend call's own argument; this copy is informational.
func (c ResumeCondition) WithTimeoutBehavior(b TimeoutBehavior) ResumeCondition {
	c.timeout = b
	return c
}

// WithoutOperatorOverride returns c with allow_operator_override false (informational:
// the server always allows ff_resume_execution).
func (c ResumeCondition) WithoutOperatorOverride() ResumeCondition {
	c.noOverride = true
	return c
}

// IsComposite reports whether c is a composite condition.
func (c ResumeCondition) IsComposite() bool { return c.tree != nil }

// RequiresTimeout reports whether a suspension on c must carry a timeout (TimeoutOnly).
func (c ResumeCondition) RequiresTimeout() bool { return c.onlyTimeout }

// Validate reports what is wrong with c, wrapping ErrInvalidCondition.
func (c ResumeCondition) Validate() error {
	if c.mode == "" {
		return fmt.Errorf("%w: zero value (use Single, AnyOf, AllOf, Count or Composite)", ErrInvalidCondition)
	}
	if c.tree != nil {
		return c.tree.validate("", 1)
	}
	for i, n := range c.names {
		if n == "" {
			return fmt.Errorf("%w: signal name %d is empty (use Single(Wildcard()) for any signal)", ErrInvalidCondition, i)
		}
	}
	switch c.mode {
	case MatchAny, MatchAll:
		if len(c.names) == 0 && !c.wildcard {
			return fmt.Errorf("%w: %s condition needs at least one name (use Single(Wildcard()) for any signal)", ErrInvalidCondition, c.mode)
		}
	case MatchCount:
		if c.min < 1 {
			return fmt.Errorf("%w: Count needs n >= 1, got %d", ErrInvalidCondition, c.min)
		}
		if len(c.names) < c.min {
			return fmt.Errorf("%w: Count(%d) lists only %d names; list a name once per signal it may count", ErrInvalidCondition, c.min, len(c.names))
		}
	}
	return nil
}

type flatJSON struct {
	ConditionType         string          `json:"condition_type"`
	RequiredSignalNames   []string        `json:"required_signal_names"`
	SignalMatchMode       MatchMode       `json:"signal_match_mode"`
	MinimumSignalCount    int             `json:"minimum_signal_count"`
	TimeoutBehavior       TimeoutBehavior `json:"timeout_behavior"`
	AllowOperatorOverride bool            `json:"allow_operator_override"`
}

type compositeJSON struct {
	V                     int             `json:"v"`
	Composite             bool            `json:"composite"`
	TimeoutBehavior       TimeoutBehavior `json:"timeout_behavior"`
	AllowOperatorOverride bool            `json:"allow_operator_override"`
	ConditionType         string          `json:"condition_type"`
	RequiredSignalNames   []string        `json:"required_signal_names"`
	SignalMatchMode       string          `json:"signal_match_mode"`
	MinimumSignalCount    int             `json:"minimum_signal_count"`
	Tree                  nodeJSON        `json:"tree"`
}

// MarshalJSON encodes c as resume_condition_json (spec §3.1), after Validate.
func (c ResumeCondition) MarshalJSON() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	tb := c.timeout
	if tb == "" {
		tb = TimeoutFail
	}
	if c.tree != nil {
		return json.Marshal(compositeJSON{V: 1, Composite: true, TimeoutBehavior: tb,
			AllowOperatorOverride: !c.noOverride, ConditionType: "composite",
			RequiredSignalNames: []string{}, SignalMatchMode: "composite",
			MinimumSignalCount: 1, Tree: c.tree.encode("")})
	}
	return json.Marshal(flatJSON{ConditionType: "signal_set", RequiredSignalNames: c.names,
		SignalMatchMode: c.mode, MinimumSignalCount: c.min, TimeoutBehavior: tb,
		AllowOperatorOverride: !c.noOverride})
}

// JSON returns the resume_condition_json string of c.
func (c ResumeCondition) JSON() (string, error) {
	b, err := c.MarshalJSON()
	return string(b), err
}

// ResumePolicy is resume_policy_json (spec §3.2). The server stores it with the
// suspension for readers; it does not act on it (the resume delay that applies is the
// resume_delay_ms argument of ff_deliver_signal / ff_resume_execution).
type ResumePolicy struct {
	ResumeTarget                  string  `json:"resume_target"`
	CloseWaitpointOnResume        bool    `json:"close_waitpoint_on_resume"`
	ConsumeMatchedSignals         bool    `json:"consume_matched_signals"`
	RetainSignalBufferUntilClosed bool    `json:"retain_signal_buffer_until_closed"`
	ResumeDelayMs                 *uint64 `json:"resume_delay_ms,omitempty"`
}

// DefaultResumePolicy is the policy the Rust SDK sends: resume to runnable, close the
// waitpoint, consume matched signals, no delay.
func DefaultResumePolicy() ResumePolicy {
	return ResumePolicy{ResumeTarget: "runnable", CloseWaitpointOnResume: true,
		ConsumeMatchedSignals: true}
}

// JSON returns the resume_policy_json string of p.
func (p ResumePolicy) JSON() (string, error) {
	b, err := json.Marshal(p)
	return string(b), err
}
