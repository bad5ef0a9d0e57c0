package embedded

import (
	"container/heap"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// Key expiry belongs to the engine, not to miniredis.
//
// miniredis stores a key's TTL as a duration that only its FastForward runs
// down, and FastForward walks (and sorts) every key of every database: doing
// that as the clock moved made every command cost O(keys). So the engine pins
// miniredis's clock to its own "now" at the start of every command and never
// calls FastForward. Instead:
//
//   - a TTL in miniredis holds the key's absolute deadline (unix ms) in a
//     recognisable form (mark), so that wherever miniredis copies it (RENAME,
//     MOVE, COPY, SET KEEPTTL, SWAPDB, BLMOVE) the copy stays exact;
//   - after every command that may set or move a TTL, the engine turns the
//     durations miniredis just wrote into marks and notes the deadlines in a
//     min-heap;
//   - before every command (for a function: once, at its start, since Valkey
//     freezes time inside a script) the keys whose deadline has passed are
//     deleted. Valkey keeps a key up to and including its deadline
//     millisecond and expires it once now > deadline; so does the engine.
//
// Heap entries are never updated in place: a deleted or re-timed key leaves a
// stale entry that is recognised (its mark differs) and skipped when popped.
// TTL, PTTL, EXPIRETIME and PEXPIRETIME are answered from the deadline.

// The TTL durations in miniredis carry a tag in their nanoseconds. miniredis
// itself only writes multiples of a microsecond (whole seconds or
// milliseconds, or a difference between a unix time and its clock, which the
// engine pins to whole microseconds).
const (
	markTag   = 1 // an absolute deadline in unix ms (mark)
	thawTag   = 2 // the time left from the current ms, plus 2ns (thaw)
	thawLTTag = 3 // the time left from the pinned clock, less 997ns (thaw for LT)
)

// maxDeadline is the largest deadline (unix ms) a mark can hold.
const maxDeadline = (math.MaxInt64 - markTag) / int64(time.Millisecond)

func mark(deadline int64) time.Duration {
	return time.Duration(deadline)*time.Millisecond + markTag
}

type dbKey struct {
	db  int
	key string
}

type deadlineEntry struct {
	at  int64 // deadline, unix ms
	db  int
	key string
}

// deadlines is a min-heap of deadlines (container/heap).
type deadlines []deadlineEntry

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].at < h[j].at }
func (h deadlines) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deadlines) Push(x any)        { *h = append(*h, x.(deadlineEntry)) }
func (h *deadlines) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// expiry is the engine's index of keys with a TTL, guarded by Server.mu.
type expiry struct {
	heap deadlines
	// last is the deadline of the newest heap entry of each key; a key that
	// was deleted meanwhile keeps its entry until the deadline passes.
	last map[dbKey]int64
}

func (e *expiry) reset() {
	e.heap = nil
	e.last = map[dbKey]int64{}
}

// note records that key has deadline at.
func (e *expiry) note(db int, key string, at int64) {
	k := dbKey{db, key}
	if old, ok := e.last[k]; ok && old == at {
		return // its entry is in the heap already
	}
	e.last[k] = at
	heap.Push(&e.heap, deadlineEntry{at: at, db: db, key: key})
	// Keys re-timed over and over (lease renewals) leave stale entries:
	// rebuild from last once they dominate.
	if len(e.heap) > 2*len(e.last)+1024 {
		e.heap = e.heap[:0]
		for k, at := range e.last {
			e.heap = append(e.heap, deadlineEntry{at: at, db: k.db, key: k.key})
		}
		heap.Init(&e.heap)
	}
}

// pinLocked moves miniredis's clock to the engine's now (whole
// microseconds, so that its TTL arithmetic never produces a tag) and
// expires what is due. Every command starts with it.
func (s *Server) pinLocked() {
	now := s.nowLocked().Truncate(time.Microsecond)
	if !now.Equal(s.pinned) {
		s.mr.SetTime(now)
		s.pinned = now
		s.nowMs = now.UnixMilli()
		s.pinFrac = now.Sub(time.UnixMilli(s.nowMs))
	}
	for len(s.exp.heap) > 0 && s.exp.heap[0].at < s.nowMs {
		e := heap.Pop(&s.exp.heap).(deadlineEntry)
		k := dbKey{e.db, e.key}
		if at, ok := s.exp.last[k]; ok && at == e.at {
			delete(s.exp.last, k)
		}
		db := s.mr.DB(e.db)
		if db.TTL(e.key) == mark(e.at) {
			db.Del(e.key)
			s.zDrop(e.db, e.key)
			s.xDrop(e.db, e.key)
		}
	}
}

// deadline converts a TTL found in miniredis to a deadline in unix ms;
// written says miniredis wrote it during the current command.
func (s *Server) deadline(ttl time.Duration) (at int64, written bool) {
	switch ttl % time.Microsecond {
	case markTag:
		return int64(ttl / time.Millisecond), false
	case thawTag:
		return s.nowMs + int64(ttl/time.Millisecond), false
	case thawLTTag:
		return s.nowMs + int64((ttl+time.Microsecond-thawLTTag+s.pinFrac)/time.Millisecond), false
	}
	if ttl <= 0 {
		return s.nowMs, true
	}
	// A duration from the pinned clock, which may have a sub-ms part.
	whole := int64(ttl / time.Millisecond)
	if whole > maxDeadline-s.nowMs-1 {
		return maxDeadline, true
	}
	return s.nowMs + whole + int64((s.pinFrac+ttl%time.Millisecond)/time.Millisecond), true
}

// track brings key's entry in line with its TTL in miniredis after a command
// that may have changed it. Any argument may be passed: one that names no key
// with a TTL costs two lookups.
func (s *Server) track(db int, key string) {
	mdb := s.mr.DB(db)
	ttl := mdb.TTL(key)
	if ttl == 0 {
		delete(s.exp.last, dbKey{db, key}) // no TTL (any heap entry is stale)
		return
	}
	if mdb.Type(key) == "" {
		// miniredis keeps the TTL of a SET ... EXAT/PXAT in the past, which
		// creates no key; it would stick to a later key of that name.
		clearTTL(mdb, key)
		return
	}
	at, written := s.deadline(ttl)
	if written && at <= s.nowMs {
		// Valkey deletes a key at once when its new expiry is not in the
		// future (EXPIREAT, SET PXAT, GETEX EXAT, RESTORE ABSTTL).
		mdb.Del(key)
		s.zDrop(db, key)
		s.xDrop(db, key)
		return
	}
	if ttl != mark(at) {
		mdb.SetTTL(key, mark(at))
	}
	s.exp.note(db, key, at)
}

// clearTTL drops a TTL left for a key that does not exist (the direct API
// only removes a TTL together with its key).
func clearTTL(db *miniredis.RedisDB, key string) {
	db.Set(key, "")
	db.Del(key)
}

// thaw turns key's mark into the time left, for the commands that compare or
// report TTLs inside miniredis (EXPIRE ... GT/LT, TTL inside MULTI); track
// marks it again afterwards. Valkey refuses a new expiry equal to the current
// one for both GT and LT, while miniredis lets an equal one pass LT: for LT
// the time left is made a little shorter than the truth, otherwise a little
// longer, so that equal compares as Valkey does.
func (s *Server) thaw(db int, key string, lt bool) {
	mdb := s.mr.DB(db)
	ttl := mdb.TTL(key)
	if ttl%time.Microsecond != markTag {
		return
	}
	left := max(int64(ttl/time.Millisecond)-s.nowMs, 0)
	if lt && left > 0 {
		mdb.SetTTL(key, time.Duration(left)*time.Millisecond-s.pinFrac-(time.Microsecond-thawLTTag))
		return
	}
	mdb.SetTTL(key, time.Duration(left)*time.Millisecond+thawTag)
}

// rescan tracks every key of every database: after commands whose keys the
// engine cannot know (miniredis's own EVAL scripts, some transactions).
func (s *Server) rescan() {
	for db := range 16 {
		for _, k := range s.mr.DB(db).Keys() {
			s.track(db, k)
		}
	}
}

// ttlCommands may set, move or drop TTLs; track runs on each of their
// arguments afterwards. Commands that delete keys need no tracking for
// correctness (a popped entry whose mark is gone is skipped), but listing
// the common ones keeps the index small.
var ttlCommands = map[string]bool{}

// ttlReaders compare or report TTLs inside miniredis when queued in MULTI
// (otherwise the engine answers the queries itself and thaws for GT/LT);
// their keys are thawed before EXEC and tracked after it.
var ttlReaders = map[string]bool{}

// ttlQueries are the TTL queries the engine answers (ttlQuery).
var ttlQueries = map[string]bool{"TTL": true, "PTTL": true, "EXPIRETIME": true, "PEXPIRETIME": true}

// hashFieldTTL are miniredis's hash field expiry commands. Valkey 8 has none
// of them, and the engine does not run field TTLs down: unknown commands.
var hashFieldTTL = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`SET SETEX PSETEX GETEX GETSET GETDEL MSET DEL UNLINK
		EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST RENAME RENAMENX COPY MOVE RESTORE
		LMOVE RPOPLPUSH BLMOVE BRPOPLPUSH`) {
		ttlCommands[c] = true
	}
	for _, c := range strings.Fields(`EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL EXPIRETIME PEXPIRETIME`) {
		ttlReaders[c] = true
	}
	for _, c := range strings.Fields(`HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT HPERSIST HTTL HPTTL
		HEXPIRETIME HPEXPIRETIME HSETEX HGETEX`) {
		hashFieldTTL[c] = true
	}
}

// beforeData prepares a data command on database db (args[0] is the name).
func (s *Server) beforeData(db int, name string, args []string) {
	switch name {
	case "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT":
		// GT and LT compare with the current TTL inside miniredis.
		if len(args) > 3 {
			if lt := hasWord(args[3:], "LT"); lt || hasWord(args[3:], "GT") {
				s.thaw(db, args[1], lt)
			}
		}
	case "SET":
		if len(args) > 3 {
			s.pastExpiry(args[3:])
		}
	case "GETEX":
		if len(args) > 2 {
			s.pastExpiry(args[2:])
		}
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO":
		// The script's declared keys, for TTL commands inside it; rescan
		// marks them again.
		if len(args) > 2 {
			if n, err := strconv.Atoi(args[2]); err == nil && n > 0 && n <= len(args)-3 {
				for _, k := range args[3 : 3+n] {
					s.thaw(db, k, false)
				}
			}
		}
	case "RESTORE":
		// RESTORE key ms payload ... ABSTTL: at the current ms miniredis
		// stores a zero TTL, which means none.
		if len(args) > 4 && hasWord(args[4:], "ABSTTL") {
			if n, err := strconv.ParseInt(args[2], 10, 64); err == nil && n > 0 && n <= s.nowMs {
				args[2] = "1"
			}
		}
	}
}

// pastExpiry moves an EXAT/PXAT option that is not in the future to the
// distant past: miniredis keeps a key whose TTL comes out exactly zero
// (PXAT at the current ms) without a TTL, where Valkey deletes it.
func (s *Server) pastExpiry(opts []string) {
	for i := 0; i+1 < len(opts); i++ {
		unit := int64(0)
		switch {
		case strings.EqualFold(opts[i], "PXAT"):
			unit = 1
		case strings.EqualFold(opts[i], "EXAT"):
			unit = 1000
		default:
			continue
		}
		n, err := strconv.ParseInt(opts[i+1], 10, 64)
		if err == nil && n > 0 && n <= s.nowMs/unit {
			opts[i+1] = "1"
		}
	}
}

// afterData updates the expiry index after a data command ran on database db.
func (s *Server) afterData(db int, name string, args []string) {
	switch name {
	case "FLUSHALL":
		s.exp.reset()
	case "SWAPDB":
		if len(args) == 3 {
			a, errA := strconv.Atoi(args[1])
			b, errB := strconv.Atoi(args[2])
			if errA == nil && errB == nil {
				s.swapDBs(a, b)
			}
		}
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO":
		s.rescan()
	case "MOVE", "COPY":
		for _, a := range args[1:] {
			s.track(db, a)
		}
		// The target database: MOVE key db, COPY src dst DB db.
		target := ""
		if name == "MOVE" && len(args) == 3 {
			target = args[2]
		}
		for i := 3; name == "COPY" && i+1 < len(args); i++ {
			if strings.EqualFold(args[i], "DB") {
				target = args[i+1]
			}
		}
		if n, err := strconv.Atoi(target); err == nil && n >= 0 && n < 16 && n != db {
			for _, a := range args[1:] {
				s.track(n, a)
			}
		}
	default:
		if ttlCommands[name] || ttlReaders[name] {
			for _, a := range args[1:] {
				s.track(db, a)
			}
		}
	}
}

// swapDBs follows SWAPDB: the marks moved with the data, the index follows.
func (s *Server) swapDBs(a, b int) {
	if a == b {
		return
	}
	last := s.exp.last
	s.exp.reset()
	for k, at := range last {
		switch k.db {
		case a:
			k.db = b
		case b:
			k.db = a
		}
		s.exp.note(k.db, k.key, at)
	}
}

// ttlQuery answers TTL, PTTL, EXPIRETIME and PEXPIRETIME from the deadline,
// with Valkey's rounding of seconds; ok is false for other commands (and for
// a wrong arity, which miniredis reports).
func (s *Server) ttlQuery(db int, name string, args []string) (n int64, ok bool) {
	if !ttlQueries[name] || len(args) != 2 {
		return 0, false
	}
	mdb := s.mr.DB(db)
	if mdb.Type(args[1]) == "" {
		return -2, true
	}
	ttl := mdb.TTL(args[1])
	if ttl == 0 {
		return -1, true
	}
	at, _ := s.deadline(ttl)
	switch name {
	case "TTL":
		return (max(at-s.nowMs, 0) + 500) / 1000, true
	case "PTTL":
		return max(at-s.nowMs, 0), true
	case "EXPIRETIME":
		return (at + 500) / 1000, true
	}
	return at, true
}

func hasWord(args []string, w string) bool {
	for _, a := range args {
		if strings.EqualFold(a, w) {
			return true
		}
	}
	return false
}
