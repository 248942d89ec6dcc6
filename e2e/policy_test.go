package e2e

import (
	"strings"
	"testing"
)

const githubPolicy = `version: 1
policies:
  - name: github-guardrails
    rules:
      - name: read anything
        effect: allow
        actions: ["github.*.get", "github.*.list"]
      - name: never delete repositories
        effect: deny
        actions: [github.repo.delete]
      - name: merges need a human
        effect: require_approval
        actions: [github.pr.merge]
`

// The policy decides: reads pass, a deny rule refuses with the rule's
// name, anything unmatched is a default deny, and nothing refused reaches
// the upstream.
func TestPolicyDecidesEachAction(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: githubPolicy, connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
		credHeader: "Authorization", credValue: "Bearer x"}}})
	cases := []struct {
		name   string
		args   []string
		status int
		reason string
		rule   string
	}{
		{"a read is allowed", []string{"https://api.github.com/repos/acme/api"}, 200, "", ""},
		{"a deletion is denied by its rule", []string{"-X", "DELETE", "https://api.github.com/repos/acme/api"}, 403, "policy_deny", "github-guardrails/never delete repositories"},
		{"an action no rule names is a default deny", []string{"-X", "POST", "-d", "{}", "-H", "Content-Type: application/json", "https://api.github.com/repos/acme/api/issues"}, 403, "default_deny", ""},
		{"plain http gets the same policy", []string{"-X", "DELETE", "http://api.github.com/repos/acme/api"}, 403, "policy_deny", "github-guardrails/never delete repositories"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			status, body, _ := g.curl(append([]string{"-x", g.agentProxy().String()}, tc.args...)...)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.status == 200 {
				return
			}
			d := decodeDeny(t, body)
			rule := ""
			if d.Rule != nil {
				rule = *d.Rule
			}
			if d.Reason != tc.reason || rule != tc.rule || d.Action == nil {
				t.Errorf("deny %+v (rule %q)", d, rule)
			}
			if len(up.Seen()) != 0 {
				t.Error("a denied request reached the upstream")
			}
		})
	}
}

// With no policy files, everything is denied and bridle up says so.
func TestNoPolicyIsDefaultDeny(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{noPolicy: true, connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up}}})
	status, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api")
	if status != 403 || decodeDeny(t, body).Reason != "default_deny" {
		t.Errorf("status %d: %s", status, body)
	}
	if !strings.Contains(g.out.String(), "No policy files are configured: every request is denied") {
		t.Errorf("bridle up did not say so:\n%s", g.out.String())
	}
	if len(up.Seen()) != 0 {
		t.Error("upstream reached")
	}
}
