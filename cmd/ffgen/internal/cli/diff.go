package cli

import (
	"fmt"
	"strings"
)

// UnifiedDiff renders the change from a to b as one unified-diff hunk around the region
// between their common first and last lines, with three lines of context. It is enough
// for showing drift between generated files; it is not a minimal diff.
func UnifiedDiff(nameA, nameB, a, b string) string {
	if a == b {
		return ""
	}
	la, lb := splitLines(a), splitLines(b)
	pre := 0
	for pre < len(la) && pre < len(lb) && la[pre] == lb[pre] {
		pre++
	}
	suf := 0
	for suf < len(la)-pre && suf < len(lb)-pre && la[len(la)-1-suf] == lb[len(lb)-1-suf] {
		suf++
	}
	const ctx = 3
	start := max(pre-ctx, 0)
	endA := min(len(la)-suf+ctx, len(la))
	endB := min(len(lb)-suf+ctx, len(lb))
	var s strings.Builder
	fmt.Fprintf(&s, "--- %s\n+++ %s\n", nameA, nameB)
	fmt.Fprintf(&s, "@@ -%s +%s @@\n", hunkRange(start, endA), hunkRange(start, endB))
	for _, l := range la[start:pre] {
		s.WriteString(" " + l + "\n")
	}
	for _, l := range la[pre : len(la)-suf] {
		s.WriteString("-" + l + "\n")
	}
	for _, l := range lb[pre : len(lb)-suf] {
		s.WriteString("+" + l + "\n")
	}
	for _, l := range la[len(la)-suf : endA] {
		s.WriteString(" " + l + "\n")
	}
	return s.String()
}

func hunkRange(start, end int) string {
	n := end - start
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
