package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// apiGet calls the gateway's API with a bearer token.
func (g *gateway) apiGet(t *testing.T, token, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+g.eps.API+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *gateway) operatorToken(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, ".bridle", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// The traffic API shows decisions to operators, and to an agent only its
// own; `bridle logs` prints them; /metrics counts them without a secret.
func TestTrafficAPILogsAndMetrics(t *testing.T) {
	g, _ := githubGateway(t)
	const canary = "CANARY91ab"
	g.curl("-x", g.agentProxy().String(), "-H", "Authorization: Bearer "+canary, "https://api.github.com/repos/acme/api?token="+canary)
	g.curl("-x", g.proxyURL(nil).String(), "http://api.github.com/user")
	time.Sleep(1500 * time.Millisecond) // writer batch + access log flush

	op := g.operatorToken(t)
	status, body := g.apiGet(t, op, "/api/v1/traffic?limit=100")
	if status != 200 {
		t.Fatalf("operator: %d %s", status, body)
	}
	var page struct {
		Records []struct{ Agent, Decision, Reason, Action, Path string } `json:"records"`
	}
	json.Unmarshal([]byte(body), &page)
	agents := map[string]bool{}
	for _, r := range page.Records {
		agents[r.Agent] = true
	}
	if !agents[g.agent] || !agents[""] {
		t.Errorf("operator sees agents %v, want the agent's and the unauthenticated request", agents)
	}
	opBody := body
	status, body = g.apiGet(t, g.token, "/api/v1/traffic")
	json.Unmarshal([]byte(body), &page)
	if status != 200 || len(page.Records) == 0 {
		t.Fatalf("agent: %d %s", status, body)
	}
	for _, r := range page.Records {
		if r.Agent != g.agent {
			t.Errorf("agent sees another's record: %+v", r)
		}
	}
	if status, _ := g.apiGet(t, g.token, "/api/v1/traffic?agent=someone-else"); status != 403 {
		t.Errorf("agent asking for another agent's traffic: %d, want 403", status)
	}
	if status, _ := g.apiGet(t, "", "/api/v1/traffic"); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
	if status, _ := g.apiGet(t, g.token, "/api/v1/killswitch"); status != 403 {
		t.Errorf("agent reading kill switches: %d, want 403", status)
	}

	logs := g.bridleCLI(t, "logs", "--limit", "10")
	if !strings.Contains(logs, "github.repo.get") || !strings.Contains(logs, "unauthenticated") {
		t.Errorf("bridle logs:\n%s", logs)
	}

	status, metrics := g.apiGet(t, "", "/metrics")
	for _, want := range []string{
		`bridle_decisions_total{connector="github",decision="allow",phase="request",reason="allowed"} 1`,
		`bridle_decisions_total{connector="",decision="deny",phase="plain",reason="unauthenticated"} 1`,
		"bridle_check_duration_seconds_bucket", "bridle_policy_eval_duration_seconds_count 1",
		`bridle_store_duration_seconds_count{op="rate_limit"} 1`, `bridle_store_duration_seconds_count{op="kill_switch"} 2`, "\nbridle_audit_queue_depth 0", "\nbridle_audit_dropped_total 0",
		"\nbridle_approvals_pending 0", "\nbridle_kill_switches_on 0",
	} {
		if status != 200 || !strings.Contains(metrics, want) {
			t.Errorf("metrics (%d) lack %q:\n%.3000s", status, want, metrics)
		}
	}
	// The kill switch gauge says what Redis holds, for every replica.
	g.bridleCLI(t, "killswitch", "on", "--agent", g.agent, "--reason", "metrics test")
	g.bridleCLI(t, "killswitch", "on", "--connector", "github", "--reason", "metrics test")
	if _, m := g.apiGet(t, "", "/metrics"); !strings.Contains(m, "\nbridle_kill_switches_on 2") {
		t.Errorf("two kill switches on, metrics say:\n%.3000s", m)
	}
	g.bridleCLI(t, "killswitch", "off", "--agent", g.agent)
	if _, m := g.apiGet(t, "", "/metrics"); !strings.Contains(m, "\nbridle_kill_switches_on 1") {
		t.Errorf("one kill switch on, metrics say:\n%.3000s", m)
	}
	for _, text := range []string{opBody, body, logs, metrics} {
		for _, secret := range []string{canary, g.token, secretCredential} {
			if strings.Contains(text, secret) {
				t.Errorf("a secret (%.8s…) appears in an API answer, the logs or the metrics", secret)
			}
		}
	}
}
