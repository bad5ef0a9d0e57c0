package parse

import (
	"strings"

	"github.com/flowfabric/ffgo/gen/diag"
)

// Text is a string that remembers where each of its bytes came from, so that pieces cut out
// of a multi-line annotation still report their own position.
type Text struct {
	S   string
	pos []diag.Pos
	at  diag.Pos // where an empty Text sits
}

// NewText builds a Text from lines joined by single spaces.
func NewText(lines []Line) Text {
	var b strings.Builder
	var pos []diag.Pos
	for i, l := range lines {
		s := strings.TrimSpace(l.Text)
		if i > 0 {
			b.WriteByte(' ')
			pos = append(pos, l.Pos)
		}
		b.WriteString(s)
		for j := range len(s) {
			p := l.Pos
			p.Col += j
			pos = append(pos, p)
		}
	}
	t := Text{S: b.String(), pos: pos}
	if len(lines) > 0 {
		t.at = lines[0].Pos
	}
	return t
}

// TextAt is a one-line Text starting at p.
func TextAt(s string, p diag.Pos) Text {
	return NewText([]Line{{Pos: p, Text: s}})
}

// Pos is the position of the first non-space byte (or of the end when there is none).
func (t Text) Pos() diag.Pos {
	for i := range len(t.S) {
		if t.S[i] != ' ' {
			return t.pos[i]
		}
	}
	return t.at
}

// Slice returns t.S[i:j] with its positions.
func (t Text) Slice(i, j int) Text {
	return Text{S: t.S[i:j], pos: t.pos[i:j], at: t.PosAt(i)}
}

// TrimSpace removes leading and trailing spaces.
func (t Text) TrimSpace() Text {
	i, j := 0, len(t.S)
	for i < j && t.S[i] == ' ' {
		i++
	}
	for j > i && t.S[j-1] == ' ' {
		j--
	}
	return Text{S: t.S[i:j], pos: t.pos[i:j], at: t.PosAt(i)}
}

// Split cuts t at every sep that is not inside parentheses. Square brackets do not protect
// separators: "[a, b]" splits into "[a" and "b]".
func (t Text) Split(sep byte) []Text {
	var out []Text
	depth, start := 0, 0
	for i := 0; i < len(t.S); i++ {
		switch c := t.S[i]; {
		case c == '(':
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		case c == sep && depth == 0:
			out = append(out, t.Slice(start, i))
			start = i + 1
		}
	}
	return append(out, t.Slice(start, len(t.S)))
}

// PosAt is the position of byte i (the end position when i is past the end).
func (t Text) PosAt(i int) diag.Pos {
	if i < len(t.pos) {
		return t.pos[i]
	}
	if n := len(t.pos); n > 0 {
		p := t.pos[n-1]
		p.Col += i - n + 1
		return p
	}
	return t.at
}
