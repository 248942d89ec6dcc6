package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// fastQuery, the fallback of plans without an inlined query (inline.go),
// is the module's decision rule inlined and restricted to the
// candidate rules: the same hits, and the winner that rule takes,
// [min(hits)], or [] when no rule holds. Inlining saves evaluating five
// virtual documents per request; stock OPA runs the decision rule itself, and
// the differential tests check that both agree.
const fastQuery = `hits = [[` + rankTable + `[effect], i, id, effect] |
	some i, id in input.candidates
	effect := data.bridle.policies.rules[id[0]][id[1]]
]
winner = [w | w := min(hits)]`

var (
	hitsVar   = ast.Var("hits")
	winnerVar = ast.Var("winner")
)

// fieldValue is one projected input field.
type fieldValue struct {
	v       any
	present bool
}

// Evaluate decides in. It never panics and never returns an allow it cannot
// justify: an empty Set denies with ReasonDefaultDeny, and any internal error
// (cancelled context, OPA error, undefined or inconsistent result, an
// unsupported Params value) denies with ReasonPolicyError and sets Err.
//
// Evaluate is safe for concurrent use. Decisions are cached per Set, keyed by
// the input fields the candidate rules read (time at hour granularity, the
// finest the rule language sees).
func (s *Set) Evaluate(ctx context.Context, in Input) (d Decision) {
	if s == nil {
		return errorDecision(errors.New("no policy set loaded"))
	}
	defer func() {
		if r := recover(); r != nil {
			d = errorDecision(fmt.Errorf("evaluating policy: panic: %v", r))
		}
	}()
	if err := ctx.Err(); err != nil {
		return errorDecision(fmt.Errorf("evaluating policy: %w", err))
	}
	if len(s.rules) == 0 {
		return defaultDeny
	}
	f := newFacts(&in)
	p := s.plan(f.fixed("action"))
	if len(p.candidates) == 0 {
		// No rule can match this action, so every path (Rego included) ends
		// in the default deny; skip the query.
		return defaultDeny
	}
	var buf [8]fieldValue
	vals := buf[:0]
	var keyBuf [256]byte
	key := keyBuf[:0]
	for _, path := range p.fields {
		v, present, err := f.get(path)
		if err != nil {
			return errorDecision(fmt.Errorf("evaluating policy: input %v: %w", path, err))
		}
		vals = append(vals, fieldValue{v, present})
		key = appendKey(key, v, present)
	}
	cacheable := len(key) <= maxKeyLen
	if cacheable {
		if d, ok := s.decisions.get(string(key)); ok {
			return d
		}
	}
	if p.query != nil {
		d = s.evalInline(ctx, p, vals)
	} else {
		d = s.evalRego(ctx, p, vals)
	}
	if cacheable && d.Reason != ReasonPolicyError {
		s.decisions.put(string(key), d)
	}
	return d
}

// evalRego runs the prepared Rego query on the projected input.
func (s *Set) evalRego(ctx context.Context, p *plan, vals []fieldValue) Decision {
	input := ast.NewObject([2]*ast.Term{ast.InternedTerm("candidates"), p.candTerm})
	for i, path := range p.fields {
		if vals[i].present {
			if err := insertPath(input, path, toTerm(vals[i].v)); err != nil {
				return errorDecision(fmt.Errorf("evaluating policy: %w", err))
			}
		}
	}
	qr, err := s.run(ctx, s.prepared, ast.NewTerm(input))
	if err != nil {
		return errorDecision(err)
	}
	hits, ok := termValue[*ast.Array](qr[hitsVar])
	winners, wok := termValue[*ast.Array](qr[winnerVar])
	if !ok || !wok || winners.Len() > 1 {
		return errorDecision(fmt.Errorf("evaluating policy: malformed result %v", qr))
	}
	var winner *ast.Term
	if winners.Len() == 1 {
		winner = winners.Elem(0)
	}
	d, err := s.fromHits(hits, winner)
	if err != nil {
		return errorDecision(fmt.Errorf("evaluating policy: %w", err))
	}
	return d
}

// run evaluates a compiled query on input and returns its single result.
func (s *Set) run(ctx context.Context, query ast.Body, input *ast.Term) (topdown.QueryResult, error) {
	txn, err := s.store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("evaluating policy: opening store: %w", err)
	}
	defer s.store.Abort(ctx, txn)
	var results []topdown.QueryResult
	err = topdown.NewQuery(query).
		WithCompiler(s.compiler).
		WithStore(s.store).
		WithTransaction(txn).
		WithInput(input).
		WithStrictBuiltinErrors(true).
		WithInterQueryBuiltinValueCache(s.builtins).
		Iter(ctx, func(qr topdown.QueryResult) error {
			results = append(results, qr)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("evaluating policy: %w", err)
	}
	if len(results) != 1 {
		return nil, fmt.Errorf("evaluating policy: %d results, want exactly 1", len(results))
	}
	return results[0], nil
}

// insertPath sets path to v in obj, creating intermediate objects.
func insertPath(obj ast.Object, path []string, v *ast.Term) error {
	for _, seg := range path[:len(path)-1] {
		k := ast.StringTerm(seg)
		next := obj.Get(k)
		if next == nil {
			next = ast.NewTerm(ast.NewObject())
			obj.Insert(k, next)
		}
		o, ok := next.Value.(ast.Object)
		if !ok {
			return fmt.Errorf("input path %v crosses a non-object", path)
		}
		obj = o
	}
	obj.Insert(ast.StringTerm(path[len(path)-1]), v)
	return nil
}

// toTerm converts a normalized value to an OPA term directly, without a JSON
// round trip.
func toTerm(v any) *ast.Term {
	switch x := v.(type) {
	case nil:
		return ast.NullTerm()
	case bool:
		return ast.BooleanTerm(x)
	case string:
		return ast.StringTerm(x)
	case float64:
		return ast.NumberTerm(json.Number(formatNumber(x)))
	case []any:
		elems := make([]*ast.Term, len(x))
		for i, e := range x {
			elems[i] = toTerm(e)
		}
		return ast.ArrayTerm(elems...)
	case map[string]any:
		obj := ast.NewObject()
		for k, e := range x {
			obj.Insert(ast.StringTerm(k), toTerm(e))
		}
		return ast.NewTerm(obj)
	}
	return ast.NullTerm() // unreachable: normalize admits no other type
}

// fromHits converts Rego's hits and winner and checks them against the Set:
// every hit must name a rule of the Set with that rule's effect and rank, and
// the winner must be the hit Bridle's precedence picks (strongest effect,
// then file order). Anything else is an error, and so a deny.
func (s *Set) fromHits(hits *ast.Array, winner *ast.Term) (Decision, error) {
	if hits == nil {
		return Decision{}, errors.New("no hits list")
	}
	ords := make([]int, 0, hits.Len())
	best := -1
	for i := range hits.Len() {
		hit, ok := termValue[*ast.Array](hits.Elem(i))
		if !ok || hit.Len() != 4 {
			return Decision{}, fmt.Errorf("malformed hit %v", hits.Elem(i))
		}
		ord, err := s.ruleOf(hit.Elem(2))
		if err != nil {
			return Decision{}, err
		}
		e, err := effectOf(hit.Elem(3))
		if err != nil || e != s.rules[ord].effect || !hit.Elem(0).Equal(ast.IntNumberTerm(e.rank())) {
			return Decision{}, fmt.Errorf("rule %s reported as %v", s.refs[ord], hit)
		}
		if best < 0 || e < s.rules[best].effect || (e == s.rules[best].effect && ord < best) {
			best = ord
		}
		ords = append(ords, ord)
	}
	switch {
	case best < 0 && winner == nil:
		return defaultDeny, nil
	case best < 0 || winner == nil:
		return Decision{}, fmt.Errorf("winner %v does not fit hits %v", winner, hits)
	}
	w, ok := termValue[*ast.Array](winner)
	if ord, err := s.ruleOf(w.Elem(2)); !ok || w.Len() != 4 || err != nil || ord != best {
		return Decision{}, fmt.Errorf("winner %v is not the first hit of the strongest effect", winner)
	}
	slices.Sort(ords)
	return s.fromOrdinals(ords), nil
}

// fromOrdinals is the decision when exactly the rules ords hold (ordinals
// in file order, ascending, no duplicates): the strongest effect decides, the
// first rule in file order among equals; no rule denies by default.
func (s *Set) fromOrdinals(ords []int) Decision {
	if len(ords) == 0 {
		return defaultDeny
	}
	best := ords[0]
	for _, ord := range ords[1:] {
		if s.rules[ord].effect < s.rules[best].effect {
			best = ord
		}
	}
	d := Decision{Effect: s.rules[best].effect, Rule: &s.refs[best], Matched: make([]RuleRef, len(ords))}
	for i, ord := range ords {
		d.Matched[i] = s.refs[ord]
	}
	if d.Effect == Deny {
		d.Reason = ReasonPolicyDeny
	}
	return d
}

// decisionOf converts the module's decision document ({effect, rule,
// matched}, what stock OPA returns) with the checks of fromHits.
func (s *Set) decisionOf(x *ast.Term) (Decision, error) {
	obj, ok := x.Value.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %v, not an object", x)
	}
	hits, _ := termValue[*ast.Array](obj.Get(ast.InternedTerm("matched")))
	effect, err := effectOf(obj.Get(ast.InternedTerm("effect")))
	if err != nil || hits == nil {
		return Decision{}, fmt.Errorf("malformed decision %v", x)
	}
	rule := obj.Get(ast.InternedTerm("rule"))
	if rule == nil || rule.Equal(ast.NullTerm()) {
		if effect != Deny {
			return Decision{}, fmt.Errorf("decision %v without a rule", effect)
		}
		return s.fromHits(hits, nil)
	}
	for i := range hits.Len() {
		if hit, ok := termValue[*ast.Array](hits.Elem(i)); ok && hit.Len() == 4 && hit.Elem(2).Equal(rule) {
			d, err := s.fromHits(hits, hits.Elem(i))
			if err == nil && d.Effect != effect {
				err = fmt.Errorf("decision %v, winner %v", effect, d.Effect)
			}
			return d, err
		}
	}
	return Decision{}, fmt.Errorf("deciding rule %v is not among the hits", rule)
}

// ruleOf maps a [policy, rule] term to a rule ordinal.
func (s *Set) ruleOf(t *ast.Term) (int, error) {
	id, ok := termValue[*ast.Array](t)
	if ok && id.Len() == 2 {
		p, pok := id.Elem(0).Value.(ast.String)
		r, rok := id.Elem(1).Value.(ast.String)
		if pok && rok {
			if ord, known := s.byID[ruleID{string(p), string(r)}]; known {
				return ord, nil
			}
		}
	}
	return 0, fmt.Errorf("unknown rule %v", t)
}

func effectOf(t *ast.Term) (Effect, error) {
	if t != nil {
		if str, ok := t.Value.(ast.String); ok {
			if e, known := ParseEffect(string(str)); known {
				return e, nil
			}
		}
	}
	return Deny, fmt.Errorf("unknown effect %v", t)
}

func termValue[V ast.Value](t *ast.Term) (V, bool) {
	var zero V
	if t == nil {
		return zero, false
	}
	v, ok := t.Value.(V)
	return v, ok
}
