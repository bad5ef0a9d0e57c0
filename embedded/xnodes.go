package embedded

import (
	"slices"
	"strconv"
	"strings"
)

// Stream trimming (xserve.go) is the engine's, not miniredis's.
//
// Valkey keeps a stream as a radix tree of listpack "nodes" and an
// approximate trim (MAXLEN ~ n, MINID ~ id) removes whole nodes only, so how
// many entries it keeps depends on where the nodes end: a node takes at most
// stream-node-max-entries (100) entries, live and deleted, and a new one is
// started when the tail's listpack bytes plus the new entry's field and value
// bytes reach stream-node-max-bytes (4096). miniredis ignores "~" and trims
// exactly, which the library's streams (MAXLEN ~ 1000 on the lease history,
// MAXLEN ~ k on attempt frames) would show. So the engine keeps, beside
// miniredis's entries, a model of each stream's nodes: which entries each
// holds, which are marked deleted, and the listpack's byte size as Valkey
// encodes it. Only the layout is modelled; the entries stay in miniredis.

// Valkey's defaults for stream-node-max-bytes and stream-node-max-entries.
const (
	streamNodeMaxBytes   = 4096
	streamNodeMaxEntries = 100
	// approxTrimLimit is the LIMIT an approximate trim gets when none is
	// given: 100 × stream-node-max-entries.
	approxTrimLimit = 100 * streamNodeMaxEntries
)

// xid is a stream entry ID.
type xid struct{ ms, seq uint64 }

func (a xid) cmp(b xid) int {
	switch {
	case a.ms != b.ms:
		if a.ms < b.ms {
			return -1
		}
		return 1
	case a.seq != b.seq:
		if a.seq < b.seq {
			return -1
		}
		return 1
	}
	return 0
}

// parseXID reads "ms-seq", or "ms" as "ms-0" (MINID's form).
func parseXID(s string) (xid, bool) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return xid{}, false
	}
	if !hasSeq {
		return xid{ms, 0}, true
	}
	seq, err := strconv.ParseUint(seqPart, 10, 64)
	if err != nil {
		return xid{}, false
	}
	return xid{ms, seq}, true
}

type xentry struct {
	id      xid
	deleted bool
}

// xnode is one listpack node.
type xnode struct {
	master  xid      // the node's key: the ID of its first entry
	fields  []string // the master entry's fields (its first entry's)
	entries []xentry // every entry, deleted ones included
	live    int
	deleted int
	// body is the listpack's byte size without the live and deleted
	// counters, which change size as they grow.
	body int
}

// bytes is the listpack's size, as lpBytes answers it.
func (n *xnode) bytes() int {
	return n.body + lpIntSize(int64(n.live)) + lpIntSize(int64(n.deleted))
}

// xstream is the node layout of one stream.
type xstream struct {
	nodes []*xnode
	live  int
}

// add appends an entry as Valkey's streamAppendItem does; fv is field,
// value, field, value ...
func (x *xstream) add(id xid, fv []string) {
	elemBytes := 0
	for _, s := range fv {
		elemBytes += len(s)
	}
	var n *xnode
	if len(x.nodes) > 0 {
		n = x.nodes[len(x.nodes)-1]
		if n.bytes()+elemBytes >= streamNodeMaxBytes || n.live+n.deleted >= streamNodeMaxEntries {
			n = nil
		}
	}
	numFields := len(fv) / 2
	if n == nil {
		n = &xnode{master: id}
		// header (6) and end byte (1), then the master entry: count and
		// deleted (in bytes()), the number of fields, the fields, a 0.
		n.body = 7 + lpIntSize(int64(numFields)) + lpIntSize(0)
		for i := 0; i < len(fv); i += 2 {
			n.fields = append(n.fields, fv[i])
			n.body += lpStringSize(fv[i])
		}
		x.nodes = append(x.nodes, n)
	}
	same := len(n.fields) == numFields
	for i := 0; same && i < numFields; i++ {
		same = n.fields[i] == fv[2*i]
	}
	// flags, ms and seq deltas to the master ID, [number of fields, fields],
	// values, and the count of listpack elements of the entry.
	size := lpIntSize(0) + lpIntSize(int64(id.ms-n.master.ms)) + lpIntSize(int64(id.seq-n.master.seq))
	count := numFields + 3
	if !same {
		size += lpIntSize(int64(numFields))
		count += numFields + 1
	}
	for i := 0; i < len(fv); i += 2 {
		if !same {
			size += lpStringSize(fv[i])
		}
		size += lpStringSize(fv[i+1])
	}
	size += lpIntSize(int64(count))
	n.body += size
	n.entries = append(n.entries, xentry{id: id})
	n.live++
	x.live++
}

// trimArgs is a parsed MAXLEN/MINID clause.
type trimArgs struct {
	minID  bool // MINID, else MAXLEN
	approx bool
	maxLen int64
	min    xid
	limit  int64 // 0: no limit
}

// trim removes entries from the head as Valkey's streamTrim does and returns
// how many it removed: whole nodes while they may go, then, for an exact
// trim, the entries still due in the next node are marked deleted.
func (x *xstream) trim(t trimArgs) int {
	removed := 0
	for len(x.nodes) > 0 {
		if !t.minID && int64(x.live) <= t.maxLen {
			break
		}
		n := x.nodes[0]
		if t.limit > 0 && int64(removed+n.live) > t.limit {
			break
		}
		var whole bool
		if t.minID {
			whole = n.entries[len(n.entries)-1].id.cmp(t.min) < 0
		} else {
			whole = int64(x.live-n.live) >= t.maxLen
		}
		if whole {
			x.nodes = x.nodes[1:]
			x.live -= n.live
			removed += n.live
			continue
		}
		if t.approx {
			break
		}
		for i := range n.entries {
			e := &n.entries[i]
			if t.minID && e.id.cmp(t.min) >= 0 || !t.minID && int64(x.live) <= t.maxLen {
				break
			}
			if !e.deleted {
				e.deleted = true
				n.live--
				n.deleted++
				x.live--
				removed++
			}
		}
		break
	}
	return removed
}

// del marks the entry id deleted (XDEL), dropping its node when no live
// entry is left in it; false if the stream has no live entry id.
func (x *xstream) del(id xid) bool {
	ni, ok := slices.BinarySearchFunc(x.nodes, id, func(n *xnode, id xid) int { return n.master.cmp(id) })
	if !ok {
		ni--
	}
	if ni < 0 {
		return false
	}
	n := x.nodes[ni]
	ei, ok := slices.BinarySearchFunc(n.entries, id, func(e xentry, id xid) int { return e.id.cmp(id) })
	if !ok || n.entries[ei].deleted {
		return false
	}
	x.live--
	if n.live == 1 {
		x.nodes = slices.Delete(x.nodes, ni, ni+1)
		return true
	}
	n.entries[ei].deleted = true
	n.live--
	n.deleted++
	return true
}

// edges returns the first and last live IDs (ok false when none).
func (x *xstream) edges() (first, last xid, ok bool) {
	found := false
	for _, n := range x.nodes {
		for _, e := range n.entries {
			if !e.deleted {
				first, found = e.id, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return xid{}, xid{}, false
	}
	for i := len(x.nodes) - 1; i >= 0; i-- {
		es := x.nodes[i].entries
		for j := len(es) - 1; j >= 0; j-- {
			if !es[j].deleted {
				return first, es[j].id, true
			}
		}
	}
	return xid{}, xid{}, false
}

// Listpack element sizes (encoding, data and back-length), as listpack.c
// encodes them.

// lpIntSize is the size of an integer element.
func lpIntSize(v int64) int {
	switch {
	case v >= 0 && v <= 127:
		return 2
	case v >= -4096 && v <= 4095:
		return 3
	case v >= -32768 && v <= 32767:
		return 4
	case v >= -8388608 && v <= 8388607:
		return 5
	case v >= -2147483648 && v <= 2147483647:
		return 6
	}
	return 10
}

// lpStringSize is the size of a string element; a string that reads as a
// 64-bit integer in canonical form is stored as that integer.
func lpStringSize(s string) int {
	if v, ok := lpStringInt(s); ok {
		return lpIntSize(v)
	}
	n := len(s)
	switch {
	case n < 64:
		n++
	case n < 4096:
		n += 2
	default:
		n += 5
	}
	return n + lpBacklenSize(n)
}

// lpBacklenSize is the size of the back-length of an element whose encoding
// and data take n bytes.
func lpBacklenSize(n int) int {
	switch {
	case n <= 127:
		return 1
	case n < 16383:
		return 2
	case n < 2097151:
		return 3
	case n < 268435455:
		return 4
	}
	return 5
}

// lpStringInt is listpack's string-to-integer test: at most 20 characters,
// an optional '-', no leading zeros, no '+', no spaces, within int64.
func lpStringInt(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	if s == "0" {
		return 0, true
	}
	digits := s
	neg := s[0] == '-'
	if neg {
		digits = s[1:]
	}
	if len(digits) == 0 || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		if v > 1<<64-1-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
