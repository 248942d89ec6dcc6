package policies

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// hostile are rule values and names that would change the module's meaning
// if they were ever spliced into Rego source.
var hostile = []string{
	`"} else := true { "`,
	`" ; true ; "`,
	"line1\nimport data.secrets\nline2",
	"package evil\ndefault allow := true",
	`\`, `\\`, `\"`, `C:\Windows\`, `\u0041`,
	"# not a comment",
	"`raw string`",
	"nul \x00 byte",
	"line separator \u2028 here",
	"{{template}} [1] {a,b} ? ^-!",
	"input.agent",
	"data.bridle.policies",
	"",
}

func TestRuleValuesAreMatchedLiterally(t *testing.T) {
	for i, v := range hostile {
		for _, op := range []string{"eq", "prefix", "suffix", "contains", "glob", "regex", "in"} {
			value := yamlString(v)
			switch op {
			case "regex":
				value = yamlString("^" + regexp.QuoteMeta(v) + "$")
			case "in":
				value = "[" + value + "]"
			}
			src := fmt.Sprintf("version: 1\npolicies:\n  - name: p\n    rules:\n      - name: r\n        effect: allow\n        actions: [a.b]\n        when: {field: params.v, op: %s, value: %s}\n", op, value)
			t.Run(fmt.Sprintf("%s/%d", op, i), func(t *testing.T) {
				s, err := LoadBytes("hostile.yaml", []byte(src))
				if err != nil {
					t.Fatal(err)
				}
				check := func(got string, want Effect) {
					t.Helper()
					in := Input{Action: "a.b", Params: params{"v": got}, Time: wednesdayNoon}
					d := s.Evaluate(t.Context(), in)
					if d.Effect != want {
						t.Errorf("value %q with params.v %q: got %v (%v), want %v", v, got, d.Effect, d.Err, want)
					}
					direct, err := s.decideDirect(in)
					if err != nil || direct.Effect != d.Effect {
						t.Errorf("direct evaluator got %v (%v), OPA got %v", direct.Effect, err, d.Effect)
					}
				}
				check(v, Allow)
				if v != "" || op == "eq" || op == "in" || op == "regex" || op == "glob" {
					check("something else entirely", Deny)
				}
			})
		}
	}
}

func TestHostileNamesStayNames(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\npolicies:\n")
	for i, v := range hostile {
		if hasControl(v) || v == "" || strings.Contains(v, "/") {
			continue // names refuse these at load
		}
		fmt.Fprintf(&b, "  - name: %s\n    agents: [%s]\n    rules:\n      - {name: %s, effect: deny, actions: [a.b%d]}\n",
			yamlString(v), yamlString(escapeAgentStar(v)), yamlString(v+" rule"), i)
	}
	s, err := LoadBytes("names.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := ast.ParseModuleWithOpts("bridle.rego", s.Rego(), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	if len(mod.Imports) != 1 || mod.Imports[0].Path.String() != "rego.v1" {
		t.Errorf("got imports %v, want only rego.v1", mod.Imports)
	}
	rules := 0
	for _, r := range mod.Rules {
		if r.Head.Ref()[0].Value.Compare(ast.Var("rules")) == 0 {
			rules++
		}
	}
	if rules != len(s.rules) {
		t.Errorf("got %d Rego rules, want one per YAML rule (%d)", rules, len(s.rules))
	}
	for i, r := range s.rules {
		in := Input{Agent: r.ref.Policy, Action: r.actions[0], Time: wednesdayNoon}
		d := s.Evaluate(t.Context(), in)
		if d.Effect != Deny || d.Rule == nil || *d.Rule != s.refs[i] {
			t.Errorf("agent %q: got %v by %v (%v), want deny by %v", in.Agent, d.Effect, d.Rule, d.Err, s.refs[i])
		}
		other := s.Evaluate(t.Context(), Input{Agent: "someone-else", Action: r.actions[0], Time: wednesdayNoon})
		if other.Reason != ReasonDefaultDeny {
			t.Errorf("agent someone-else on %s: got %v by %v, want default deny", r.actions[0], other.Effect, other.Rule)
		}
	}
}

// escapeAgentStar keeps a hostile name usable as an exact agents: entry:
// "*" is the one metacharacter there.
func escapeAgentStar(s string) string { return strings.ReplaceAll(s, "*", "") }

func TestHostileParamKeysAreQuoted(t *testing.T) {
	keys := []string{`a"b`, `a]b`, "import", "else", "x y", `back\slash`, "ünïcode", "0digit", "_"}
	for _, k := range keys {
		t.Run(k, func(t *testing.T) {
			src := fmt.Sprintf("version: 1\npolicies:\n  - name: p\n    rules:\n      - {name: r, effect: allow, actions: [a.b], when: {field: %s, op: eq, value: yes-please}}\n",
				yamlString("params."+k))
			s, err := LoadBytes("keys.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if d := s.Evaluate(t.Context(), Input{Action: "a.b", Params: params{k: "yes-please"}}); d.Effect != Allow {
				t.Errorf("got %v (%v), want allow", d.Effect, d.Err)
			}
			if d := s.Evaluate(t.Context(), Input{Action: "a.b", Params: params{"k": "yes-please"}}); d.Effect != Deny {
				t.Errorf("got %v, want deny", d.Effect)
			}
		})
	}
}
