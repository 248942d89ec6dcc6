// Package archtest holds tests about the shape of the code base itself.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/bridle-gw/bridle"

// allowed lists, per package, which of our packages it may import
// (DESIGN §5: dependencies point down; leaves import nothing of ours). A
// package missing from the list fails the test, so every new package
// states its place.
var allowed = map[string][]string{
	"cmd/bridle":               {"*"},
	"cmd/bridle-demo-upstream": {"internal/echo"},
	"internal/gateway":         {"*"},
	"extauthz":                 {"policies", "internal/connectors", "internal/redact"},
	"xds":                      {"envoy"},
	"envoy":                    {},
	"envoy/proc":               {},
	"policies":                 {},
	"redis":                    {},
	"redis/redistest":          {},
	"internal/config":          {},
	"internal/connectors":      {},
	"internal/vault":           {},
	"internal/statedir":        {},
	"internal/api":             {"internal/audit"},
	"internal/metrics":         {},
	"internal/tokens":          {},
	"internal/notify":          {},
	"internal/audit":           {"internal/redact"},
	"internal/redact":          {},
	"internal/echo":            {},
	"e2e":                      {"*"},
	"internal/archtest":        {},
	"internal/deploycheck":     {"*"},
}

func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rules, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no entry in archtest's allowed list: say what it may import", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			ours, found := strings.CutPrefix(imp, module+"/")
			if !found || contains(rules, "*") || contains(rules, ours) {
				continue
			}
			t.Errorf("%s imports %s; allowed: %v", pkg, ours, rules)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
