package embedded

import (
	"bufio"
	"io"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// The engine's part in XADD, XTRIM and XDEL (the layout model is xnodes.go).
//
// miniredis stores the entries and answers the command, with its trimming
// clause taken out; the engine adds the entry to its model of the stream's
// nodes, decides there how many entries the trim removes, and has miniredis
// remove exactly those (XTRIM MAXLEN = n). A model is checked against
// miniredis's entries before each use (count, first and last ID) and rebuilt
// from them when it does not match, as if the live entries had been appended
// in order. That happens after writes the engine does not follow entry by
// entry: other commands naming the key (RESTORE, COPY, DEL and the like),
// MULTI, EVAL. A rebuilt layout differs from Valkey's only when entries had
// been deleted from the middle of a node (XDEL, or an exact trim).

// xLayoutKept are the commands that leave every stream's node layout as it
// was (reads, and consumer-group bookkeeping); XADD, XTRIM and XDEL keep the
// model in step themselves. Any other command drops the model of each key it
// names, and those of zDropAll drop every model.
var xLayoutKept = map[string]bool{}

func init() {
	for c := range zReadOnly {
		xLayoutKept[c] = true
	}
	for _, c := range strings.Fields(`XADD XTRIM XDEL XREAD XREADGROUP XGROUP XACK XCLAIM
		XAUTOCLAIM XSETID XINFO XPENDING XRANGE XREVRANGE XLEN EXPIRE PEXPIRE EXPIREAT
		PEXPIREAT PERSIST TOUCH OBJECT`) {
		xLayoutKept[c] = true
	}
}

// xDrop forgets the model of one key.
func (s *Server) xDrop(db int, key string) {
	if len(s.xs) > 0 {
		delete(s.xs, dbKey{db, key})
	}
}

// xAfter drops the models a data command may have made stale.
func (s *Server) xAfter(db int, name string, args []string) {
	if len(s.xs) == 0 || xLayoutKept[name] {
		return
	}
	if zDropAll[name] {
		clear(s.xs)
		return
	}
	if (name == "RENAME" || name == "RENAMENX") && len(args) == 3 {
		// The nodes move with the key.
		src, dst := dbKey{db, args[1]}, dbKey{db, args[2]}
		x := s.xs[src]
		if x != nil && src != dst && !s.mr.DB(db).Exists(args[1]) {
			delete(s.xs, src)
			s.xs[dst] = x
			return
		}
	}
	for _, a := range args[1:] {
		delete(s.xs, dbKey{db, a})
	}
}

// xAfterMulti drops the models of the streams a transaction wrote: miniredis
// ran its commands itself, trims included.
func (s *Server) xAfterMulti(db int, queued [][]string) {
	for _, q := range queued {
		switch name := strings.ToUpper(q[0]); name {
		case "XADD", "XTRIM", "XDEL":
			if len(q) > 1 {
				s.xDrop(db, q[1])
			}
		case "SELECT":
			clear(s.xs) // the commands after it ran on another database
		default:
			s.xAfter(db, name, q)
		}
	}
}

// dispatchData runs a data command on miniredis for peer, on database db.
func (s *Server) dispatchData(peer *server.Peer, db int, name string, args []string) {
	switch name {
	case "XADD":
		s.xadd(peer, db, args)
	case "XTRIM":
		s.xtrim(peer, db, args)
	case "XDEL":
		s.xdel(peer, db, args)
	default:
		s.srv.Dispatch(peer, args)
	}
}

// xModel returns the model of a stream whose entries miniredis holds now,
// rebuilt if it does not match them. It is stored only if entries is not
// empty (or it was stored already).
func (s *Server) xModel(db int, key string, entries []miniredis.StreamEntry) *xstream {
	k := dbKey{db, key}
	x := s.xs[k]
	if x != nil && xMatches(x, entries) {
		return x
	}
	x = &xstream{}
	for _, e := range entries {
		id, ok := parseXID(e.ID)
		if !ok {
			delete(s.xs, k)
			return nil
		}
		x.add(id, e.Values)
	}
	if len(entries) == 0 {
		delete(s.xs, k)
		return x
	}
	if s.xs == nil {
		s.xs = map[dbKey]*xstream{}
	}
	s.xs[k] = x
	return x
}

func xMatches(x *xstream, entries []miniredis.StreamEntry) bool {
	if x.live != len(entries) {
		return false
	}
	first, last, ok := x.edges()
	if !ok {
		return len(entries) == 0
	}
	f, okF := parseXID(entries[0].ID)
	l, okL := parseXID(entries[len(entries)-1].ID)
	return okF && okL && f == first && l == last
}

// xadd runs XADD: miniredis adds the entry (the trim clause taken out), the
// model places it and decides the trim.
func (s *Server) xadd(peer *server.Peer, db int, args []string) {
	trim, stripped, ok := parseXAdd(args)
	mdb := s.mr.DB(db)
	before, err := mdb.Stream(args[1])
	if !ok || err != nil {
		// An error reply (miniredis's), or a form not modelled: the layout
		// is unknown from here on.
		s.srv.Dispatch(peer, args)
		s.xDrop(db, args[1])
		return
	}
	x := s.xModel(db, args[1], before)
	s.srv.Dispatch(peer, stripped)
	after, err := mdb.Stream(args[1])
	if err != nil || len(after) != len(before)+1 || x == nil {
		if len(after) != len(before) {
			s.xDrop(db, args[1])
		}
		return // not added (NOMKSTREAM, a bad ID ...)
	}
	e := after[len(after)-1]
	id, ok := parseXID(e.ID)
	if !ok {
		s.xDrop(db, args[1])
		return
	}
	x.add(id, e.Values)
	if s.xs == nil {
		s.xs = map[dbKey]*xstream{}
	}
	s.xs[dbKey{db, args[1]}] = x
	if trim == nil {
		return
	}
	if n := x.trim(*trim); n > 0 {
		s.srv.Dispatch(s.xPeer(db), []string{"XTRIM", args[1], "MAXLEN", "=", strconv.Itoa(x.live)})
	}
}

// xtrim runs XTRIM: the model decides, miniredis trims to that length (and
// replies with the count removed).
func (s *Server) xtrim(peer *server.Peer, db int, args []string) {
	trim, ok := parseXTrim(args)
	entries, err := s.mr.DB(db).Stream(args[1])
	if !ok || err != nil {
		s.srv.Dispatch(peer, args)
		s.xDrop(db, args[1])
		return
	}
	x := s.xModel(db, args[1], entries)
	if x == nil {
		s.srv.Dispatch(peer, args)
		return
	}
	x.trim(trim)
	s.srv.Dispatch(peer, []string{"XTRIM", args[1], "MAXLEN", "=", strconv.Itoa(x.live)})
}

// xdel runs XDEL on miniredis and marks the same entries deleted in the model.
// IDs are passed on in full ("5" as "5-0"): miniredis compares them as
// strings.
func (s *Server) xdel(peer *server.Peer, db int, args []string) {
	full := make([]string, len(args))
	copy(full, args)
	for i := 2; i < len(full); i++ {
		id, ok := parseXID(full[i])
		if !ok {
			full = args // miniredis reports the bad ID
			break
		}
		full[i] = strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
	}
	args = full
	mdb := s.mr.DB(db)
	var x *xstream
	if len(args) > 2 {
		if entries, err := mdb.Stream(args[1]); err == nil {
			x = s.xModel(db, args[1], entries)
		}
	}
	s.srv.Dispatch(peer, args)
	if x == nil {
		return
	}
	for _, a := range args[2:] {
		if id, ok := parseXID(a); ok {
			x.del(id)
		}
	}
	entries, err := mdb.Stream(args[1])
	if err != nil || !xMatches(x, entries) {
		s.xDrop(db, args[1])
	} else if len(entries) == 0 {
		// Valkey keeps an emptied stream's key, and no node.
		s.xs[dbKey{db, args[1]}] = x
	}
}

// xPeer is a client of miniredis on database db whose replies are dropped,
// for the trims the engine has miniredis make.
func (s *Server) xPeer(db int) *server.Peer {
	if p := s.xPeers[db]; p != nil {
		return p
	}
	p := server.NewPeer(bufio.NewWriter(io.Discard))
	if db != 0 {
		s.srv.Dispatch(p, []string{"SELECT", strconv.Itoa(db)})
	}
	if s.xPeers == nil {
		s.xPeers = map[int]*server.Peer{}
	}
	s.xPeers[db] = p
	return p
}

// parseXAdd reads XADD's options as Valkey does (in any order, up to the ID):
// the trim clause (nil if none) and the command without it. ok is false for
// anything Valkey would refuse or the model does not cover; miniredis then
// answers the command as it is.
func parseXAdd(args []string) (trim *trimArgs, stripped []string, ok bool) {
	if len(args) < 5 {
		return nil, nil, false
	}
	stripped = []string{args[0], args[1]}
	t, i, ok := parseTrimOptions(args, true, &stripped)
	if !ok || i >= len(args) {
		return nil, nil, false
	}
	stripped = append(stripped, args[i:]...)
	if t.strategy == "" {
		return nil, stripped, true
	}
	return &t.trimArgs, stripped, true
}

// parseXTrim reads XTRIM's options as Valkey does.
func parseXTrim(args []string) (trimArgs, bool) {
	if len(args) < 4 {
		return trimArgs{}, false
	}
	t, i, ok := parseTrimOptions(args, false, nil)
	if !ok || i != len(args) || t.strategy == "" {
		return trimArgs{}, false
	}
	return t.trimArgs, true
}

type trimOptions struct {
	trimArgs
	strategy string // "", "MAXLEN" or "MINID"
}

// parseTrimOptions reads the options from args[2] on. For XADD it stops at
// the ID (returning its index) and copies NOMKSTREAM to kept.
func parseTrimOptions(args []string, xadd bool, kept *[]string) (t trimOptions, next int, ok bool) {
	limitGiven := false
	i := 2
	for ; i < len(args); i++ {
		more := len(args) - 1 - i
		opt := strings.ToUpper(args[i])
		switch {
		case xadd && args[i] == "*":
			return t.finish(limitGiven, i)
		case (opt == "MAXLEN" || opt == "MINID") && more >= 1:
			if t.strategy != "" && t.strategy != opt {
				return t, 0, false
			}
			t.strategy = opt
			t.minID = opt == "MINID"
			if a := args[i+1]; (a == "~" || a == "=") && more >= 2 {
				t.approx = a == "~"
				i++
			}
			i++
			if t.minID {
				id, good := parseXID(args[i])
				if !good {
					return t, 0, false
				}
				t.min = id
			} else {
				n, err := strconv.ParseInt(args[i], 10, 64)
				if err != nil || n < 0 {
					return t, 0, false
				}
				t.maxLen = n
			}
		case opt == "LIMIT" && more >= 1:
			n, err := strconv.ParseInt(args[i+1], 10, 64)
			if err != nil || n < 0 {
				return t, 0, false
			}
			t.limit, limitGiven = n, true
			i++
		case xadd && opt == "NOMKSTREAM":
			*kept = append(*kept, args[i])
		case xadd:
			return t.finish(limitGiven, i)
		default:
			return t, 0, false
		}
	}
	return t.finish(limitGiven, i)
}

// finish applies Valkey's LIMIT rules: only with "~", and 100 ×
// stream-node-max-entries when not given.
func (t trimOptions) finish(limitGiven bool, next int) (trimOptions, int, bool) {
	switch {
	case limitGiven && !t.approx:
		return t, 0, false
	case !limitGiven && t.approx:
		t.limit = approxTrimLimit
	}
	return t, next, true
}
