package policies

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// rulesRef is data.bridle.policies.rules, under which every YAML rule is
// the complete rule rules[policy][rule] := effect.
var rulesRef = ast.MustParseRef("data.bridle.policies.rules")

// inlineQuery builds, for one action's candidate rules, a query that
// evaluates each candidate's own body as the compiler left it in the module:
//
//	hit0 = ["allow" | <body of candidate 0>]; hit1 = ["deny" | <body of candidate 1>]; ...
//
// The conditions OPA evaluates are the module's, compiled once; only the
// dispatch differs from the generic query (which reaches each rule through
// the virtual document rules[policy][rule], at about twice the cost: OPA's
// virtual-document machinery and its cache per rule). The combination of
// the hits is fromOrdinals', which the differential tests hold to the
// module's own decision rule, evaluated by stock OPA.
func (s *Set) inlineQuery(candidates []int) (ast.Body, []ast.Var, error) {
	body := make(ast.Body, 0, len(candidates))
	hit := make([]ast.Var, len(candidates))
	for i, ord := range candidates {
		ref := s.refs[ord]
		rules := s.compiler.GetRulesExact(rulesRef.Append(ast.StringTerm(ref.Policy)).Append(ast.StringTerm(ref.Rule)))
		if len(rules) != 1 || rules[0].Else != nil || rules[0].Head.Value == nil {
			return nil, nil, fmt.Errorf("rule %s: %d definitions in the module, want one plain rule", ref, len(rules))
		}
		r := rules[0]
		hit[i] = ast.Var(fmt.Sprintf("hit%d", i))
		expr := ast.Equality.Expr(ast.NewTerm(hit[i]), ast.ArrayComprehensionTerm(r.Head.Value.Copy(), r.Body.Copy()))
		expr.Index = i
		body = append(body, expr)
	}
	if len(body) == 0 {
		return nil, nil, errors.New("no candidates")
	}
	q, err := s.compiler.QueryCompiler().Compile(body)
	if err != nil {
		return nil, nil, fmt.Errorf("compiling the inlined query: %w", err)
	}
	return q, hit, nil
}

// evalInline runs the plan's inlined query on the projected input.
func (s *Set) evalInline(ctx context.Context, p *plan, vals []fieldValue) Decision {
	input := ast.NewObject()
	for i, path := range p.fields {
		if vals[i].present {
			if err := insertPath(input, path, toTerm(vals[i].v)); err != nil {
				return errorDecision(fmt.Errorf("evaluating policy: %w", err))
			}
		}
	}
	qr, err := s.run(ctx, p.query, ast.NewTerm(input))
	if err != nil {
		return errorDecision(err)
	}
	var buf [16]int
	ords := buf[:0]
	for i, v := range p.hit {
		effects, ok := termValue[*ast.Array](qr[v])
		if !ok {
			return errorDecision(fmt.Errorf("evaluating policy: malformed result %v", qr))
		}
		if effects.Len() == 0 {
			continue
		}
		ord := p.candidates[i]
		for j := range effects.Len() {
			if e, err := effectOf(effects.Elem(j)); err != nil || e != s.rules[ord].effect {
				return errorDecision(fmt.Errorf("evaluating policy: rule %s reported as %v", s.refs[ord], effects))
			}
		}
		ords = append(ords, ord)
	}
	return s.fromOrdinals(ords)
}
