package policies

import (
	"context"
	"math"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Every early return on the decision path denies; each case proves one.
func TestEvaluateFailsClosed(t *testing.T) {
	s := loadFixture(t, "precedence")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	broken := *s
	broken.store = nil // makes OPA panic inside the query

	tests := []struct {
		name   string
		set    *Set
		ctx    context.Context
		in     Input
		reason string
	}{
		{"a nil set denies with policy_error", nil, t.Context(), Input{Action: "github.repo.get"}, ReasonPolicyError},
		{"a cancelled context denies with policy_error", s, cancelled, Input{Action: "github.repo.get"}, ReasonPolicyError},
		{"an unsupported params type denies with policy_error", s, t.Context(),
			Input{Action: "github.pr.merge", Params: params{"base": struct{}{}}}, ReasonPolicyError},
		{"a NaN param denies with policy_error", s, t.Context(),
			Input{Action: "github.pr.merge", Params: params{"base": math.NaN()}}, ReasonPolicyError},
		{"params nested too deeply deny with policy_error", s, t.Context(),
			Input{Action: "github.pr.merge", Params: params{"base": deepParams(maxParamDepth + 2)}}, ReasonPolicyError},
		{"an action no rule covers denies by default without a query", s, t.Context(), Input{Action: "slack.chat.post"}, ReasonDefaultDeny},
		{"a panic inside the query denies with policy_error", &broken, t.Context(), Input{Action: "github.pr.merge", Params: params{"base": "x"}}, ReasonPolicyError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.set.Evaluate(tt.ctx, tt.in)
			if got.Effect != Deny || got.Reason != tt.reason || got.Rule != nil {
				t.Errorf("got %v (%q) by %v, want deny (%q)", got.Effect, got.Reason, got.Rule, tt.reason)
			}
			if (got.Err != nil) != (tt.reason == ReasonPolicyError) {
				t.Errorf("got Err %v for reason %q", got.Err, got.Reason)
			}
		})
	}
}

func deepParams(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

func TestZeroDecisionDenies(t *testing.T) {
	var d Decision
	if d.Effect != Deny {
		t.Errorf("got %v, want deny", d.Effect)
	}
}

func TestEmptySetDeniesEverythingByDefault(t *testing.T) {
	s, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Empty() {
		t.Error("got a non-empty set, want empty")
	}
	got := s.Evaluate(t.Context(), Input{Agent: "a", Action: "github.repo.get"})
	if got.Effect != Deny || got.Reason != ReasonDefaultDeny {
		t.Errorf("got %v (%q), want deny (default_deny)", got.Effect, got.Reason)
	}
}

// toDecision must refuse every result shape other than the one the module
// produces: an undefined, ambiguous or inconsistent answer is an error.
func TestMalformedRegoResultsAreErrors(t *testing.T) {
	s := loadFixture(t, "precedence")
	good := `{"effect": "allow", "rule": ["base", "read anything"], "matched": [[2, 0, ["base", "read anything"], "allow"], [2, 1, ["base", "everything github"], "allow"]]}`
	if d, err := s.decisionOf(ast.MustParseTerm(good)); err != nil || d.Effect != Allow || ruleName(d) != "base/read anything" {
		t.Fatalf("a well-formed result: got %+v, %v", d, err)
	}
	tests := []struct {
		name   string
		result string
	}{
		{"a non-object result", `"allow"`},
		{"an unknown effect", `{"effect": "permit", "rule": null, "matched": []}`},
		{"a missing matched list", `{"effect": "deny", "rule": null}`},
		{"an allow without a matched rule", `{"effect": "allow", "rule": null, "matched": []}`},
		{"a malformed hit", `{"effect": "allow", "rule": ["base", "read anything"], "matched": [[["base", "read anything"], "allow"]]}`},
		{"an unknown rule", `{"effect": "allow", "rule": ["base", "nope"], "matched": [[2, 0, ["base", "nope"], "allow"]]}`},
		{"a rule reported with the wrong effect", `{"effect": "deny", "rule": ["base", "read anything"], "matched": [[0, 0, ["base", "read anything"], "deny"]]}`},
		{"a rule reported with the wrong rank", `{"effect": "allow", "rule": ["base", "read anything"], "matched": [[0, 0, ["base", "read anything"], "allow"]]}`},
		{"an allow despite a matched deny", `{"effect": "allow", "rule": ["base", "read anything"], "matched": [[2, 0, ["base", "read anything"], "allow"], [0, 1, ["base", "never delete repositories"], "deny"]]}`},
		{"a deciding rule that is not the first of its effect", `{"effect": "allow", "rule": ["base", "everything github"], "matched": [[2, 0, ["base", "read anything"], "allow"], [2, 1, ["base", "everything github"], "allow"]]}`},
		{"a deny whose rule is not among the hits", `{"effect": "deny", "rule": ["base", "never delete repositories"], "matched": [[2, 0, ["base", "read anything"], "allow"]]}`},
		{"a default deny that lists hits", `{"effect": "deny", "rule": null, "matched": [[2, 0, ["base", "read anything"], "allow"]]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.decisionOf(ast.MustParseTerm(tt.result))
			if err == nil {
				t.Errorf("got %+v, want an error", d)
			}
		})
	}
}

func TestRunRejectsUndefinedAndAmbiguousResults(t *testing.T) {
	s := loadFixture(t, "precedence")
	for _, tt := range []struct {
		name  string
		query string
	}{
		{"an undefined result", "hits = data.bridle.policies.nope"},
		{"two results", "hits = [[1], [2]][_]; winner = []"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := s.compiler.QueryCompiler().Compile(ast.MustParseBody(tt.query))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.run(t.Context(), q, ast.NewTerm(ast.NewObject())); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}
