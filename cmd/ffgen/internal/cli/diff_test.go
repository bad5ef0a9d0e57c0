package cli

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// lines joins the numbers from..to (inclusive) as "1\n2\n...", each line ended by "\n".
func lines(from, to int) string {
	var s strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&s, "%d\n", i)
	}
	return s.String()
}

// edit returns text with the given lines (1-based) replaced; a replacement of "" deletes
// the line, and a replacement may hold several lines.
func edit(text string, repl map[int]string) string {
	var s strings.Builder
	for i, l := range splitLines(text) {
		if r, ok := repl[i+1]; ok {
			s.WriteString(r)
			continue
		}
		s.WriteString(l)
	}
	return s.String()
}

func TestUnifiedDiffCases(t *testing.T) {
	ten := lines(1, 10)
	twenty := lines(1, 20)
	for _, tc := range []struct {
		name, a, b, want string
	}{
		{"equal", ten, ten, ""},
		{"both empty", "", "", ""},
		{"insert at start", ten, "new\n" + ten,
			"@@ -1,3 +1,4 @@\n+new\n 1\n 2\n 3\n"},
		{"delete at start", ten, edit(ten, map[int]string{1: ""}),
			"@@ -1,4 +1,3 @@\n-1\n 2\n 3\n 4\n"},
		{"change at start", ten, edit(ten, map[int]string{1: "one\n"}),
			"@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n"},
		{"insert in the middle", ten, edit(ten, map[int]string{5: "5\nnew\n"}),
			"@@ -3,6 +3,7 @@\n 3\n 4\n 5\n+new\n 6\n 7\n 8\n"},
		{"delete in the middle", ten, edit(ten, map[int]string{5: ""}),
			"@@ -2,7 +2,6 @@\n 2\n 3\n 4\n-5\n 6\n 7\n 8\n"},
		{"change in the middle", ten, edit(ten, map[int]string{5: "five\n", 6: "six\n"}),
			"@@ -2,8 +2,8 @@\n 2\n 3\n 4\n-5\n-6\n+five\n+six\n 7\n 8\n 9\n"},
		{"insert at end", ten, ten + "new\n",
			"@@ -8,3 +8,4 @@\n 8\n 9\n 10\n+new\n"},
		{"delete at end", ten, edit(ten, map[int]string{10: ""}),
			"@@ -7,4 +7,3 @@\n 7\n 8\n 9\n-10\n"},
		{"change at end", ten, edit(ten, map[int]string{10: "ten\n"}),
			"@@ -7,4 +7,4 @@\n 7\n 8\n 9\n-10\n+ten\n"},
		{"one-line hunk sides", "a\n", "b\n",
			"@@ -1 +1 @@\n-a\n+b\n"},
		// Seven equal lines between the changes (6 to 12 exclusive of both ends):
		// the contexts (3 + 3) do not touch, so two hunks.
		{"far apart", twenty, edit(twenty, map[int]string{5: "X\n", 13: "Y\n"}),
			"@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n" +
				"@@ -10,7 +10,7 @@\n 10\n 11\n 12\n-13\n+Y\n 14\n 15\n 16\n"},
		// Six equal lines between them: the contexts touch, so one hunk.
		{"close", twenty, edit(twenty, map[int]string{5: "X\n", 12: "Y\n"}),
			"@@ -2,14 +2,14 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n 9\n 10\n 11\n-12\n+Y\n 13\n 14\n 15\n"},
		{"empty old (added file)", "", "x\ny\n",
			"@@ -0,0 +1,2 @@\n+x\n+y\n"},
		{"empty new (removed file)", "x\ny\n", "",
			"@@ -1,2 +0,0 @@\n-x\n-y\n"},
		{"newline added at end", "a\nb", "a\nb\n",
			"@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"newline removed at end", "a\nb\n", "a\nb",
			"@@ -1,2 +1,2 @@\n a\n-b\n+b\n\\ No newline at end of file\n"},
		{"no newline on either side", "a\nb\nc", "a\nB\nc",
			"@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n\\ No newline at end of file\n"},
		{"added file without newline", "", "x",
			"@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n"},
		{"repeated lines, minimal", "a\nb\na\nb\na\n", "b\na\nb\na\nb\n",
			"@@ -1,5 +1,5 @@\n-a\n b\n a\n b\n a\n+b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want != "" {
				want = "--- a/f\n+++ b/f\n" + want
			}
			got := UnifiedDiff("a/f", "b/f", tc.a, tc.b)
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			if got != "" {
				if applied, err := applyDiff(tc.a, got); err != nil || applied != tc.b {
					t.Errorf("applying the diff: %q, %v; want %q", applied, err, tc.b)
				}
			}
		})
	}
}

// TestUnifiedDiffSmallChangeInLargeFile checks that a two-line change in a file of
// thousands of lines gives two small hunks, not one spanning the file.
func TestUnifiedDiffSmallChangeInLargeFile(t *testing.T) {
	a := lines(1, 3000)
	b := edit(a, map[int]string{10: "ten\n", 2990: ""})
	got := UnifiedDiff("old", "new", a, b)
	want := "--- old\n+++ new\n" +
		"@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n" +
		"@@ -2987,7 +2987,6 @@\n 2987\n 2988\n 2989\n-2990\n 2991\n 2992\n 2993\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestUnifiedDiffUnrelatedFiles is the worst case, every line different: it must still
// finish quickly and give one hunk removing all of a and adding all of b.
func TestUnifiedDiffUnrelatedFiles(t *testing.T) {
	var a, b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	got := UnifiedDiff("old", "new", a.String(), b.String())
	if dels, adds := countEdits(got); !strings.HasPrefix(got, "--- old\n+++ new\n@@ -1,3000 +1,3000 @@\n-a0\n") || dels != 3000 || adds != 3000 {
		t.Errorf("unexpected diff of unrelated files:\n%.300s", got)
	}
}

// TestUnifiedDiffRandomEdits checks, over random edits of random texts, that applying the
// printed hunks to the old text gives the new text, that the diff is minimal (as many
// removed and added lines as a longest-common-subsequence table says), and that hunks
// have the `diff -u` shape: at most three lines of context at their ends, exactly three
// unless at the file's start or end, and at most six unchanged lines in a row inside.
func TestUnifiedDiffRandomEdits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 3000 {
		// A small alphabet makes repeated lines, where a poor matching would show.
		alphabet := 2 + r.IntN(8)
		line := func() string { return fmt.Sprintf("l%d\n", r.IntN(alphabet)) }
		var old []string
		for range r.IntN(40) {
			old = append(old, line())
		}
		cur := append([]string(nil), old...)
		for range r.IntN(6) {
			switch pos := r.IntN(len(cur) + 1); r.IntN(3) {
			case 0: // insert a few lines
				var ins []string
				for range 1 + r.IntN(3) {
					ins = append(ins, line())
				}
				cur = append(cur[:pos], append(ins, cur[pos:]...)...)
			case 1: // delete a few lines
				cur = append(cur[:pos], cur[min(pos+1+r.IntN(3), len(cur)):]...)
			case 2: // change one line
				if pos < len(cur) {
					cur[pos] = line()
				}
			}
		}
		a, b := strings.Join(old, ""), strings.Join(cur, "")
		// Now and then drop the final newline of one side or both.
		if r.IntN(4) == 0 {
			a = strings.TrimSuffix(a, "\n")
		}
		if r.IntN(4) == 0 {
			b = strings.TrimSuffix(b, "\n")
		}

		d := UnifiedDiff("a/x", "b/x", a, b)
		if (d == "") != (a == b) {
			t.Fatalf("#%d: diff %q for a=%q b=%q", iter, d, a, b)
		}
		if d == "" {
			continue
		}
		got, err := applyDiff(a, d)
		if err != nil || got != b {
			t.Fatalf("#%d: applying\n%s\nto %q: got %q, %v; want %q", iter, d, a, got, err, b)
		}
		la, lb := splitLines(a), splitLines(b)
		dels, adds := countEdits(d)
		if common := lcsLen(la, lb); dels != len(la)-common || adds != len(lb)-common {
			t.Fatalf("#%d: not minimal: -%d +%d, want -%d +%d\n%s", iter, dels, adds, len(la)-common, len(lb)-common, d)
		}
		if err := checkShape(d, len(la)); err != nil {
			t.Fatalf("#%d: %v\n%s", iter, err, d)
		}
	}
}

var hunkHeader = regexp.MustCompile(`^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$`)

type parsedHunk struct {
	oldStart, oldLen, newStart, newLen int
	body                               []string // each line with its prefix and, unless "\ No newline" followed it, its "\n"
}

// parseDiff reads the hunks of a unified diff as UnifiedDiff prints it, checking the
// header and that each hunk's counts match its body.
func parseDiff(d string) ([]parsedHunk, error) {
	ls := strings.SplitAfter(d, "\n")
	if len(ls) < 3 || !strings.HasPrefix(ls[0], "--- ") || !strings.HasPrefix(ls[1], "+++ ") || ls[len(ls)-1] != "" {
		return nil, fmt.Errorf("bad header or ending")
	}
	var hs []parsedHunk
	for _, l := range ls[2 : len(ls)-1] {
		switch {
		case strings.HasPrefix(l, "@@"):
			m := hunkHeader.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
			if m == nil {
				return nil, fmt.Errorf("bad hunk header %q", l)
			}
			num := func(s string) int {
				if s == "" {
					return 1
				}
				n, _ := strconv.Atoi(s)
				return n
			}
			hs = append(hs, parsedHunk{oldStart: num(m[1]), oldLen: num(m[2]), newStart: num(m[3]), newLen: num(m[4])})
		case len(hs) == 0:
			return nil, fmt.Errorf("line %q before the first hunk", l)
		case l == "\\ No newline at end of file\n":
			h := &hs[len(hs)-1]
			if len(h.body) == 0 || !strings.HasSuffix(h.body[len(h.body)-1], "\n") {
				return nil, fmt.Errorf("misplaced %q", l)
			}
			h.body[len(h.body)-1] = strings.TrimSuffix(h.body[len(h.body)-1], "\n")
		case l[0] == ' ' || l[0] == '-' || l[0] == '+':
			h := &hs[len(hs)-1]
			h.body = append(h.body, l)
		default:
			return nil, fmt.Errorf("unexpected line %q", l)
		}
	}
	for _, h := range hs {
		var o, n int
		for _, l := range h.body {
			if l[0] != '+' {
				o++
			}
			if l[0] != '-' {
				n++
			}
		}
		if o != h.oldLen || n != h.newLen {
			return nil, fmt.Errorf("hunk -%d,%d +%d,%d has %d old and %d new lines", h.oldStart, h.oldLen, h.newStart, h.newLen, o, n)
		}
	}
	return hs, nil
}

// applyDiff applies a unified diff to old, checking that every context and removed line
// matches old and that the hunks' new line numbers agree with the text built so far.
func applyDiff(old, d string) (string, error) {
	hs, err := parseDiff(d)
	if err != nil {
		return "", err
	}
	src := splitLines(old)
	var out []string
	i := 0 // next line of src to copy
	for _, h := range hs {
		start := h.oldStart - 1 // 0-based index of the hunk's first old line
		if h.oldLen == 0 {
			start = h.oldStart // an empty range follows line oldStart
		}
		if start < i || start > len(src) {
			return "", fmt.Errorf("hunk at old line %d out of order", h.oldStart)
		}
		out = append(out, src[i:start]...)
		i = start
		newStart := h.newStart - 1
		if h.newLen == 0 {
			newStart = h.newStart
		}
		if newStart != len(out) {
			return "", fmt.Errorf("hunk says new line %d, but the new text is at %d", h.newStart, len(out)+1)
		}
		for _, l := range h.body {
			text := l[1:]
			if l[0] != '+' {
				if i >= len(src) || src[i] != text {
					return "", fmt.Errorf("old line %d is not %q", i+1, text)
				}
				i++
			}
			if l[0] != '-' {
				out = append(out, text)
			}
		}
	}
	out = append(out, src[i:]...)
	return strings.Join(out, ""), nil
}

func countEdits(d string) (dels, adds int) {
	for _, l := range strings.Split(d, "\n")[2:] {
		switch {
		case strings.HasPrefix(l, "-"):
			dels++
		case strings.HasPrefix(l, "+"):
			adds++
		}
	}
	return dels, adds
}

// lcsLen is the textbook O(N·M) length of a longest common subsequence, as a reference.
func lcsLen(a, b []string) int {
	row := make([]int, len(b)+1)
	for i := range a {
		prev := 0 // row[j] of the previous i
		for j := range b {
			next := row[j+1]
			if a[i] == b[j] {
				row[j+1] = prev + 1
			} else {
				row[j+1] = max(row[j+1], row[j])
			}
			prev = next
		}
	}
	return row[len(b)]
}

// checkShape checks the context around and inside each hunk, and that hunks do not
// touch: two hunks whose contexts touch should have been one.
func checkShape(d string, oldLines int) error {
	hs, err := parseDiff(d)
	if err != nil {
		return err
	}
	prevEnd := -1 // old line index after the previous hunk
	for _, h := range hs {
		start := h.oldStart - 1
		if h.oldLen == 0 {
			start = h.oldStart
		}
		end := start + h.oldLen
		if prevEnd >= 0 && start <= prevEnd {
			return fmt.Errorf("hunk at old line %d touches the one before", h.oldStart)
		}
		prevEnd = end
		var runs []int // lengths of the runs of context lines, in order
		run := 0
		for _, l := range h.body {
			if l[0] == ' ' {
				run++
				continue
			}
			runs = append(runs, run)
			run = 0
		}
		runs = append(runs, run)
		if len(runs) < 2 {
			return fmt.Errorf("hunk at old line %d has no change", h.oldStart)
		}
		lead, trail := runs[0], runs[len(runs)-1]
		if lead > diffContext || (lead < diffContext && start != 0) {
			return fmt.Errorf("hunk at old line %d: %d leading context lines", h.oldStart, lead)
		}
		if trail > diffContext || (trail < diffContext && end != oldLines) {
			return fmt.Errorf("hunk at old line %d: %d trailing context lines", h.oldStart, trail)
		}
		for _, r := range runs[1 : len(runs)-1] {
			if r > 2*diffContext {
				return fmt.Errorf("hunk at old line %d: %d unchanged lines inside", h.oldStart, r)
			}
		}
	}
	return nil
}

func BenchmarkUnifiedDiffFewChanges(b *testing.B) {
	a := lines(1, 3000)
	c := edit(a, map[int]string{10: "ten\n", 1500: "", 2990: "x\ny\n"})
	for b.Loop() {
		UnifiedDiff("a", "b", a, c)
	}
}

func BenchmarkUnifiedDiffUnrelated(b *testing.B) {
	var x, y strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&x, "a%d\n", i)
		fmt.Fprintf(&y, "b%d\n", i)
	}
	for b.Loop() {
		UnifiedDiff("a", "b", x.String(), y.String())
	}
}
