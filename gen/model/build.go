package model

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowfabric/ffgo/gen/diag"
	"github.com/flowfabric/ffgo/gen/parse"
)

// Options steer Build.
type Options struct {
	Library         string // library name for the shebang
	Prefix          string // stripped from Lua names before deriving Go names, e.g. "ff_"
	VersionFunction string // the function whose literal return value is the library version
}

// knownFlags are Valkey's function flags.
var knownFlags = map[string]bool{
	"no-writes": true, "allow-oom": true, "allow-stale": true, "no-cluster": true, "allow-cross-slot-keys": true,
}

// Build turns parsed files into the model, reporting every problem into diags.
func Build(files []*parse.File, opt Options, diags *diag.List) *Library {
	lib := &Library{Name: opt.Library, VersionFunction: opt.VersionFunction}
	b := &builder{opt: opt, diags: diags, byLua: map[string]*pending{}}
	for _, f := range files {
		lib.Files = append(lib.Files, f.Path)
		for _, pf := range f.Functions {
			p := b.function(pf)
			if prev, dup := b.byLua[pf.Name]; dup {
				diags.Errorf(pf.Pos, "function %s is already registered at %s", pf.Name, prev.src.Pos)
				continue
			}
			b.byLua[pf.Name] = p
			b.order = append(b.order, p)
		}
	}
	// References ("same as ff_x") are resolved once every function is known.
	for _, p := range b.order {
		b.resolve(p)
	}
	for _, p := range b.order {
		b.checkBody(p)
		lib.Functions = append(lib.Functions, p.fn)
	}
	b.checkGoNames(lib)
	lib.Codes = collectCodes(lib)
	if opt.VersionFunction != "" {
		p, ok := b.byLua[opt.VersionFunction]
		switch {
		case !ok:
			pos := diag.Pos{File: "lua", Line: 1}
			if len(files) > 0 {
				pos.File = files[0].Path
			}
			diags.Errorf(pos, "no function %s: the library version is read from it", opt.VersionFunction)
		case !p.src.HasLiteral:
			diags.Errorf(p.src.Pos, "%s must be `return '<version>'` so the version can be read", opt.VersionFunction)
		default:
			lib.Version = p.src.Literal
		}
	}
	return lib
}

type builder struct {
	opt   Options
	diags *diag.List
	byLua map[string]*pending
	order []*pending
}

// pending is a function being built, with what later passes still need.
type pending struct {
	src       *parse.Function
	fn        *Function
	hdr       *parse.Header
	keysRef   *listRef
	argsRef   *listRef
	declCodes map[string]bool
}

type listRef struct {
	list   *parse.List
	target string   // referenced function
	extra  []string // names added after the referenced list
	count  int
	added  int
}

func (b *builder) function(src *parse.Function) *pending {
	fn := &Function{LuaName: src.Name, GoName: FuncGoName(src.Name, b.opt.Prefix), Pos: src.Pos}
	p := &pending{src: src, fn: fn}
	h := parse.ParseHeader(src.Header, b.diags)
	p.hdr = h
	if !validLibName(src.Name) {
		b.diags.Errorf(src.Pos, "function name %q: Valkey allows only letters, digits and '_'", src.Name)
	}
	if h.Name != nil && h.Name.S != src.Name {
		if strings.Contains(h.Name.S, "_") {
			b.diags.Errorf(h.Name.Pos(), "header names %s but the call registers %s", h.Name.S, src.Name)
		} else {
			h.Prose = append([]parse.Line{{Pos: h.Name.Pos(), Text: h.Name.S}}, h.Prose...)
		}
	}
	for _, l := range h.Prose {
		fn.Doc = append(fn.Doc, l.Trimmed())
	}
	fn.Keys, p.keysRef = b.params(fn, h.Keys, h.Prose)
	fn.Args, p.argsRef = b.params(fn, h.Args, h.Prose)
	b.annotations(p)
	return p
}

var libNameRe = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func validLibName(s string) bool { return libNameRe.MatchString(s) }

func (b *builder) annotations(p *pending) {
	fn := p.fn
	seen := map[string]diag.Pos{}
	var headerFlags []string
	hasHeaderFlags := false
	for _, a := range p.hdr.Annot {
		if prev, dup := seen[a.Word]; dup && a.Word != "" {
			b.diags.Errorf(a.Pos, "second @%s (the first is at %s)", a.Word, prev)
			continue
		}
		seen[a.Word] = a.Pos
		switch a.Word {
		case "reply":
			fn.Reply = b.reply(fn, a)
		case "errors":
			p.declCodes = map[string]bool{}
			for _, it := range a.Body.Split(',') {
				code := it.TrimSpace()
				if code.S == "" {
					continue
				}
				if !codeRe.MatchString(code.S) {
					b.diags.Errorf(code.Pos(), "@errors: %q is not an error code (lower case letters, digits and '_')", code.S)
					continue
				}
				if p.declCodes[code.S] {
					b.diags.Errorf(code.Pos(), "@errors: %s listed twice", code.S)
					continue
				}
				p.declCodes[code.S] = true
				fn.Errors = append(fn.Errors, code.S)
			}
		case "flags":
			hasHeaderFlags = true
			for _, it := range strings.FieldsFunc(a.Body.S, func(r rune) bool { return r == ',' || r == ' ' }) {
				if !knownFlags[it] {
					b.diags.Errorf(a.Body.Pos(), "@flags: unknown flag %q (known: allow-cross-slot-keys, allow-oom, allow-stale, no-cluster, no-writes)", it)
					continue
				}
				headerFlags = append(headerFlags, it)
			}
		default:
			b.diags.Errorf(a.Pos, "unknown annotation @%s (known: @reply, @errors, @flags)", a.Word)
		}
	}
	if _, ok := seen["reply"]; !ok {
		fn.Reply = Reply{Kind: ReplyRaw}
		b.diags.Warnf(p.src.Pos, "%s has no @reply: its reply is returned raw", fn.LuaName)
	}
	// Flags: from the table-form registration, checked against @flags when both exist.
	src := p.src
	for _, f := range src.Flags {
		if !knownFlags[f] {
			b.diags.Errorf(src.FlagsPos, "unknown flag %q", f)
		}
	}
	switch {
	case src.HasFlags && hasHeaderFlags:
		if !sameSet(src.Flags, headerFlags) {
			b.diags.Errorf(src.FlagsPos, "flags {%s} differ from the header's @flags %s", strings.Join(src.Flags, ", "), strings.Join(headerFlags, ", "))
		}
		fn.Flags = slices.Clone(src.Flags)
	case src.HasFlags:
		fn.Flags = slices.Clone(src.Flags)
	case hasHeaderFlags:
		fn.Flags = headerFlags
		if slices.Contains(headerFlags, "no-writes") {
			b.diags.Errorf(seen["flags"], "@flags no-writes needs the table form register_function{..., flags={'no-writes'}}: Valkey would refuse FCALL_RO")
		}
	}
	fn.ReadOnly = slices.Contains(fn.Flags, "no-writes")
}

var codeRe = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// checkBody compares the callback body with the header: literal reads past the declared
// arity, and literal error codes missing from @errors.
func (b *builder) checkBody(p *pending) {
	fn := p.fn
	var maxKeys, maxArgs int
	var firstKeys, firstArgs diag.Pos
	for _, u := range p.src.Uses {
		params := fn.Keys
		hasList := p.hdr.Keys != nil
		if u.List == "ARGV" {
			params, hasList = fn.Args, p.hdr.Args != nil
		}
		if !hasList {
			if u.List == "KEYS" && u.Index > maxKeys {
				maxKeys, firstKeys = u.Index, u.Pos
			}
			if u.List == "ARGV" && u.Index > maxArgs {
				maxArgs, firstArgs = u.Index, u.Pos
			}
			continue
		}
		if params.Repeat == nil && u.Index > params.Len() {
			name := p.src.KeysParam
			if u.List == "ARGV" {
				name = p.src.ArgsParam
			}
			b.diags.Errorf(u.Pos, "%s[%d] is read but %s declares %d", name, u.Index, u.List, params.Len())
		}
	}
	// No list in the header but the body reads some: a variadic binding, with a warning.
	if maxKeys > 0 {
		b.diags.Warnf(firstKeys, "%s has no KEYS line but reads keys[%d]: the binding takes Rest []string", fn.LuaName, maxKeys)
		fn.Keys = Params{Repeat: &Repeat{LuaName: "rest", GoName: "Rest", Items: []Param{{LuaName: "key", GoName: "Key", Type: String}}}}
	}
	if maxArgs > 0 {
		b.diags.Warnf(firstArgs, "%s has no ARGV line but reads args[%d]: the binding takes Rest []string", fn.LuaName, maxArgs)
		fn.Args = Params{Repeat: &Repeat{LuaName: "rest", GoName: "Rest", Items: []Param{{LuaName: "arg", GoName: "Arg", Type: String}}}}
	}
	for _, c := range p.src.ErrCodes {
		if p.declCodes == nil {
			b.diags.Warnf(c.Pos, "err('%s') but %s has no @errors", c.Code, fn.LuaName)
			continue
		}
		if !p.declCodes[c.Code] {
			b.diags.Errorf(c.Pos, "err('%s') is not listed in @errors of %s", c.Code, fn.LuaName)
		}
	}
}

// checkGoNames reports two declarations that would get the same Go identifier.
func (b *builder) checkGoNames(lib *Library) {
	taken := map[string]string{}
	for _, fixed := range []string{"Client", "New", "Functions", "Load", "Source", "LibraryName", "LibraryVersion"} {
		taken[fixed] = "the package itself"
	}
	for _, fn := range lib.Functions {
		names := []string{fn.GoName, "Fn" + fn.GoName, fn.GoName + "Keys", fn.GoName + "Args", fn.GoName + "Reply", fn.GoName + "Cmd", "Parse" + fn.GoName}
		for _, r := range []*Repeat{fn.Keys.Repeat, fn.Args.Repeat} {
			if r != nil && r.TypeName != "" {
				names = append(names, r.TypeName)
			}
		}
		for _, n := range names {
			if other, ok := taken[n]; ok {
				b.diags.Errorf(fn.Pos, "%s: Go name %s is already used by %s", fn.LuaName, n, other)
				continue
			}
			taken[n] = fn.LuaName
		}
	}
}

func collectCodes(lib *Library) []ErrorCode {
	byCode := map[string]*ErrorCode{}
	for _, fn := range lib.Functions {
		for _, c := range fn.Errors {
			ec := byCode[c]
			if ec == nil {
				ec = &ErrorCode{Code: c, GoName: ErrName(c)}
				byCode[c] = ec
			}
			ec.Functions = append(ec.Functions, fn.LuaName)
		}
	}
	var out []ErrorCode
	for _, ec := range byCode {
		out = append(out, *ec)
	}
	slices.SortFunc(out, func(a, b ErrorCode) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// ---- replies ----

var (
	altRe        = regexp.MustCompile(`^([a-z][a-z0-9_]*)\s*\((.*)\)$`)
	replyFieldRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?(\.\.\.)?$`)
)

func (b *builder) reply(fn *Function, a parse.Annotation) Reply {
	body := a.Body
	switch body.S {
	case "string":
		return Reply{Kind: ReplyString}
	case "int":
		return Reply{Kind: ReplyInt}
	case "raw":
		return Reply{Kind: ReplyRaw}
	case "":
		b.diags.Errorf(a.Pos, "@reply needs a shape: ok(...), string, int or raw")
		return Reply{Kind: ReplyRaw}
	}
	r := Reply{Kind: ReplyTuple}
	fields := map[string]Param{}
	statuses := map[string]bool{}
	for _, altText := range body.Split('|') {
		altText = altText.TrimSpace()
		m := altRe.FindStringSubmatch(altText.S)
		if m == nil {
			b.diags.Errorf(altText.Pos(), "@reply: cannot read %q: want name(field, ...) alternatives separated by '|'", altText.S)
			continue
		}
		alt := Alt{Name: m[1], Status: strings.ToUpper(m[1])}
		if statuses[alt.Status] {
			b.diags.Errorf(altText.Pos(), "@reply: alternative %s given twice", m[1])
			continue
		}
		statuses[alt.Status] = true
		inner := altText.Slice(len(m[1]), len(altText.S)).TrimSpace()
		inner = inner.Slice(1, len(inner.S)-1) // drop the parentheses
		items := inner.Split(',')
		seen := map[string]bool{}
		for i, it := range items {
			it = it.TrimSpace()
			if it.S == "" {
				if len(items) > 1 {
					b.diags.Errorf(it.Pos(), "@reply: empty field name")
				}
				continue
			}
			fm := replyFieldRe.FindStringSubmatch(it.S)
			if fm == nil {
				b.diags.Errorf(it.Pos(), "@reply: cannot read field %q: want name, name:type, name? or name...", it.S)
				continue
			}
			typ, ok := b.typ(fm[2], it)
			if !ok {
				continue
			}
			p := Param{LuaName: fm[1], GoName: GoName(fm[1]), Type: typ, MayBeEmpty: fm[3] != ""}
			if p.GoName == "Status" {
				b.diags.Errorf(it.Pos(), "@reply: field %s collides with the reply's Status", fm[1])
				continue
			}
			if seen[p.GoName] {
				b.diags.Errorf(it.Pos(), "@reply: field %s given twice in %s(...)", fm[1], alt.Name)
				continue
			}
			seen[p.GoName] = true
			if fm[4] != "" {
				if i != len(items)-1 {
					b.diags.Errorf(it.Pos(), "@reply: only the last field may repeat (%s...)", fm[1])
					continue
				}
				p.MayBeEmpty = false
				if r.Rest != nil && (r.Rest.GoName != p.GoName || r.Rest.Type != p.Type) {
					b.diags.Errorf(it.Pos(), "@reply: every alternative must repeat the same field (%s... here, %s... before)", fm[1], r.Rest.LuaName)
					continue
				}
				if prev, ok := fields[p.GoName]; ok {
					b.diags.Errorf(it.Pos(), "@reply: %s is both a field and the repeated rest (%s)", fm[1], prev.LuaName)
					continue
				}
				r.Rest = &p
				alt.Rest = true
				continue
			}
			if prev, ok := fields[p.GoName]; ok {
				if prev.Type != p.Type {
					b.diags.Errorf(it.Pos(), "@reply: field %s is %s here but %s in another alternative", fm[1], p.Type, prev.Type)
					continue
				}
			} else {
				if r.Rest != nil && r.Rest.GoName == p.GoName {
					b.diags.Errorf(it.Pos(), "@reply: %s is both a field and the repeated rest", fm[1])
					continue
				}
				fields[p.GoName] = p
				r.Fields = append(r.Fields, p)
			}
			alt.Fields = append(alt.Fields, p.GoName)
		}
		r.Alts = append(r.Alts, alt)
	}
	// A field optional in one alternative stays optional in the union only if it is
	// optional wherever it appears; MayBeEmpty is per position, so record it per alt.
	return r
}

func (b *builder) typ(name string, at parse.Text) (Type, bool) {
	switch name {
	case "", "string":
		return String, true
	case "int":
		return Int, true
	case "float":
		return Float, true
	case "bool":
		return Bool, true
	case "bytes":
		return Bytes, true
	}
	b.diags.Errorf(at.Pos(), "unknown type %q in %q (known: string, int, float, bool, bytes)", name, at.S)
	return "", false
}

// ---- counts ----

type countSpec struct {
	fixed    int // the constant part
	max      int // "A or B": B; otherwise -1
	group    int // size of the repeated group in "F + k*N"; 0 when none
	label    string
	atLeast  bool // ">=A"
	even     bool
	variable bool
}

var (
	orRe      = regexp.MustCompile(`^(\d+)\s+or\s+(\d+)$`)
	atLeastRe = regexp.MustCompile(`^>=\s*(\d+)\s*(,\s*even)?$`)
	termNumRe = regexp.MustCompile(`^\d+$`)
	termVarRe = regexp.MustCompile(`^(?:(\d+)\s*\*?\s*)?(N(?:_[A-Za-z0-9_]+)?)$`)
)

func (b *builder) count(kind string, t parse.Text) (countSpec, bool) {
	s := strings.TrimSpace(t.S)
	c := countSpec{max: -1}
	switch {
	case s == "variable":
		c.variable = true
		return c, true
	case orRe.MatchString(s):
		m := orRe.FindStringSubmatch(s)
		c.fixed, _ = strconv.Atoi(m[1])
		c.max, _ = strconv.Atoi(m[2])
		if c.max <= c.fixed {
			b.diags.Errorf(t.Pos(), "%s (%s): the second count must be larger than the first", kind, s)
			return c, false
		}
		return c, true
	case atLeastRe.MatchString(s):
		m := atLeastRe.FindStringSubmatch(s)
		c.fixed, _ = strconv.Atoi(m[1])
		c.atLeast, c.even = true, m[2] != ""
		return c, true
	}
	for _, term := range strings.Split(s, "+") {
		term = strings.TrimSpace(term)
		switch {
		case termNumRe.MatchString(term):
			n, _ := strconv.Atoi(term)
			c.fixed += n
		case termVarRe.MatchString(term):
			m := termVarRe.FindStringSubmatch(term)
			if c.group != 0 {
				b.diags.Errorf(t.Pos(), "%s (%s): only one repeated term is supported", kind, s)
				return c, false
			}
			c.group = 1
			if m[1] != "" {
				c.group, _ = strconv.Atoi(m[1])
			}
			if c.group == 0 {
				b.diags.Errorf(t.Pos(), "%s (%s): a repeated group of size 0", kind, s)
				return c, false
			}
			c.label = strings.TrimPrefix(strings.TrimPrefix(m[2], "N"), "_")
		default:
			b.diags.Errorf(t.Pos(), "%s (%s): cannot read the count (want N, A+N, A+k*N, A or B, >=A, variable)", kind, s)
			return c, false
		}
	}
	return c, true
}

// ---- list items ----

type itemKind int

const (
	itemName     itemKind = iota // a plain name
	itemRange                    // edge_0..N
	itemEllipsis                 // ...
	itemRepeat                   // name...
	itemGroup                    // label(a, b)...
	itemProse                    // words that are no name: part of a note
)

type item struct {
	kind     itemKind
	pos      diag.Pos
	text     string
	name     string
	typ      Type
	opt      bool // '?'
	bracket  bool // inside [...]
	note     string
	dashNote bool
	group    []item // for itemGroup
}

var (
	nameItemRe  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)(\.\.[A-Za-z0-9_]+)?(?::([A-Za-z]+))?(\?)?(\.\.\.)?`)
	groupItemRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\((.*)\)\.\.\.$`)
)

func (b *builder) items(kind string, t parse.Text) []item {
	var out []item
	inBracket := false
	parts := t.Split(',')
	for i, raw := range parts {
		raw = raw.TrimSpace()
		if raw.S == "" {
			if i != len(parts)-1 {
				b.diags.Errorf(raw.Pos(), "%s: empty name", kind)
			}
			continue
		}
		it := item{pos: raw.Pos(), text: raw.S}
		s := raw.S
		if strings.HasPrefix(s, "[") {
			inBracket = true
			s = strings.TrimSpace(s[1:])
			it.pos.Col++
		}
		it.bracket = inBracket
		if strings.HasSuffix(s, "]") {
			inBracket = false
			s = strings.TrimSpace(s[:len(s)-1])
		}
		switch {
		case s == "..." || s == "…":
			it.kind = itemEllipsis
		case groupItemRe.MatchString(s):
			m := groupItemRe.FindStringSubmatch(s)
			it.kind, it.name = itemGroup, m[1]
			inner := parse.TextAt(m[2], diag.Pos{File: it.pos.File, Line: it.pos.Line, Col: it.pos.Col + len(m[1]) + 1})
			for _, g := range b.items(kind, inner) {
				if g.kind != itemName || g.bracket {
					b.diags.Errorf(g.pos, "%s: a repeated group holds plain names only, not %q", kind, g.text)
					continue
				}
				it.group = append(it.group, g)
			}
		default:
			m := nameItemRe.FindStringSubmatch(s)
			if m == nil {
				it.kind = itemProse
				break
			}
			it.name = m[1]
			typ, ok := b.typ(m[3], raw)
			if !ok {
				typ = String
			}
			it.typ, it.opt = typ, m[4] != ""
			switch {
			case m[2] != "":
				it.kind = itemRange
			case m[5] != "":
				it.kind = itemRepeat
			}
			rest := strings.TrimSpace(s[len(m[0]):])
			switch {
			case rest == "":
			case strings.HasPrefix(rest, "(") && strings.HasSuffix(rest, ")"):
				it.note = rest
			case strings.HasPrefix(rest, "—") || strings.HasPrefix(rest, "–") || strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, ":"):
				it.note, it.dashNote = rest, true
			default:
				it.kind, it.name = itemProse, ""
			}
		}
		out = append(out, it)
	}
	return out
}

// params interprets a KEYS or ARGV list.
func (b *builder) params(fn *Function, list *parse.List, prose []parse.Line) (Params, *listRef) {
	var ps Params
	if list == nil {
		return ps, nil
	}
	kind := list.Kind
	spec, ok := b.count(kind, list.Count)
	if !ok {
		return ps, nil
	}
	if strings.HasPrefix(list.Items.S, "same as ") {
		return ps, b.reference(list, spec)
	}
	items := b.items(kind, list.Items)

	// Notes are dropped from names; words after a dash note belong to the note as long as
	// the count is already met.
	var names []item
	var lastDash bool
	for _, it := range items {
		if it.kind == itemProse {
			if lastDash || (len(names) > 0 && names[len(names)-1].note != "") {
				continue
			}
			b.diags.Errorf(it.pos, "%s: cannot read a name in %q", kind, it.text)
			continue
		}
		if it.note != "" {
			b.diags.Warnf(it.pos, "%s: note %q dropped from %s", kind, it.note, it.name)
		}
		lastDash = it.dashNote
		names = append(names, it)
	}

	plainPrefix := 0
	for plainPrefix < len(names) && names[plainPrefix].kind == itemName && !names[plainPrefix].bracket {
		plainPrefix++
	}
	toParams := func(its []item) []Param {
		out := make([]Param, 0, len(its))
		for _, it := range its {
			out = append(out, Param{LuaName: it.name, GoName: GoName(it.name), Type: it.typ, MayBeEmpty: it.opt})
		}
		return out
	}
	pos := list.Count.Pos()

	switch {
	case spec.variable:
		ps.Fixed = toParams(names[:plainPrefix])
		ps.Repeat = restOf()
		b.diags.Warnf(pos, "%s (variable): binding takes %d named values, then Rest []string", kind, plainPrefix)

	case spec.atLeast:
		if spec.even {
			// The pairs start at the first numbered name: k1, v1, k2, v2, ...
			first := slices.IndexFunc(names, func(it item) bool { return strings.TrimRight(it.name, "0123456789") != it.name })
			if g := pairGroup(names[max(first, 0):]); first >= 0 && g != nil {
				ps.Fixed = toParams(names[:first])
				ps.Repeat = &Repeat{LuaName: "pair", GoName: "Pairs", Items: g, TypeName: fn.GoName + kindWord(kind) + "Pair"}
				b.diags.Warnf(pos, "%s (>=%d, even): read as repeated pairs (%s, %s)", kind, spec.fixed, g[0].LuaName, g[1].LuaName)
				break
			}
		}
		ps.Fixed = toParams(names[:plainPrefix])
		ps.Repeat = restOf()
		b.diags.Warnf(pos, "%s (>=%d): binding takes %d named values, then Rest []string", kind, spec.fixed, plainPrefix)

	case spec.group > 0:
		tail := names[min(spec.fixed, len(names)):]
		if plainPrefix < spec.fixed {
			b.diags.Errorf(pos, "%s (%s): the count's fixed part is %d but %d names precede the repeated part", kind, list.Count.S, spec.fixed, plainPrefix)
			return ps, nil
		}
		ps.Fixed = toParams(names[:spec.fixed])
		ps.Repeat = b.repeatTail(fn, kind, spec, tail, prose, pos)

	default:
		// A fixed count, maybe with an optional tail ("A or B").
		var fixed, optional []item
		for _, it := range names {
			if it.kind != itemName {
				b.diags.Errorf(it.pos, "%s (%s): %q repeats, but the count has no repeated part (write it as %d+N)", kind, list.Count.S, it.text, spec.fixed)
				continue
			}
			if it.bracket {
				optional = append(optional, it)
			} else {
				if len(optional) > 0 {
					b.diags.Errorf(it.pos, "%s: %s follows the optional tail; optional names go last", kind, it.name)
				}
				fixed = append(fixed, it)
			}
		}
		want := spec.fixed
		if spec.max >= 0 {
			if len(fixed) != spec.fixed || len(fixed)+len(optional) != spec.max {
				b.diags.Errorf(pos, "%s (%s) but %d names and %d optional names are listed", kind, list.Count.S, len(fixed), len(optional))
			}
		} else if len(fixed)+len(optional) != want {
			b.diags.Errorf(pos, "%s (%d) but %d names are listed", kind, want, len(fixed)+len(optional))
		}
		ps.Fixed = toParams(fixed)
		ps.Optional = toParams(optional)
	}
	b.checkParamNames(kind, ps, names)
	return ps, nil
}

func kindWord(kind string) string {
	if kind == "KEYS" {
		return "Keys"
	}
	return "Args"
}

func restOf() *Repeat {
	return &Repeat{LuaName: "rest", GoName: "Rest", Items: []Param{{LuaName: "value", GoName: "Value", Type: String}}}
}

// pairGroup reads "k1, v1, k2, v2, ..." as the group (k, v).
func pairGroup(its []item) []Param {
	if len(its) < 2 || its[0].kind != itemName || its[1].kind != itemName {
		return nil
	}
	k := strings.TrimRight(its[0].name, "0123456789")
	v := strings.TrimRight(its[1].name, "0123456789")
	if k == "" || v == "" || k == v || k == its[0].name {
		return nil
	}
	return []Param{{LuaName: k, GoName: GoName(k), Type: String}, {LuaName: v, GoName: GoName(v), Type: String}}
}

var forEachRe = regexp.MustCompile(`for each\s+([A-Za-z_][A-Za-z0-9_]*)[^:]*:\s*(.+)$`)

// repeatTail builds the repeated part of "F + k*N".
func (b *builder) repeatTail(fn *Function, kind string, spec countSpec, tail []item, prose []parse.Line, pos diag.Pos) *Repeat {
	// Our own forms: name... and label(a, b)...
	if len(tail) == 1 && tail[0].kind == itemRepeat {
		it := tail[0]
		if spec.group != 1 {
			b.diags.Errorf(it.pos, "%s: %s... repeats one value but the count repeats groups of %d", kind, it.name, spec.group)
		}
		return &Repeat{LuaName: it.name, GoName: Plural(it.name), Items: []Param{{LuaName: it.name, GoName: GoName(it.name), Type: it.typ, MayBeEmpty: it.opt}}}
	}
	if len(tail) == 1 && tail[0].kind == itemGroup {
		it := tail[0]
		if len(it.group) != spec.group {
			b.diags.Errorf(it.pos, "%s: group %s(...) has %d names but the count repeats groups of %d", kind, it.name, len(it.group), spec.group)
		}
		var items []Param
		for _, g := range it.group {
			items = append(items, Param{LuaName: g.name, GoName: GoName(g.name), Type: g.typ, MayBeEmpty: g.opt})
		}
		return &Repeat{LuaName: it.name, GoName: Plural(it.name), Items: items, TypeName: fn.GoName + kindWord(kind) + GoName(it.name)}
	}
	for _, it := range tail {
		if it.kind == itemRepeat || it.kind == itemGroup {
			b.diags.Errorf(it.pos, "%s: the repeated %s must be the only name after the %d fixed ones", kind, it.name, spec.fixed)
			return restOf()
		}
	}
	plainOnly := len(tail) > 0
	for _, it := range tail {
		plainOnly = plainOnly && it.kind == itemName && !it.bracket
	}
	if plainOnly {
		b.diags.Errorf(tail[0].pos, "%s: the count has %d fixed names but %d are listed; mark the repeated part (name... or [name_0..N])", kind, spec.fixed, spec.fixed+len(tail))
		return restOf()
	}
	// Foreign forms.
	if spec.group == 1 {
		if len(tail) == 1 && tail[0].kind == itemRange {
			base := strings.TrimRight(tail[0].name, "_0123456789")
			return &Repeat{LuaName: base, GoName: Plural(base), Items: []Param{{LuaName: base, GoName: GoName(base), Type: tail[0].typ}}}
		}
		if len(tail) > 0 {
			b.diags.Warnf(pos, "%s: the variable part after %d names is read as Rest []string", kind, spec.fixed)
		}
		return restOf()
	}
	label := spec.label
	if label == "" {
		label = "item"
	}
	for _, l := range prose {
		m := forEachRe.FindStringSubmatch(l.Trimmed())
		if m == nil {
			continue
		}
		var items []Param
		for _, n := range strings.Split(m[2], ",") {
			n = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(n), "."))
			if !nameItemRe.MatchString(n) || nameItemRe.FindString(n) != n {
				items = nil
				break
			}
			items = append(items, Param{LuaName: n, GoName: GoName(n), Type: String})
		}
		if len(items) == spec.group {
			b.diags.Warnf(l.Pos, "%s: repeated group of %d read from the prose: %s", kind, spec.group, strings.TrimSpace(m[2]))
			return &Repeat{LuaName: label, GoName: Plural(label), Items: items, TypeName: fn.GoName + kindWord(kind) + GoName(label)}
		}
	}
	var items []Param
	for i := 1; i <= spec.group; i++ {
		n := fmt.Sprintf("%s_%d", label, i)
		items = append(items, Param{LuaName: n, GoName: GoName(n), Type: String})
	}
	b.diags.Warnf(pos, "%s: the names of the repeated group of %d are not given; fields %s..%s", kind, spec.group, items[0].GoName, items[len(items)-1].GoName)
	return &Repeat{LuaName: label, GoName: Plural(label), Items: items, TypeName: fn.GoName + kindWord(kind) + GoName(label)}
}

// checkParamNames reports duplicate Lua names and Go-name collisions within one list.
func (b *builder) checkParamNames(kind string, ps Params, names []item) {
	posOf := map[string]diag.Pos{}
	for _, it := range names {
		if _, ok := posOf[it.name]; !ok {
			posOf[it.name] = it.pos
		}
	}
	lua := map[string]bool{}
	goNames := map[string]string{}
	all := append(slices.Clone(ps.Fixed), ps.Optional...)
	if ps.Repeat != nil {
		all = append(all, Param{LuaName: ps.Repeat.LuaName, GoName: ps.Repeat.GoName})
	}
	for _, p := range all {
		at := posOf[p.LuaName]
		if lua[p.LuaName] {
			b.diags.Errorf(at, "%s: %s is listed twice", kind, p.LuaName)
			continue
		}
		lua[p.LuaName] = true
		if other, ok := goNames[p.GoName]; ok {
			b.diags.Errorf(at, "%s: %s and %s both become the Go field %s", kind, other, p.LuaName, p.GoName)
			continue
		}
		goNames[p.GoName] = p.LuaName
	}
}

// ---- references: "same as ff_x (17 + extra_name)" ----

var refRe = regexp.MustCompile(`^same as ([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((\d+)\s*\+\s*([^)]*)\))?\s*$`)

func (b *builder) reference(list *parse.List, spec countSpec) *listRef {
	m := refRe.FindStringSubmatch(list.Items.S)
	if m == nil {
		b.diags.Errorf(list.Items.Pos(), "%s: cannot read the reference %q (want: same as ff_x or same as ff_x (N + name, ...))", list.Kind, list.Items.S)
		return nil
	}
	if spec.group > 0 || spec.variable || spec.atLeast || spec.max >= 0 {
		b.diags.Errorf(list.Count.Pos(), "%s: a reference needs a plain count", list.Kind)
		return nil
	}
	ref := &listRef{list: list, target: m[1], count: spec.fixed, added: -1}
	if m[2] != "" {
		ref.added, _ = strconv.Atoi(m[2])
		for _, n := range strings.Split(m[3], ",") {
			if n = strings.TrimSpace(n); n != "" {
				ref.extra = append(ref.extra, n)
			}
		}
	}
	return ref
}

func (b *builder) resolve(p *pending) {
	resolveOne := func(ref *listRef, dst *Params, keys bool) {
		if ref == nil {
			return
		}
		target, ok := b.byLua[ref.target]
		if !ok {
			b.diags.Errorf(ref.list.Items.Pos(), "%s: refers to %s, which is not registered", ref.list.Kind, ref.target)
			return
		}
		if target.keysRef != nil && keys || target.argsRef != nil && !keys {
			b.diags.Errorf(ref.list.Items.Pos(), "%s: %s's list is itself a reference; refer to the original", ref.list.Kind, ref.target)
			return
		}
		src := target.fn.Args
		if keys {
			src = target.fn.Keys
		}
		if !src.IsFixed() {
			b.diags.Errorf(ref.list.Items.Pos(), "%s: %s's list is not fixed and cannot be referred to", ref.list.Kind, ref.target)
			return
		}
		if ref.added >= 0 && ref.added != src.Len() {
			b.diags.Errorf(ref.list.Items.Pos(), "%s: %s has %d names, not %d", ref.list.Kind, ref.target, src.Len(), ref.added)
		}
		out := Params{Fixed: slices.Clone(src.Fixed)}
		for _, n := range ref.extra {
			if !nameItemRe.MatchString(n) || nameItemRe.FindString(n) != n {
				b.diags.Errorf(ref.list.Items.Pos(), "%s: cannot read the added name %q", ref.list.Kind, n)
				continue
			}
			out.Fixed = append(out.Fixed, Param{LuaName: n, GoName: GoName(n), Type: String})
		}
		if len(out.Fixed) != ref.count {
			b.diags.Errorf(ref.list.Count.Pos(), "%s (%d) but the reference gives %d names", ref.list.Kind, ref.count, len(out.Fixed))
		}
		b.diags.Warnf(ref.list.Items.Pos(), "%s: names copied from %s", ref.list.Kind, ref.target)
		*dst = out
	}
	resolveOne(p.keysRef, &p.fn.Keys, true)
	resolveOne(p.argsRef, &p.fn.Args, false)
}
