package embedded

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// chunkName is the source name Valkey gives function libraries; error
// positions read "user_function:LINE:".
const chunkName = "user_function"

// Version constants as Valkey 8.0.1 reports them.
var versionConstants = map[string]lua.LValue{
	"REDIS_VERSION":      lua.LString("7.2.4"),
	"REDIS_VERSION_NUM":  lua.LNumber(459268),
	"SERVER_NAME":        lua.LString("valkey"),
	"VALKEY_VERSION":     lua.LString("8.0.1"),
	"VALKEY_VERSION_NUM": lua.LNumber(524289),
	"LOG_DEBUG":          lua.LNumber(0),
	"LOG_VERBOSE":        lua.LNumber(1),
	"LOG_NOTICE":         lua.LNumber(2),
	"LOG_WARNING":        lua.LNumber(3),
	"REPL_NONE":          lua.LNumber(0),
	"REPL_AOF":           lua.LNumber(1),
	"REPL_SLAVE":         lua.LNumber(2),
	"REPL_REPLICA":       lua.LNumber(2),
	"REPL_ALL":           lua.LNumber(3),
}

const (
	msgReadonly      = "Attempt to modify a readonly table"
	msgNonexistent   = "Script attempted to access nonexistent global variable '%s'"
	notProvidedFmt   = "the %s library is not provided by the embedded engine (ffgo/embedded)"
	maxReplyDepth    = 1000
	luaCallStackSize = 1000
)

// luaEnv is the sandboxed Lua state of one library.
type luaEnv struct {
	L *lua.LState
	// envMeta is the metatable of the globals proxy; its __index points at the
	// load-time globals while the library body runs, then at the runtime ones.
	envMeta *lua.LTable
	runtime *lua.LTable // runtime globals (behind the proxy)
	loading *lua.LTable // load-time globals: only redis/server with register_function
	// protected maps each read-only proxy to the table behind it.
	protected map[*lua.LTable]*lua.LTable
	loadRedis *lua.LTable // backing table of the load-time redis object
}

// newLuaEnv builds a state with Valkey 8's function environment.
func (s *Server) newLuaEnv() (*luaEnv, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: luaCallStackSize})
	e := &luaEnv{L: L, protected: map[*lua.LTable]*lua.LTable{}}
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			L.Close()
			return nil, err
		}
	}
	G := L.G.Global
	// Sandbox: what Valkey removes, plus collectgarbage (in gopher-lua it runs
	// a whole-process Go GC).
	for _, name := range []string{"dofile", "loadfile", "print", "collectgarbage", "require", "module", "_printregs", "channel", "_GOPHER_LUA_VERSION"} {
		G.RawSetString(name, lua.LNil)
	}
	origToString := G.RawGetString("tostring")
	G.RawSetString("tostring", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		if n, ok := v.(lua.LNumber); ok {
			L.Push(lua.LString(formatNumber14(float64(n))))
			return 1
		}
		L.Push(origToString)
		L.Push(v)
		L.Call(1, 1)
		return 1
	}))
	G.RawSetString("error", L.NewFunction(luaError))
	G.RawSetString("tonumber", L.NewFunction(luaToNumber(G.RawGetString("tonumber"))))
	G.RawSetString("rawset", L.NewFunction(e.rawset))
	G.RawSetString("rawget", L.NewFunction(e.rawget))
	G.RawSetString("next", L.NewFunction(e.next))
	G.RawSetString("pairs", L.NewFunction(e.pairs))
	G.RawSetString("setmetatable", L.NewFunction(e.setmetatable))

	// Strings index the string table through their own metatable, so the
	// string table itself carries no __index (as in Lua 5.1).
	if st, ok := G.RawGetString("string").(*lua.LTable); ok {
		mt := L.NewTable()
		mt.RawSetString("__index", st)
		L.SetMetatable(lua.LString(""), mt)
		st.RawSetString("__index", lua.LNil)
	}
	// Guards against one call allocating without bound (a Go out-of-memory
	// kills the whole process; Lua 5.1 would fail with an error instead).
	if st, ok := G.RawGetString("string").(*lua.LTable); ok {
		rep, format := st.RawGetString("rep"), st.RawGetString("format")
		st.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
			str := L.CheckString(1)
			n := L.CheckInt(2)
			if n > 0 && int64(len(str))*int64(n) > maxStringLen {
				luaErrorf(L, "not enough memory")
			}
			return callThrough(L, rep)
		}))
		st.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
			f := L.CheckString(1)
			if !formatWidthsOK(f) {
				luaErrorf(L, "invalid format (width or precision too long)")
			}
			if needsOwnFormat(L, f) {
				return luaFormat(L, format, f)
			}
			return callThrough(L, format)
		}))
	}
	if tt, ok := G.RawGetString("table").(*lua.LTable); ok {
		tt.RawSetString("concat", L.NewFunction(tableConcat))
	}
	// Lua 5.1's deprecated table functions, still present in Valkey.
	if tt, ok := G.RawGetString("table").(*lua.LTable); ok {
		tt.RawSetString("foreach", L.NewFunction(tableForeach))
		tt.RawSetString("foreachi", L.NewFunction(tableForeachi))
		tt.RawSetString("setn", L.NewFunction(func(L *lua.LState) int {
			luaErrorf(L, "'setn' is obsolete")
			return 0
		}))
	}
	// gopher-lua's math.huge is MaxFloat64; Lua's is +inf.
	if m, ok := G.RawGetString("math").(*lua.LTable); ok {
		m.RawSetString("huge", lua.LNumber(math.Inf(1)))
	}
	osT := L.NewTable()
	osT.RawSetString("clock", L.NewFunction(osClock))
	G.RawSetString("os", osT)
	G.RawSetString("bit", newBitLib(L))
	G.RawSetString("cjson", newCjsonLib(L))
	G.RawSetString("struct", notProvided(L, "struct"))
	G.RawSetString("cmsgpack", notProvided(L, "cmsgpack"))

	redisT := L.NewTable()
	for k, v := range versionConstants {
		redisT.RawSetString(k, v)
	}
	for name, fn := range map[string]lua.LGFunction{
		"call":          func(L *lua.LState) int { return s.luaCall(L, true) },
		"pcall":         func(L *lua.LState) int { return s.luaCall(L, false) },
		"error_reply":   luaErrorReply,
		"status_reply":  luaStatusReply,
		"sha1hex":       luaSha1hex,
		"log":           s.luaLog,
		"setresp":       s.luaSetresp,
		"set_repl":      luaSetRepl,
		"acl_check_cmd": s.luaACLCheckCmd,
	} {
		redisT.RawSetString(name, L.NewFunction(fn))
	}
	G.RawSetString("redis", redisT)
	G.RawSetString("server", redisT)

	// Every library table becomes a read-only proxy, as in Valkey.
	for _, name := range []string{"string", "table", "math", "os", "coroutine", "bit", "cjson", "redis"} {
		t, ok := G.RawGetString(name).(*lua.LTable)
		if !ok {
			continue
		}
		G.RawSetString(name, e.protect(t, nil))
	}
	// redis and server are one object.
	G.RawSetString("server", G.RawGetString("redis"))

	// Globals that do not exist are an error to read.
	L.SetMetatable(G, e.strictMeta())
	e.runtime = G

	// The load-time environment: only redis/server with register_function,
	// log and the constants, like Valkey's loading sandbox.
	lr := L.NewTable()
	for k, v := range versionConstants {
		lr.RawSetString(k, v)
	}
	lr.RawSetString("log", L.NewFunction(s.luaLog))
	L.SetMetatable(lr, e.strictMeta())
	e.loadRedis = lr
	lrProxy := e.protect(lr, nil)
	e.loading = L.NewTable()
	e.loading.RawSetString("redis", lrProxy)
	e.loading.RawSetString("server", lrProxy)
	L.SetMetatable(e.loading, e.strictMeta())

	// The globals every function sees: a proxy whose __index is switched.
	env := L.NewTable()
	e.envMeta = L.NewTable()
	e.envMeta.RawSetString("__index", e.loading)
	e.envMeta.RawSetString("__newindex", L.NewFunction(readonlyError))
	e.envMeta.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(env, e.envMeta)
	e.protected[env] = G
	G.RawSetString("_G", env)
	L.G.Global = env
	L.Env = env
	return e, nil
}

// protect returns a read-only proxy for t.
func (e *luaEnv) protect(t *lua.LTable, index lua.LValue) *lua.LTable {
	L := e.L
	p := L.NewTable()
	mt := L.NewTable()
	if index == nil {
		index = t
	}
	mt.RawSetString("__index", index)
	mt.RawSetString("__newindex", L.NewFunction(readonlyError))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(p, mt)
	e.protected[p] = t
	return p
}

func (e *luaEnv) strictMeta() *lua.LTable {
	mt := e.L.NewTable()
	mt.RawSetString("__index", e.L.NewFunction(func(L *lua.LState) int {
		L.RaiseError(msgNonexistent, lua.LVAsString(L.Get(2)))
		return 0
	}))
	mt.RawSetString("__newindex", e.L.NewFunction(readonlyError))
	return mt
}

func (e *luaEnv) setLoading(loading bool) {
	if loading {
		e.envMeta.RawSetString("__index", e.loading)
	} else {
		e.envMeta.RawSetString("__index", e.runtime)
	}
}

func (e *luaEnv) isProtected(t *lua.LTable) bool {
	if _, ok := e.protected[t]; ok {
		return true
	}
	for _, b := range e.protected {
		if b == t {
			return true
		}
	}
	return false
}

func readonlyError(L *lua.LState) int {
	L.RaiseError(msgReadonly)
	return 0
}

func (e *luaEnv) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if e.isProtected(t) {
		raise(L, msgReadonly)
	}
	L.RawSet(t, L.CheckAny(2), L.CheckAny(3))
	L.SetTop(1)
	return 1
}

func (e *luaEnv) backing(t *lua.LTable) *lua.LTable {
	if b, ok := e.protected[t]; ok {
		return b
	}
	return t
}

func (e *luaEnv) rawget(L *lua.LState) int {
	t := e.backing(L.CheckTable(1))
	L.Push(L.RawGet(t, L.CheckAny(2)))
	return 1
}

func (e *luaEnv) next(L *lua.LState) int {
	t := e.backing(L.CheckTable(1))
	k, v := t.Next(L.Get(2))
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(v)
	return 2
}

func (e *luaEnv) pairs(L *lua.LState) int {
	t := L.CheckTable(1)
	L.Push(L.NewFunction(e.next))
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

func (e *luaEnv) setmetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	if e.isProtected(t) {
		raise(L, msgReadonly)
	}
	mt := L.Get(2)
	if mt != lua.LNil {
		if _, ok := mt.(*lua.LTable); !ok {
			L.ArgError(2, "nil or table expected")
		}
	}
	if old, ok := L.GetMetatable(t).(*lua.LTable); ok && old.RawGetString("__metatable") != lua.LNil {
		luaErrorf(L, "cannot change a protected metatable")
	}
	L.SetMetatable(t, mt)
	L.SetTop(1)
	return 1
}

// luaError is Lua 5.1's error(): like gopher-lua's, but a number gets a
// position too (Lua treats numbers as strings there).
func luaError(L *lua.LState) int {
	obj := L.Get(1)
	level := L.OptInt(2, 1)
	if n, ok := obj.(lua.LNumber); ok {
		obj = lua.LString(formatNumber14(float64(n)))
	}
	if msg, ok := obj.(lua.LString); ok && level > 0 {
		// gopher-lua counts levels from the error function itself; Lua
		// counts from its caller, so compute the position here.
		if w := L.Where(level); w != "" && !strings.HasPrefix(w, "[G]") {
			obj = lua.LString(w + " " + string(msg))
		}
	}
	L.Error(obj, 0)
	return 0
}

// luaToNumber is Lua 5.1's tonumber: base-10 strings go through strtod
// rules (spaces around, exponents, 0x hex); other bases use gopher-lua's.
func luaToNumber(orig lua.LValue) lua.LGFunction {
	return func(L *lua.LState) int {
		v := L.CheckAny(1)
		if L.GetTop() >= 2 && L.Get(2) != lua.LNil && L.Get(2) != lua.LNumber(10) {
			L.Push(orig)
			L.Push(v)
			L.Push(L.Get(2))
			L.Call(2, 1)
			return 1
		}
		switch v := v.(type) {
		case lua.LNumber:
			L.Push(v)
		case lua.LString:
			if f, ok := strToNumber(string(v)); ok {
				L.Push(lua.LNumber(f))
			} else {
				L.Push(lua.LNil)
			}
		default:
			L.Push(lua.LNil)
		}
		return 1
	}
}

func strToNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(body) > 1 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		n, err := strconv.ParseUint(body[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		if s[0] == '-' {
			return -float64(n), true
		}
		return float64(n), true
	}
	if strings.ContainsAny(s, "_pP") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return 0, false
	}
	return f, true
}

// osClock approximates os.clock with the process's running time: Go has no
// portable CPU-time clock, and scripts only use differences of it.
func osClock(L *lua.LState) int {
	L.Push(lua.LNumber(time.Since(processStart).Seconds()))
	return 1
}

var processStart = time.Now()

func notProvided(L *lua.LState, name string) *lua.LTable {
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError(notProvidedFmt, name)
		return 0
	}))
	mt.RawSetString("__newindex", L.NewFunction(readonlyError))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(t, mt)
	return t
}

// luaErrorReply is redis.error_reply: the reply table {err=...}, with ERR
// prepended when the text has no error code.
func luaErrorReply(L *lua.LState) int {
	msg, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		// Valkey returns this as the reply rather than raising it.
		msg = "ERR wrong number or type of arguments"
	}
	t := L.NewTable()
	t.RawSetString("err", lua.LString(normalizeError(string(msg))))
	L.Push(t)
	return 1
}

// normalizeError gives an error text its code the way Valkey's
// luaPushErrorBuff does: "-CODE msg" keeps CODE, anything else gets ERR.
func normalizeError(s string) string {
	if !strings.HasPrefix(s, "-") {
		s = "-" + s
	}
	code, msg, found := strings.Cut(s[1:], " ")
	if !found {
		code, msg = "ERR", s[1:]
	}
	return code + " " + strings.TrimRight(msg, "\r\n")
}

func luaStatusReply(L *lua.LState) int {
	msg, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		t := L.NewTable()
		t.RawSetString("err", lua.LString("ERR wrong number or type of arguments"))
		L.Push(t)
		return 1
	}
	t := L.NewTable()
	t.RawSetString("ok", msg)
	L.Push(t)
	return 1
}

func luaSha1hex(L *lua.LState) int {
	if L.GetTop() != 1 {
		raise(L, "wrong number of arguments")
	}
	s, _ := luaToString(L.Get(1))
	sum := sha1.Sum([]byte(s))
	L.Push(lua.LString(hex.EncodeToString(sum[:])))
	return 1
}

// luaToString is lua_tolstring: strings and numbers (%.14g), else not ok.
func luaToString(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return formatNumber14(float64(v)), true
	}
	return "", false
}

func (s *Server) luaLog(L *lua.LState) int {
	top := L.GetTop()
	if top < 2 {
		raise(L, "server.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		raise(L, "First argument must be a number (log level).")
	}
	level := int(lv)
	if level < 0 || level > 3 {
		raise(L, "Invalid log level.")
	}
	parts := make([]string, 0, top-1)
	for i := 2; i <= top; i++ {
		if str, ok := luaToString(L.Get(i)); ok {
			parts = append(parts, str)
		}
	}
	s.addLog(level, strings.Join(parts, " "))
	return 0
}

func (s *Server) luaSetresp(L *lua.LState) int {
	if L.GetTop() != 1 {
		raise(L, "server.setresp() requires one argument.")
	}
	n, _ := L.Get(1).(lua.LNumber)
	switch n {
	case 2:
		s.run.resp3 = false
	case 3:
		s.run.resp3 = true
	default:
		raise(L, "RESP version must be 2 or 3.")
	}
	return 0
}

func luaSetRepl(L *lua.LState) int {
	if L.GetTop() != 1 {
		raise(L, "server.set_repl() requires one argument.")
	}
	n, ok := L.Get(1).(lua.LNumber)
	if !ok || n < 0 || n > 3 {
		raise(L, "Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
	}
	return 0
}

func (s *Server) luaACLCheckCmd(L *lua.LState) int {
	if L.GetTop() < 1 {
		raise(L, "Please specify at least one argument for this call")
	}
	name, _ := luaToString(L.Get(1))
	up := strings.ToUpper(name)
	if (!s.srv.IsRegisteredCommand(name) || hashFieldTTL[up]) && !ownCommands[up] {
		raise(L, "Invalid command passed to server.acl_check_cmd()")
	}
	L.Push(lua.LTrue) // no ACLs: the default user may run everything
	return 1
}

// formatNumber14 is C's "%.14g", Lua 5.1's number format (tostring, cjson).
func formatNumber14(f float64) string {
	if s, ok := nonFinite(f); ok {
		return s
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}

// tableForeach is Lua 5.1's table.foreach: f(k, v) for each pair until f
// returns a non-nil value, which is returned.
func tableForeach(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		L.Push(f)
		L.Push(k)
		L.Push(v)
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

// tableForeachi is Lua 5.1's table.foreachi: f(i, t[i]) for i = 1..#t.
func tableForeachi(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	n := t.Len()
	for i := 1; i <= n; i++ {
		L.Push(f)
		L.Push(lua.LNumber(i))
		L.Push(t.RawGetInt(i))
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

// maxStringLen bounds string.rep, like Valkey's 512MB proto-max-bulk-len.
const maxStringLen = 512 << 20

// callThrough calls fn with the current arguments and returns its results.
func callThrough(L *lua.LState, fn lua.LValue) int {
	top := L.GetTop()
	L.Push(fn)
	L.Insert(fn, 1)
	L.Pop(1)
	L.Call(top, lua.MultRet)
	return L.GetTop()
}

// formatWidthsOK reports whether every conversion in a string.format format
// has a width and precision of at most two digits, as Lua 5.1 requires.
func formatWidthsOK(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			i++
		}
		digits := 0
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			i++
			digits++
		}
		if digits > 2 {
			return false
		}
		if i < len(f) && f[i] == '.' {
			i++
			digits = 0
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
				digits++
			}
			if digits > 2 {
				return false
			}
		}
	}
	return true
}

// needsOwnFormat reports whether string.format must go through luaFormat:
// %q (Lua 5.1 quoting) or %s of a number (%.14g); anything else is left to
// gopher-lua's implementation.
func needsOwnFormat(L *lua.LState, f string) bool {
	arg := 2
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0123456789.", f[i]) >= 0 {
			i++
		}
		if i < len(f) {
			if f[i] == 'q' {
				return true
			}
			if _, isNum := L.Get(arg).(lua.LNumber); f[i] == 's' && isNum {
				return true
			}
		}
		arg++
	}
	return false
}

// luaFormat formats one conversion at a time: %q itself, %s of a number
// through %.14g, every other conversion through gopher-lua's format.
func luaFormat(L *lua.LState, format lua.LValue, f string) int {
	var b strings.Builder
	arg := 2
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		start := i
		i++
		if i < len(f) && f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		for i < len(f) && strings.IndexByte("-+ #0123456789.", f[i]) >= 0 {
			i++
		}
		if i >= len(f) {
			luaErrorf(L, "invalid option '%%' to 'format'")
		}
		spec := f[start : i+1]
		if arg > L.GetTop() {
			L.ArgError(arg, "no value")
		}
		v := L.Get(arg)
		arg++
		if f[i] == 'q' {
			str, ok := luaToString(v)
			if !ok {
				L.ArgError(arg-1, "string expected, got "+v.Type().String())
			}
			luaQuote(&b, str)
			continue
		}
		if n, ok := v.(lua.LNumber); ok && f[i] == 's' {
			v = lua.LString(formatNumber14(float64(n)))
		}
		L.Push(format)
		L.Push(lua.LString(spec))
		L.Push(v)
		L.Call(2, 1)
		b.WriteString(lua.LVAsString(L.Get(-1)))
		L.Pop(1)
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// luaQuote is Lua 5.1's %q.
func luaQuote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}

// tableConcat is Lua 5.1's table.concat, with numbers written as %.14g.
func tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	var b strings.Builder
	for k := i; k <= j; k++ {
		str, ok := luaToString(t.RawGetInt(k))
		if !ok {
			luaErrorf(L, "invalid value (%s) at index %d in table for 'concat'", t.RawGetInt(k).Type().String(), k)
		}
		b.WriteString(str)
		if k < j {
			b.WriteString(sep)
		}
		if b.Len() > maxStringLen {
			luaErrorf(L, "not enough memory")
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// luaErrorf raises like C Lua's luaL_error: the message gets the position of
// the calling Lua code, or none when a library function (pcall, say) called
// us directly. gopher-lua's RaiseError would skip to the nearest Lua frame.
func luaErrorf(L *lua.LState, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if w := L.Where(1); w != "" && !strings.HasPrefix(w, "[G]") {
		msg = w + " " + msg
	}
	L.Error(lua.LString(msg), 0)
}
