package policies

import (
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/tester"
)

// The generated module is plain Rego: stock OPA, given only the module and a
// JSON input (no candidates, no Bridle code), reaches the same decisions as
// Evaluate.
func TestGeneratedRegoRunsInStockOPA(t *testing.T) {
	sets := loadFixtures(t)
	queries := map[string]rego.PreparedEvalQuery{}
	for name, s := range sets {
		pq, err := rego.New(
			rego.Query("data.bridle.policies.decision"),
			rego.Module("bridle.rego", s.Rego()),
		).PrepareForEval(t.Context())
		if err != nil {
			t.Fatalf("preparing %s in stock OPA: %v", name, err)
		}
		queries[name] = pq
	}
	for _, tt := range evaluateCases() {
		t.Run(tt.name, func(t *testing.T) {
			input, err := tt.in.RegoInput()
			if err != nil {
				t.Fatal(err)
			}
			rs, err := queries[tt.fixture].Eval(t.Context(), rego.EvalInput(input))
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != 1 || len(rs[0].Expressions) != 1 {
				t.Fatalf("got %d results, want 1", len(rs))
			}
			d := rs[0].Expressions[0].Value.(map[string]any)
			rule := ""
			if id, ok := d["rule"].([]any); ok {
				rule = fmt.Sprintf("%s/%s", id[0], id[1])
			}
			if d["effect"] != tt.effect.String() || rule != tt.rule {
				t.Errorf("stock OPA got %v by %q, want %v by %q", d["effect"], rule, tt.effect, tt.rule)
			}
		})
	}
}

// OPA's own test runner (the engine behind opa test) runs generated
// test_ rules against the generated module and passes every one.
func TestGeneratedRegoPassesOPATestRunner(t *testing.T) {
	sets := loadFixtures(t)
	tests := map[string]*strings.Builder{}
	for i, tt := range evaluateCases() {
		input, err := tt.in.RegoInput()
		if err != nil {
			t.Fatal(err)
		}
		v, err := ast.InterfaceToValue(input)
		if err != nil {
			t.Fatal(err)
		}
		b := tests[tt.fixture]
		if b == nil {
			b = &strings.Builder{}
			b.WriteString("package bridle.policies_test\n\nimport rego.v1\n")
			tests[tt.fixture] = b
		}
		rule := "null"
		if p, r, ok := strings.Cut(tt.rule, "/"); ok {
			rule = fmt.Sprintf("[%s, %s]", quoteString(p), quoteString(r))
		}
		fmt.Fprintf(b, "\n# %s\ntest_case_%d if {\n\td := data.bridle.policies.decision with input as %v\n\td.effect == %q\n\td.rule == %s\n}\n",
			tt.name, i, v, tt.effect.String(), rule)
	}
	for name, s := range sets {
		t.Run(name, func(t *testing.T) {
			modules := map[string]*ast.Module{}
			for file, src := range map[string]string{"bridle.rego": s.Rego(), "bridle_test.rego": tests[name].String()} {
				m, err := ast.ParseModuleWithOpts(file, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
				if err != nil {
					t.Fatal(err)
				}
				modules[file] = m
			}
			ch, err := tester.NewRunner().SetCompiler(ast.NewCompiler()).SetModules(modules).RunTests(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for r := range ch {
				n++
				if !r.Pass() {
					t.Errorf("OPA test %s failed: %v", r.Name, r)
				}
			}
			if n == 0 {
				t.Error("OPA ran no tests")
			}
		})
	}
}
