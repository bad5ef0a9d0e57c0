package embedded

import (
	"math"
	"strconv"
	"strings"

	"github.com/alicebob/miniredis/v2/server"
)

// zsets is the engine's sorted-set indexes (zindex.go), guarded by Server.mu.
type zsets struct {
	idx map[dbKey]*zindex
	// busy counts blocking commands running outside the engine lock: they
	// may pop from a sorted set at any moment, so no index is trusted.
	busy int
}

// zBlocking are the blocking commands that may write a sorted set (outside
// the engine lock, so they set busy). The others (BLPOP, XREAD ...) only
// fail on one, and a client waiting in them does not turn the index off.
var zBlocking = map[string]bool{"BZPOPMIN": true, "BZPOPMAX": true, "BZMPOP": true}

// zSync are the writes after which the engine re-reads the members named in
// the arguments instead of dropping the index.
var zSync = map[string]bool{"ZADD": true, "ZREM": true, "ZINCRBY": true}

// zDropAll reach keys their arguments do not name (or other databases).
var zDropAll = map[string]bool{}

// zReadOnly never write a key; the index survives them. Anything not listed
// is treated as a possible write of each of its arguments.
var zReadOnly = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`FLUSHALL FLUSHDB SWAPDB MOVE COPY EVAL EVALSHA EVAL_RO
		EVALSHA_RO EXEC`) {
		zDropAll[c] = true
	}
	for _, c := range strings.Fields(`GET MGET STRLEN GETRANGE SUBSTR EXISTS TYPE TTL PTTL
		EXPIRETIME PEXPIRETIME HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HSTRLEN HSCAN
		HRANDFIELD SISMEMBER SMISMEMBER SMEMBERS SCARD SSCAN SRANDMEMBER SINTER SUNION SDIFF
		SINTERCARD LRANGE LLEN LINDEX LPOS ZSCORE ZMSCORE ZCARD ZRANGE ZRANGEBYSCORE
		ZREVRANGE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZRANK ZREVRANK ZCOUNT
		ZLEXCOUNT ZSCAN ZRANDMEMBER ZUNION ZINTER ZDIFF ZINTERCARD XRANGE XREVRANGE XLEN
		XINFO XPENDING PING ECHO TIME DBSIZE KEYS SCAN SELECT PUBLISH`) {
		zReadOnly[c] = true
	}
}

// zDrop forgets the index of one key.
func (s *Server) zDrop(db int, key string) {
	if len(s.z.idx) > 0 {
		delete(s.z.idx, dbKey{db, key})
	}
}

// zAfter keeps the indexes in step after a data command ran on database db.
func (s *Server) zAfter(db int, name string, args []string) {
	if len(s.z.idx) == 0 || zReadOnly[name] {
		return
	}
	switch {
	case zDropAll[name]:
		clear(s.z.idx)
	case zSync[name] && len(args) > 1:
		z := s.z.idx[dbKey{db, args[1]}]
		if z == nil {
			return
		}
		if s.z.busy > 0 {
			// A blocking command may be writing miniredis's map now.
			delete(s.z.idx, dbKey{db, args[1]})
			return
		}
		mdb := s.mr.DB(db)
		set, err := mdb.SortedSet(args[1])
		if err != nil {
			delete(s.z.idx, dbKey{db, args[1]}) // gone, or no longer a sorted set
			return
		}
		fine := true
		for _, m := range args[2:] {
			sc, ok := set[m]
			fine = fine && z.set(m, sc, ok)
		}
		if !fine || z.len() != len(set) {
			delete(s.z.idx, dbKey{db, args[1]})
		}
	default:
		for _, a := range args[1:] {
			delete(s.z.idx, dbKey{db, a})
		}
	}
}

// zIndex returns the index of key, built if needed; nil when key is not a
// sorted set or no index may be used now.
func (s *Server) zIndex(db int, key string) *zindex {
	if s.z.busy > 0 {
		return nil
	}
	set, err := s.mr.DB(db).SortedSet(key)
	if err != nil {
		return nil
	}
	k := dbKey{db, key}
	z := s.z.idx[k]
	if z == nil || z.len() != len(set) {
		if z = newZindex(set); z == nil {
			delete(s.z.idx, k)
			return nil
		}
		if s.z.idx == nil {
			s.z.idx = map[dbKey]*zindex{}
		}
		s.z.idx[k] = z
	}
	return z
}

// zRead answers the sorted-set reads the index serves, writing exactly what
// miniredis would write; false, having written nothing, for anything it
// leaves to miniredis.
func (s *Server) zRead(peer *server.Peer, db int, name string, args []string) bool {
	switch name {
	case "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE":
		return s.zRange(peer, db, name, args)
	case "ZRANK", "ZREVRANK":
		return s.zRank(peer, db, name == "ZREVRANK", args)
	case "ZCOUNT":
		return s.zCount(peer, db, args)
	}
	return false
}

// zRank answers ZRANK and ZREVRANK [WITHSCORE].
func (s *Server) zRank(peer *server.Peer, db int, rev bool, args []string) bool {
	withScore := len(args) == 4 && strings.EqualFold(args[3], "WITHSCORE")
	if len(args) != 3 && !withScore {
		return false
	}
	if strings.EqualFold(args[2], "WITHSCORE") {
		return false // miniredis reads a last "WITHSCORE" as the option even when it is the member
	}
	z := s.zIndex(db, args[1])
	if z == nil {
		return false
	}
	sc, ok := z.scores[args[2]]
	switch {
	case !ok && withScore:
		peer.WriteLen(-1)
	case !ok:
		peer.WriteNull()
	default:
		e := zentry{sc, args[2]}
		rank := z.count(func(x zentry) bool { return zcmp(x, e) >= 0 })
		if rev {
			rank = z.len() - 1 - rank
		}
		if withScore {
			peer.WriteLen(2)
			peer.WriteInt(rank)
			peer.WriteFloat(sc)
		} else {
			peer.WriteInt(rank)
		}
	}
	return true
}

// zCount answers ZCOUNT.
func (s *Server) zCount(peer *server.Peer, db int, args []string) bool {
	if len(args) != 4 {
		return false
	}
	minV, minIncl, ok1 := scoreBound(args[2])
	maxV, maxIncl, ok2 := scoreBound(args[3])
	if !ok1 || !ok2 {
		return false
	}
	z := s.zIndex(db, args[1])
	if z == nil {
		return false
	}
	lo, hi := z.scoreRange(minV, minIncl, maxV, maxIncl)
	peer.WriteInt(hi - lo)
	return true
}

// zRange answers ZRANGE, ZREVRANGE, ZRANGEBYSCORE and ZREVRANGEBYSCORE.
func (s *Server) zRange(peer *server.Peer, db int, name string, args []string) bool {
	if len(args) < 4 {
		return false
	}
	var byScore, rev, withScores, limit bool
	var offset, count string
	switch name {
	case "ZRANGE":
	case "ZREVRANGE":
		rev = true
	case "ZRANGEBYSCORE":
		byScore = true
	case "ZREVRANGEBYSCORE":
		byScore, rev = true, true
	default:
		return false
	}
	opts := args[4:]
	for len(opts) > 0 {
		o := strings.ToUpper(opts[0])
		switch {
		case o == "WITHSCORES":
			withScores = true
		case o == "LIMIT" && name != "ZREVRANGE" && len(opts) >= 3:
			limit, offset, count = true, opts[1], opts[2]
			opts = opts[2:]
		case o == "BYSCORE" && name == "ZRANGE":
			byScore = true
		case o == "REV" && name == "ZRANGE":
			rev = true
		default:
			return false // BYLEX, or an error for miniredis to word
		}
		opts = opts[1:]
	}
	if limit && !byScore {
		return false
	}
	var lo, hi int // ranks, ascending
	var z *zindex
	if byScore {
		off, err1 := strconv.Atoi(offset)
		cnt, err2 := strconv.Atoi(count)
		if limit && (err1 != nil || err2 != nil) {
			return false
		}
		minV, minIncl, ok1 := scoreBound(args[2])
		maxV, maxIncl, ok2 := scoreBound(args[3])
		if !ok1 || !ok2 {
			return false
		}
		if z = s.zIndex(db, args[1]); z == nil {
			return false
		}
		if rev {
			minV, maxV, minIncl, maxIncl = maxV, minV, maxIncl, minIncl
		}
		lo, hi = z.scoreRange(minV, minIncl, maxV, maxIncl)
		if limit {
			// LIMIT counts along the reply's direction.
			if off < 0 || off >= hi-lo {
				lo, hi = 0, 0
			} else {
				n := hi - lo - off
				if cnt >= 0 {
					n = min(n, cnt)
				}
				if rev {
					hi -= off
					lo = hi - n
				} else {
					lo += off
					hi = lo + n
				}
			}
		}
	} else {
		start, err1 := strconv.Atoi(args[2])
		stop, err2 := strconv.Atoi(args[3])
		if err1 != nil || err2 != nil {
			return false
		}
		if z = s.zIndex(db, args[1]); z == nil {
			return false
		}
		n := z.len()
		lo, hi = indexRange(n, start, stop)
		if rev {
			lo, hi = n-hi, n-lo
		}
	}
	if withScores {
		peer.WriteLen(2 * (hi - lo))
	} else {
		peer.WriteLen(hi - lo)
	}
	z.each(lo, hi, rev, func(e zentry) {
		peer.WriteBulk(e.member)
		if withScores {
			peer.WriteFloat(e.score)
		}
	})
	return true
}

// indexRange turns inclusive start and stop indexes (negative ones count
// from the end) into the positions [lo, hi) of a list of n.
func indexRange(n, start, stop int) (lo, hi int) {
	if start < 0 {
		start = max(n+start, 0)
	}
	start = min(start, n)
	if stop < 0 {
		stop = n + stop
	}
	stop = min(stop, n-1) + 1
	if stop < start {
		return 0, 0
	}
	return start, stop
}

// scoreBound parses a score bound: "(" for exclusive, -inf and +inf. ok is
// false for what the index leaves to miniredis (errors, NaN, "").
func scoreBound(s string) (v float64, incl, ok bool) {
	if s == "" {
		return 0, false, false
	}
	incl = true
	if s[0] == '(' {
		s, incl = s[1:], false
	}
	// miniredis reads "(+inf" and "(-inf" as inclusive; so does the index,
	// to answer as miniredis does.
	switch strings.ToLower(s) {
	case "+inf":
		return math.Inf(1), true, true
	case "-inf":
		return math.Inf(-1), true, true
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) {
		return 0, false, false
	}
	return v, incl, true
}
