package e2e

import (
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/statedir"
)

// getReused sends one GET and reports the status and whether it went over
// an already-open connection (the tunnel).
func getReused(t *testing.T, c *http.Client, url string) (int, bool) {
	t.Helper()
	reused := false
	req, _ := http.NewRequest("GET", url, nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, reused
}

// waitStatus polls until url answers want through the gateway.
func waitStatus(t *testing.T, g *gateway, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	last := 0
	for time.Now().Before(deadline) {
		c := g.client(g.agentProxy())
		resp, err := c.Get(url)
		if err == nil {
			last = resp.StatusCode
			resp.Body.Close()
			if last == want {
				return
			}
		}
		c.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never answered %d (last %d)", url, want, last)
}

// Adding a connector by editing the config file takes effect without a
// restart, and so does removing it; an open tunnel to another host keeps
// working through both.
func TestReloadAddsAConnectorWithoutDroppingOpenTunnels(t *testing.T) {
	gh := newUpstream(t, "api.github.com")
	st := newUpstream(t, "api.stripe.com")
	base := gatewayOpts{connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: gh}}}
	g := startGateway(t, base)
	tunnel := g.client(g.agentProxy())
	if s, _ := getReused(t, tunnel, "https://api.github.com/repos/a/b"); s != 200 {
		t.Fatalf("before: %d", s)
	}
	status, body, _ := g.connectStatus(t, "api.stripe.com:443", basicAuth(g.agent, g.token))
	if status != 403 {
		t.Fatalf("stripe before the reload: %d %s", status, body)
	}

	added := base
	added.connectors = append(added.connectors, connector{name: "stripe", typ: "stripe", host: "api.stripe.com", up: st})
	g.writeConfig(added)
	waitStatus(t, g, "https://api.stripe.com/v1/customers", 200)

	s, reused := getReused(t, tunnel, "https://api.github.com/repos/a/b")
	if s != 200 || !reused {
		t.Errorf("the open GitHub tunnel after adding a connector: status %d, reused %v", s, reused)
	}
	if !strings.Contains(g.out.String(), "config reloaded") {
		t.Error("the reload was not logged")
	}

	// Removing it again: new tunnels to its host are refused, and the
	// GitHub tunnel is still the same connection (a drop would show as a
	// new one: the Go client redials silently).
	g.writeConfig(base)
	deadline := time.Now().Add(15 * time.Second)
	for status, _, _ := g.connectStatus(t, "api.stripe.com:443", basicAuth(g.agent, g.token)); status != 403; status, _, _ = g.connectStatus(t, "api.stripe.com:443", basicAuth(g.agent, g.token)) {
		if time.Now().After(deadline) {
			t.Fatalf("stripe still accepted 15 s after its connector was removed (CONNECT %d)", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s, reused = getReused(t, tunnel, "https://api.github.com/repos/a/b")
	if s != 200 || !reused {
		t.Errorf("the open GitHub tunnel after removing a connector: status %d, reused %v", s, reused)
	}
}

// A broken policy file changes nothing: the last good config keeps
// serving, the error names file:line, and the API reports it (422).
func TestBrokenReloadKeepsTheLastGoodConfig(t *testing.T) {
	g, up := githubGateway(t)
	if s, _, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/a/b"); s != 200 {
		t.Fatalf("before: %d", s)
	}
	broken := "version: 1\npolicies:\n  - name: e2e\n    rules:\n      - {name: deny all, effect: deny, actions: [\"**\"], when: {field: agent, op: equals, value: x}}\n"
	if err := os.WriteFile(filepath.Join(g.dir, "policy.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	g.waitLog(t, "config reload refused")
	line := g.waitLog(t, "config error", "policy.yaml:5:")
	if !strings.Contains(line, `unknown operator`) {
		t.Errorf("error line: %s", line)
	}
	up.Reset()
	if s, b, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/a/b"); s != 200 {
		t.Errorf("after the broken change: %d %s (the old allow-all policy should still apply)", s, b)
	}
	req, _ := http.NewRequest("POST", "http://"+g.eps.API+"/api/v1/reload", nil)
	req.Header.Set("Authorization", "Bearer "+g.operatorToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(b), "policy.yaml:5:") {
		t.Errorf("POST /api/v1/reload: %d %s", resp.StatusCode, b)
	}
	_, metrics := g.apiGet(t, "", "/metrics")
	if !strings.Contains(metrics, `bridle_config_reloads_total{result="error"}`) {
		t.Error("no reload error metric")
	}
}

// Removing an agent from the config (SIGHUP) cuts its open tunnels at the
// next request.
func TestRevokedAgentIsCutInOpenTunnels(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	base := gatewayOpts{connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up}}}
	g := startGateway(t, base)
	tunnel := g.client(g.agentProxy())
	if s, _ := getReused(t, tunnel, "https://api.github.com/repos/a/b"); s != 200 {
		t.Fatalf("before: %d", s)
	}
	revoked := base
	revoked.noAgent = true
	g.writeConfig(revoked)
	syscall.Kill(g.cmd.Process.Pid, syscall.SIGHUP)
	g.waitLog(t, "config reloaded")
	up.Reset()
	s, reused := getReused(t, tunnel, "https://api.github.com/repos/a/b")
	if s != 407 || !reused {
		t.Errorf("revoked agent in its open tunnel: %d (reused %v), want 407", s, reused)
	}
	if len(up.Seen()) != 0 {
		t.Error("a revoked agent's request reached the upstream")
	}
}

// Revoking one of an agent's tokens (removing its hash from the config)
// cuts the tunnels opened with it at their next request, while tunnels of
// the agent's other token keep working.
func TestRevokingATokenCutsItsOpenTunnels(t *testing.T) {
	gh := newUpstream(t, "api.github.com")
	second, secondSum := statedir.NewToken()
	both := gatewayOpts{agentYAML: "token_sha256s: [" + secondSum + "]",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: gh}}}
	g := startGateway(t, both)
	first := g.client(g.agentProxy())
	revoked := g.client(g.proxyURL(url.UserPassword(g.agent, second)))
	for name, c := range map[string]*http.Client{"first": first, "second": revoked} {
		if s, _ := getReused(t, c, "https://api.github.com/repos/a/b"); s != 200 {
			t.Fatalf("%s token before the revocation: %d", name, s)
		}
	}

	reloads := g.countLines("config reloaded")
	only := both
	only.agentYAML = ""
	g.writeConfig(only)
	for deadline := time.Now().Add(15 * time.Second); g.countLines("config reloaded") == reloads; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the config was not reloaded")
		}
	}
	if s, reused := getReused(t, revoked, "https://api.github.com/repos/a/b"); s != 407 || !reused {
		t.Errorf("the open tunnel of the revoked token: %d (reused %v), want 407 on the same connection", s, reused)
	}
	if s, reused := getReused(t, first, "https://api.github.com/repos/a/b"); s != 200 || !reused {
		t.Errorf("the open tunnel of the kept token: %d (reused %v), want 200", s, reused)
	}
}
