package signal

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ParseResumeCondition reads resume_condition_json as stored in a suspension record
// (suspension_current.resume_condition_json). It accepts what ff_suspend_execution
// accepts, so a condition written by another client (e.g. the Rust SDK) reads back too;
// node paths are recomputed on marshal. Unknown composite node kinds and a composite
// version other than 1 are errors.
func ParseResumeCondition(s string) (ResumeCondition, error) {
	var raw struct {
		Composite     any             `json:"composite"`
		V             *int            `json:"v"`
		Type          *string         `json:"condition_type"`
		Names         []string        `json:"required_signal_names"`
		Mode          *string         `json:"signal_match_mode"`
		Min           *int            `json:"minimum_signal_count"`
		Timeout       TimeoutBehavior `json:"timeout_behavior"`
		AllowOverride *bool           `json:"allow_operator_override"`
		Tree          json.RawMessage `json:"tree"`
	}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return ResumeCondition{}, fmt.Errorf("%w: %v", ErrInvalidCondition, err)
	}
	c := ResumeCondition{timeout: raw.Timeout}
	if raw.AllowOverride != nil && !*raw.AllowOverride {
		c.noOverride = true
	}
	if raw.Composite != nil && raw.Composite != false {
		if raw.V != nil && *raw.V != 1 {
			return ResumeCondition{}, fmt.Errorf("%w: composite version %d", ErrInvalidCondition, *raw.V)
		}
		n, err := parseNode(raw.Tree, 1)
		if err != nil {
			return ResumeCondition{}, err
		}
		c.mode, c.min, c.names, c.tree = "composite", 1, []string{}, &n
		return c, c.Validate()
	}
	c.mode, c.min, c.names = MatchAny, 1, append([]string{}, raw.Names...)
	if raw.Mode != nil {
		c.mode = MatchMode(*raw.Mode)
	}
	if raw.Min != nil {
		c.min = *raw.Min
	}
	switch c.mode {
	case MatchAny, MatchAll, MatchCount:
	default:
		return ResumeCondition{}, fmt.Errorf("%w: signal_match_mode %q", ErrInvalidCondition, c.mode)
	}
	if len(c.names) == 0 {
		c.wildcard = true
	}
	if len(c.names) == 1 && c.mode == MatchAll {
		c.onlyTimeout = c.names[0] == TimeoutOnlyName
	}
	return c, c.Validate()
}

func parseNode(b json.RawMessage, depth int) (Node, error) {
	if depth > MaxCompositeDepth {
		return Node{}, fmt.Errorf("%w: tree deeper than %d", ErrInvalidCondition, MaxCompositeDepth)
	}
	var raw struct {
		Kind       string            `json:"kind"`
		Members    []json.RawMessage `json:"members"`
		Key        string            `json:"waitpoint_key"`
		Matcher    json.RawMessage   `json:"matcher"`
		N          int               `json:"n"`
		CountKind  CountKind         `json:"count_kind"`
		Waitpoints []string          `json:"waitpoints"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Node{}, fmt.Errorf("%w: tree: %v", ErrInvalidCondition, err)
	}
	switch raw.Kind {
	case "AllOf":
		n := Node{kind: "AllOf"}
		for _, m := range raw.Members {
			c, err := parseNode(m, depth+1)
			if err != nil {
				return Node{}, err
			}
			n.members = append(n.members, c)
		}
		return n, nil
	case "Single", "Count":
		m, err := parseMatcher(raw.Matcher)
		if err != nil {
			return Node{}, err
		}
		if raw.Kind == "Single" {
			if m == nil {
				w := Wildcard()
				m = &w
			}
			return Node{kind: "Single", key: raw.Key, matcher: m}, nil
		}
		kind := raw.CountKind
		if kind == "" {
			kind = DistinctWaitpoints
		}
		return Node{kind: "Count", n: raw.N, countKind: kind, waitpoints: raw.Waitpoints, matcher: m}, nil
	case "NeverBySignal":
		return NeverBySignalNode(), nil
	}
	return Node{}, fmt.Errorf("%w: unknown node kind %q", ErrInvalidCondition, raw.Kind)
}

func parseMatcher(b json.RawMessage) (*Matcher, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var raw struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: matcher: %v", ErrInvalidCondition, err)
	}
	switch raw.Kind {
	case "Wildcard":
		m := Wildcard()
		return &m, nil
	case "ByName":
		m := ByName(raw.Name)
		return &m, nil
	}
	return nil, fmt.Errorf("%w: unknown matcher kind %q", ErrInvalidCondition, raw.Kind)
}

// Satisfiers returns the ids of the signals that satisfied a suspension, the way a worker
// reads them after a resumed claim (spec §2.4): from the suspension record's
// all_satisfier_signals (composite conditions), else from the condition hash's
// matcher:<i>:signal_id fields in matcher order. ok is false when the suspension was not
// closed by a resume (close_reason ≠ "resumed").
func Satisfiers(suspension, condition map[string]string) (ids []string, ok bool) {
	if suspension["close_reason"] != "resumed" {
		return nil, false
	}
	if all := suspension["all_satisfier_signals"]; all != "" {
		var list []string
		if json.Unmarshal([]byte(all), &list) == nil {
			return list, true
		}
	}
	type m struct {
		i  int
		id string
	}
	var ms []m
	for k, v := range condition {
		rest, found := strings.CutPrefix(k, "matcher:")
		if !found || v == "" {
			continue
		}
		idx, field, _ := strings.Cut(rest, ":")
		i, err := strconv.Atoi(idx)
		if err != nil || field != "signal_id" {
			continue
		}
		ms = append(ms, m{i, v})
	}
	sort.Slice(ms, func(a, b int) bool { return ms[a].i < ms[b].i })
	for _, x := range ms {
		ids = append(ids, x.id)
	}
	return ids, true
}
