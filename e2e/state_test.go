package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// stateGateway runs the standard GitHub setup against a real redis-server.
func stateGateway(t *testing.T, agentYAML string) (*gateway, *upstream, *redistest.Server) {
	t.Helper()
	rs := redistest.Start(t)
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer ${env:E2E_GITHUB_TOKEN}"}},
		env:       []string{"E2E_GITHUB_TOKEN=" + secretCredential},
		agentYAML: agentYAML,
		extraYAML: "redis: {url: " + rs.URL() + "}",
	})
	return g, up, rs
}

// bridleCLI runs a bridle command against the gateway's config.
func (g *gateway) bridleCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bridleBin, append(args, "--config", g.config)...).CombinedOutput()
	if err != nil {
		t.Fatalf("bridle %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The kill switch stops an agent's traffic at once — new tunnels and
// requests inside tunnels already open — and turning it off restores it.
func TestKillSwitchStopsTrafficImmediately(t *testing.T) {
	g, up, _ := stateGateway(t, "")
	client := g.client(g.agentProxy())
	get := func() int {
		resp, err := client.Get("https://api.github.com/repos/acme/api")
		if err != nil {
			if strings.Contains(err.Error(), "Forbidden") {
				return 403 // refused CONNECT
			}
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != 200 {
		t.Fatalf("before: %d", s)
	}
	g.bridleCLI(t, "killswitch", "on", "--agent", g.agent, "--reason", "runaway loop")
	up.Reset()
	start := time.Now()
	if s := get(); s != 403 {
		t.Errorf("in the open tunnel: %d, want 403", s)
	}
	t.Logf("refused %s after the switch", time.Since(start).Round(time.Millisecond))
	client.CloseIdleConnections()
	status, body, _ := g.connectStatus(t, "api.github.com:443", basicAuth(g.agent, g.token))
	if status != 403 || decodeDeny(t, body).Reason != "kill_switch" {
		t.Errorf("new tunnel: %d %s", status, body)
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while the kill switch was on")
	}
	out := g.bridleCLI(t, "killswitch", "status")
	if !strings.Contains(out, "agent:"+g.agent) || !strings.Contains(out, "ON") || !strings.Contains(out, "runaway loop") {
		t.Errorf("status:\n%s", out)
	}
	if out := g.bridleCLI(t, "killswitch", "status", "--agent", g.agent); !strings.Contains(out, "agent "+g.agent+": STOPPED by agent:"+g.agent) {
		t.Errorf("status --agent:\n%s", out)
	}
	if out := g.bridleCLI(t, "killswitch", "status", "--agent", "someone-else"); !strings.Contains(out, "agent someone-else: not stopped") || strings.Contains(out, "runaway loop") {
		t.Errorf("status --agent for another agent:\n%s", out)
	}
	g.bridleCLI(t, "killswitch", "off", "--agent", g.agent)
	if s := get(); s != 200 {
		t.Errorf("after off: %d", s)
	}
}

// A limit of 5 per 10 s admits exactly 5, then answers 429 with
// Retry-After and the limit in the body; denied requests cost nothing.
func TestRateLimitAdmitsExactlyTheLimit(t *testing.T) {
	g, up, _ := stateGateway(t, "rate_limit: {requests: 5, per: 10s}")
	var codes []int
	var last string
	var retry string
	for range 8 {
		status, body, hdr := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api")
		codes = append(codes, status)
		if status == 429 {
			last, retry = body, hdr.Get("Retry-After")
		}
	}
	want := []int{200, 200, 200, 200, 200, 429, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("statuses %v, want %v", codes, want)
		}
	}
	d := decodeDeny(t, last)
	if d.Reason != "rate_limited" || retry == "" || retry == "0" {
		t.Errorf("429 reason %q Retry-After %q", d.Reason, retry)
	}
	if !strings.Contains(last, `"limit":{"requests":5,"per":"10s"}`) {
		t.Errorf("429 body does not name the limit: %s", last)
	}
	if n := len(up.Seen()); n != 5 {
		t.Errorf("upstream saw %d requests, want 5", n)
	}
}

// With Redis gone, requests are denied with 503 store_unavailable, quickly,
// and never allowed; when it returns, traffic flows again without a restart.
func TestRedisDownFailsClosedAndRecovers(t *testing.T) {
	g, up, rs := stateGateway(t, "")
	if s, b, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/before"); s != 200 {
		t.Fatalf("before: %d %s", s, b)
	}
	rs.Kill()
	up.Reset()
	for range 5 {
		start := time.Now()
		status, body, _ := g.curl("-x", g.agentProxy().String(), "http://api.github.com/during")
		if status != 503 || decodeDeny(t, body).Reason != "store_unavailable" {
			t.Errorf("with Redis down: %d %s", status, body)
		}
		t.Logf("denied in %s", time.Since(start).Round(time.Millisecond))
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while Redis was down")
	}
	rs.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if s, _, _ := g.curl("-x", g.agentProxy().String(), "http://api.github.com/after"); s == 200 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Error("traffic did not resume after Redis came back")
}
