package signal

import (
	"encoding/json"
	"fmt"
	"strconv"
)

type matcherKind uint8

const (
	matchWildcard matcherKind = iota
	matchByName
)

// Matcher selects the signals a condition accepts.
type Matcher struct {
	kind matcherKind
	name string
}

// ByName accepts signals whose name is exactly name (case-sensitive).
func ByName(name string) Matcher { return Matcher{kind: matchByName, name: name} }

// Wildcard accepts any signal.
func Wildcard() Matcher { return Matcher{kind: matchWildcard} }

// Name returns the name a ByName matcher accepts and whether m is one.
func (m Matcher) Name() (string, bool) { return m.name, m.kind == matchByName }

func (m Matcher) encode() json.RawMessage {
	if m.kind == matchByName {
		b, _ := json.Marshal(struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		}{"ByName", m.name})
		return b
	}
	return json.RawMessage(`{"kind":"Wildcard"}`)
}

// CountKind is what a Count node counts.
type CountKind string

// Count kinds: distinct waitpoints that received an accepted signal, distinct signals,
// distinct sources (source_type + source_identity).
const (
	DistinctWaitpoints CountKind = "DistinctWaitpoints"
	DistinctSignals    CountKind = "DistinctSignals"
	DistinctSources    CountKind = "DistinctSources"
)

// Node is one node of a composite condition tree.
type Node struct {
	kind       string
	members    []Node
	key        string
	matcher    *Matcher
	n          int
	countKind  CountKind
	waitpoints []string
}

// AllOfNodes is satisfied when every member is.
func AllOfNodes(members ...Node) Node {
	return Node{kind: "AllOf", members: append([]Node{}, members...)}
}

// SingleNode is satisfied by one signal accepted by m on the waitpoint with key waitpointKey.
func SingleNode(waitpointKey string, m Matcher) Node {
	return Node{kind: "Single", key: waitpointKey, matcher: &m}
}

// CountNode is satisfied when n distinct things of kind were seen on the listed
// waitpoints (by key). It accepts any signal unless narrowed with Matching.
// Note (spec §13.8): the server counts across the whole suspension, so two Count nodes
// of the same kind share their progress.
func CountNode(n int, kind CountKind, waitpointKeys ...string) Node {
	return Node{kind: "Count", n: n, countKind: kind, waitpoints: append([]string{}, waitpointKeys...)}
}

// Matching returns a Count node that only counts signals accepted by m.
func (nd Node) Matching(m Matcher) Node {
	nd.matcher = &m
	return nd
}

// NeverBySignalNode is never satisfied by a signal (an operator-only or timeout-only
// branch inside a composite).
func NeverBySignalNode() Node { return Node{kind: "NeverBySignal"} }

func childPath(parent string, i int) string {
	p := "members[" + strconv.Itoa(i) + "]"
	if parent == "" {
		return p
	}
	return parent + "." + p
}

func (nd Node) validate(path string, depth int) error {
	at := path
	if at == "" {
		at = "root"
	}
	if depth > MaxCompositeDepth {
		return fmt.Errorf("%w: %s: tree deeper than %d", ErrInvalidCondition, at, MaxCompositeDepth)
	}
	if nd.matcher != nil && nd.matcher.kind == matchByName && nd.matcher.name == "" {
		return fmt.Errorf("%w: %s: ByName with an empty name", ErrInvalidCondition, at)
	}
	switch nd.kind {
	case "AllOf":
		if len(nd.members) == 0 {
			return fmt.Errorf("%w: %s: AllOf without members", ErrInvalidCondition, at)
		}
		for i, m := range nd.members {
			if err := m.validate(childPath(path, i), depth+1); err != nil {
				return err
			}
		}
	case "Single":
		if nd.key == "" {
			return fmt.Errorf("%w: %s: Single with an empty waitpoint key", ErrInvalidCondition, at)
		}
	case "Count":
		if nd.n < 1 {
			return fmt.Errorf("%w: %s: Count needs n >= 1, got %d", ErrInvalidCondition, at, nd.n)
		}
		if len(nd.waitpoints) == 0 {
			return fmt.Errorf("%w: %s: Count without waitpoints", ErrInvalidCondition, at)
		}
		for _, w := range nd.waitpoints {
			if w == "" {
				return fmt.Errorf("%w: %s: Count with an empty waitpoint key", ErrInvalidCondition, at)
			}
		}
		switch nd.countKind {
		case DistinctWaitpoints:
			if nd.n > len(nd.waitpoints) {
				return fmt.Errorf("%w: %s: Count(%d) of DistinctWaitpoints over %d waitpoints can never be met", ErrInvalidCondition, at, nd.n, len(nd.waitpoints))
			}
		case DistinctSignals, DistinctSources:
		default:
			return fmt.Errorf("%w: %s: unknown count kind %q", ErrInvalidCondition, at, nd.countKind)
		}
	case "NeverBySignal":
	default:
		return fmt.Errorf("%w: %s: zero Node (use AllOfNodes, SingleNode, CountNode or NeverBySignalNode)", ErrInvalidCondition, at)
	}
	return nil
}

// nodeJSON is an encoded tree node.
type nodeJSON = json.RawMessage

func (nd Node) encode(path string) nodeJSON {
	var v any
	switch nd.kind {
	case "AllOf":
		members := make([]json.RawMessage, len(nd.members))
		for i, m := range nd.members {
			members[i] = m.encode(childPath(path, i))
		}
		v = struct {
			Kind    string            `json:"kind"`
			Path    string            `json:"path"`
			Members []json.RawMessage `json:"members"`
		}{"AllOf", path, members}
	case "Single":
		v = struct {
			Kind         string          `json:"kind"`
			Path         string          `json:"path"`
			WaitpointKey string          `json:"waitpoint_key"`
			Matcher      json.RawMessage `json:"matcher"`
		}{"Single", path, nd.key, nd.matcher.encode()}
	case "Count":
		m := json.RawMessage("null")
		if nd.matcher != nil {
			m = nd.matcher.encode()
		}
		v = struct {
			Kind       string          `json:"kind"`
			Path       string          `json:"path"`
			N          int             `json:"n"`
			CountKind  CountKind       `json:"count_kind"`
			Matcher    json.RawMessage `json:"matcher"`
			Waitpoints []string        `json:"waitpoints"`
		}{"Count", path, nd.n, nd.countKind, m, nd.waitpoints}
	default:
		v = struct {
			Kind string `json:"kind"`
			Path string `json:"path"`
		}{nd.kind, path}
	}
	b, _ := json.Marshal(v)
	return b
}
