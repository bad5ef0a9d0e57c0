package cli

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around each change, as `diff -u`.
const diffContext = 3

// UnifiedDiff renders the change from a to b as a minimal unified diff in the format of
// `diff -u`: a "--- nameA" / "+++ nameB" header, then one "@@ -l,n +l,n @@" hunk per group
// of changes with three lines of context, changes whose contexts touch or overlap sharing
// a hunk. A count of 1 is left out of the hunk header ("@@ -5 +5 @@"), an empty side is
// written "0,0", and a last line without its newline is followed by
// "\ No newline at end of file", as `diff -u` does. It returns "" when a and b are equal.
//
// The line matching is Myers' O((N+M)·D) algorithm in linear space, so a few changed lines
// in a file of thousands cost little; the worst case (two unrelated files) is quadratic in
// time, which for generated files of a few thousand lines is still well under a second.
func UnifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	delA, insB := diffLines(la, lb)
	var s strings.Builder
	fmt.Fprintf(&s, "--- %s\n+++ %s\n", nameA, nameB)
	for _, h := range hunks(changes(delA, insB), len(la)) {
		writeHunk(&s, h, la, lb)
	}
	return s.String()
}

// splitLines splits s after each "\n", keeping the "\n" with its line so that a last line
// without one differs from the same text with one. The empty string has no lines.
func splitLines(s string) []string {
	var lines []string
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// change is one maximal run of edits: a[i1:i2] is replaced by b[j1:j2], with at least one
// of the two ranges not empty. Between two changes the lines are equal in a and b.
type change struct{ i1, i2, j1, j2 int }

// changes turns the per-line marks of diffLines into runs of edits, in order.
func changes(delA, insB []bool) []change {
	var out []change
	i, j := 0, 0
	for i < len(delA) || j < len(insB) {
		// Unmarked lines pair up in order: they are the common subsequence.
		for i < len(delA) && j < len(insB) && !delA[i] && !insB[j] {
			i++
			j++
		}
		c := change{i1: i, j1: j}
		for i < len(delA) && delA[i] {
			i++
		}
		for j < len(insB) && insB[j] {
			j++
		}
		c.i2, c.j2 = i, j
		if c.i1 == c.i2 && c.j1 == c.j2 {
			break // only the end of both is left
		}
		out = append(out, c)
	}
	return out
}

// hunk is a group of changes printed together, with the old range a[i1:i2] and the new
// range b[j1:j2] it spans, context included.
type hunk struct {
	i1, i2, j1, j2 int
	changes        []change
}

// hunks groups changes that are at most 2·diffContext equal lines apart (their contexts
// touch or overlap), and widens each group by up to diffContext lines on either side.
func hunks(cs []change, n int) []hunk {
	var out []hunk
	for len(cs) > 0 {
		k := 1
		for k < len(cs) && cs[k].i1-cs[k-1].i2 <= 2*diffContext {
			k++
		}
		first, last := cs[0], cs[k-1]
		// The lines before first and after last are equal in a and b, so the context
		// is as long on both sides.
		pre := min(diffContext, first.i1)
		post := min(diffContext, n-last.i2)
		if k < len(cs) {
			post = min(diffContext, cs[k].i1-last.i2)
		}
		out = append(out, hunk{
			i1: first.i1 - pre, i2: last.i2 + post,
			j1: first.j1 - pre, j2: last.j2 + post,
			changes: cs[:k],
		})
		cs = cs[k:]
	}
	return out
}

func writeHunk(s *strings.Builder, h hunk, a, b []string) {
	fmt.Fprintf(s, "@@ -%s +%s @@\n", hunkRange(h.i1, h.i2), hunkRange(h.j1, h.j2))
	i := h.i1
	for _, c := range h.changes {
		writeLines(s, ' ', a[i:c.i1])
		writeLines(s, '-', a[c.i1:c.i2])
		writeLines(s, '+', b[c.j1:c.j2])
		i = c.i2
	}
	writeLines(s, ' ', a[i:h.i2])
}

func writeLines(s *strings.Builder, prefix byte, lines []string) {
	for _, l := range lines {
		s.WriteByte(prefix)
		s.WriteString(l)
		if !strings.HasSuffix(l, "\n") {
			s.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange writes the 0-based range [start, end) the way unified diffs number lines:
// "l,n" from line l (1-based), "l" alone when n is 1, and "l,0" for an empty range that
// follows line l.
func hunkRange(start, end int) string {
	switch n := end - start; n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	default:
		return fmt.Sprintf("%d,%d", start+1, n)
	}
}

// diffLines finds a shortest edit script from a to b and returns it as marks: delA[i]
// when a[i] is deleted, insB[j] when b[j] is inserted. The unmarked lines of a and of b,
// taken in order, are a longest common subsequence of the two.
func diffLines(a, b []string) (delA, insB []bool) {
	// Compare small integers instead of strings: equal lines get equal ids.
	ids := make(map[string]int, len(a)+len(b))
	intern := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			id, ok := ids[l]
			if !ok {
				id = len(ids)
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	m := &myers{a: intern(a), b: intern(b), delA: make([]bool, len(a)), insB: make([]bool, len(b))}
	size := 2*((len(a)+len(b)+1)/2) + 3
	m.fwd, m.rev = make([]int, size), make([]int, size)
	m.compare(0, len(a), 0, len(b))
	return m.delA, m.insB
}

// myers is the state of Myers' linear-space diff ("An O(ND) Difference Algorithm and Its
// Variations", 1986): find the middle snake of an optimal path with a search from both
// ends, then solve the two halves on either side of it the same way.
type myers struct {
	a, b       []int
	delA, insB []bool
	// fwd and rev hold, per diagonal, the furthest point reached by the forward and the
	// reverse search; middleSnake uses them as scratch space at every level.
	fwd, rev []int
}

// compare marks a shortest edit script from a[a0:a1] to b[b0:b1].
func (m *myers) compare(a0, a1, b0, b1 int) {
	for a0 < a1 && b0 < b1 && m.a[a0] == m.b[b0] {
		a0++
		b0++
	}
	for a0 < a1 && b0 < b1 && m.a[a1-1] == m.b[b1-1] {
		a1--
		b1--
	}
	switch {
	case a0 == a1:
		for j := b0; j < b1; j++ {
			m.insB[j] = true
		}
		return
	case b0 == b1:
		for i := a0; i < a1; i++ {
			m.delA[i] = true
		}
		return
	}
	// Both sides are non-empty and differ at both ends, so at least two edits are
	// needed, and each half left and right of the middle snake needs fewer: this ends.
	x0, y0, x1, y1 := m.middleSnake(m.a[a0:a1], m.b[b0:b1])
	m.compare(a0, a0+x0, b0, b0+y0)
	m.compare(a0+x1, a1, b0+y1, b1)
}

// middleSnake returns the snake (a run of equal lines, possibly empty) from (x0, y0) to
// (x1, y1) that lies in the middle of a shortest path through the edit graph of a and b,
// where x indexes a and y indexes b.
//
// The forward search runs from (0, 0); fwd[k] is the furthest x it has reached on diagonal
// k = x - y. The reverse search runs from (n, m) over the reversed sequences; rev[k] is the
// furthest distance u = n - x it has reached on its diagonal k = u - v (v = m - y), which
// is the forward diagonal delta - k. Both advance one edit per round; the first time they
// meet on a diagonal the path through that point is a shortest one. A value of -1 marks a
// diagonal that has no point inside the grid at that number of edits.
func (m *myers) middleSnake(a, b []int) (x0, y0, x1, y1 int) {
	n, mm := len(a), len(b)
	delta := n - mm
	odd := delta%2 != 0
	maxD := (n + mm + 1) / 2
	off := maxD + 1 // index of diagonal 0; diagonals -maxD-1 .. maxD+1 are read
	fwd, rev := m.fwd[:2*maxD+3], m.rev[:2*maxD+3]
	for i := range fwd {
		fwd[i], rev[i] = -1, -1
	}
	// Seed so that round 0 starts at x = 0 (u = 0) on diagonal 0.
	fwd[off+1], rev[off+1] = 0, 0

	// furthest computes the next furthest point on diagonal k of v from the previous
	// round's points on k-1 (one step right: x+1) and k+1 (one step down: y+1), then
	// slides along the snake with eq. It returns the start and the end of that snake,
	// or -1 when no point of diagonal k is reachable inside the n by mm grid.
	furthest := func(v []int, k int, eq func(x, y int) bool) (start, end int) {
		x := -1
		if down := v[off+k+1]; down >= 0 && down-k <= mm {
			x = down
		}
		if right := v[off+k-1]; right >= 0 && right+1 <= n && right+1 > x {
			x = right + 1
		}
		if x < 0 {
			return -1, -1
		}
		start = x
		for x < n && x-k < mm && eq(x, x-k) {
			x++
		}
		return start, x
	}
	fwdEq := func(x, y int) bool { return a[x] == b[y] }
	revEq := func(u, v int) bool { return a[n-1-u] == b[mm-1-v] }

	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			start, end := furthest(fwd, k, fwdEq)
			fwd[off+k] = end
			if end < 0 || !odd {
				continue
			}
			// With delta odd the searches meet after 2d-1 edits, d forward and d-1
			// back: compare with the reverse search's previous round.
			if kr := delta - k; kr >= -(d-1) && kr <= d-1 && rev[off+kr] >= 0 && end+rev[off+kr] >= n {
				return start, start - k, end, end - k
			}
		}
		for k := -d; k <= d; k += 2 {
			start, end := furthest(rev, k, revEq)
			rev[off+k] = end
			if end < 0 || odd {
				continue
			}
			// With delta even they meet after 2d edits, d each way.
			if kf := delta - k; kf >= -d && kf <= d && fwd[off+kf] >= 0 && fwd[off+kf]+end >= n {
				return n - end, mm - (end - k), n - start, mm - (start - k)
			}
		}
	}
	panic("ffgen: diff: the searches did not meet") // unreachable: a path always exists
}
