package parse

import (
	"regexp"
	"strings"

	"github.com/flowfabric/ffgo/gen/diag"
)

// Header is a function's comment block, cut into its parts. What the parts mean (counts,
// types, reply shapes) is decided by the model package.
type Header struct {
	Name  *Text  // the first line, when it is a single word
	Prose []Line // every other line that is not a list or an annotation, in order
	Keys  *List
	Args  *List
	Annot []Annotation // @reply, @errors, @flags, ... in order
}

// List is a KEYS or ARGV line with its continuation lines.
type List struct {
	Kind  string // "KEYS" or "ARGV"
	Pos   diag.Pos
	Count Text // the text between the parentheses
	Items Text // everything after the closing parenthesis (and an optional ':')
}

// Annotation is an @word line with its continuation lines.
type Annotation struct {
	Word string // without '@'
	Pos  diag.Pos
	Body Text
}

var (
	listStartRe = regexp.MustCompile(`^(KEYS|ARGV)\s*\(`)
	annotRe     = regexp.MustCompile(`^@([A-Za-z0-9_-]*)`)
	nameLineRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ParseHeader splits header lines into the name line, prose, lists and annotations.
func ParseHeader(lines []Line, diags *diag.List) *Header {
	h := &Header{}
	first := true
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := l.Trimmed()
		switch {
		case t == "":
			if !first {
				h.Prose = append(h.Prose, l)
			}
			continue
		case listStartRe.MatchString(t):
			end := continuation(lines, i)
			list := parseList(lines[i:end], diags)
			if list != nil {
				target := &h.Keys
				if list.Kind == "ARGV" {
					target = &h.Args
				}
				if *target != nil {
					diags.Errorf(list.Pos, "second %s line in one header", list.Kind)
				} else {
					*target = list
				}
			}
			i = end - 1
		case strings.HasPrefix(t, "@"):
			end := continuation(lines, i)
			text := NewText(lines[i:end])
			m := annotRe.FindStringSubmatch(text.S)
			a := Annotation{Word: m[1], Pos: text.Pos(), Body: text.Slice(len(m[0]), len(text.S)).TrimSpace()}
			h.Annot = append(h.Annot, a)
			i = end - 1
		case first && nameLineRe.MatchString(t):
			txt := TextAt(t, l.Pos)
			h.Name = &txt
		default:
			h.Prose = append(h.Prose, l)
		}
		first = false
	}
	// Drop trailing blank prose lines.
	for len(h.Prose) > 0 && h.Prose[len(h.Prose)-1].Trimmed() == "" {
		h.Prose = h.Prose[:len(h.Prose)-1]
	}
	return h
}

// continuation returns the index after the last line of the list or annotation starting at
// lines[i]: a line continues when the previous one ends with ',' or '|', or when it is
// indented by four or more spaces.
func continuation(lines []Line, i int) int {
	j := i + 1
	for j < len(lines) {
		prev := lines[j-1].Trimmed()
		next := lines[j]
		if next.Trimmed() == "" {
			break
		}
		nt := next.Trimmed()
		if listStartRe.MatchString(nt) || strings.HasPrefix(nt, "@") {
			break
		}
		if strings.HasSuffix(prev, ",") || strings.HasSuffix(prev, "|") || next.Indent >= 4 {
			j++
			continue
		}
		break
	}
	return j
}

func parseList(lines []Line, diags *diag.List) *List {
	text := NewText(lines)
	m := listStartRe.FindStringSubmatch(text.S)
	list := &List{Kind: m[1], Pos: text.Pos()}
	open := len(m[0]) // index after '('
	closeAt := strings.IndexByte(text.S[open:], ')')
	if closeAt < 0 {
		diags.Errorf(text.PosAt(open-1), "%s: missing ')' after the count", list.Kind)
		return nil
	}
	closeAt += open
	list.Count = text.Slice(open, closeAt).TrimSpace()
	rest := text.Slice(closeAt+1, len(text.S)).TrimSpace()
	if strings.HasPrefix(rest.S, ":") {
		rest = rest.Slice(1, len(rest.S)).TrimSpace()
	}
	list.Items = rest
	return list
}
