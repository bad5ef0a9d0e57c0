package embedded

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/alicebob/miniredis/v2/server"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// library is one loaded function library with its own Lua state.
type library struct {
	name  string
	code  string
	env   *luaEnv
	funcs []*function // in registration order (Server.funcs is keyed by lower case)
}

func (l *library) close() {
	if l.env != nil {
		l.env.L.Close()
	}
}

// function is one registered function.
type function struct {
	name        string
	description string
	flags       []string
	noWrites    bool
	fn          *lua.LFunction
	lib         *library
}

var knownFlags = map[string]bool{
	"no-writes": true, "allow-oom": true, "allow-stale": true, "no-cluster": true, "allow-cross-slot-keys": true,
}

// ownCommands are the commands this package serves itself.
var ownCommands = map[string]bool{"FCALL": true, "FCALL_RO": true, "FUNCTION": true}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

const msgBadName = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"

func (s *Server) function(c *conn, args []string) {
	if len(args) == 0 {
		c.peer.WriteError("ERR wrong number of arguments for 'function' command")
		return
	}
	rawSub := args[0]
	sub := strings.ToUpper(rawSub)
	args = args[1:]
	switch sub {
	case "LOAD":
		if len(args) == 0 {
			c.peer.WriteError("ERR wrong number of arguments for 'function|load' command")
			return
		}
		replace := false
		for _, a := range args[:len(args)-1] {
			if !strings.EqualFold(a, "REPLACE") {
				c.peer.WriteError("ERR Unknown option given: " + a)
				return
			}
			replace = true
		}
		name, err := s.loadLibrary(args[len(args)-1], replace)
		if err != "" {
			c.peer.WriteError(err)
			return
		}
		c.peer.WriteBulk(name)
	case "DELETE":
		if len(args) != 1 {
			c.peer.WriteError("ERR wrong number of arguments for 'function|delete' command")
			return
		}
		lib, ok := s.libs[args[0]]
		if !ok {
			c.peer.WriteError("ERR Library not found")
			return
		}
		s.unlink(lib)
		lib.close()
		c.peer.WriteOK()
	case "FLUSH":
		if len(args) > 1 || len(args) == 1 && !strings.EqualFold(args[0], "ASYNC") && !strings.EqualFold(args[0], "SYNC") {
			c.peer.WriteError("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
			return
		}
		for _, l := range s.libs {
			l.close()
		}
		s.libs = map[string]*library{}
		s.funcs = map[string]*function{}
		c.peer.WriteOK()
	case "LIST":
		s.functionList(c, args)
	case "DUMP", "RESTORE", "STATS":
		c.peer.WriteError("ERR FUNCTION " + sub + " is not supported by the embedded engine (ffgo/embedded)")
	case "KILL":
		// Nothing runs while this command holds the engine lock.
		c.peer.WriteError("NOTBUSY No scripts in execution right now.")
	default:
		c.peer.WriteError(fmt.Sprintf("ERR unknown subcommand '%s'. Try FUNCTION HELP.", rawSub))
	}
}

func (s *Server) functionList(c *conn, args []string) {
	withCode := false
	pattern := ""
	for i := 0; i < len(args); i++ {
		switch strings.ToUpper(args[i]) {
		case "WITHCODE":
			withCode = true
		case "LIBRARYNAME":
			if i+1 >= len(args) {
				c.peer.WriteError("ERR library name argument was not given")
				return
			}
			i++
			pattern = args[i]
		default:
			c.peer.WriteError("ERR Unknown argument " + args[i])
			return
		}
	}
	names := make([]string, 0, len(s.libs))
	for n := range s.libs {
		if pattern != "" {
			if ok, _ := path.Match(pattern, n); !ok {
				continue
			}
		}
		names = append(names, n)
	}
	sort.Strings(names)
	c.peer.Block(func(w *server.Writer) {
		w.WriteLen(len(names))
		for _, n := range names {
			lib := s.libs[n]
			fields := 3
			if withCode {
				fields = 4
			}
			w.WriteMapLen(fields)
			w.WriteBulk("library_name")
			w.WriteBulk(lib.name)
			w.WriteBulk("engine")
			w.WriteBulk("LUA")
			w.WriteBulk("functions")
			w.WriteLen(len(lib.funcs))
			for _, f := range lib.funcs {
				w.WriteMapLen(3)
				w.WriteBulk("name")
				w.WriteBulk(f.name)
				w.WriteBulk("description")
				if f.description == "" {
					w.WriteNull()
				} else {
					w.WriteBulk(f.description)
				}
				w.WriteBulk("flags")
				w.WriteSetLen(len(f.flags))
				for _, fl := range f.flags {
					w.WriteInline(fl)
				}
			}
			if withCode {
				w.WriteBulk("library_code")
				w.WriteBulk(lib.code)
			}
		}
	})
}

func (s *Server) unlink(lib *library) {
	delete(s.libs, lib.name)
	for _, f := range lib.funcs {
		if s.funcs[strings.ToLower(f.name)] == f {
			delete(s.funcs, strings.ToLower(f.name))
		}
	}
}

// parseShebang reads "#!lua name=<lib>" the way Valkey does.
func parseShebang(code string) (name, errMsg string) {
	if !strings.HasPrefix(code, "#!") {
		return "", "ERR Missing library metadata"
	}
	line, _, found := strings.Cut(code, "\n")
	if !found {
		return "", "ERR Invalid library metadata"
	}
	parts := strings.Split(line, " ")
	engine := parts[0][2:]
	for _, p := range parts[1:] {
		if p == "" {
			continue
		}
		v, ok := strings.CutPrefix(p, "name=")
		if !ok {
			return "", "ERR Invalid metadata value given: " + p
		}
		if name != "" {
			return "", "ERR Invalid metadata value, name argument was given multiple times"
		}
		name = v
	}
	if name == "" {
		return "", "ERR Library name was not given"
	}
	if !strings.EqualFold(engine, "lua") {
		return "", fmt.Sprintf("ERR Engine '%s' not found", engine)
	}
	if !validName(name) {
		return "", "ERR " + msgBadName
	}
	return name, ""
}

// loadLibrary is FUNCTION LOAD. It returns the library name, or an error
// reply. On any error the previous library (REPLACE) stays as it was.
func (s *Server) loadLibrary(code string, replace bool) (string, string) {
	name, msg := parseShebang(code)
	if msg != "" {
		return "", msg
	}
	old := s.libs[name]
	if old != nil && !replace {
		return "", fmt.Sprintf("ERR Library '%s' already exists", name)
	}
	// The shebang line stays a (blank) line so error positions match Valkey's.
	_, body, _ := strings.Cut(code, "\n")
	proto, errMsg := compileLibrary("\n" + body)
	if errMsg != "" {
		return "", "ERR Error compiling function: " + errMsg
	}
	env, err := s.newLuaEnv()
	if err != nil {
		return "", "ERR Error registering functions: " + err.Error()
	}
	lib := &library{name: name, code: code, env: env}
	fail := func(m string) (string, string) {
		env.L.Close()
		return "", m
	}
	if m := s.runLibraryBody(lib, proto); m != "" {
		return fail("ERR Error registering functions: " + m)
	}
	if len(lib.funcs) == 0 {
		return fail("ERR No functions registered")
	}
	for _, f := range lib.funcs {
		if other, ok := s.funcs[strings.ToLower(f.name)]; ok && other.lib != old {
			return fail(fmt.Sprintf("ERR Function %s already exists", f.name))
		}
	}
	if old != nil {
		s.unlink(old)
		old.close()
	}
	s.libs[name] = lib
	for _, f := range lib.funcs {
		s.funcs[strings.ToLower(f.name)] = f
	}
	return name, ""
}

// protoCache keeps compiled library bodies by source: tests start many
// servers that load the same library, and a FunctionProto is read-only, so
// states can share it.
var protoCache = struct {
	sync.Mutex
	m map[string]*lua.FunctionProto
}{m: map[string]*lua.FunctionProto{}}

const protoCacheMax = 64

// compileLibrary parses Lua 5.1 source; goto and labels (5.2) are rejected
// with the message Lua 5.1 itself gives.
func compileLibrary(code string) (*lua.FunctionProto, string) {
	protoCache.Lock()
	p, ok := protoCache.m[code]
	protoCache.Unlock()
	if ok {
		return p, ""
	}
	p, msg := compileLibraryUncached(code)
	if msg == "" {
		protoCache.Lock()
		if len(protoCache.m) >= protoCacheMax {
			clear(protoCache.m)
		}
		protoCache.m[code] = p
		protoCache.Unlock()
	}
	return p, msg
}

func compileLibraryUncached(code string) (*lua.FunctionProto, string) {
	chunk, err := parse.Parse(strings.NewReader(code), chunkName)
	if err != nil {
		return nil, err.Error()
	}
	if m := findGoto(chunk); m != "" {
		return nil, m
	}
	proto, err := lua.Compile(chunk, chunkName)
	if err != nil {
		return nil, err.Error()
	}
	return proto, ""
}

// runLibraryBody runs the library's top level with the load-time globals;
// its register_function calls fill lib.funcs.
func (s *Server) runLibraryBody(lib *library, proto *lua.FunctionProto) string {
	env := lib.env
	L := env.L
	loading := true
	env.loadRedis.RawSetString("register_function", L.NewFunction(func(L *lua.LState) int {
		if !loading {
			raise(L, "server.register_function can only be called on FUNCTION LOAD command")
		}
		registerFunction(L, lib)
		return 0
	}))
	env.setLoading(true)
	defer func() {
		loading = false
		env.setLoading(false)
	}()
	fn := L.NewFunctionFromProto(proto)
	if s.busy != nil {
		s.busy.arm()
		L.SetContext(s.busy)
	}
	L.Push(fn)
	err := L.PCall(0, 0, nil)
	killed := false
	if s.busy != nil {
		killed = s.busy.disarm()
		L.RemoveContext()
	}
	if err != nil {
		apiErr, ok := err.(*lua.ApiError)
		if !ok {
			return "ERR " + err.Error()
		}
		if killed {
			return fmt.Sprintf("ERR FUNCTION LOAD stopped: the library body ran longer than the busy limit (%v)", s.busyLimit)
		}
		return errorText(apiErr.Object, "")
	}
	return ""
}

// raise throws a Lua error without position information, like the errors of
// Valkey's redis.* API functions.
func raise(L *lua.LState, msg string) {
	L.Error(lua.LString(msg), 0)
}

func registerFunction(L *lua.LState, lib *library) {
	f := &function{lib: lib}
	var nameV, cbV lua.LValue
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			raise(L, "calling server.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		var bad string
		t.ForEach(func(k, v lua.LValue) {
			if bad != "" {
				return
			}
			key, _ := k.(lua.LString)
			switch key {
			case "function_name":
				nameV = v
			case "callback":
				cbV = v
			case "description":
				d, ok := v.(lua.LString)
				if !ok {
					bad = "description argument given to server.register_function must be a string"
					return
				}
				f.description = string(d)
			case "flags":
				ft, ok := v.(*lua.LTable)
				if !ok {
					bad = "flags argument to server.register_function must be a table representing function flags"
					return
				}
				for i := 1; i <= ft.Len(); i++ {
					fl, ok := ft.RawGetInt(i).(lua.LString)
					if !ok || !knownFlags[string(fl)] {
						bad = "unknown flag given"
						return
					}
					f.flags = append(f.flags, string(fl))
					if fl == "no-writes" {
						f.noWrites = true
					}
				}
			default:
				bad = "unknown argument given to server.register_function"
			}
		})
		if bad != "" {
			raise(L, bad)
		}
		if nameV == nil {
			raise(L, "server.register_function must get a function name argument")
		}
		if cbV == nil {
			raise(L, "server.register_function must get a callback argument")
		}
	case 2:
		nameV, cbV = L.Get(1), L.Get(2)
	default:
		raise(L, "wrong number of arguments to server.register_function")
	}
	name, ok := luaToString(nameV)
	if !ok {
		raise(L, "first argument to server.register_function must be a string")
	}
	fn, ok := cbV.(*lua.LFunction)
	if !ok {
		if L.GetTop() == 1 {
			raise(L, "callback argument given to server.register_function must be a function")
		}
		raise(L, "second argument to server.register_function must be a function")
	}
	if !validName(name) {
		raise(L, msgBadName)
	}
	for _, other := range lib.funcs {
		if strings.EqualFold(other.name, name) {
			raise(L, "Function already exists in the library")
		}
	}
	f.name, f.fn = name, fn
	lib.funcs = append(lib.funcs, f)
}

// findGoto reports the first goto or label, with Lua 5.1's own message.
func findGoto(stmts []ast.Stmt) string {
	for _, st := range stmts {
		if m := gotoInStmt(st); m != "" {
			return m
		}
	}
	return ""
}

func gotoInStmt(st ast.Stmt) string {
	switch st := st.(type) {
	case *ast.GotoStmt:
		return fmt.Sprintf("%s:%d: '=' expected near '%s'", chunkName, st.Line(), st.Label)
	case *ast.LabelStmt:
		return fmt.Sprintf("%s:%d: unexpected symbol near ':'", chunkName, st.Line())
	case *ast.AssignStmt:
		return gotoInExprs(append(append([]ast.Expr{}, st.Lhs...), st.Rhs...))
	case *ast.LocalAssignStmt:
		return gotoInExprs(st.Exprs)
	case *ast.FuncCallStmt:
		return gotoInExpr(st.Expr)
	case *ast.DoBlockStmt:
		return findGoto(st.Stmts)
	case *ast.WhileStmt:
		return firstOf(gotoInExpr(st.Condition), findGoto(st.Stmts))
	case *ast.RepeatStmt:
		return firstOf(findGoto(st.Stmts), gotoInExpr(st.Condition))
	case *ast.IfStmt:
		return firstOf(gotoInExpr(st.Condition), findGoto(st.Then), findGoto(st.Else))
	case *ast.NumberForStmt:
		return firstOf(gotoInExprs([]ast.Expr{st.Init, st.Limit, st.Step}), findGoto(st.Stmts))
	case *ast.GenericForStmt:
		return firstOf(gotoInExprs(st.Exprs), findGoto(st.Stmts))
	case *ast.FuncDefStmt:
		return gotoInExpr(st.Func)
	case *ast.ReturnStmt:
		return gotoInExprs(st.Exprs)
	}
	return ""
}

func firstOf(ms ...string) string {
	for _, m := range ms {
		if m != "" {
			return m
		}
	}
	return ""
}

func gotoInExprs(es []ast.Expr) string {
	for _, e := range es {
		if m := gotoInExpr(e); m != "" {
			return m
		}
	}
	return ""
}

func gotoInExpr(e ast.Expr) string {
	switch e := e.(type) {
	case nil:
		return ""
	case *ast.FunctionExpr:
		return findGoto(e.Stmts)
	case *ast.AttrGetExpr:
		return gotoInExprs([]ast.Expr{e.Object, e.Key})
	case *ast.TableExpr:
		for _, f := range e.Fields {
			if m := gotoInExprs([]ast.Expr{f.Key, f.Value}); m != "" {
				return m
			}
		}
	case *ast.FuncCallExpr:
		return firstOf(gotoInExprs([]ast.Expr{e.Func, e.Receiver}), gotoInExprs(e.Args))
	case *ast.LogicalOpExpr:
		return gotoInExprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.RelationalOpExpr:
		return gotoInExprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.StringConcatOpExpr:
		return gotoInExprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.ArithmeticOpExpr:
		return gotoInExprs([]ast.Expr{e.Lhs, e.Rhs})
	case *ast.UnaryMinusOpExpr:
		return gotoInExpr(e.Expr)
	case *ast.UnaryNotOpExpr:
		return gotoInExpr(e.Expr)
	case *ast.UnaryLenOpExpr:
		return gotoInExpr(e.Expr)
	}
	return ""
}
