package policies

import (
	"slices"
	"testing"
)

func TestExplainNamesTheConditionThatFailed(t *testing.T) {
	s := loadFixture(t, "scoping")
	ex, err := s.Explain(t.Context(), Input{Agent: "alice", Action: "stripe.refund.create",
		Params: params{"amount": 50, "currency": "eur", "reason": "duplicate"}, Time: wednesdayNoon})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Decision.Effect != Allow || ruleName(ex.Decision) != "combinators/small refunds are fine" {
		t.Errorf("got %s, want allow by combinators/small refunds are fine", DescribeDecision(ex.Decision))
	}
	if len(ex.Rules) != 2 {
		t.Fatalf("got %d traced rules, want the 2 refund rules", len(ex.Rules))
	}
	miss := ex.Rules[0]
	want := []ConditionFailure{
		{Path: "when.any[0]", Line: 21, Condition: "params.amount gt 10000", Why: "params.amount is 50"},
		{Path: "when.any[1].all[1].any[0]", Line: 25, Condition: "params.reason exists false", Why: `params.reason is "duplicate"`},
		{Path: "when.any[1].all[1].any[1]", Line: 26, Condition: `params.reason eq "other"`, Why: `params.reason is "duplicate"`},
	}
	if miss.Matched || miss.OutOfScope || !slices.Equal(miss.Failures, want) {
		t.Errorf("got near miss %+v, want failures %+v", miss, want)
	}
	if !ex.Rules[1].Matched || len(ex.Rules[1].Failures) != 0 {
		t.Errorf("got %+v, want a match", ex.Rules[1])
	}
}

func TestExplainReportsAnAgentOutsideTheScope(t *testing.T) {
	s := loadFixture(t, "scoping")
	ex, err := s.Explain(t.Context(), Input{Agent: "alice", Action: "github.workflow.dispatch"})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Decision.Reason != ReasonDefaultDeny {
		t.Errorf("got %s, want default deny", DescribeDecision(ex.Decision))
	}
	var scoped []string
	for _, r := range ex.Rules {
		if r.OutOfScope && !r.Matched {
			scoped = append(scoped, r.Rule.String())
		}
	}
	if want := []string{"bots/bots may dispatch", "interns/interns never dispatch"}; !slices.Equal(scoped, want) {
		t.Errorf("got out-of-scope rules %v, want %v", scoped, want)
	}
}

func TestExplainReportsAMissingField(t *testing.T) {
	s := loadFixture(t, "operators")
	ex, err := s.Explain(t.Context(), Input{Action: "op.eq.string"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.Rules[0].Failures; len(got) != 1 || got[0].Why != "params.s is missing" {
		t.Errorf("got %+v, want params.s is missing", got)
	}
}
