// Package parse reads Lua source files of a Valkey function library and finds each
// redis.register_function / server.register_function call together with the raw comment
// header above it and what its body reads from KEYS and ARGV.
//
// It knows Lua and comment lines only; what the header means is the model package's job.
package parse

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flowfabric/ffgo/gen/diag"
	"github.com/yuin/gopher-lua/ast"
	luaparse "github.com/yuin/gopher-lua/parse"
)

// File is one parsed Lua source file.
type File struct {
	Path      string      // as shown in diagnostics, e.g. "lua/lease.lua"
	Source    []byte      // the file's bytes, unchanged
	Functions []*Function // registrations in source order
}

// Function is one register_function call.
type Function struct {
	Name string   // the registered name
	Pos  diag.Pos // position of the register_function call
	// Table is true for the table form register_function{function_name=..., callback=...}.
	Table    bool
	Flags    []string // flags={...} of the table form
	HasFlags bool
	FlagsPos diag.Pos

	Header []Line // the comment block above the call, top to bottom, rulers dropped

	KeysParam, ArgsParam string // the callback's parameter names ("" when absent)
	Uses                 []Use  // literal keys[i] / args[i] reads in the callback body
	ErrCodes             []Code // literal err('code', ...) calls in the callback body
	// Literal is the string of a callback whose whole body is `return '<literal>'`.
	Literal    string
	HasLiteral bool
}

// Line is one comment line of a header.
type Line struct {
	Pos    diag.Pos // position of the first character after "--"
	Text   string   // the text after "--", not trimmed
	Indent int      // number of spaces between "--" and the text
}

// Trimmed returns the line's text without surrounding white space.
func (l Line) Trimmed() string { return strings.TrimSpace(l.Text) }

// Use is a literal read of KEYS or ARGV in a callback body.
type Use struct {
	Pos   diag.Pos
	List  string // "KEYS" or "ARGV"
	Index int
}

// Code is a literal error code returned through err('code', ...).
type Code struct {
	Pos  diag.Pos
	Code string
}

// File parses one Lua source. Syntax errors and registrations it cannot read are added to
// diags; the returned File holds what could be read.
func ParseFile(path string, src []byte, diags *diag.List) *File {
	f := &File{Path: path, Source: src}
	chunk, err := luaparse.Parse(bytes.NewReader(src), path)
	if err != nil {
		diags.Errorf(syntaxPos(path, err), "%s", syntaxMsg(err))
		return f
	}
	lines := splitLines(src)
	p := &fileParser{file: f, lines: lines, diags: diags, locals: map[string]*ast.FunctionExpr{}, localLines: map[string]int{}}
	p.top(chunk)
	return f
}

type fileParser struct {
	file   *File
	lines  []string
	diags  *diag.List
	locals map[string]*ast.FunctionExpr // top-level local functions, for callbacks passed by name
	// localLines is the line of each top-level local function's definition.
	localLines map[string]int
}

// splitLines splits at "\r\n", "\n" and a lone "\r", the line ends Lua's lexer counts.
func splitLines(src []byte) []string {
	s := strings.ReplaceAll(string(src), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}

var lineColRe = regexp.MustCompile(`line:(\d+)\(column:(\d+)\)`)

func syntaxPos(path string, err error) diag.Pos {
	if pe, ok := err.(*luaparse.Error); ok {
		line := pe.Pos.Line
		if line < 1 {
			line = 1
		}
		return diag.Pos{File: path, Line: line, Col: max(pe.Pos.Column, 1)}
	}
	if m := lineColRe.FindStringSubmatch(err.Error()); m != nil {
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		return diag.Pos{File: path, Line: l, Col: c}
	}
	return diag.Pos{File: path, Line: 1, Col: 1}
}

func syntaxMsg(err error) string {
	if pe, ok := err.(*luaparse.Error); ok {
		msg := strings.TrimSpace(pe.Message)
		if !strings.Contains(msg, "error") {
			msg = "syntax error: " + msg
		}
		if pe.Token != "" {
			return fmt.Sprintf("%s near '%s'", msg, pe.Token)
		}
		return msg
	}
	return strings.TrimSpace(err.Error())
}

// pos returns the position of needle on a 1-based line, or column 1 when not found.
func (p *fileParser) pos(line int, needle string) diag.Pos {
	col := 1
	if line >= 1 && line <= len(p.lines) {
		if i := strings.Index(p.lines[line-1], needle); i >= 0 {
			col = i + 1
		} else {
			col = firstNonSpace(p.lines[line-1]) + 1
		}
	}
	return diag.Pos{File: p.file.Path, Line: line, Col: col}
}

func firstNonSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// top reads the chunk's top-level statements: local functions (callbacks may be passed by
// name) and register_function calls. Everything else is only checked for constructs Valkey
// refuses (goto, labels) and for registrations that are not top-level statements.
func (p *fileParser) top(chunk []ast.Stmt) {
	registered := map[*ast.FuncCallExpr]bool{}
	for _, s := range chunk {
		switch s := s.(type) {
		case *ast.LocalAssignStmt:
			for i, e := range s.Exprs {
				if fn, ok := e.(*ast.FunctionExpr); ok && i < len(s.Names) {
					p.locals[s.Names[i]] = fn
					p.localLines[s.Names[i]] = s.Line()
				}
			}
		case *ast.FuncCallStmt:
			if call, ok := s.Expr.(*ast.FuncCallExpr); ok && isRegister(call) {
				registered[call] = true
				p.register(call)
			}
		}
	}
	walk(chunk, func(s ast.Stmt) {
		switch s.(type) {
		case *ast.GotoStmt:
			p.diags.Errorf(p.pos(s.Line(), "goto"), "goto is not Lua 5.1: Valkey refuses to load it")
		case *ast.LabelStmt:
			p.diags.Errorf(p.pos(s.Line(), "::"), "labels are not Lua 5.1: Valkey refuses to load them")
		}
	}, func(e ast.Expr) {
		if call, ok := e.(*ast.FuncCallExpr); ok && isRegister(call) && !registered[call] {
			p.diags.Errorf(p.pos(call.Line(), "register_function"), "register_function must be called as a top-level statement")
		}
	})
}

// isRegister matches redis.register_function(...) and server.register_function(...).
func isRegister(call *ast.FuncCallExpr) bool {
	attr, ok := call.Func.(*ast.AttrGetExpr)
	if !ok {
		return false
	}
	obj, ok := attr.Object.(*ast.IdentExpr)
	if !ok || (obj.Value != "redis" && obj.Value != "server") {
		return false
	}
	key, ok := attr.Key.(*ast.StringExpr)
	return ok && key.Value == "register_function"
}

func (p *fileParser) register(call *ast.FuncCallExpr) {
	fn := &Function{Pos: p.pos(call.Line(), "register_function")}
	fn.Pos.Col = max(fn.Pos.Col-len("redis."), 1)
	if i := strings.Index(p.lineText(call.Line()), "server.register_function"); i >= 0 {
		fn.Pos.Col = i + 1
	} else if i := strings.Index(p.lineText(call.Line()), "redis.register_function"); i >= 0 {
		fn.Pos.Col = i + 1
	}
	var callback ast.Expr
	switch {
	case len(call.Args) == 1:
		tbl, ok := call.Args[0].(*ast.TableExpr)
		if !ok {
			p.diags.Errorf(fn.Pos, "register_function takes a name and a callback, or one table")
			return
		}
		fn.Table = true
		callback = p.tableForm(fn, tbl)
	case len(call.Args) == 2:
		name, ok := call.Args[0].(*ast.StringExpr)
		if !ok {
			p.diags.Errorf(fn.Pos, "register_function: the function name must be a string literal")
			return
		}
		fn.Name = name.Value
		callback = call.Args[1]
	default:
		p.diags.Errorf(fn.Pos, "register_function takes a name and a callback, or one table")
		return
	}
	if fn.Name == "" {
		return
	}
	fn.Header = p.header(call.Line())
	// A callback passed by name may carry the header above its own definition instead.
	if id, ok := callback.(*ast.IdentExpr); ok && len(fn.Header) == 0 {
		if def := p.localLines[id.Value]; def > 0 {
			fn.Header = p.header(def)
		}
	}
	p.callback(fn, callback)
	p.file.Functions = append(p.file.Functions, fn)
}

func (p *fileParser) lineText(line int) string {
	if line >= 1 && line <= len(p.lines) {
		return p.lines[line-1]
	}
	return ""
}

func (p *fileParser) tableForm(fn *Function, tbl *ast.TableExpr) ast.Expr {
	var callback ast.Expr
	for _, f := range tbl.Fields {
		key, ok := f.Key.(*ast.StringExpr)
		if !ok {
			p.diags.Errorf(fn.Pos, "register_function{...}: fields must be named")
			continue
		}
		switch key.Value {
		case "function_name":
			s, ok := f.Value.(*ast.StringExpr)
			if !ok {
				p.diags.Errorf(p.pos(f.Value.Line(), "function_name"), "function_name must be a string literal")
				continue
			}
			fn.Name = s.Value
		case "callback":
			callback = f.Value
		case "flags":
			fn.HasFlags = true
			fn.FlagsPos = p.pos(f.Value.Line(), "flags")
			t, ok := f.Value.(*ast.TableExpr)
			if !ok {
				p.diags.Errorf(fn.FlagsPos, "flags must be a table of string literals")
				continue
			}
			for _, ff := range t.Fields {
				s, ok := ff.Value.(*ast.StringExpr)
				if !ok || ff.Key != nil {
					p.diags.Errorf(fn.FlagsPos, "flags must be a table of string literals")
					continue
				}
				fn.Flags = append(fn.Flags, s.Value)
			}
		case "description":
		default:
			p.diags.Errorf(p.pos(f.Value.Line(), key.Value), "register_function{...}: unknown field %q", key.Value)
		}
	}
	if fn.Name == "" {
		p.diags.Errorf(fn.Pos, "register_function{...} without function_name")
	}
	if callback == nil && fn.Name != "" {
		p.diags.Errorf(fn.Pos, "register_function{...} without callback")
	}
	return callback
}

// header collects the comment lines directly above line, dropping rulers.
func (p *fileParser) header(line int) []Line {
	var out []Line
	for l := min(line-1, len(p.lines)); l >= 1; l-- {
		raw := p.lines[l-1]
		start := firstNonSpace(raw)
		if !strings.HasPrefix(raw[start:], "--") {
			break
		}
		text := raw[start+2:]
		if isRuler(text) || strings.HasPrefix(text, "[[") {
			continue
		}
		indent := len(text) - len(strings.TrimLeft(text, " "))
		out = append(out, Line{
			Pos:    diag.Pos{File: p.file.Path, Line: l, Col: start + 3 + indent},
			Text:   text,
			Indent: indent,
		})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func isRuler(text string) bool {
	t := strings.TrimSpace(text)
	if t == "" {
		return false
	}
	if len(t) < 3 {
		return strings.Trim(t, "-") == ""
	}
	return strings.Trim(t, "-=*#~") == ""
}

func (p *fileParser) callback(fn *Function, cb ast.Expr) {
	var body *ast.FunctionExpr
	switch cb := cb.(type) {
	case *ast.FunctionExpr:
		body = cb
	case *ast.IdentExpr:
		body = p.locals[cb.Value]
		if body == nil {
			p.diags.Errorf(p.pos(cb.Line(), cb.Value), "callback %s is not a top-level local function of this file", cb.Value)
			return
		}
	case nil:
		return
	default:
		p.diags.Errorf(fn.Pos, "the callback must be a function or the name of a local function")
		return
	}
	if body.ParList != nil {
		if len(body.ParList.Names) > 0 {
			fn.KeysParam = body.ParList.Names[0]
		}
		if len(body.ParList.Names) > 1 {
			fn.ArgsParam = body.ParList.Names[1]
		}
	}
	if len(body.Stmts) == 1 {
		if r, ok := body.Stmts[0].(*ast.ReturnStmt); ok && len(r.Exprs) == 1 {
			if s, ok := r.Exprs[0].(*ast.StringExpr); ok {
				fn.Literal, fn.HasLiteral = s.Value, true
			}
		}
	}
	w := &bodyWalker{p: p, fn: fn}
	w.stmts(body.Stmts)
}
