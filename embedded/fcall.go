package embedded

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2/fpconv"
	"github.com/alicebob/miniredis/v2/server"
	lua "github.com/yuin/gopher-lua"
)

// runState is the context of the function call in progress (guarded by mu).
type runState struct {
	fn       *function
	readOnly bool // no-writes: write commands fail
	resp3    bool // redis.setresp(3) was called
	db       int
	peer     *server.Peer // nested client for redis.call (from peers)
	buf      bytes.Buffer
	w        *bufio.Writer
	args     []string // scratch for redis.call arguments
	// peers caches one nested client per database; a call that runs SELECT
	// leaves its client on another database, so it is dropped (selected).
	peers    map[int]*server.Peer
	selected bool
	curDB    int // the database of peer (moves with SELECT)
	// callErr is the last error text redis.call raised; a string error equal
	// to it already carries its error code and gets no "ERR " prefix.
	callErr string
}

// Commands Valkey refuses inside scripts (the noscript flag).
var noScript = map[string]bool{
	"MULTI": true, "EXEC": true, "DISCARD": true, "WATCH": true, "UNWATCH": true,
	"EVAL": true, "EVALSHA": true, "EVAL_RO": true, "EVALSHA_RO": true, "SCRIPT": true,
	"FCALL": true, "FCALL_RO": true, "FUNCTION": true,
	"SUBSCRIBE": true, "PSUBSCRIBE": true, "SSUBSCRIBE": true,
	"UNSUBSCRIBE": true, "PUNSUBSCRIBE": true, "SUNSUBSCRIBE": true,
	"AUTH": true, "HELLO": true, "QUIT": true, "RESET": true, "MONITOR": true,
	"SYNC": true, "PSYNC": true, "CLIENT": true, "SAVE": true, "BGSAVE": true, "SHUTDOWN": true,
}

// Commands with Valkey's "write" flag: refused under no-writes.
var writeCommands = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`SET SETEX PSETEX SETNX SETRANGE APPEND INCR INCRBY INCRBYFLOAT DECR DECRBY
		GETSET GETDEL GETEX MSET MSETNX DEL UNLINK EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME RENAMENX
		MOVE COPY RESTORE HSET HSETNX HMSET HDEL HINCRBY HINCRBYFLOAT HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HPERSIST
		HGETDEL HGETEX HSETEX LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LSET LREM LTRIM LINSERT LMOVE RPOPLPUSH LMPOP
		BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP SADD SREM SPOP SMOVE SINTERSTORE SUNIONSTORE SDIFFSTORE
		ZADD ZINCRBY ZREM ZREMRANGEBYSCORE ZREMRANGEBYRANK ZREMRANGEBYLEX ZPOPMIN ZPOPMAX BZPOPMIN BZPOPMAX
		ZMPOP BZMPOP ZUNIONSTORE ZINTERSTORE ZDIFFSTORE ZRANGESTORE XADD XDEL XTRIM XGROUP XACK XCLAIM
		XAUTOCLAIM XREADGROUP XSETID PFADD PFMERGE PFCOUNT PUBLISH SPUBLISH SETBIT BITOP BITFIELD GEOADD
		GEORADIUS GEORADIUSBYMEMBER GEOSEARCHSTORE SORT FLUSHDB FLUSHALL SWAPDB`) {
		writeCommands[c] = true
	}
}

func (s *Server) fcall(c *conn, cmd string, args []string) {
	if len(args) < 2 {
		c.peer.WriteError(fmt.Sprintf("ERR wrong number of arguments for '%s' command", strings.ToLower(cmd)))
		return
	}
	// Function names are case-insensitive in Valkey (library names are not).
	f := s.funcs[strings.ToLower(args[0])]
	if f == nil {
		c.peer.WriteError("ERR Function not found")
		return
	}
	numKeys, err := strconv.ParseInt(args[1], 10, 64)
	switch {
	case err != nil:
		c.peer.WriteError("ERR Bad number of keys provided")
		return
	case numKeys < 0:
		c.peer.WriteError("ERR Number of keys can't be negative")
		return
	case numKeys > int64(len(args)-2):
		c.peer.WriteError("ERR Number of keys can't be greater than number of args")
		return
	}
	if cmd == "FCALL_RO" && !f.noWrites {
		c.peer.WriteError("ERR Can not execute a script with write flag using *_ro command.")
		return
	}
	keys := args[2 : 2+numKeys]
	argv := args[2+numKeys:]
	r := s.runFunction(f, c.db, keys, argv)
	resp3 := c.peer.Resp3
	c.peer.Block(func(w *server.Writer) { writeReply(w, r, resp3) })
}

// runFunction calls f and returns its reply. Writes already made stay when
// the function fails later (Valkey does not roll back either).
func (s *Server) runFunction(f *function, db int, keys, argv []string) reply {
	L := f.lib.env.L
	s.run.fn, s.run.readOnly, s.run.resp3, s.run.db = f, f.noWrites, false, db
	s.run.peer, s.run.callErr = nil, ""
	defer s.endNested()
	defer func() { s.run.fn = nil }()

	kt := L.CreateTable(len(keys), 0)
	for i, k := range keys {
		kt.RawSetInt(i+1, lua.LString(k))
	}
	at := L.CreateTable(len(argv), 0)
	for i, a := range argv {
		at.RawSetInt(i+1, lua.LString(a))
	}
	if s.busy != nil {
		s.busy.arm()
		L.SetContext(s.busy)
	}
	L.Push(f.fn)
	L.Push(kt)
	L.Push(at)
	err := L.PCall(2, 1, nil)
	killed := false
	if s.busy != nil {
		killed = s.busy.disarm()
		L.RemoveContext()
	}
	if err != nil {
		var apiErr *lua.ApiError
		if !errors.As(err, &apiErr) {
			return reply{kind: kindError, str: "ERR " + err.Error()}
		}
		msg := errorText(apiErr.Object, s.run.callErr)
		if killed {
			msg = fmt.Sprintf("ERR Script killed by the embedded engine: it ran longer than the busy limit (%v)", s.busyLimit)
		}
		if line := errorLine(apiErr.StackTrace); line != "" {
			msg += " script: " + f.name + ", on @" + chunkName + ":" + line + "."
		}
		return reply{kind: kindError, str: msg}
	}
	v := L.Get(-1)
	L.Pop(1)
	return s.luaToReply(v, 0)
}

// errorText turns a raised Lua value into Valkey's error text: tables give
// their err field as is, anything else is "ERR " + tostring(value). callErr is
// the last error redis.call raised (already carrying its code).
func errorText(obj lua.LValue, callErr string) string {
	switch v := obj.(type) {
	case *lua.LTable:
		if e, ok := luaToString(v.RawGetString("err")); ok {
			return e
		}
		return "ERR unknown error"
	case lua.LString:
		if callErr != "" && string(v) == callErr {
			return string(v)
		}
		return "ERR " + string(v)
	case lua.LNumber:
		return "ERR " + formatNumber14(float64(v))
	case nil:
		return "ERR nil"
	}
	return "ERR " + obj.String()
}

// errorLine finds the line of the innermost Lua frame in a gopher-lua stack
// trace ("\tuser_function:12: in function <...>").
func errorLine(trace string) string {
	for _, ln := range strings.Split(trace, "\n") {
		ln = strings.TrimSpace(ln)
		rest, ok := strings.CutPrefix(ln, chunkName+":")
		if !ok {
			continue
		}
		num, _, ok := strings.Cut(rest, ":")
		if ok && num != "" {
			return num
		}
	}
	return ""
}

// dispatchNested runs one command for the function in progress, in process.
func (s *Server) dispatchNested(args []string) reply {
	return s.dispatchNamed(strings.ToUpper(args[0]), args)
}

// dispatchNamed is dispatchNested with the upper-case command name known.
// Like a client's command it keeps the expiry index in step, but expires
// nothing: time stands still while a function runs.
func (s *Server) dispatchNamed(name string, args []string) reply {
	r := &s.run
	if r.w == nil {
		r.w = bufio.NewWriterSize(&r.buf, 4096)
	}
	if r.peer == nil {
		r.curDB = r.db
		r.peer = r.peers[r.db]
		if r.peer == nil {
			r.peer = server.NewPeer(r.w)
			if r.db != 0 {
				s.srv.Dispatch(r.peer, []string{"SELECT", strconv.Itoa(r.db)})
				r.w.Flush()
				r.buf.Reset()
			}
			if r.peers == nil {
				r.peers = map[int]*server.Peer{}
			}
			r.peers[r.db] = r.peer
		}
	}
	if n, ok := s.ttlQuery(r.curDB, name, args); ok {
		return reply{kind: kindInt, num: n}
	}
	r.peer.Resp3 = r.resp3
	if !s.zRead(r.peer, r.curDB, name, args) {
		s.beforeData(r.curDB, name, args)
		s.dispatchData(r.peer, r.curDB, name, args)
		s.afterData(r.curDB, name, args)
		s.zAfter(r.curDB, name, args)
		s.xAfter(r.curDB, name, args)
	}
	r.w.Flush()
	rep, _, err := parseReply(r.buf.Bytes())
	r.buf.Reset()
	if err != nil {
		return reply{kind: kindError, str: "ERR embedded: unreadable reply: " + err.Error()}
	}
	if name == "SELECT" && rep.kind == kindStatus {
		r.curDB, _ = strconv.Atoi(args[1])
	}
	return rep
}

// endNested ends a run of nested commands; a client moved by SELECT is not
// reused.
func (s *Server) endNested() {
	r := &s.run
	if r.selected {
		delete(r.peers, r.db)
		r.selected = false
	}
	r.peer = nil
}

// luaCall is redis.call (raise) and redis.pcall.
func (s *Server) luaCall(L *lua.LState, raiseErr bool) int {
	fail := func(msg string) int {
		if raiseErr {
			s.run.callErr = msg
			L.Error(lua.LString(msg), 0)
			return 0
		}
		t := L.CreateTable(0, 1)
		t.RawSetString("err", lua.LString(msg))
		L.Push(t)
		return 1
	}
	if s.run.fn == nil {
		return fail("ERR redis.call is only available while a function runs")
	}
	top := L.GetTop()
	if top == 0 {
		return fail("ERR Please specify at least one argument for this call")
	}
	// miniredis does not keep the slice (blocking commands, which would
	// queue it, are refused below), so one scratch slice serves every call.
	if cap(s.run.args) < top {
		s.run.args = make([]string, top)
	}
	args := s.run.args[:top]
	for i := range top {
		switch v := L.Get(i + 1).(type) {
		case lua.LString:
			args[i] = string(v)
		case lua.LNumber:
			args[i] = formatArgNumber(float64(v))
		default:
			return fail("ERR Command arguments must be strings or integers")
		}
	}
	name, known := s.commandName(args[0])
	switch {
	case noScript[name]:
		return fail("ERR This Redis command is not allowed from script")
	case !known:
		return fail("ERR Unknown command called from script")
	case blocking[name]:
		return fail("ERR blocking commands are not supported from scripts by the embedded engine")
	case s.run.readOnly && writeCommands[name]:
		return fail("ERR Write commands are not allowed from read-only scripts.")
	}
	if name == "SELECT" || name == "SWAPDB" {
		s.run.selected = true
	}
	rep := s.dispatchNamed(name, args)
	clear(args)
	if rep.kind == kindError {
		msg := rep.str
		if strings.HasPrefix(msg, "ERR wrong number of arguments for ") {
			msg = "ERR Wrong number of args calling command from script"
		}
		return fail(normalizeError(msg))
	}
	L.Push(s.replyToLua(L, rep))
	return 1
}

// commandName returns the upper-case command name and whether the keyspace
// serves it; known names are cached (the set is bounded by the command table).
func (s *Server) commandName(raw string) (string, bool) {
	if up, ok := s.cmdNames[raw]; ok {
		return up, true
	}
	up := strings.ToUpper(raw)
	if !s.srv.IsRegisteredCommand(up) || hashFieldTTL[up] {
		return up, false
	}
	if s.cmdNames == nil {
		s.cmdNames = map[string]string{}
	}
	if len(s.cmdNames) < 4096 {
		s.cmdNames[raw] = up
	}
	return up, true
}

// formatArgNumber formats a number passed to redis.call as Valkey 8 does:
// integral values in long long range as integers, anything else with the
// shortest round-trip digits (fpconv_dtoa).
func formatArgNumber(f float64) string {
	if s, ok := nonFinite(f); ok {
		return s
	}
	if f == math.Trunc(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0 {
		return strconv.FormatInt(int64(f), 10)
	}
	return fpconv.Dtoa(f)
}

// nonFinite spells NaN and the infinities as C's printf does, for both number formats.
func nonFinite(f float64) (string, bool) {
	switch {
	case math.IsNaN(f):
		if math.Signbit(f) {
			return "-nan", true
		}
		return "nan", true
	case math.IsInf(f, 1):
		return "inf", true
	case math.IsInf(f, -1):
		return "-inf", true
	}
	return "", false
}

// replyToLua converts a command reply for redis.call, as Valkey does.
func (s *Server) replyToLua(L *lua.LState, r reply) lua.LValue {
	switch r.kind {
	case kindStatus:
		t := L.CreateTable(0, 1)
		t.RawSetString("ok", lua.LString(r.str))
		return t
	case kindError:
		t := L.CreateTable(0, 1)
		t.RawSetString("err", lua.LString(r.str))
		return t
	case kindInt:
		return lua.LNumber(r.num)
	case kindBulk:
		return lua.LString(r.str)
	case kindNull:
		if s.run.resp3 {
			return lua.LNil
		}
		return lua.LFalse
	case kindArray:
		t := L.CreateTable(len(r.elems), 0)
		for i, e := range r.elems {
			t.RawSetInt(i+1, s.replyToLua(L, e))
		}
		return t
	case kindMap:
		m := L.CreateTable(0, len(r.elems)/2)
		for i := 0; i+1 < len(r.elems); i += 2 {
			m.RawSet(s.replyToLua(L, r.elems[i]), s.replyToLua(L, r.elems[i+1]))
		}
		return wrap(L, "map", m)
	case kindSet:
		m := L.CreateTable(0, len(r.elems))
		for _, e := range r.elems {
			m.RawSet(s.replyToLua(L, e), lua.LTrue)
		}
		return wrap(L, "set", m)
	case kindDouble:
		return wrap(L, "double", lua.LNumber(r.dbl))
	case kindBool:
		return lua.LBool(r.num != 0)
	case kindBigNumber:
		return wrap(L, "big_number", lua.LString(r.str))
	case kindVerbatim:
		v := L.CreateTable(0, 2)
		v.RawSetString("format", lua.LString(r.format))
		v.RawSetString("string", lua.LString(r.str))
		return wrap(L, "verbatim_string", v)
	}
	return lua.LFalse
}

func wrap(L *lua.LState, key string, v lua.LValue) *lua.LTable {
	t := L.CreateTable(0, 1)
	t.RawSetString(key, v)
	return t
}

// luaToReply converts a function's return value, as Valkey does.
func (s *Server) luaToReply(v lua.LValue, depth int) reply {
	if depth > maxReplyDepth {
		return reply{kind: kindError, str: "ERR reached lua stack limit"}
	}
	switch v := v.(type) {
	case lua.LString:
		return reply{kind: kindBulk, str: string(v)}
	case lua.LNumber:
		return reply{kind: kindInt, num: int64(float64(v))}
	case lua.LBool:
		if s.run.resp3 {
			return reply{kind: kindBool, num: boolNum(bool(v))}
		}
		if v {
			return reply{kind: kindInt, num: 1}
		}
		return reply{kind: kindNull}
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return reply{kind: kindError, str: string(e)}
		}
		if st, ok := v.RawGetString("ok").(lua.LString); ok {
			return reply{kind: kindStatus, str: string(st)}
		}
		if d, ok := v.RawGetString("double").(lua.LNumber); ok {
			return reply{kind: kindDouble, dbl: float64(d)}
		}
		if b, ok := v.RawGetString("big_number").(lua.LString); ok {
			return reply{kind: kindBigNumber, str: string(b)}
		}
		if m, ok := v.RawGetString("map").(*lua.LTable); ok {
			var elems []reply
			m.ForEach(func(k, val lua.LValue) {
				elems = append(elems, s.luaToReply(k, depth+1), s.luaToReply(val, depth+1))
			})
			return reply{kind: kindMap, elems: elems}
		}
		if st, ok := v.RawGetString("set").(*lua.LTable); ok {
			var elems []reply
			st.ForEach(func(k, _ lua.LValue) {
				elems = append(elems, s.luaToReply(k, depth+1))
			})
			return reply{kind: kindSet, elems: elems}
		}
		if vt, ok := v.RawGetString("verbatim_string").(*lua.LTable); ok {
			f, _ := vt.RawGetString("format").(lua.LString)
			str, _ := vt.RawGetString("string").(lua.LString)
			return reply{kind: kindVerbatim, format: string(f), str: string(str)}
		}
		var elems []reply
		for i := 1; ; i++ {
			e := v.RawGetInt(i)
			if e == lua.LNil {
				break
			}
			elems = append(elems, s.luaToReply(e, depth+1))
		}
		return reply{kind: kindArray, elems: elems}
	}
	return reply{kind: kindNull}
}

// writeReply writes r in the caller's protocol.
func writeReply(w *server.Writer, r reply, resp3 bool) {
	switch r.kind {
	case kindStatus:
		w.WriteInline(r.str)
	case kindError:
		w.WriteError(r.str)
	case kindInt:
		w.WriteRaw(":" + strconv.FormatInt(r.num, 10) + "\r\n")
	case kindBulk:
		w.WriteBulk(r.str)
	case kindNull:
		w.WriteNull()
	case kindArray:
		w.WriteLen(len(r.elems))
		for _, e := range r.elems {
			writeReply(w, e, resp3)
		}
	case kindMap:
		w.WriteMapLen(len(r.elems) / 2)
		for _, e := range r.elems {
			writeReply(w, e, resp3)
		}
	case kindSet:
		w.WriteSetLen(len(r.elems))
		for _, e := range r.elems {
			writeReply(w, e, resp3)
		}
	case kindDouble:
		w.WriteFloat(r.dbl)
	case kindBool:
		if resp3 {
			if r.num != 0 {
				w.WriteRaw("#t\r\n")
			} else {
				w.WriteRaw("#f\r\n")
			}
			return
		}
		w.WriteRaw(":" + strconv.FormatInt(r.num, 10) + "\r\n")
	case kindBigNumber:
		if resp3 {
			w.WriteRaw("(" + r.str + "\r\n")
			return
		}
		w.WriteBulk(r.str)
	case kindVerbatim:
		if resp3 {
			text := r.format + ":" + r.str
			w.WriteRaw("=" + strconv.Itoa(len(text)) + "\r\n" + text + "\r\n")
			return
		}
		w.WriteBulk(r.str)
	}
}
