package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bridle.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func noEnv(string) (string, bool) { return "", false }

// A fixed upstream address in a private range is refused at load, with the
// place in the file, unless the connector opts in.
func TestLoadRefusesPrivateUpstreamWithoutOptIn(t *testing.T) {
	p := writeConfig(t, `version: 1
connectors:
  - name: a
    hosts: [api.example.com]
    upstream: 169.254.169.254:443
  - name: b
    hosts: [b.example.com]
    upstream: 10.0.0.1:443
    unsafe_allow_private_upstream: true
  - name: c
    hosts: [c.example.com]
    upstream: 127.0.0.1:8443
`)
	_, err := Load(p, noEnv)
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, want := range []string{"bridle.yaml:5:15: connectors[0].upstream: 169.254.169.254 is a link-local / cloud metadata address", "bridle.yaml:12:15: connectors[2].upstream: 127.0.0.1 is a loopback address"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "connectors[1]") {
		t.Errorf("the opted-in connector was refused:\n%s", msg)
	}
}

func TestValidateBuildsAConsistentSnapshotWithoutState(t *testing.T) {
	p := writeConfig(t, `version: 1
agents: [{name: a, token_sha256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}]
connectors:
  - {name: gh, hosts: [api.github.com, uploads.github.com], credential: {header: Authorization, value: "Bearer x"}}
  - {name: st, hosts: [api.stripe.com]}
`)
	plan, err := Validate(p, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Hosts()) != 3 {
		t.Errorf("hosts %v", plan.Hosts())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), ".bridle")); !os.IsNotExist(err) {
		t.Errorf("validate created the state dir (%v)", err)
	}
	snap := plan.DecisionSnapshot(nil)
	if _, hasCred := snap.Connectors["gh"].CredentialFor("a"); !snap.Agents.Exists("a") || !hasCred || len(snap.Connectors["gh"].Hosts()) != 2 {
		t.Errorf("decision snapshot %+v", snap)
	}
}

// A broken policy file fails the load with its own file:line, and never
// leaves a partial set that could turn a broken deny into an allow.
func TestLoadReportsPolicyErrorsWithTheirPlace(t *testing.T) {
	p := writeConfig(t, "version: 1\npolicies: [rules.yaml, missing.yaml]\n")
	dir := filepath.Dir(p)
	os.WriteFile(filepath.Join(dir, "rules.yaml"), []byte("version: 1\npolicies:\n  - name: p\n    rules:\n      - {name: r, effect: deny, actions: [github.repo.delete], when: {field: params.repo, op: equals, value: x}}\n"), 0o644)
	_, err := Load(p, noEnv)
	if err == nil {
		t.Fatal("loaded")
	}
	msg := err.Error()
	for _, want := range []string{"bridle.yaml:2:24: policies[1]", "missing.yaml", `rules.yaml:5:`, `unknown operator "equals"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}
