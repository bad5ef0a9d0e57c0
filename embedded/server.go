package embedded

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
	"github.com/valkey-io/valkey-go"
)

// DefaultBusyLimit is how long one function call (or one FUNCTION LOAD) may run
// before the engine stops it. Valkey's busy-reply-threshold defaults to the same 5s.
const DefaultBusyLimit = 5 * time.Second

// Option configures a Server.
type Option func(*Server)

// WithBusyLimit sets how long a function may run before it is stopped with an
// error. Zero or a negative value disables the limit.
func WithBusyLimit(d time.Duration) Option {
	return func(s *Server) { s.busyLimit = d }
}

// WithTime starts the server with its clock frozen at t (see SetTime).
func WithTime(t time.Time) Option {
	return func(s *Server) { s.startTime = t }
}

// WithLogger also sends every redis.log record to l (LOG_DEBUG and
// LOG_VERBOSE as Debug, LOG_NOTICE as Info, LOG_WARNING as Warn).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) { s.logger = l }
}

// maxLogs bounds the records Logs keeps; older ones are dropped.
const maxLogs = 10000

// LogRecord is one redis.log call made by a function.
type LogRecord struct {
	Level   int    // redis.LOG_DEBUG (0) .. redis.LOG_WARNING (3)
	Message string // the arguments joined with spaces, as Valkey writes them
}

// Server is an in-process Valkey look-alike that runs function libraries on
// gopher-lua. Data commands are served by miniredis. Every command, and every
// FCALL as a whole, runs under one lock, so a function is atomic with respect
// to all other clients, as on Valkey's single thread.
type Server struct {
	busyLimit time.Duration
	busy      *busyCtx // nil without a limit
	startTime time.Time

	// mu is the engine's "main thread": held for every command and for a whole
	// FCALL, so nothing interleaves with a running function.
	mu    sync.Mutex
	mr    *miniredis.Miniredis
	srv   *server.Server
	libs  map[string]*library
	funcs map[string]*function
	run   runState // state of the FCALL in progress, guarded by mu
	// cmdNames caches command spellings used by redis.call -> upper case.
	cmdNames map[string]string

	// The clock, guarded by mu: the wall clock until SetTime/FastForward
	// freeze it at now. pinned is the time miniredis was last set to (whole
	// microseconds), nowMs its unix ms and pinFrac the rest below the ms.
	frozen  bool
	now     time.Time
	pinned  time.Time
	nowMs   int64
	pinFrac time.Duration
	exp     expiry // keys with a TTL, see expiry.go
	z       zsets  // sorted-set indexes, see zindex.go
	// xs models the node layout of streams (xnodes.go); xPeers are the
	// engine's own miniredis clients for the trims it makes (xserve.go).
	xs     map[dbKey]*xstream
	xPeers map[int]*server.Peer

	logMu  sync.Mutex
	logs   []LogRecord
	logger *slog.Logger

	connMu sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a server that is ready for in-memory connections (Dial,
// ClientOption). Call Start to also listen on a loopback TCP address, and
// Close when done.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		busyLimit: DefaultBusyLimit,
		libs:      map[string]*library{},
		funcs:     map[string]*function{},
		conns:     map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.busyLimit > 0 {
		s.busy = newBusyCtx(s.busyLimit)
	}
	s.mr = miniredis.NewMiniRedis()
	// Dial starts miniredis without a listener; we only need its command table.
	c, err := s.mr.Dial()
	if err != nil {
		return nil, fmt.Errorf("embedded: start keyspace: %w", err)
	}
	c.Close()
	s.srv = s.mr.Server()
	// The engine expires keys itself (expiry.go); miniredis's clock only
	// follows it.
	s.exp.reset()
	if !s.startTime.IsZero() {
		s.frozen, s.now = true, s.startTime
	}
	s.pinLocked()
	return s, nil
}

// Start listens on 127.0.0.1 with a free port. Addr reports the address.
func (s *Server) Start() error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return errors.New("embedded: server closed")
	}
	if s.ln != nil {
		return errors.New("embedded: server already started")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("embedded: listen: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.serve(c)
		}
	}()
	return nil
}

// Addr is the loopback address after Start, or "" before.
func (s *Server) Addr() string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Dial returns an in-memory connection to the server (no socket involved).
func (s *Server) Dial() (net.Conn, error) {
	c, srvSide := memPipe()
	if !s.serve(srvSide) {
		c.Close()
		return nil, errors.New("embedded: server closed")
	}
	return c, nil
}

// ClientOption returns valkey-go options for this server: client-side caching
// disabled (the engine does not implement CLIENT TRACKING), connections made
// in memory through Dial (no socket involved, even before Start), and a
// connection timeout longer than the busy limit.
func (s *Server) ClientOption() valkey.ClientOption {
	addr := s.Addr()
	if addr == "" {
		addr = "embedded:0"
	}
	return valkey.ClientOption{
		InitAddress:  []string{addr},
		DisableCache: true,
		// Long enough that the engine's busy limit, not the client, ends a
		// runaway function.
		ConnWriteTimeout: max(10*time.Second, 3*s.busyLimit),
		DialCtxFn: func(context.Context, string, *net.Dialer, *tls.Config) (net.Conn, error) {
			return s.Dial()
		},
	}
}

// Close stops the listener, closes every connection and waits for them.
func (s *Server) Close() error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		return nil
	}
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.connMu.Unlock()
	// Closing miniredis also wakes commands blocked in it (BLPOP ...).
	s.mr.Close()
	s.wg.Wait()
	s.mu.Lock()
	for _, l := range s.libs {
		l.close()
	}
	s.libs = map[string]*library{}
	s.funcs = map[string]*function{}
	s.mu.Unlock()
	return nil
}

// SetTime freezes the clock at t. TIME answers t and keys expire against it
// (a key whose deadline is t's millisecond still exists), so lease expiry can
// be tested without sleeping. Moving the clock backwards does not bring
// expired keys back.
func (s *Server) SetTime(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setTimeLocked(t)
}

// FastForward moves the clock forward by d (freezing it first at the current
// time if it was following the wall clock). Keys whose TTL ran out expire.
func (s *Server) FastForward(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setTimeLocked(s.nowLocked().Add(d))
}

// Now is the server's current time, as TIME reports it.
func (s *Server) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nowLocked()
}

func (s *Server) nowLocked() time.Time {
	if s.frozen {
		return s.now
	}
	return time.Now()
}

func (s *Server) setTimeLocked(t time.Time) {
	s.frozen, s.now = true, t
	s.pinLocked()
}

// Logs returns the redis.log records written so far (the last 10000),
// oldest first.
func (s *Server) Logs() []LogRecord {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]LogRecord(nil), s.logs...)
}

// ClearLogs forgets the recorded redis.log records.
func (s *Server) ClearLogs() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.logs = nil
}

func (s *Server) addLog(level int, msg string) {
	if s.logger != nil {
		lv := slog.LevelDebug
		switch level {
		case 2:
			lv = slog.LevelInfo
		case 3:
			lv = slog.LevelWarn
		}
		s.logger.Log(context.Background(), lv, msg, "source", "redis.log")
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if len(s.logs) >= maxLogs {
		s.logs = append(s.logs[:0], s.logs[len(s.logs)-maxLogs/2:]...)
	}
	s.logs = append(s.logs, LogRecord{Level: level, Message: msg})
}

// conn is one client connection's state.
type conn struct {
	peer    *server.Peer
	db      int  // the SELECTed database, so functions run on the caller's db
	inMulti bool // between MULTI and EXEC/DISCARD
	// subscribed is set by any SUBSCRIBE: miniredis then refuses most
	// commands, so the engine answers none itself.
	subscribed bool
	// queued are the commands miniredis queued since MULTI, for the expiry
	// index at EXEC (miniredis's queue is out of reach).
	queued [][]string
}

// serve runs a connection in its own goroutine; false if the server is closed.
func (s *Server) serve(nc net.Conn) bool {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		nc.Close()
		return false
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.connMu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			s.connMu.Lock()
			delete(s.conns, nc)
			s.connMu.Unlock()
			nc.Close()
		}()
		s.serveConn(nc)
	}()
	return true
}

func (s *Server) serveConn(nc net.Conn) {
	r := bufio.NewReaderSize(nc, 16<<10)
	w := bufio.NewWriterSize(nc, 16<<10)
	c := &conn{peer: server.NewPeer(w)}
	var scratch []byte
	for {
		args, err := readCommand(r, &scratch)
		if cap(scratch) > 1<<20 {
			scratch = nil // do not keep a huge argument's buffer
		}
		if err != nil {
			var pe protocolError
			if errors.As(err, &pe) {
				c.peer.WriteError("ERR Protocol error: " + string(pe))
				c.peer.Flush()
			}
			return
		}
		if len(args) == 0 {
			continue
		}
		s.dispatch(c, args)
		// Flush once per batch of pipelined commands.
		if r.Buffered() == 0 {
			c.peer.Flush()
		}
		if c.peer.Closed() {
			c.peer.Flush()
			return
		}
	}
}

// blocking lists commands that may wait for other clients; they run without
// the engine lock (miniredis serialises them itself), or nothing could ever
// wake them up.
var blocking = map[string]bool{
	"BLPOP": true, "BRPOP": true, "BLMOVE": true, "BRPOPLPUSH": true, "BLMPOP": true,
	"BZPOPMIN": true, "BZPOPMAX": true, "BZMPOP": true, "XREAD": true, "XREADGROUP": true,
}

func (s *Server) dispatch(c *conn, args []string) {
	name := strings.ToUpper(args[0])
	switch name {
	case "MULTI":
		if !c.inMulti {
			c.queued = nil
		}
		c.inMulti = true
	case "EXEC", "DISCARD":
		c.inMulti = false
	}
	switch name {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE":
		c.subscribed = true
	}
	switch {
	case name == "CLUSTER" || name == "READONLY" || name == "READWRITE":
		// A standalone server, as valkey-go must see it (miniredis would
		// answer CLUSTER SLOTS with a listener address we do not have).
		c.peer.WriteError("ERR This instance has cluster support disabled")
	case blocking[name]:
		s.mu.Lock()
		s.pinLocked() // no expired key may serve the command
		if c.inMulti {
			c.queued = append(c.queued, slices.Clone(args))
		}
		zpop := zBlocking[name]
		if zpop {
			s.z.busy++
		}
		s.mu.Unlock()
		s.guard(c, func() { s.srv.Dispatch(c.peer, args) })
		s.mu.Lock()
		if zpop {
			s.z.busy--
		}
		s.zAfter(c.db, name, args)
		s.xAfter(c.db, name, args)
		if ttlCommands[name] && !c.inMulti {
			s.afterData(c.db, name, args)
		}
		s.mu.Unlock()
	default:
		s.mu.Lock()
		defer s.mu.Unlock()
		s.guard(c, func() { s.exec(c, name, args) })
	}
}

// guard turns a panic in a command into an error reply: bad input must never
// take the server down.
func (s *Server) guard(c *conn, f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.peer.WriteError(fmt.Sprintf("ERR embedded: internal error: %v", r))
		}
	}()
	f()
}

// exec runs one command with the engine lock held.
func (s *Server) exec(c *conn, name string, args []string) {
	s.pinLocked()
	if c.inMulti && ownCommands[name] {
		// miniredis queues MULTI commands in state we cannot reach: refuse,
		// and make the transaction abort at EXEC as a queueing error does.
		c.peer.WriteError("ERR " + name + " inside MULTI is not supported by the embedded engine (ffgo/embedded)")
		s.abortMulti(c)
		return
	}
	switch name {
	case "FCALL", "FCALL_RO":
		s.fcall(c, name, args[1:])
	case "FUNCTION":
		s.function(c, args[1:])
	case "DUMP":
		s.dump(c, args[1:])
	case "RESTORE":
		if len(args) >= 4 && strings.HasPrefix(args[3], dumpPrefix) {
			s.restore(c, args[1:])
		} else {
			s.data(c, name, args)
		}
	case "SELECT":
		s.data(c, name, args)
		if len(args) == 2 {
			if n, err := strconv.Atoi(args[1]); err == nil && n >= 0 && n < 16 {
				c.db = n
			}
		}
	default:
		s.data(c, name, args)
	}
}

// abortMulti makes the transaction abort at EXEC, as a queueing error does.
func (s *Server) abortMulti(c *conn) {
	shadow := server.NewPeer(bufio.NewWriter(io.Discard))
	shadow.Ctx = c.peer.Ctx
	s.srv.Dispatch(shadow, []string{"GET"}) // wrong arity marks the transaction dirty
}

// data runs a data command on miniredis for a client, keeping the expiry
// index in step (expiry.go).
func (s *Server) data(c *conn, name string, args []string) {
	if hashFieldTTL[name] {
		c.peer.WriteError(unknownCommand(args))
		if c.inMulti {
			s.abortMulti(c)
		}
		return
	}
	switch {
	case name == "DISCARD":
		c.queued = nil
	case name == "EXEC":
		s.execMulti(c, args)
		return
	case c.inMulti:
		c.queued = append(c.queued, slices.Clone(args))
		s.srv.Dispatch(c.peer, args)
		return
	}
	if n, ok := s.ttlQuery(c.db, name, args); ok {
		c.peer.WriteInt(int(n))
		return
	}
	if !c.subscribed && s.zRead(c.peer, c.db, name, args) {
		return
	}
	s.beforeData(c.db, name, args)
	s.dispatchData(c.peer, c.db, name, args)
	s.afterData(c.db, name, args)
	s.zAfter(c.db, name, args)
	s.xAfter(c.db, name, args)
}

// execMulti runs EXEC, then tracks the keys of the queued commands.
func (s *Server) execMulti(c *conn, args []string) {
	queued := c.queued
	c.queued = nil
	rescan := false
	for _, q := range queued {
		name := strings.ToUpper(q[0])
		switch name {
		case "SELECT", "SWAPDB", "MOVE", "COPY", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FLUSHALL", "FLUSHDB":
			// They move keys between databases or touch unknown keys.
			rescan = true
		}
		if len(q) > 1 && (ttlQueries[name] || ttlReaders[name] && (hasWord(q[2:], "GT") || hasWord(q[2:], "LT"))) {
			// miniredis compares or reports this TTL: it must be a duration.
			// (It also counts as a change of the key for WATCH.)
			s.thaw(c.db, q[1], false)
		}
	}
	s.srv.Dispatch(c.peer, args)
	s.zAfter(c.db, "EXEC", args)
	s.xAfterMulti(c.db, queued)
	if rescan {
		s.rescan()
		return
	}
	for _, q := range queued {
		name := strings.ToUpper(q[0])
		if ttlCommands[name] || ttlReaders[name] {
			for _, a := range q[1:] {
				s.track(c.db, a)
			}
		}
	}
}

// unknownCommand is Valkey's reply to a command it does not have.
func unknownCommand(args []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ERR unknown command '%.128s', with args beginning with: ", args[0])
	n := b.Len()
	for _, a := range args[1:] {
		if b.Len()-n >= 128 {
			break
		}
		fmt.Fprintf(&b, "'%.128s' ", a)
	}
	return b.String()
}

// dump answers DUMP with a deterministic serialization of the value (type,
// then length-prefixed elements in a canonical order). It is not Valkey's RDB
// format: it serves snapshot comparisons, and RESTORE does not accept it.
func (s *Server) dump(c *conn, args []string) {
	if len(args) != 1 {
		c.peer.WriteError("ERR wrong number of arguments for 'dump' command")
		return
	}
	s.run.peer, s.run.db, s.run.resp3 = nil, c.db, false
	defer s.endNested()
	key := args[0]
	typ := s.dispatchNested([]string{"TYPE", key}).str
	var r reply
	switch typ {
	case "none":
		c.peer.WriteNull()
		return
	case "string":
		r = s.dispatchNested([]string{"GET", key})
	case "hash":
		r = s.dispatchNested([]string{"HGETALL", key})
		sortPairs(r.elems)
	case "set":
		r = s.dispatchNested([]string{"SMEMBERS", key})
		sort.Slice(r.elems, func(i, j int) bool { return r.elems[i].str < r.elems[j].str })
	case "zset":
		r = s.dispatchNested([]string{"ZRANGE", key, "0", "-1", "WITHSCORES"})
	case "list":
		r = s.dispatchNested([]string{"LRANGE", key, "0", "-1"})
	case "stream":
		r = s.dispatchNested([]string{"XRANGE", key, "-", "+"})
	default:
		c.peer.WriteError("ERR embedded: DUMP does not support type " + typ)
		return
	}
	var b strings.Builder
	b.WriteString(dumpPrefix + typ + ":")
	appendReply(&b, r)
	c.peer.WriteBulk(b.String())
}

const dumpPrefix = "ffgo-embedded-dump:"

// restore is RESTORE key ttl payload [REPLACE] for payloads made by dump.
func (s *Server) restore(c *conn, args []string) {
	key, ttl, payload := args[0], args[1], args[2]
	replace := false
	for _, o := range args[3:] {
		if !strings.EqualFold(o, "REPLACE") {
			c.peer.WriteError("ERR syntax error")
			return
		}
		replace = true
	}
	ms, err := strconv.ParseInt(ttl, 10, 64)
	if err != nil || ms < 0 {
		c.peer.WriteError("ERR value is not an integer or out of range")
		return
	}
	typ, body, _ := strings.Cut(strings.TrimPrefix(payload, dumpPrefix), ":")
	val, rest, ok := parseDumped(body)
	if !ok || rest != "" {
		c.peer.WriteError("ERR DUMP payload version or checksum are wrong")
		return
	}
	var cmd []string
	switch typ {
	case "string":
		cmd = []string{"SET", key, val.str}
	case "hash":
		cmd = append([]string{"HSET", key}, strs(val.elems)...)
	case "set":
		cmd = append([]string{"SADD", key}, strs(val.elems)...)
	case "list":
		cmd = append([]string{"RPUSH", key}, strs(val.elems)...)
	case "zset":
		cmd = []string{"ZADD", key}
		for i := 0; i+1 < len(val.elems); i += 2 {
			cmd = append(cmd, val.elems[i+1].str, val.elems[i].str)
		}
	default:
		c.peer.WriteError("ERR embedded: RESTORE does not support type " + typ)
		return
	}
	s.run.peer, s.run.db, s.run.resp3 = nil, c.db, false
	defer s.endNested()
	if !replace && s.dispatchNested([]string{"EXISTS", key}).num == 1 {
		c.peer.WriteError("BUSYKEY Target key name already exists.")
		return
	}
	s.dispatchNested([]string{"DEL", key})
	if r := s.dispatchNested(cmd); r.kind == kindError {
		c.peer.WriteError(r.str)
		return
	}
	if ms > 0 {
		s.dispatchNested([]string{"PEXPIRE", key, ttl})
	}
	c.peer.WriteOK()
}

func strs(rs []reply) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.str
	}
	return out
}

// parseDumped reads what appendReply wrote.
func parseDumped(s string) (reply, string, bool) {
	if strings.HasPrefix(s, "*") {
		head, rest, ok := strings.Cut(s[1:], ";")
		n, err := strconv.Atoi(head)
		if !ok || err != nil || n < 0 || n > len(rest) {
			return reply{}, "", false
		}
		r := reply{kind: kindArray}
		for range n {
			var e reply
			if e, rest, ok = parseDumped(rest); !ok {
				return reply{}, "", false
			}
			r.elems = append(r.elems, e)
		}
		return r, rest, true
	}
	head, rest, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(head)
	if !ok || err != nil || n < 0 || n+1 > len(rest) || rest[n] != ';' {
		return reply{}, "", false
	}
	return reply{kind: kindBulk, str: rest[:n]}, rest[n+1:], true
}

func sortPairs(e []reply) {
	type pair struct{ k, v reply }
	ps := make([]pair, 0, len(e)/2)
	for i := 0; i+1 < len(e); i += 2 {
		ps = append(ps, pair{e[i], e[i+1]})
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].k.str < ps[j].k.str })
	for i, p := range ps {
		e[2*i], e[2*i+1] = p.k, p.v
	}
}

func appendReply(b *strings.Builder, r reply) {
	if r.kind == kindArray {
		fmt.Fprintf(b, "*%d;", len(r.elems))
		for _, e := range r.elems {
			appendReply(b, e)
		}
		return
	}
	fmt.Fprintf(b, "%d:%s;", len(r.str), r.str)
}
