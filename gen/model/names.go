package model

import (
	"strings"
	"unicode"
)

// initialisms are written in upper case inside Go names, as Go style asks.
var initialisms = map[string]bool{
	"ID": true, "TTL": true, "JSON": true, "CSV": true, "HMAC": true, "URL": true,
	"API": true, "UUID": true, "ACL": true, "CPU": true, "TCP": true, "IP": true,
	"HTTP": true, "RO": true, "SHA": true, "UTF8": true, "XML": true,
}

// GoName turns a Lua snake_case name into an exported Go identifier:
// lease_ttl_ms → LeaseTTLMs, execution_id → ExecutionID. It is the one place Go names are
// derived from Lua names.
func GoName(lua string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(lua, func(r rune) bool {
		return r == '_' || r == '-' || r == '.' || r == ' '
	}) {
		up := strings.ToUpper(part)
		if initialisms[up] {
			b.WriteString(up)
			continue
		}
		// Plural initialisms: ids → IDs.
		if strings.HasSuffix(up, "S") && initialisms[up[:len(up)-1]] {
			b.WriteString(up[:len(up)-1] + "s")
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	s := b.String()
	if s == "" || !unicode.IsLetter([]rune(s)[0]) {
		s = "X" + s
	}
	return s
}

// FuncGoName strips the library prefix (ff_) before deriving the Go name.
func FuncGoName(lua, prefix string) string {
	if prefix != "" && strings.HasPrefix(lua, prefix) && len(lua) > len(prefix) {
		lua = lua[len(prefix):]
	}
	return GoName(lua)
}

// ErrName is the sentinel error's name for an error code: stale_lease → ErrStaleLease.
func ErrName(code string) string { return "Err" + GoName(code) }

// Plural is the Go name of a slice field from a singular Lua label: tag → Tags, id → IDs.
func Plural(lua string) string {
	g := GoName(lua)
	if strings.HasSuffix(g, "s") || strings.HasSuffix(g, "S") {
		return g
	}
	return g + "s"
}
