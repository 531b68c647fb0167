package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

const (
	// maxExpressionLength is the longest condition or formula, in characters.
	maxExpressionLength = 4096
	// assumedInputSize is what the save-time cost estimate assumes of every
	// list, map or string of unknown size (event attributes): at most this
	// many elements or characters. Larger inputs are still stopped at run
	// time by the cost limit and the deadline.
	assumedInputSize = 1000
	// maxEstimatedCost is the most an expression may cost, in CEL cost
	// units, by the save-time estimate. One pass over a 1000-element list is
	// about 5000; a loop nested in a loop over it is millions.
	maxEstimatedCost = 100_000
	// DefaultCostLimit is the run-time budget of one expression, in CEL cost
	// units: ten times the save-time limit, for inputs larger than assumed.
	// cel-go checks it after each operation, so it stops expensive
	// operations on large inputs (a search in a huge string).
	DefaultCostLimit = 1_000_000
	// DefaultEvalTimeout is how long one rule's expressions may run. It is
	// what bounds long loops: cel-go's run-time cost tracker (v0.31) slows
	// down with the square of a loop's iterations, so a loop over a very
	// large list reaches the deadline long before the budget.
	DefaultEvalTimeout = 50 * time.Millisecond
	// interruptEvery is how many comprehension iterations run between two
	// checks of the deadline.
	interruptEvery = 100
)

// The fields of the `member` and `event` variables. Keep them in step with
// activation and docs/rules.md.
var (
	memberFields = []string{"id", "tier", "growth", "points", "birthday", "created_at", "checkin_streak"}
	eventFields  = []string{"type", "occurred_at", "attributes"}
)

// Expression fields of a rule, as named in the API.
const (
	fieldCondition = "condition"
	fieldPoints    = "points"
	fieldGrowth    = "growth"
)

// newEnv returns the CEL environment rules compile in: the standard library
// and CEL's math and strings extensions over the variables event, member
// and now. docs/rules.md shows merchants what they can use.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("member", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("now", cel.TimestampType),
		// `event.attributes.rating >= 4` must hold for 4.5 as well as 5.
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Math(),
		ext.Strings(),
	)
}

// expr is one compiled condition or formula.
type expr struct {
	field string
	// constant is set for a literal ("true", "50"), which needs no program.
	constant ref.Val
	prg      cel.Program
	// loops says the expression has a comprehension (all, exists, map,
	// filter…): the only place cel-go checks the deadline, and the only way
	// an expression runs long.
	loops bool
}

// program is the compiled form of one rule version.
type program struct {
	condition, points, growth expr
}

// loops reports whether any of the rule's expressions loops, so that it
// needs a deadline.
func (p *program) loops() bool {
	return p.condition.loops || p.points.loops || p.growth.loops
}

// compileError is a problem with one expression, for a field error.
type compileError struct {
	field, message string
}

// compileRule compiles the rule's three expressions. It returns the
// problems of each bad one, or the program.
func (s *Service) compileRule(r *Rule) (*program, []compileError) {
	var p program
	var errs []compileError
	for _, e := range []struct {
		field, src string
		want       *types.Type
		dst        *expr
	}{
		{fieldCondition, r.Condition, types.BoolType, &p.condition},
		{fieldPoints, r.Points, types.IntType, &p.points},
		{fieldGrowth, r.Growth, types.IntType, &p.growth},
	} {
		x, msg := s.compileExpr(e.field, e.src, e.want)
		if msg != "" {
			errs = append(errs, compileError{e.field, msg})
			continue
		}
		*e.dst = x
	}
	if errs != nil {
		return nil, errs
	}
	return &p, nil
}

// compileExpr compiles src and checks that it is of type want (or dyn,
// checked at run time), names only known fields, and is cheap enough. The
// problem is returned as a sentence, with the position when there is one.
func (s *Service) compileExpr(field, src string, want *types.Type) (expr, string) {
	if n := utf8.RuneCountInString(src); n > maxExpressionLength {
		return expr{}, fmt.Sprintf("is %d characters long; the most is %d", n, maxExpressionLength)
	}
	ast, iss := s.env.Compile(src)
	if iss.Err() != nil {
		e := iss.Errors()[0]
		return expr{}, at(e.Location.Line(), e.Location.Column(), e.Message)
	}
	native := ast.NativeRep()
	if msg := checkFields(native); msg != "" {
		return expr{}, msg
	}
	if msg := checkOutputType(field, ast.OutputType(), want); msg != "" {
		return expr{}, msg
	}
	cost, err := s.env.EstimateCost(ast, sizeEstimator{})
	if err != nil {
		return expr{}, "could not be checked for cost: " + err.Error()
	}
	if cost.Max > maxEstimatedCost {
		return expr{}, fmt.Sprintf("is too expensive: it may cost up to %s units, the most allowed is %d; "+
			"avoid loops (all, exists, map, filter) nested inside loops over event attributes", costString(cost.Max), maxEstimatedCost)
	}
	x := expr{field: field}
	if lit := native.Expr(); lit.Kind() == celast.LiteralKind {
		x.constant = lit.AsLiteral()
		return x, ""
	}
	prg, err := s.env.Program(ast,
		cel.CostLimit(s.costLimit()),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return expr{}, "could not be compiled: " + err.Error()
	}
	x.prg = prg
	x.loops = len(celast.MatchDescendants(celast.NavigateAST(native), celast.KindMatcher(celast.ComprehensionKind))) > 0
	return x, ""
}

// at formats a problem at a 1-based line and 0-based column as people count
// them (both from 1).
func at(line, column int, msg string) string {
	if line <= 0 {
		return msg
	}
	return fmt.Sprintf("line %d, column %d: %s", line, column+1, msg)
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "an unbounded number of"
	}
	return fmt.Sprint(c)
}

// checkFields refuses selections of fields that `member` and `event` don't
// have (`member.teir`), which would otherwise fail only at run time.
func checkFields(a *celast.AST) string {
	info := a.SourceInfo()
	for _, e := range celast.MatchDescendants(celast.NavigateAST(a), celast.KindMatcher(celast.SelectKind)) {
		sel := e.AsSelect()
		op := sel.Operand()
		if op.Kind() != celast.IdentKind {
			continue
		}
		var known []string
		switch op.AsIdent() {
		case "member":
			known = memberFields
		case "event":
			known = eventFields
		default:
			continue
		}
		// A comprehension variable may shadow the name; only the declared
		// map variable has these fields.
		if t := a.GetType(op.ID()); t == nil || t.Kind() != types.MapKind {
			continue
		}
		if !slices.Contains(known, sel.FieldName()) {
			loc := info.GetStartLocation(e.ID())
			return at(loc.Line(), loc.Column(), fmt.Sprintf("%s has no field %q; it has %s",
				op.AsIdent(), sel.FieldName(), strings.Join(known, ", ")))
		}
	}
	return ""
}

// checkOutputType refuses an expression whose type is known and wrong. A
// dyn on either side is checked at run time.
func checkOutputType(field string, got, want *types.Type) string {
	if got.Kind() == types.DynKind || want.Kind() == types.DynKind || got.IsExactType(want) {
		return ""
	}
	if want.Kind() == types.BoolKind {
		return fmt.Sprintf("must be true or false (a bool), but it evaluates to %s", cel.FormatCELType(got))
	}
	switch got.Kind() {
	case types.DoubleKind:
		return fmt.Sprintf("evaluates to a double (a fractional number), but %s are whole numbers: use integer "+
			"arithmetic, e.g. event.attributes.amount_cents / 1000 instead of event.attributes.amount_cents * 0.001, "+
			"or int(...) to drop the fraction", field)
	case types.UintKind:
		return fmt.Sprintf("evaluates to an unsigned integer (uint); write %s as a plain integer, without the u suffix", field)
	}
	return fmt.Sprintf("must evaluate to an integer, but it evaluates to %s", cel.FormatCELType(got))
}

// sizeEstimator bounds the sizes CEL can't know (event attributes) for the
// save-time cost estimate.
type sizeEstimator struct{}

// EstimateSize assumes every list, map or string of unknown size holds up to
// assumedInputSize elements or characters.
func (sizeEstimator) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: assumedInputSize}
}

// EstimateCallCost leaves function costs to CEL's defaults.
func (sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// eval runs x and returns its value, or an error that says what went wrong
// in a merchant's words.
func (x *expr) eval(ctx context.Context, act cel.Activation, timeout time.Duration, costLimit uint64) (ref.Val, error) {
	if x.constant != nil {
		return x.constant, nil
	}
	var out ref.Val
	var err error
	if x.loops {
		out, _, err = x.prg.ContextEval(ctx, act)
	} else {
		out, _, err = x.prg.Eval(act)
	}
	if err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "cost limit exceeded"):
			return nil, fmt.Errorf("%s: stopped: the expression used more than its budget of %d cost units; "+
				"avoid loops over large lists", x.field, costLimit)
		case strings.Contains(msg, "operation interrupted") || errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, fmt.Errorf("%s: stopped after %s: the expression ran too long", x.field, timeout)
		}
		return nil, fmt.Errorf("%s: %s", x.field, msg)
	}
	return out, nil
}

// evalBool runs a condition.
func (x *expr) evalBool(ctx context.Context, act cel.Activation, timeout time.Duration, costLimit uint64) (bool, error) {
	v, err := x.eval(ctx, act, timeout, costLimit)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: evaluated to %s %v, want true or false", x.field, typeName(v), v.Value())
	}
	return bool(b), nil
}

// evalInt runs a formula.
func (x *expr) evalInt(ctx context.Context, act cel.Activation, timeout time.Duration, costLimit uint64) (int64, error) {
	v, err := x.eval(ctx, act, timeout, costLimit)
	if err != nil {
		return 0, err
	}
	switch n := v.(type) {
	case types.Int:
		if n < 0 {
			return 0, fmt.Errorf("%s: evaluated to %d; rules award 0 or more", x.field, int64(n))
		}
		return int64(n), nil
	case types.Double:
		return 0, fmt.Errorf("%s: evaluated to the fractional number %v; use integer arithmetic "+
			"(e.g. amount_cents / 1000) or int(...) to drop the fraction", x.field, float64(n))
	}
	return 0, fmt.Errorf("%s: evaluated to %s %v, want an integer", x.field, typeName(v), v.Value())
}

func typeName(v ref.Val) string {
	return strings.ToLower(v.Type().TypeName())
}
