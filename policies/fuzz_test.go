package policies

import (
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// FuzzDifferential checks four implementations of the YAML semantics
// against each other on random rules and inputs: Evaluate (action index,
// projected input, cache, OPA on the candidate rules' inlined bodies), the
// generic candidates query (Evaluate's fallback), OPA evaluating every rule
// of the module through its decision rule on the full input, and the direct
// Go evaluator.
//
//	go test -run '^$' -fuzz FuzzDifferential -fuzztime 20s ./policies/
func FuzzDifferential(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("policies and inputs"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{data: data}
		src := g.policyFile()
		s, err := LoadBytes("fuzz.yaml", []byte(src))
		if err != nil {
			t.Fatalf("generated policy does not load: %v\n%s", err, src)
		}
		var inputs []Input
		for range 8 {
			if len(inputs) > 0 && g.n(4) == 0 {
				inputs = append(inputs, inputs[g.n(len(inputs))]) // exercise cache hits
				continue
			}
			inputs = append(inputs, g.input())
		}
		for _, in := range inputs {
			agree(t, s, in, src)
		}
	})
}

// agree fails the test unless all three evaluations of in agree.
func agree(t *testing.T, s *Set, in Input, src string) {
	t.Helper()
	fast := s.Evaluate(t.Context(), in)
	if n := s.genericPlans.Load(); n != 0 {
		t.Fatalf("%d plans fell back to the generic query\npolicy:\n%s", n, src)
	}
	direct, err := s.decideDirect(in)
	if err != nil {
		t.Fatalf("direct evaluator: %v", err)
	}
	full, err := s.evaluateAll(t, in)
	if err != nil {
		t.Fatalf("full evaluation: %v", err)
	}
	generic := s.evaluateGeneric(t, in)
	for name, d := range map[string]Decision{"direct": direct, "full OPA": full, "generic query": generic} {
		if d.Effect != fast.Effect || ruleName(d) != ruleName(fast) || d.Reason != fast.Reason || !slices.Equal(d.Matched, fast.Matched) {
			t.Fatalf("disagreement on input %+v\npolicy:\n%s\nEvaluate: %s matched %v (err %v)\n%s: %s matched %v\nRego:\n%s",
				in, src, DescribeDecision(fast), fast.Matched, fast.Err, name, DescribeDecision(d), d.Matched, s.Rego())
		}
	}
}

// evaluateGeneric decides in with the generic candidates query, the
// fallback of plans whose inlined query cannot be built, bypassing the cache.
func (s *Set) evaluateGeneric(t *testing.T, in Input) Decision {
	f := newFacts(&in)
	p := s.plan(f.fixed("action"))
	if len(p.candidates) == 0 {
		return defaultDeny
	}
	var vals []fieldValue
	for _, path := range p.fields {
		v, present, err := f.get(path)
		if err != nil {
			return errorDecision(err)
		}
		vals = append(vals, fieldValue{v, present})
	}
	return s.evalRego(t.Context(), p, vals)
}

// evaluateAll runs the decision query on the full input without candidates,
// so OPA evaluates every rule, as stock OPA would.
func (s *Set) evaluateAll(t *testing.T, in Input) (Decision, error) {
	doc, err := in.RegoInput()
	if err != nil {
		return Decision{}, err
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return Decision{}, err
	}
	q, err := s.compiler.QueryCompiler().Compile(ast.MustParseBody("decision = " + decisionRef))
	if err != nil {
		return Decision{}, err
	}
	qr, err := s.run(t.Context(), q, ast.NewTerm(v))
	if err != nil {
		return Decision{}, err
	}
	return s.decisionOf(qr[ast.Var("decision")])
}

// FuzzLoad feeds arbitrary bytes to the loaders: they return errors, never
// panic, and whatever loads evaluates without internal errors and agrees
// with the direct evaluator.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 20s ./policies/
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"", "version: 1\n", "version: 1\npolicies: [{name: p, rules: [{name: r, effect: allow, actions: [a.b]}]}]\n",
		"cases: [{name: c, input: {action: a.b}, expect: allow}]\n", "&a [*a, *a]", "{{{{{{{{{{{{{{{{{{{{",
	} {
		f.Add([]byte(seed))
	}
	for _, name := range []string{"operators", "precedence", "scoping", "quoting", "broken"} {
		if src, err := readLimited("testdata/" + name + ".yaml"); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseCases("fuzz.cases.yaml", data, time.Unix(0, 0))
		s, err := LoadBytes("fuzz.yaml", data)
		if err != nil {
			return
		}
		g := &gen{data: data}
		for _, r := range s.rules {
			in := g.input()
			in.Action = r.actions[0]
			d := s.Evaluate(t.Context(), in)
			if d.Reason == ReasonPolicyError {
				t.Fatalf("policy_error on a loaded policy: %v\n%s", d.Err, data)
			}
			agree(t, s, in, string(data))
		}
	})
}
