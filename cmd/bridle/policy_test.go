package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runPolicyCmd runs `bridle policy ARGS...` and returns its output and error.
func runPolicyCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newPolicyCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

const examplesDir = "../../policies/examples"

// Every example policy passes its cases through `bridle policy test`, the
// command CI runs.
func TestPolicyTestPassesEveryExample(t *testing.T) {
	for _, name := range []string{"github", "stripe", "openai"} {
		t.Run(name, func(t *testing.T) {
			out, err := runPolicyCmd(t, "test", filepath.Join(examplesDir, name+".yaml"),
				"--cases", filepath.Join(examplesDir, name+".cases.yaml"))
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, " passed, 0 failed") || strings.Contains(out, "FAIL") {
				t.Errorf("got\n%s", out)
			}
		})
	}
}

func TestPolicyTestFailsWithADiff(t *testing.T) {
	cases := filepath.Join(t.TempDir(), "wrong.cases.yaml")
	if err := os.WriteFile(cases, []byte(`cases:
  - name: deleting a repository is allowed
    input: {agent: a, action: github.repo.delete}
    expect: allow
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPolicyCmd(t, "test", filepath.Join(examplesDir, "github.yaml"), "--cases", cases)
	if err == nil || err.Error() != "policy test: 1 of 1 cases failed" {
		t.Errorf("got error %v, want 1 of 1 cases failed", err)
	}
	for _, want := range []string{
		"FAIL deleting a repository is allowed (" + cases + ":2)",
		"expected: allow\n",
		"got:      deny by github-guardrails/never delete or give away repositories (policy_deny)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant it to contain %q", out, want)
		}
	}
}

func TestPolicyCompilePrintsRego(t *testing.T) {
	out, err := runPolicyCmd(t, "compile", filepath.Join(examplesDir, "github.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"package bridle.policies", "import rego.v1",
		`rules["github-guardrails"]["never delete or give away repositories"] := "deny" if {`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestPolicyCompileReportsEveryProblem(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\npolicies:\n  - name: p\n    rules:\n      - {name: r, effect: alow, actions: [a.b], when: {field: params.x, op: equals, value: 1}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runPolicyCmd(t, "compile", bad)
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{
		bad + `:5:27: policies[0].rules[0].effect: unknown effect "alow" (did you mean allow?)`,
		bad + `:5:77: policies[0].rules[0].when.op: unknown operator "equals" (did you mean eq?)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got\n%v\nwant it to contain\n%s", err, want)
		}
	}
}

func TestPolicyCompileRefusesAMissingFile(t *testing.T) {
	if _, err := runPolicyCmd(t, "compile", "does-not-exist.yaml"); err == nil {
		t.Error("got no error, want one")
	}
}

func TestPolicyExplainShowsDecisionAndNearMisses(t *testing.T) {
	out, err := runPolicyCmd(t, "explain", filepath.Join(examplesDir, "stripe.yaml"),
		"--action", "stripe.refund.create", "--param", "amount=50000", "--param", "charge=ch_1",
		"--agent", "billing-bot", "--time-hour", "9", "--weekday", "mon")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"decision: require_approval by stripe-billing/large, full or fraud refunds need approval\n",
		"rule:     stripe-billing/large, full or fraud refunds need approval (../../policies/examples/stripe.yaml:17)\n",
		`input:    action stripe.refund.create, agent "billing-bot", time Mon 09:00 UTC`,
		"matched:\n  stripe-billing/large, full or fraud refunds need approval  require_approval  ../../policies/examples/stripe.yaml:17\n",
		"near misses:\n  stripe-billing/small refunds  allow  ../../policies/examples/stripe.yaml:12\n" +
			"    when (line 15): params.amount lte 5000, but params.amount is 50000\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant it to contain\n%s", out, want)
		}
	}
}

func TestPolicyExplainShowsAnAgentOutsideTheScope(t *testing.T) {
	out, err := runPolicyCmd(t, "explain", filepath.Join(examplesDir, "github.yaml"),
		"--action", "github.workflow.dispatch", "--param", "repo=acme/api", "--param", "ref=main", "--agent", "triage-bot")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"decision: deny (default_deny)", `agent "triage-bot" is not in the policy's agents: release-bot`} {
		if !strings.Contains(out, want) {
			t.Errorf("got\n%s\nwant it to contain %q", out, want)
		}
	}
}

func TestPolicyExplainParsesParams(t *testing.T) {
	f := explainFlags{hour: -1, params: []string{"n=4", "stream=true", "model=gpt-4o-mini", "meta.team=core", "meta.level=2", "empty="}}
	in, err := f.input(time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := in.Params["meta"].(map[string]any)
	if in.Params["n"] != 4.0 || in.Params["stream"] != true || in.Params["model"] != "gpt-4o-mini" ||
		meta["team"] != "core" || meta["level"] != 2.0 || in.Params["empty"] != "" {
		t.Errorf("got params %#v", in.Params)
	}
	for _, bad := range [][]string{{"novalue"}, {"=x"}, {"a=1", "a.b=2"}} {
		f := explainFlags{hour: -1, params: bad}
		if _, err := f.input(time.Now()); err == nil {
			t.Errorf("params %q: got no error, want one", bad)
		}
	}
}

func TestPolicyExplainRequiresAnAction(t *testing.T) {
	if _, err := runPolicyCmd(t, "explain", filepath.Join(examplesDir, "github.yaml")); err == nil {
		t.Error("got no error, want a missing --action error")
	}
}
