package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitLog waits for a line of bridle's output matching all parts.
func (g *gateway) waitLog(t *testing.T, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(g.out.String(), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("no log line with %q", parts)
	return ""
}

// Requests become typed actions, from the path and (buffered by Envoy)
// from the body: the decision record names them.
func TestRequestsBecomeActions(t *testing.T) {
	g, up := githubGateway(t)
	cases := []struct {
		name   string
		args   []string
		action string
	}{
		{"REST path", []string{"-X", "PUT", "https://api.github.com/repos/acme/api/pulls/7/merge", "-d", `{"merge_method":"squash"}`}, "github.pr.merge"},
		{"GraphQL mutation from the body", []string{"-X", "POST", "https://api.github.com/graphql", "-H", "Content-Type: application/json",
			"-d", `{"query":"mutation { mergePullRequest(input: {pullRequestId: \"x\"}) { clientMutationId } }"}`}, "github.graphql.mutation.mergePullRequest"},
		{"plain http", []string{"http://api.github.com/repos/acme/api/issues"}, "github.issue.list"},
		{"unknown endpoint", []string{"https://api.github.com/no/such/endpoint"}, "github.unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := g.curl(append([]string{"-x", g.agentProxy().String()}, tc.args...)...)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			g.waitLog(t, "decision_id="+hdr.Get("x-bridle-decision-id"), "action="+tc.action)
		})
	}
	if n := len(up.Seen()); n != len(cases) {
		t.Errorf("upstream saw %d requests, want %d", n, len(cases))
	}
}

// A body the decision needs but cannot read is denied (body_unparseable),
// never decided without it.
func TestUnreadableBodyIsDenied(t *testing.T) {
	g, up := githubGateway(t)
	bigFile := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(bigFile, []byte(`{"query":"mutation { a }","pad":"`+strings.Repeat("x", 1<<20+10)+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
	}{
		{"GraphQL body that is not JSON", []string{"-X", "POST", "https://api.github.com/graphql", "-H", "Content-Type: application/json", "-d", "{not json"}},
		{"GraphQL body over the 1 MiB buffer", []string{"-X", "POST", "https://api.github.com/graphql", "-H", "Content-Type: application/json",
			"--data-binary", "@" + bigFile}},
		{"invalid percent-encoding", []string{"--path-as-is", "https://api.github.com/repos/acme/a%zzpi"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := g.curl(append([]string{"-x", g.agentProxy().String()}, tc.args...)...)
			if status == 200 {
				t.Fatalf("forwarded: %s", body)
			}
			if status == 403 {
				if d := decodeDeny(t, body); d.Reason != "body_unparseable" {
					t.Errorf("reason %q", d.Reason)
				}
			} else if status != 400 {
				// Envoy itself may refuse a malformed path with 400.
				t.Errorf("status %d: %s", status, body)
			}
		})
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests", n)
	}
}

// Typed connectors add their API's fixed companion headers when the agent
// did not, and use the type's credential header (x-api-key for Anthropic).
func TestAnthropicCompanionHeaderAndCredential(t *testing.T) {
	up := newUpstream(t, "api.anthropic.com")
	g := startGateway(t, gatewayOpts{connectors: []connector{{name: "claude", typ: "anthropic", host: "api.anthropic.com", up: up,
		credValue: "sk-ant-injected"}}})
	_, body, _ := g.curl("-x", g.agentProxy().String(), "-H", "x-api-key: agent-own", "-H", "Content-Type: application/json",
		"-d", `{"model":"claude-x","max_tokens":5,"messages":[]}`, "https://api.anthropic.com/v1/messages")
	got := decodeEcho(t, body)
	if got.Header.Get("X-Api-Key") != "sk-ant-injected" || len(got.Header.Values("X-Api-Key")) != 1 {
		t.Errorf("x-api-key %q", got.Header.Values("X-Api-Key"))
	}
	if got.Header.Get("Anthropic-Version") != "2023-06-01" {
		t.Errorf("anthropic-version %q", got.Header.Get("Anthropic-Version"))
	}
	_, body, _ = g.curl("-x", g.agentProxy().String(), "-H", "anthropic-version: 2024-01-01", "https://api.anthropic.com/v1/models")
	if v := decodeEcho(t, body).Header.Values("Anthropic-Version"); len(v) != 1 || v[0] != "2024-01-01" {
		t.Errorf("the agent's anthropic-version was replaced: %q", v)
	}
	g.waitLog(t, "action=anthropic.message.create")
}
