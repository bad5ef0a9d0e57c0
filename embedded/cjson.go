package embedded

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

const cjsonMaxDepth = 1000

// newCjsonLib returns the "cjson" table with lua-cjson's defaults as Valkey
// ships them: cjson.null, {} for empty tables, %.14g numbers, '/' escaped.
func newCjsonLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	null := L.NewUserData()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.ArgError(1, "expected 1 argument")
		}
		var b strings.Builder
		cjsonEncode(L, &b, L.Get(1), null, 0)
		L.Push(lua.LString(b.String()))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		if L.GetTop() != 1 {
			L.ArgError(1, "expected 1 argument")
		}
		d := &jsonDecoder{L: L, s: L.CheckString(1), null: null}
		v := d.value(0)
		d.skipSpace()
		if d.i < len(d.s) {
			d.fail("the end", d.tokenName())
		}
		L.Push(v)
		return 1
	}))
	return t
}

func cjsonEncode(L *lua.LState, b *strings.Builder, v lua.LValue, null *lua.LUserData, depth int) {
	switch v := v.(type) {
	case *lua.LNilType:
		b.WriteString("null")
	case lua.LBool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			luaErrorf(L, "Cannot serialise number: must not be NaN or Inf")
		}
		b.WriteString(formatNumber14(f))
	case lua.LString:
		jsonQuote(b, string(v))
	case *lua.LTable:
		depth++
		if depth > cjsonMaxDepth {
			luaErrorf(L, "Cannot serialise, excessive nesting (%d)", depth)
		}
		n := arrayLength(L, v)
		if n > 0 {
			b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				cjsonEncode(L, b, v.RawGetInt(i), null, depth)
			}
			b.WriteByte(']')
			return
		}
		b.WriteByte('{')
		first := true
		for k, val := v.Next(lua.LNil); k != lua.LNil; k, val = v.Next(k) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			switch k := k.(type) {
			case lua.LString:
				jsonQuote(b, string(k))
			case lua.LNumber:
				jsonQuote(b, formatNumber14(float64(k)))
			default:
				luaErrorf(L, "Cannot serialise %s: table key must be a number or string", k.Type().String())
			}
			b.WriteByte(':')
			cjsonEncode(L, b, val, null, depth)
		}
		b.WriteByte('}')
	case *lua.LUserData:
		if v == null {
			b.WriteString("null")
			return
		}
		luaErrorf(L, "Cannot serialise userdata: type not supported")
	default:
		luaErrorf(L, "Cannot serialise %s: type not supported", v.Type().String())
	}
}

// arrayLength is lua-cjson's array test: every key a positive integer, not
// excessively sparse. 0 means "encode as an object" (which {} also is).
func arrayLength(L *lua.LState, t *lua.LTable) int {
	maxKey, items := 0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) < 1 || float64(n) != math.Floor(float64(n)) {
			return 0
		}
		if int(n) > maxKey {
			maxKey = int(n)
		}
		items++
	}
	if maxKey > items*2 && maxKey > 10 {
		luaErrorf(L, "Cannot serialise table: excessively sparse array")
	}
	return maxKey
}

func jsonQuote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

// jsonDecoder is a recursive-descent JSON reader with lua-cjson's errors.
type jsonDecoder struct {
	L    *lua.LState
	s    string
	i    int
	null *lua.LUserData
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// tokenName names the token at d.i the way lua-cjson's messages do.
func (d *jsonDecoder) tokenName() string {
	if d.i >= len(d.s) {
		return "T_END"
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return "T_OBJ_BEGIN"
	case c == '}':
		return "T_OBJ_END"
	case c == '[':
		return "T_ARR_BEGIN"
	case c == ']':
		return "T_ARR_END"
	case c == ',':
		return "T_COMMA"
	case c == ':':
		return "T_COLON"
	case c == '"':
		return "T_STRING"
	case c == '-' || c >= '0' && c <= '9':
		return "T_NUMBER"
	case strings.HasPrefix(d.s[d.i:], "true"), strings.HasPrefix(d.s[d.i:], "false"):
		return "T_BOOLEAN"
	case strings.HasPrefix(d.s[d.i:], "null"):
		return "T_NULL"
	}
	return "invalid token"
}

func (d *jsonDecoder) fail(expected, found string) {
	luaErrorf(d.L, "Expected %s but found %s at character %d", expected, found, d.i+1)
}

func (d *jsonDecoder) value(depth int) lua.LValue {
	d.skipSpace()
	if d.i >= len(d.s) {
		d.fail("value", "T_END")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		return lua.LString(d.str())
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case strings.HasPrefix(d.s[d.i:], "true"):
		d.i += 4
		return lua.LTrue
	case strings.HasPrefix(d.s[d.i:], "false"):
		d.i += 5
		return lua.LFalse
	case strings.HasPrefix(d.s[d.i:], "null"):
		d.i += 4
		return d.null
	}
	d.fail("value", d.tokenName())
	return nil
}

func (d *jsonDecoder) nest(depth int) {
	if depth > cjsonMaxDepth {
		luaErrorf(d.L, "Found too many nested data structures (%d) at character %d", depth, d.i+1)
	}
}

func (d *jsonDecoder) object(depth int) lua.LValue {
	d.nest(depth)
	d.i++ // {
	t := d.L.NewTable()
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return t
	}
	for {
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			d.fail("object key string", d.tokenName())
		}
		key := d.str()
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			d.fail("colon", d.tokenName())
		}
		d.i++
		t.RawSetString(key, d.value(depth))
		d.skipSpace()
		if d.i < len(d.s) && d.s[d.i] == ',' {
			d.i++
			continue
		}
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return t
		}
		d.fail("comma or object end", d.tokenName())
	}
}

func (d *jsonDecoder) array(depth int) lua.LValue {
	d.nest(depth)
	d.i++ // [
	t := d.L.NewTable()
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return t
	}
	for n := 1; ; n++ {
		t.RawSetInt(n, d.value(depth))
		d.skipSpace()
		if d.i < len(d.s) && d.s[d.i] == ',' {
			d.i++
			continue
		}
		if d.i < len(d.s) && d.s[d.i] == ']' {
			d.i++
			return t
		}
		d.fail("comma or array end", d.tokenName())
	}
}

func (d *jsonDecoder) number() lua.LValue {
	start := d.i
	for d.i < len(d.s) && strings.IndexByte("+-0123456789.eE", d.s[d.i]) >= 0 {
		d.i++
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil && !isRangeErr(err) {
		d.i = start
		d.fail("value", "invalid number")
	}
	return lua.LNumber(f)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (d *jsonDecoder) str() string {
	start := d.i
	d.i++ // opening quote
	var b strings.Builder
	for {
		if d.i >= len(d.s) {
			d.i = start
			d.fail("value", "unexpected end of string")
		}
		c := d.s[d.i]
		if c == '"' {
			d.i++
			return b.String()
		}
		if c != '\\' {
			b.WriteByte(c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.s) {
			d.i = start
			d.fail("value", "invalid escape code")
		}
		e := d.s[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := d.hex4()
			if ok && r >= 0xD800 && r < 0xDC00 {
				// A high surrogate must be followed by a low one.
				if strings.HasPrefix(d.s[d.i:], `\u`) {
					d.i += 2
					lo, ok2 := d.hex4()
					if ok2 && lo >= 0xDC00 && lo < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					} else {
						ok = false
					}
				} else {
					ok = false
				}
			} else if r >= 0xDC00 && r < 0xE000 {
				ok = false
			}
			if !ok {
				d.i = start
				d.fail("value", "invalid unicode escape code")
			}
			var buf [4]byte
			b.Write(buf[:utf8.EncodeRune(buf[:], r)])
		default:
			d.i = start
			d.fail("value", "invalid escape code")
		}
	}
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.s) {
		return 0, false
	}
	n, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}
