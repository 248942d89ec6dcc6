package policies

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Explanation is a decision together with why each relevant rule did or did
// not match. It is for policy authors (bridle policy explain), not for the
// request path.
type Explanation struct {
	Decision Decision

	// Rules lists, in file order, every rule whose actions: cover the input's
	// action: the matched rules and the near misses.
	Rules []RuleTrace
}

// RuleTrace says how one rule fared against the input.
type RuleTrace struct {
	Rule    RuleRef
	Effect  Effect
	Matched bool

	// OutOfScope is set when the policy's agents: scope excludes the agent;
	// Agents is that scope.
	OutOfScope bool
	Agents     []string

	// Failures lists the conditions that did not hold.
	Failures []ConditionFailure
}

// ConditionFailure is one condition that did not hold.
type ConditionFailure struct {
	Path      string // below the rule, e.g. when.any[1].all[0]
	Line      int
	Condition string // as written, e.g. params.base eq "main"
	Why       string // what the input held, e.g. params.base is "dev"
}

// Explain decides in as Evaluate does and traces every rule whose actions
// cover the input's action with the package's direct evaluator. It fails if
// that evaluator and OPA disagree about which rules matched, which would be a
// bug worth reporting rather than an explanation to trust.
func (s *Set) Explain(ctx context.Context, in Input) (Explanation, error) {
	if in.Time.IsZero() {
		in.Time = time.Now() // one instant for both evaluations
	}
	ex := Explanation{Decision: s.Evaluate(ctx, in)}
	if ex.Decision.Reason == ReasonPolicyError {
		return ex, fmt.Errorf("explaining: %w", ex.Decision.Err)
	}
	f := newFacts(&in)
	var matched []RuleRef
	for _, r := range s.rules {
		if !r.actionMatches(f.fixed("action")) {
			continue
		}
		t := RuleTrace{Rule: r.ref, Effect: r.effect, Agents: r.policy.agents}
		t.OutOfScope = !r.policy.admits(f.fixed("agent"))
		ok := true
		if r.when != nil {
			var fails []failure
			var err error
			if ok, fails, err = r.when.holds(&f); err != nil {
				return ex, fmt.Errorf("explaining %s: %w", r.ref, err)
			}
			for _, fl := range fails {
				t.Failures = append(t.Failures, ConditionFailure{
					Path: fl.cond.path, Line: fl.cond.line, Condition: fl.cond.String(), Why: fl.why,
				})
			}
		}
		t.Matched = ok && !t.OutOfScope
		if t.Matched {
			matched = append(matched, r.ref)
		}
		ex.Rules = append(ex.Rules, t)
	}
	if !slices.Equal(matched, ex.Decision.Matched) {
		return ex, fmt.Errorf("explaining: the direct evaluator matched %v but OPA matched %v", matched, ex.Decision.Matched)
	}
	return ex, nil
}
