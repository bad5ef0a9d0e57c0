package embedded

import (
	"math"
	"math/bits"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// newBitLib returns LuaBitOp 1.0's "bit" table: 32-bit operations on numbers.
func newBitLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	unary := func(name string, f func(int32) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			L.Push(lua.LNumber(f(bitArg(L, 1, name))))
			return 1
		}
	}
	fold := func(name string, f func(a, b int32) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			acc := bitArg(L, 1, name)
			for i := 2; i <= L.GetTop(); i++ {
				acc = f(acc, bitArg(L, i, name))
			}
			L.Push(lua.LNumber(acc))
			return 1
		}
	}
	shift := func(name string, f func(x int32, n uint) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			x, n := bitArg(L, 1, name), uint(bitArg(L, 2, name))&31
			L.Push(lua.LNumber(f(x, n)))
			return 1
		}
	}
	fns := map[string]lua.LGFunction{
		"tobit":   unary("tobit", func(x int32) int32 { return x }),
		"bnot":    unary("bnot", func(x int32) int32 { return ^x }),
		"bswap":   unary("bswap", func(x int32) int32 { return int32(bits.ReverseBytes32(uint32(x))) }),
		"band":    fold("band", func(a, b int32) int32 { return a & b }),
		"bor":     fold("bor", func(a, b int32) int32 { return a | b }),
		"bxor":    fold("bxor", func(a, b int32) int32 { return a ^ b }),
		"lshift":  shift("lshift", func(x int32, n uint) int32 { return int32(uint32(x) << n) }),
		"rshift":  shift("rshift", func(x int32, n uint) int32 { return int32(uint32(x) >> n) }),
		"arshift": shift("arshift", func(x int32, n uint) int32 { return x >> n }),
		"rol":     shift("rol", func(x int32, n uint) int32 { return int32(bits.RotateLeft32(uint32(x), int(n))) }),
		"ror":     shift("ror", func(x int32, n uint) int32 { return int32(bits.RotateLeft32(uint32(x), -int(n))) }),
		"tohex":   bitTohex,
	}
	for name, fn := range fns {
		t.RawSetString(name, L.NewFunction(fn))
	}
	return t
}

// bitArg converts argument n the way LuaBitOp does: add 2^52+2^51 and take
// the low 32 bits of the double, i.e. round to nearest even, modulo 2^32.
func bitArg(L *lua.LState, n int, fname string) int32 {
	var x float64
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		x = float64(v)
	case lua.LString:
		f, ok := strToNumber(string(v))
		if !ok {
			argError(L, n, fname, "number expected, got string")
		}
		x = f
	default:
		got := v.Type().String()
		if n > L.GetTop() {
			got = "no value"
		}
		argError(L, n, fname, "number expected, got "+got)
	}
	return int32(uint32(math.Float64bits(x + 6755399441055744.0)))
}

// argError is luaL_argerror: the function is named when Lua code called it
// directly, '?' otherwise (e.g. through pcall).
func argError(L *lua.LState, n int, fname, msg string) {
	if w := L.Where(1); w == "" || strings.HasPrefix(w, "[G]") {
		fname = "?"
	}
	luaErrorf(L, "bad argument #%d to '%s' (%s)", n, fname, msg)
}

func bitTohex(L *lua.LState) int {
	x := uint32(bitArg(L, 1, "tohex"))
	n := int32(8)
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		n = bitArg(L, 2, "tohex")
	}
	digits := "0123456789abcdef"
	if n < 0 {
		n = -n
		digits = "0123456789ABCDEF"
	}
	if n > 8 {
		n = 8
	}
	buf := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		buf[i] = digits[x&15]
		x >>= 4
	}
	L.Push(lua.LString(buf))
	return 1
}
