package policies

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load([]string{"testdata/broken.yaml"})
	if err == nil {
		t.Fatal("got no error, want every problem of testdata/broken.yaml")
	}
	want := `testdata/broken.yaml:4:13: policies[0].agents: must not be empty
testdata/broken.yaml:6:9: policies[0].rules[0].effect: missing required key (allow, deny or require_approval)
testdata/broken.yaml:7:9: policies[0].rules[0].efect: unknown key "efect" (did you mean effect?)
testdata/broken.yaml:9:15: policies[0].rules[1].name: duplicate rule name "read anything" (first at line 6)
testdata/broken.yaml:10:17: policies[0].rules[1].effect: unknown effect "permit" (did you mean allow?)
testdata/broken.yaml:11:18: policies[0].rules[1].actions: must not be empty
testdata/broken.yaml:14:18: policies[0].rules[2].actions: must be a list (write [github.pr.merge])
testdata/broken.yaml:17:40: policies[0].rules[2].when.any[0].op: unknown operator "equals" (did you mean eq?)
testdata/broken.yaml:18:23: policies[0].rules[2].when.any[1].field: unknown field "parms.repo" (did you mean params.repo?)
testdata/broken.yaml:19:48: policies[0].rules[2].when.any[2].value: gt compares with a number, not a string
testdata/broken.yaml:20:48: policies[0].rules[2].when.any[3].value: invalid regex: error parsing regexp: missing closing ): ` + "`(unclosed`" + ` (regexes use RE2 syntax)
testdata/broken.yaml:21:52: policies[0].rules[2].when.any[4].value: unknown weekday "saturday" (weekdays are mon tue wed thu fri sat sun)
testdata/broken.yaml:22:53: policies[0].rules[2].when.any[5].value[1]: hour 25 is out of range (hours are whole numbers 0 to 23, in UTC)
testdata/broken.yaml:23:45: policies[0].rules[2].when.any[6].value: agent is a string, but the value is a number (quote it: "5")
testdata/broken.yaml:24:52: policies[0].rules[2].when.any[7].value[1]: list mixes a string with a number
testdata/broken.yaml:25:52: policies[0].rules[2].when.any[8].value: value must not be null (to test for a missing field use op: exists, value: false)
testdata/broken.yaml:26:15: policies[0].rules[2].when.any[9].value: missing required key (a condition is {field: params.base, op: eq, value: main})
testdata/broken.yaml:27:15: policies[0].rules[2].when.any[10]: a condition is either all:, any: or field/op/value, not several (nest them: all: [{any: [...]}, {field: ...}])
testdata/broken.yaml:29:11: policies[1].name: duplicate policy name "github-guardrails" (first at line 3)
testdata/broken.yaml:33:19: policies[1].rules[0].actions[0]: action pattern "github.pr merge" contains ' ' (actions are <prefix>.<resource>.<verb> of letters, digits, _ and -, with * or ** as wildcards)
testdata/broken.yaml:33:38: policies[1].rules[0].actions[1]: action pattern "github..x" has an empty segment (segments are separated by single dots)
testdata/broken.yaml:33:51: policies[1].rules[0].actions[2]: glob "github.***" has three or more *s in a row (use * within a segment or ** across segments)`
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.File != "testdata/broken.yaml" || le.Line != 4 || le.Col != 13 || le.Path != "policies[0].agents" {
		t.Errorf("got first problem %+v, want a *LoadError at testdata/broken.yaml:4:13", le)
	}
}

func TestLoadRejects(t *testing.T) {
	deep := "version: 1\npolicies:\n  - name: p\n    rules:\n      - name: r\n        effect: allow\n        actions: [a.b]\n        when: " +
		strings.Repeat("{all: [", maxDepth+1) + "{field: agent, op: eq, value: x}" + strings.Repeat("]}", maxDepth+1) + "\n"
	rule := func(extra string) string {
		return "version: 1\npolicies:\n  - name: p\n    rules:\n      - name: r\n        effect: allow\n        actions: [a.b]\n" + extra
	}
	const valid = "policies:\n  - name: p\n    rules: [{name: r, effect: allow, actions: [a.b]}]\n"
	tests := []struct {
		name, src, want string
	}{
		{"an empty file", "", "t.yaml: empty file (start the file with version: 1)"},
		{"a file without version", valid, "t.yaml:1:1: version: missing required key (add version: 1)"},
		{"an unsupported version", "version: 2\n" + valid, `t.yaml:1:10: version: unsupported version "2" (this Bridle reads version: 1)`},
		{"a quoted version", "version: \"1\"\n" + valid, "t.yaml:1:10: version: must be a number, not a string (write version: 1)"},
		{"a file without policies", "version: 1\n", "t.yaml:1:1: policies: missing required key (add a policies: list)"},
		{"an empty policies list", "version: 1\npolicies: []\n", "t.yaml:2:11: policies: must not be empty"},
		{"an unknown top-level key", "version: 1\npolicy: []\n", "t.yaml:1:1: policies: missing required key (add a policies: list)\nt.yaml:2:1: policy: unknown key \"policy\" (did you mean policies?)"},
		{"a duplicate key", "version: 1\nversion: 1\n", "t.yaml:1:1: policies: missing required key (add a policies: list)\nt.yaml:2:1: version: duplicate key \"version\" (first at line 1)"},
		{"two YAML documents", "version: 1\n---\nversion: 1\n", "t.yaml:2:1: more than one YAML document (put each document in its own file)"},
		{"invalid YAML", "version: 1\npolicies: [\n", "t.yaml:2: invalid YAML: did not find expected node content"},
		{"a YAML alias", "version: 1\npolicies:\n  - &p {name: a, rules: [{name: r, effect: allow, actions: [a.b]}]}\n  - *p\n",
			"t.yaml:4:5: policies[1]: YAML aliases are not allowed (write the value out in full)"},
		{"a numeric policy name", rule("")[:0] + "version: 1\npolicies:\n  - name: 2024\n    rules: [{name: r, effect: allow, actions: [a.b]}]\n",
			`t.yaml:3:11: policies[0].name: must be a string, not a number (quote it: "2024")`},
		{"a policy name with a slash", "version: 1\npolicies:\n  - name: a/b\n    rules: [{name: r, effect: allow, actions: [a.b]}]\n",
			"t.yaml:3:11: policies[0].name: policy names must not contain / (rule references are written policy/rule)"},
		{"a rule name with a newline", "version: 1\npolicies:\n  - name: p\n    rules: [{name: \"a\\nb\", effect: allow, actions: [a.b]}]\n",
			"t.yaml:4:20: policies[0].rules[0].name: must not contain control characters"},
		{"a rule without actions", "version: 1\npolicies:\n  - name: p\n    rules: [{name: r, effect: allow}]\n",
			"t.yaml:4:13: policies[0].rules[0].actions: missing required key (list action globs such as github.pr.merge or github.*.get)"},
		{"conditions nested too deeply", deep,
			"t.yaml:8:" + strconv.Itoa(len("        when: ")+1+7*maxDepth) + ": policies[0].rules[0].when" + strings.Repeat(".all[0]", maxDepth) + ".all: all/any nest deeper than 16 levels (flatten the conditions)"},
		{"an exists without a boolean", rule("        when: {field: params.x, op: exists, value: yes}\n"),
			"t.yaml:8:52: policies[0].rules[0].when.value: must be a boolean (exists takes value: true or value: false)"},
		{"a glob operator on a number", rule("        when: {field: params.x, op: glob, value: 5}\n"),
			"t.yaml:8:50: policies[0].rules[0].when.value: glob compares with a string, not a number"},
		{"a number too large to compare exactly", rule("        when: {field: params.x, op: eq, value: 9007199254740993}\n"),
			"t.yaml:8:48: policies[0].rules[0].when.value: number 9007199254740993 is too large to compare exactly (limit ±2^53)"},
		{"an infinite number", rule("        when: {field: params.x, op: lt, value: .inf}\n"),
			"t.yaml:8:48: policies[0].rules[0].when.value: number .inf is not finite"},
		{"an in operator with a single value", rule("        when: {field: params.x, op: in, value: main}\n"),
			"t.yaml:8:48: policies[0].rules[0].when.value: in takes a list (write [main])"},
		{"an unknown time field", rule("        when: {field: time.minute, op: eq, value: 5}\n"),
			`t.yaml:8:23: policies[0].rules[0].when.field: unknown field "time.minute" (use time.hour or time.weekday)`},
		{"a params field without a name", rule("        when: {field: params, op: exists, value: true}\n"),
			`t.yaml:8:23: policies[0].rules[0].when.field: unknown field "params" (write params.<name>, e.g. params.base)`},
		{"a regex on the weekday", rule("        when: {field: time.weekday, op: regex, value: s.*}\n"),
			"t.yaml:8:55: policies[0].rules[0].when.value: time.weekday does not support regex (use eq, neq, in or not_in)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadBytes("t.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("got  %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestLoadJoinsProblemsAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "version: 1\npolicies:\n  - name: shared\n    rules: [{name: r, effect: allow, actions: [a.b]}]\n")
	b := writeFile(t, dir, "b.yaml", "version: 1\npolicies:\n  - name: shared\n    rules: [{name: r, effect: allow, actions: [a.b]}]\n")
	c := writeFile(t, dir, "c.yaml", "version: 1\npolicies:\n  - name: other\n    rules: [{name: r, effect: alow, actions: [a.b]}]\n")
	missing := filepath.Join(dir, "missing.yaml")
	_, err := Load([]string{a, b, c, missing})
	if err == nil {
		t.Fatal("got no error, want three")
	}
	msg := err.Error()
	for _, want := range []string{
		b + `:3:5: policies: duplicate policy name "shared" (first in ` + a + `:3) (policy names are unique across files)`,
		c + `:4:31: policies[0].rules[0].effect: unknown effect "alow" (did you mean allow?)`,
		missing + ": reading policy file: open " + missing + ": no such file or directory",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("got\n%s\nwant it to contain\n%s", msg, want)
		}
	}
	if n := strings.Count(msg, "\n") + 1; n != 3 {
		t.Errorf("got %d problems, want 3", n)
	}
}

func TestLoadRefusesOversizedInput(t *testing.T) {
	if _, err := LoadBytes("big.yaml", make([]byte, maxFileSize+1)); err == nil {
		t.Error("got no error, want one")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExpandGlobs(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"policies/b.yaml", "policies/a.yaml", "policies/notes.txt", "extra.yaml"} {
		writeFile(t, dir, f, "")
	}
	if err := os.Mkdir(filepath.Join(dir, "policies", "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		patterns []string
		want     []string
		wantErr  string
	}{
		{"a glob expands to its sorted files relative to the base", []string{"policies/*.yaml"}, []string{"policies/a.yaml", "policies/b.yaml"}, ""},
		{"a file named twice appears once, first position kept", []string{"policies/b.yaml", "policies/*.yaml"}, []string{"policies/b.yaml", "policies/a.yaml"}, ""},
		{"a glob that matches nothing is no error", []string{"rules/*.yaml"}, nil, ""},
		{"a plain path that does not exist is an error", []string{"policies/c.yaml"}, nil, "policy file policies/c.yaml: stat "},
		{"a plain path to a directory is an error", []string{"policies"}, nil, "policy file policies is a directory (use policies/*.yaml)"},
		{"a malformed glob is an error", []string{"policies/[.yaml"}, nil, `policy glob "policies/[.yaml": syntax error in pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExpandGlobs(dir, tt.patterns)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rel []string
			for _, g := range got {
				r, _ := filepath.Rel(dir, g)
				rel = append(rel, filepath.ToSlash(r))
			}
			if !slices.Equal(rel, tt.want) {
				t.Errorf("got %v, want %v", rel, tt.want)
			}
		})
	}
}
