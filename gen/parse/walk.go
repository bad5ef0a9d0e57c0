package parse

import (
	"fmt"
	"strconv"

	"github.com/yuin/gopher-lua/ast"
)

// walk calls visitStmt for every statement and visitExpr for every expression under stmts,
// depth first. Either may be nil.
func walk(stmts []ast.Stmt, visitStmt func(ast.Stmt), visitExpr func(ast.Expr)) {
	w := walker{stmt: visitStmt, expr: visitExpr}
	w.stmts(stmts)
}

type walker struct {
	stmt func(ast.Stmt)
	expr func(ast.Expr)
}

func (w walker) stmts(list []ast.Stmt) {
	for _, s := range list {
		w.stmtNode(s)
	}
}

func (w walker) stmtNode(s ast.Stmt) {
	if w.stmt != nil {
		w.stmt(s)
	}
	switch s := s.(type) {
	case *ast.LocalAssignStmt:
		w.exprs(s.Exprs)
	case *ast.AssignStmt:
		w.exprs(s.Lhs)
		w.exprs(s.Rhs)
	case *ast.FuncCallStmt:
		w.exprNode(s.Expr)
	case *ast.DoBlockStmt:
		w.stmts(s.Stmts)
	case *ast.WhileStmt:
		w.exprNode(s.Condition)
		w.stmts(s.Stmts)
	case *ast.RepeatStmt:
		w.exprNode(s.Condition)
		w.stmts(s.Stmts)
	case *ast.IfStmt:
		w.exprNode(s.Condition)
		w.stmts(s.Then)
		w.stmts(s.Else)
	case *ast.NumberForStmt:
		w.exprs([]ast.Expr{s.Init, s.Limit, s.Step})
		w.stmts(s.Stmts)
	case *ast.GenericForStmt:
		w.exprs(s.Exprs)
		w.stmts(s.Stmts)
	case *ast.FuncDefStmt:
		w.exprNode(s.Func)
	case *ast.ReturnStmt:
		w.exprs(s.Exprs)
	}
}

func (w walker) exprs(list []ast.Expr) {
	for _, e := range list {
		w.exprNode(e)
	}
}

func (w walker) exprNode(e ast.Expr) {
	if e == nil {
		return
	}
	if w.expr != nil {
		w.expr(e)
	}
	switch e := e.(type) {
	case *ast.FuncCallExpr:
		w.exprNode(e.Func)
		w.exprNode(e.Receiver)
		w.exprs(e.Args)
	case *ast.FunctionExpr:
		w.stmts(e.Stmts)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			w.exprNode(f.Key)
			w.exprNode(f.Value)
		}
	case *ast.AttrGetExpr:
		w.exprNode(e.Object)
		w.exprNode(e.Key)
	case *ast.LogicalOpExpr:
		w.exprNode(e.Lhs)
		w.exprNode(e.Rhs)
	case *ast.RelationalOpExpr:
		w.exprNode(e.Lhs)
		w.exprNode(e.Rhs)
	case *ast.StringConcatOpExpr:
		w.exprNode(e.Lhs)
		w.exprNode(e.Rhs)
	case *ast.ArithmeticOpExpr:
		w.exprNode(e.Lhs)
		w.exprNode(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		w.exprNode(e.Expr)
	case *ast.UnaryNotOpExpr:
		w.exprNode(e.Expr)
	case *ast.UnaryLenOpExpr:
		w.exprNode(e.Expr)
	}
}

// bodyWalker records literal KEYS/ARGV reads and err('code') literals of one callback.
type bodyWalker struct {
	p  *fileParser
	fn *Function
}

func (w *bodyWalker) stmts(stmts []ast.Stmt) {
	walk(stmts, nil, w.visit)
}

func (w *bodyWalker) visit(e ast.Expr) {
	switch e := e.(type) {
	case *ast.AttrGetExpr:
		obj, ok := e.Object.(*ast.IdentExpr)
		if !ok {
			return
		}
		num, ok := e.Key.(*ast.NumberExpr)
		if !ok {
			return
		}
		idx, err := strconv.Atoi(num.Value)
		if err != nil {
			return
		}
		var list string
		switch obj.Value {
		case w.fn.KeysParam:
			list = "KEYS"
		case w.fn.ArgsParam:
			list = "ARGV"
		default:
			return
		}
		if obj.Value == "" {
			return
		}
		needle := fmt.Sprintf("%s[%s]", obj.Value, num.Value)
		w.fn.Uses = append(w.fn.Uses, Use{Pos: w.p.pos(e.Line(), needle), List: list, Index: idx})
	case *ast.FuncCallExpr:
		id, ok := e.Func.(*ast.IdentExpr)
		if !ok || id.Value != "err" || len(e.Args) == 0 {
			return
		}
		if s, ok := e.Args[0].(*ast.StringExpr); ok {
			w.fn.ErrCodes = append(w.fn.ErrCodes, Code{Pos: w.p.pos(e.Line(), s.Value), Code: s.Value})
		}
	}
}
