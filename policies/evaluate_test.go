package policies

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// wednesdayNoon is a fixed request time: 2026-03-04 was a Wednesday.
var wednesdayNoon = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// loadFixture loads testdata/<name>.yaml.
func loadFixture(t testing.TB, name string) *Set {
	t.Helper()
	s, err := Load([]string{filepath.Join("testdata", name+".yaml")})
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	return s
}

func ruleName(d Decision) string {
	if d.Rule == nil {
		return ""
	}
	return d.Rule.String()
}

type params = map[string]any

// evalCase is one input and the decision expected for it.
type evalCase struct {
	name    string
	fixture string
	in      Input
	effect  Effect
	rule    string
	reason  string
}

// evaluateCases is the table shared by TestEvaluate and the stock-OPA tests.
func evaluateCases() []evalCase {
	at := func(hour, min int, day int) time.Time {
		return time.Date(2026, 3, day, hour, min, 0, 0, time.UTC)
	}
	const none = ""
	tests := []evalCase{
		// Operators.
		{"eq matches an equal string", "operators", Input{Action: "op.eq.string", Params: params{"s": "main"}}, Allow, "ops/eq string", none},
		{"eq does not match a different string", "operators", Input{Action: "op.eq.string", Params: params{"s": "dev"}}, Deny, none, ReasonDefaultDeny},
		{"eq on a string does not match a number", "operators", Input{Action: "op.eq.string", Params: params{"s": 5}}, Deny, none, ReasonDefaultDeny},
		{"eq matches a number given as an int", "operators", Input{Action: "op.eq.number", Params: params{"n": 5}}, Allow, "ops/eq number", none},
		{"eq matches a number given as a float", "operators", Input{Action: "op.eq.number", Params: params{"n": 5.0}}, Allow, "ops/eq number", none},
		{"eq on a number does not match the string 5", "operators", Input{Action: "op.eq.number", Params: params{"n": "5"}}, Deny, none, ReasonDefaultDeny},
		{"eq matches a boolean", "operators", Input{Action: "op.eq.bool", Params: params{"b": true}}, Allow, "ops/eq bool", none},
		{"eq on a boolean does not match the string true", "operators", Input{Action: "op.eq.bool", Params: params{"b": "true"}}, Deny, none, ReasonDefaultDeny},
		{"neq matches a different string", "operators", Input{Action: "op.neq.string", Params: params{"s": "dev"}}, Allow, "ops/neq string", none},
		{"neq does not match an equal string", "operators", Input{Action: "op.neq.string", Params: params{"s": "main"}}, Deny, none, ReasonDefaultDeny},
		{"neq never matches a missing field", "operators", Input{Action: "op.neq.string"}, Deny, none, ReasonDefaultDeny},
		{"neq never matches a value of another type", "operators", Input{Action: "op.neq.string", Params: params{"s": 5}}, Deny, none, ReasonDefaultDeny},
		{"in matches a listed string", "operators", Input{Action: "op.in.string", Params: params{"s": "b"}}, Allow, "ops/in strings", none},
		{"in does not match an unlisted string", "operators", Input{Action: "op.in.string", Params: params{"s": "c"}}, Deny, none, ReasonDefaultDeny},
		{"in matches a listed number", "operators", Input{Action: "op.in.number", Params: params{"n": 2.5}}, Allow, "ops/in numbers", none},
		{"not_in matches an unlisted string", "operators", Input{Action: "op.not_in.string", Params: params{"s": "c"}}, Allow, "ops/not_in strings", none},
		{"not_in does not match a listed string", "operators", Input{Action: "op.not_in.string", Params: params{"s": "a"}}, Deny, none, ReasonDefaultDeny},
		{"not_in never matches a missing field", "operators", Input{Action: "op.not_in.string"}, Deny, none, ReasonDefaultDeny},
		{"not_in never matches a value of another type", "operators", Input{Action: "op.not_in.string", Params: params{"s": 1}}, Deny, none, ReasonDefaultDeny},
		{"glob star stays within one segment", "operators", Input{Action: "op.glob.segment", Params: params{"repo": "acme/api"}}, Allow, "ops/glob segment", none},
		{"glob star does not cross a slash", "operators", Input{Action: "op.glob.segment", Params: params{"repo": "acme/api/x"}}, Deny, none, ReasonDefaultDeny},
		{"glob double star crosses segments", "operators", Input{Action: "op.glob.across", Path: "/repos/acme/api/pulls/1/merge"}, Allow, "ops/glob across", none},
		{"glob double star keeps its surrounding slashes", "operators", Input{Action: "op.glob.across", Path: "/repos/merge"}, Deny, none, ReasonDefaultDeny},
		{"anchored regex matches a fitting value", "operators", Input{Action: "op.regex.anchored", Params: params{"s": "v12"}}, Allow, "ops/regex anchored", none},
		{"anchored regex rejects trailing text", "operators", Input{Action: "op.regex.anchored", Params: params{"s": "v12-beta"}}, Deny, none, ReasonDefaultDeny},
		{"unanchored regex matches anywhere", "operators", Input{Action: "op.regex.unanchored", Params: params{"s": "1.0-beta.2"}}, Allow, "ops/regex unanchored", none},
		{"regex never matches a number", "operators", Input{Action: "op.regex.anchored", Params: params{"s": 12}}, Deny, none, ReasonDefaultDeny},
		{"prefix matches the start of a path", "operators", Input{Action: "op.prefix.path", Path: "/repos/acme"}, Allow, "ops/prefix", none},
		{"prefix does not match in the middle", "operators", Input{Action: "op.prefix.path", Path: "/x/repos/"}, Deny, none, ReasonDefaultDeny},
		{"suffix matches the end of a host", "operators", Input{Action: "op.suffix.host", Host: "api.github.com"}, Allow, "ops/suffix", none},
		{"suffix does not match a look-alike host", "operators", Input{Action: "op.suffix.host", Host: "github.com.evil.example"}, Deny, none, ReasonDefaultDeny},
		{"contains finds a substring", "operators", Input{Action: "op.contains.string", Params: params{"s": "hello"}}, Allow, "ops/contains substring", none},
		{"contains finds a list member", "operators", Input{Action: "op.contains.list", Params: params{"labels": []any{"bug", "urgent"}}}, Allow, "ops/contains member", none},
		{"contains does not search inside list members", "operators", Input{Action: "op.contains.list", Params: params{"labels": []any{"urgently"}}}, Deny, none, ReasonDefaultDeny},
		{"contains finds a number in a list", "operators", Input{Action: "op.contains.number", Params: params{"ids": []any{1, 7.0}}}, Allow, "ops/contains number", none},
		{"gt matches a larger number", "operators", Input{Action: "op.gt.amount", Params: params{"amount": 101}}, Allow, "ops/gt", none},
		{"gt does not match an equal number", "operators", Input{Action: "op.gt.amount", Params: params{"amount": 100}}, Deny, none, ReasonDefaultDeny},
		{"gte matches an equal number", "operators", Input{Action: "op.gte.amount", Params: params{"amount": int64(100)}}, Allow, "ops/gte", none},
		{"lt matches a smaller number", "operators", Input{Action: "op.lt.amount", Params: params{"amount": 99.5}}, Allow, "ops/lt", none},
		{"lte does not match a larger number", "operators", Input{Action: "op.lte.amount", Params: params{"amount": 100.01}}, Deny, none, ReasonDefaultDeny},
		{"comparisons never match a numeric string", "operators", Input{Action: "op.gt.amount", Params: params{"amount": "500"}}, Deny, none, ReasonDefaultDeny},
		{"exists matches a present field even when it is false", "operators", Input{Action: "op.exists.true", Params: params{"s": false}}, Allow, "ops/exists", none},
		{"exists does not match a missing field", "operators", Input{Action: "op.exists.true"}, Deny, none, ReasonDefaultDeny},
		{"exists false matches a missing field", "operators", Input{Action: "op.exists.false", Params: params{"other": 1}}, Allow, "ops/not exists", none},
		{"exists false does not match a null field", "operators", Input{Action: "op.exists.false", Params: params{"s": nil}}, Deny, none, ReasonDefaultDeny},
		{"nested params match by path", "operators", Input{Action: "op.nested.eq", Params: params{"a": map[string]any{"b": "x"}}}, Allow, "ops/nested param", none},
		{"nested params do not match through a string", "operators", Input{Action: "op.nested.eq", Params: params{"a": "x"}}, Deny, none, ReasonDefaultDeny},
		{"method eq matches", "operators", Input{Action: "op.method.eq", Method: "GET"}, Allow, "ops/method", none},
		{"an empty method counts as missing", "operators", Input{Action: "op.method.eq"}, Deny, none, ReasonDefaultDeny},
		{"connector in matches a listed connector", "operators", Input{Action: "op.connector.in", Connector: "gh-enterprise"}, Allow, "ops/connector", none},
		{"agent glob matches a prefix pattern", "operators", Input{Action: "op.agent.glob", Agent: "ci-7"}, Allow, "ops/agent glob", none},
		{"business hours allow at noon UTC", "operators", Input{Action: "op.time.hours", Time: at(12, 0, 4)}, Allow, "ops/business hours", none},
		{"business hours deny at 08:59 UTC", "operators", Input{Action: "op.time.hours", Time: at(8, 59, 4)}, Deny, none, ReasonDefaultDeny},
		{"business hours deny at 17:00 UTC", "operators", Input{Action: "op.time.hours", Time: at(17, 0, 4)}, Deny, none, ReasonDefaultDeny},
		{"a weekend deny beats the weekday fallback on saturday", "operators", Input{Action: "op.time.weekend", Time: at(10, 0, 7)}, Deny, "ops/weekend", ReasonPolicyDeny},
		{"the weekday fallback allows on wednesday", "operators", Input{Action: "op.time.weekend", Time: at(10, 0, 4)}, Allow, "ops/weekday fallback", none},
		{"not_in on a fixed field matches an unlisted value", "operators", Input{Action: "op.not_in.method", Method: "GET"}, Allow, "ops/not_in method", none},
		{"not_in on a fixed field never matches when it is missing", "operators", Input{Action: "op.not_in.method"}, Deny, none, ReasonDefaultDeny},
		{"neq on a fixed field never matches when it is missing", "operators", Input{Action: "op.neq.connector"}, Deny, none, ReasonDefaultDeny},
		{"neq on a fixed field matches another value", "operators", Input{Action: "op.neq.connector", Connector: "gitlab"}, Allow, "ops/neq connector", none},
		{"an unknown action is denied by default", "operators", Input{Action: "op.nothing.here"}, Deny, none, ReasonDefaultDeny},
		{"a missing action is denied by default", "operators", Input{Params: params{"s": "main"}}, Deny, none, ReasonDefaultDeny},

		// Actions and precedence.
		{"a star action glob allows reads", "precedence", Input{Action: "github.repo.get"}, Allow, "base/read anything", none},
		{"a star action glob does not cross dots but a double star does", "precedence", Input{Action: "github.repo.hook.get"}, Allow, "base/everything github", none},
		{"a double star does not match the bare prefix", "precedence", Input{Action: "github"}, Deny, none, ReasonDefaultDeny},
		{"approval beats allow", "precedence", Input{Action: "github.pr.merge", Params: params{"base": "main"}}, RequireApproval, "base/merges to main need approval", none},
		{"the first matching approval rule decides", "precedence", Input{Action: "github.pr.merge", Params: params{"base": "release/2.0"}}, RequireApproval, "base/release merges need approval too", none},
		{"deny beats approval and allow", "precedence", Input{Action: "github.pr.merge", Params: params{"base": "main", "frozen": true}}, Deny, "freeze/no merges during the freeze", ReasonPolicyDeny},
		{"deny beats an earlier allow", "precedence", Input{Action: "github.repo.delete"}, Deny, "base/never delete repositories", ReasonPolicyDeny},
		{"the first allow rule in file order decides among allows", "precedence", Input{Action: "github.pr.merge", Params: params{"base": "dev"}}, Allow, "base/allow merges", none},

		// Agent scopes and combinators.
		{"a scoped policy applies to a matching agent", "scoping", Input{Agent: "ci-1", Action: "github.workflow.dispatch"}, Allow, "bots/bots may dispatch", none},
		{"a scoped policy ignores other agents", "scoping", Input{Agent: "alice", Action: "github.workflow.dispatch"}, Deny, none, ReasonDefaultDeny},
		{"an exact agent name in a scope matches", "scoping", Input{Agent: "release-bot", Action: "github.workflow.dispatch"}, Allow, "bots/bots may dispatch", none},
		{"a scoped deny applies to its agents", "scoping", Input{Agent: "intern-3", Action: "github.workflow.dispatch"}, Deny, "interns/interns never dispatch", ReasonPolicyDeny},
		{"an unscoped policy applies to every agent", "scoping", Input{Agent: "alice", Action: "github.issue.get"}, Allow, "everyone/anyone may read issues", none},
		{"a scoped policy never applies without an agent", "scoping", Input{Action: "github.workflow.dispatch"}, Deny, none, ReasonDefaultDeny},
		{"any matches on its first alternative", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 20000, "currency": "usd"}}, RequireApproval, "combinators/big or foreign refunds need approval", none},
		{"nested any matches a foreign refund without a reason", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 50, "currency": "eur"}}, RequireApproval, "combinators/big or foreign refunds need approval", none},
		{"nested any matches a foreign refund with reason other", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 50, "currency": "eur", "reason": "other"}}, RequireApproval, "combinators/big or foreign refunds need approval", none},
		{"nested all fails on a small domestic refund", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 50, "currency": "usd"}}, Allow, "combinators/small refunds are fine", none},
		{"nested any fails when a foreign refund has another reason", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 50, "currency": "eur", "reason": "duplicate"}}, Allow, "combinators/small refunds are fine", none},
		{"neq never matches a missing currency", "scoping", Input{Action: "stripe.refund.create", Params: params{"amount": 50}}, Allow, "combinators/small refunds are fine", none},
	}
	for i := range tests {
		if tests[i].in.Time.IsZero() {
			tests[i].in.Time = wednesdayNoon
		}
	}
	return tests
}

func loadFixtures(t testing.TB) map[string]*Set {
	t.Helper()
	sets := map[string]*Set{}
	for _, name := range []string{"operators", "precedence", "scoping"} {
		sets[name] = loadFixture(t, name)
	}
	return sets
}

func TestEvaluate(t *testing.T) {
	sets := loadFixtures(t)
	tests := evaluateCases()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sets[tt.fixture]
			in := tt.in
			got := s.Evaluate(t.Context(), in)
			if got.Effect != tt.effect || ruleName(got) != tt.rule || got.Reason != tt.reason {
				t.Errorf("got %v by %q (%q), want %v by %q (%q); err %v",
					got.Effect, ruleName(got), got.Reason, tt.effect, tt.rule, tt.reason, got.Err)
			}
			direct, err := s.decideDirect(in)
			if err != nil || direct.Effect != got.Effect || ruleName(direct) != ruleName(got) || !slices.Equal(direct.Matched, got.Matched) {
				t.Errorf("direct evaluator got %v by %q %v (err %v), OPA got %v by %q %v",
					direct.Effect, ruleName(direct), direct.Matched, err, got.Effect, ruleName(got), got.Matched)
			}
		})
	}
	if len(tests) < 60 {
		t.Errorf("got %d cases, want at least 60", len(tests))
	}
	for name, s := range sets {
		if n := s.genericPlans.Load(); n != 0 {
			t.Errorf("%s: %d plans fell back to the generic query", name, n)
		}
	}
}

func TestEvaluateListsEveryMatchedRuleInFileOrder(t *testing.T) {
	s := loadFixture(t, "precedence")
	got := s.Evaluate(t.Context(), Input{Action: "github.pr.merge", Params: params{"base": "main", "frozen": true}, Time: wednesdayNoon})
	var names []string
	for _, m := range got.Matched {
		names = append(names, m.String())
	}
	want := []string{"base/allow merges", "base/merges to main need approval", "base/everything github",
		"freeze/no merges during the freeze", "freeze/frozen merges also need approval"}
	if !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
	if got.Rule.File != filepath.Join("testdata", "precedence.yaml") || got.Rule.Line != 19 {
		t.Errorf("got deciding rule at %s, want testdata/precedence.yaml:19", got.Rule.Location())
	}
}

func TestRankTableMatchesEffectOrder(t *testing.T) {
	var table map[string]int
	if err := json.Unmarshal([]byte(rankTable), &table); err != nil {
		t.Fatal(err)
	}
	for _, e := range []Effect{Deny, RequireApproval, Allow} {
		if table[e.String()] != e.rank() {
			t.Errorf("%v: rank table says %d, Effect.rank %d", e, table[e.String()], e.rank())
		}
	}
}

func TestMayRequireApproval(t *testing.T) {
	s, err := LoadBytes("a.yaml", []byte(`version: 1
policies:
  - name: p
    rules:
      - {name: merges, effect: require_approval, actions: [github.pr.merge]}
      - {name: reads, effect: allow, actions: ["stripe.**"]}
      - {name: any crm, effect: require_approval, actions: ["c*.customer.delete"]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if !s.MayRequireApproval("github") {
		t.Error("github: a require_approval rule names github.pr.merge")
	}
	if !s.MayRequireApproval("openai") {
		t.Error("a wildcard first segment must count (errs towards true)")
	}
	allowOnly, _ := LoadBytes("b.yaml", []byte("version: 1\npolicies: [{name: p, rules: [{name: r, effect: allow, actions: [\"**\"]}]}]\n"))
	if allowOnly.MayRequireApproval("github") || (*Set)(nil).MayRequireApproval("github") {
		t.Error("no require_approval rule, yet approval reported possible")
	}
}
