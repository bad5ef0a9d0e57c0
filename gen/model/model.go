// Package model is the generator's intermediate form: a Valkey function library as plain
// data, with Go names already derived. It imports neither jennifer nor gopher-lua, so it can
// be dumped as JSON (ffgen -dump-model) for debugging or for emitters in other languages.
package model

import "github.com/flowfabric/ffgo/gen/diag"

// Library is one function library, its files in flattening order.
type Library struct {
	Name            string      `json:"name"`    // library name in the shebang, e.g. "flowfabric"
	Version         string      `json:"version"` // the literal returned by the version function
	VersionFunction string      `json:"version_function,omitempty"`
	Files           []string    `json:"files"` // source paths in flattening order
	Functions       []*Function `json:"functions"`
	// Codes is every error code named by any @errors list, sorted, with its Go sentinel name.
	Codes []ErrorCode `json:"codes"`
}

// ErrorCode is one error code of the library.
type ErrorCode struct {
	Code      string   `json:"code"`
	GoName    string   `json:"go_name"`   // ErrStaleLease
	Functions []string `json:"functions"` // Lua names of the functions that declare it
}

// Function is one registered function.
type Function struct {
	LuaName  string   `json:"lua_name"` // ff_renew_lease
	GoName   string   `json:"go_name"`  // RenewLease
	Pos      diag.Pos `json:"pos"`
	Doc      []string `json:"doc,omitempty"` // header prose, one entry per line, "" for a paragraph break
	Keys     Params   `json:"keys"`
	Args     Params   `json:"args"`
	ReadOnly bool     `json:"read_only,omitempty"` // no-writes: sent as FCALL_RO
	Flags    []string `json:"flags,omitempty"`
	Reply    Reply    `json:"reply"`
	Errors   []string `json:"errors,omitempty"` // codes from @errors, in header order
}

// Type is the Go-side type of a parameter or reply field.
type Type string

const (
	String Type = "string"
	Int    Type = "int"
	Float  Type = "float"
	Bool   Type = "bool"
	Bytes  Type = "bytes"
)

// Param is one named slot of KEYS, ARGV, a repeated group or a reply.
type Param struct {
	LuaName string `json:"lua_name"`
	GoName  string `json:"go_name"`
	Type    Type   `json:"type"`
	// MayBeEmpty is the '?' marker: sent as "" when unset (a pointer in Go for int, float
	// and bool); in a reply, the field may be missing at the end of the tuple.
	MayBeEmpty bool `json:"may_be_empty,omitempty"`
}

// Params is a KEYS or ARGV list: fixed names, an optional tail, and a repeated tail.
type Params struct {
	Fixed    []Param `json:"fixed,omitempty"`
	Optional []Param `json:"optional,omitempty"` // bracketed tail: pointer fields, omitted when nil
	Repeat   *Repeat `json:"repeat,omitempty"`
}

// Len is the number of slots when the optional tail is sent and the repeated tail is empty.
func (p Params) Len() int { return len(p.Fixed) + len(p.Optional) }

// Fixed reports whether the list always has the same length.
func (p Params) IsFixed() bool { return len(p.Optional) == 0 && p.Repeat == nil }

// Repeat is a tail that repeats: one item (a slice) or a group (a slice of small structs).
type Repeat struct {
	LuaName string  `json:"lua_name"`
	GoName  string  `json:"go_name"` // the field holding the slice, e.g. Tags
	Items   []Param `json:"items"`
	// TypeName names the struct of a group (len(Items) > 1), e.g. SetExecutionTagsTag.
	TypeName string `json:"type_name,omitempty"`
}

// ReplyKind is the overall shape of a reply.
type ReplyKind string

const (
	ReplyTuple  ReplyKind = "tuple"  // {1, STATUS, fields...} / {0, code, details...}
	ReplyString ReplyKind = "string" // a bulk string
	ReplyInt    ReplyKind = "int"    // an integer
	ReplyRaw    ReplyKind = "raw"    // the valkey.ValkeyMessage as it came
)

// Reply is the shape of a function's reply.
type Reply struct {
	Kind ReplyKind `json:"kind"`
	Alts []Alt     `json:"alts,omitempty"`
	// Fields is the union of the alternatives' fields, in first-seen order: the reply struct.
	Fields []Param `json:"fields,omitempty"`
	// Rest is a final repeated field (name...), shared by every alternative that has it.
	Rest *Param `json:"rest,omitempty"`
}

// Alt is one success alternative of a tuple reply.
type Alt struct {
	Name   string   `json:"name"`   // ok
	Status string   `json:"status"` // OK
	Fields []string `json:"fields"` // Go names of Reply.Fields, in tuple order
	Rest   bool     `json:"rest,omitempty"`
}
