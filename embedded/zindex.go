package embedded

import (
	"math"
	"slices"
	"sort"
	"strings"
)

// Sorted-set range reads (zserve.go) are the engine's, not miniredis's.
//
// miniredis answers ZRANGE and its relatives by sorting the whole set on
// every call, and the claim path reads the head of a lane's eligible set on
// every claim: the drain slowed down as the queue grew. So the engine keeps
// an ordered index of each sorted set it has been asked to range over, built
// lazily from miniredis (which stays the source of truth) and kept in step
// after every command:
//
//   - ZADD, ZREM and ZINCRBY re-read from miniredis the score of every
//     argument that may name a member and move those entries only, whatever
//     the flags were (no parsing to get wrong);
//   - commands known not to write leave the index alone;
//   - commands that reach keys not named in their arguments (FLUSH*, SWAPDB,
//     MOVE, COPY, EVAL, EXEC) drop every index;
//   - any other command drops the index of each of its arguments that names
//     one, as does the engine's own expiry;
//   - while a blocking command runs outside the engine lock, no index is
//     used.
//
// A read also checks that the index holds as many members as miniredis
// does, and rebuilds it otherwise. Every form the index cannot answer exactly
// as miniredis would (BYLEX, MULTI, a subscribed connection, NaN bounds, a
// missing key or a wrong type) is left to miniredis.

// zentry is one member of a sorted set.
type zentry struct {
	score  float64
	member string
}

// zcmp orders as Valkey does: by score, then by member bytes.
func zcmp(a, b zentry) int {
	if a.score != b.score {
		if a.score < b.score {
			return -1
		}
		return 1
	}
	return strings.Compare(a.member, b.member)
}

// zblockMax bounds a block: an insert moves at most this many entries, and
// finding a rank walks n/zblockMax block lengths.
const zblockMax = 512

// zindex is one sorted set in order: a list of sorted blocks, each one
// entirely before the next, none empty.
type zindex struct {
	blocks [][]zentry
	scores map[string]float64
}

// newZindex indexes set; nil if a score is NaN (miniredis lets ZINCRBY make
// one, and then has no order to agree with).
func newZindex(set map[string]float64) *zindex {
	all := make([]zentry, 0, len(set))
	scores := make(map[string]float64, len(set))
	for m, sc := range set {
		if math.IsNaN(sc) {
			return nil
		}
		all = append(all, zentry{sc, m})
		scores[m] = sc
	}
	slices.SortFunc(all, zcmp)
	z := &zindex{scores: scores}
	for len(all) > 0 {
		n := min(len(all), zblockMax/2)
		z.blocks = append(z.blocks, all[:n:n])
		all = all[n:]
	}
	return z
}

func (z *zindex) len() int { return len(z.scores) }

// seek returns the position of the first entry for which after is true
// (after must be false, then true, along the order): block bi, offset j. At
// the end it returns (len(blocks), 0).
func (z *zindex) seek(after func(zentry) bool) (bi, j int) {
	bi = sort.Search(len(z.blocks), func(i int) bool {
		b := z.blocks[i]
		return after(b[len(b)-1])
	})
	if bi == len(z.blocks) {
		return bi, 0
	}
	b := z.blocks[bi]
	return bi, sort.Search(len(b), func(i int) bool { return after(b[i]) })
}

// rankOf counts the entries before position (bi, j).
func (z *zindex) rankOf(bi, j int) int {
	n := j
	for _, b := range z.blocks[:bi] {
		n += len(b)
	}
	return n
}

// count returns how many entries come before the first one for which after
// is true.
func (z *zindex) count(after func(zentry) bool) int {
	return z.rankOf(z.seek(after))
}

// scoreRange returns the ranks [lo, hi) of the entries between min and max.
func (z *zindex) scoreRange(minV float64, minIncl bool, maxV float64, maxIncl bool) (lo, hi int) {
	lo = z.count(func(e zentry) bool { return e.score > minV || minIncl && e.score == minV })
	hi = z.count(func(e zentry) bool { return e.score > maxV || !maxIncl && e.score == maxV })
	return lo, max(lo, hi)
}

func (z *zindex) insert(e zentry) {
	if len(z.blocks) == 0 {
		z.blocks = [][]zentry{{e}}
		return
	}
	bi, j := z.seek(func(x zentry) bool { return zcmp(x, e) >= 0 })
	if bi == len(z.blocks) {
		bi = len(z.blocks) - 1
		j = len(z.blocks[bi])
	}
	b := slices.Insert(z.blocks[bi], j, e)
	if len(b) > zblockMax {
		h := len(b) / 2
		rest := slices.Clone(b[h:]) // b[:h] may grow over b[h:] later
		z.blocks[bi] = b[:h]
		z.blocks = slices.Insert(z.blocks, bi+1, rest)
		return
	}
	z.blocks[bi] = b
}

func (z *zindex) remove(e zentry) {
	bi, j := z.seek(func(x zentry) bool { return zcmp(x, e) >= 0 })
	if bi == len(z.blocks) || zcmp(z.blocks[bi][j], e) != 0 {
		return
	}
	b := slices.Delete(z.blocks[bi], j, j+1)
	if len(b) == 0 {
		z.blocks = slices.Delete(z.blocks, bi, bi+1)
		return
	}
	z.blocks[bi] = b
}

// set makes member's entry match miniredis: present with score, or absent.
// It returns false for a NaN score, which the index cannot hold.
func (z *zindex) set(member string, score float64, present bool) bool {
	if present && math.IsNaN(score) {
		return false
	}
	old, had := z.scores[member]
	if had && present && math.Float64bits(old) == math.Float64bits(score) {
		return true // (bits, not ==: a -0 replaced by 0 must show)
	}
	if had {
		z.remove(zentry{old, member})
		delete(z.scores, member)
	}
	if present {
		z.insert(zentry{score, member})
		z.scores[member] = score
	}
	return true
}

// each calls f on the entries of ranks [lo, hi), backwards if rev.
func (z *zindex) each(lo, hi int, rev bool, f func(zentry)) {
	if lo >= hi {
		return
	}
	// Find the block holding rank lo (or hi-1 when going backwards).
	start := lo
	if rev {
		start = hi - 1
	}
	bi, base := 0, 0
	for base+len(z.blocks[bi]) <= start {
		base += len(z.blocks[bi])
		bi++
	}
	j := start - base
	for n := hi - lo; n > 0; n-- {
		f(z.blocks[bi][j])
		if rev {
			j--
			if j < 0 && n > 1 {
				bi--
				j = len(z.blocks[bi]) - 1
			}
			continue
		}
		j++
		if j == len(z.blocks[bi]) && n > 1 {
			bi++
			j = 0
		}
	}
}
