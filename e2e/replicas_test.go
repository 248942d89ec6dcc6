package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/redis/redistest"
)

// Three decision replicas behind two Envoys share one Redis: a limit holds
// exactly across all of them, a kill switch set through one replica stops
// traffic through the other Envoy within a second, and Redis going away
// is 503s, never 200s, until it is back.
func TestThreeReplicasTwoEnvoysShareState(t *testing.T) {
	rs := redistest.Start(t)
	dir := t.TempDir()
	up := newUpstream(t, "api.github.com")
	token, sum := statedir.NewToken()
	os.WriteFile(filepath.Join(dir, "ca.pem"), up.caPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(allowAll), 0o644)
	xdsPort := freePort(t)
	config := func(name string, authzPort int) string {
		body := fmt.Sprintf(`version: 1
listen: {proxy: 127.0.0.1:0, api: 127.0.0.1:0, xds: 127.0.0.1:%d, authz: 127.0.0.1:%d, envoy_admin: 127.0.0.1:0}
state_dir: state-%s
redis: {url: %s}
agents: [{name: bot, token_sha256: %q, rate_limit: {requests: 30, per: 10s}}]
policies: [policy.yaml]
connectors:
  - {name: github, type: github, hosts: [api.github.com], upstream: %q, upstream_ca: ca.pem, unsafe_allow_private_upstream: true}
`, xdsPort, authzPort, name, rs.URL(), sum, up.addr)
		p := filepath.Join(dir, name+".yaml")
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	authzPorts := []int{freePort(t), freePort(t), freePort(t)}
	startBridle(t, filepath.Join(dir, "state-xds"), "serve", "--role", "xds", "--config", config("xds", authzPorts[0]))
	var apis []statedir.Endpoints
	for i, port := range authzPorts {
		name := fmt.Sprintf("authz%d", i+1)
		startBridle(t, filepath.Join(dir, "state-"+name), "serve", "--role", "authz", "--config", config(name, port))
		eps, _ := statedir.Dir(filepath.Join(dir, "state-"+name)).ReadEndpoints()
		apis = append(apis, eps)
	}
	// Envoy A asks replica 1; Envoy B balances over replicas 2 and 3.
	var proxies []string
	for i, replicas := range [][]int{{authzPorts[0]}, {authzPorts[1], authzPorts[2]}} {
		proxy := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		out, err := execBridle("envoy", "bootstrap", "--config", filepath.Join(dir, "xds.yaml"), "--node-id", fmt.Sprintf("envoy-%d", i),
			"--proxy", proxy, "--admin", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--authz", fmt.Sprintf("127.0.0.1:%d", replicas[0]))
		if err != nil {
			t.Fatal(err)
		}
		bs := filepath.Join(dir, fmt.Sprintf("envoy-%d.json", i))
		os.WriteFile(bs, withAuthzEndpoints(t, out, replicas), 0o644)
		startEnvoy(t, bs)
		proxies = append(proxies, proxy)
	}
	bundle, _ := os.ReadFile(filepath.Join(dir, "state-xds", "ca-bundle.pem"))
	g := &gateway{t: t, agent: "bot", token: token, caPool: newPool(bundle)}
	get := func(proxy string) int {
		c := g.client(&url.URL{Scheme: "http", Host: proxy, User: url.UserPassword("bot", token)})
		defer c.CloseIdleConnections()
		resp, err := c.Get("https://api.github.com/repos/acme/api")
		if err != nil {
			if strings.Contains(err.Error(), "Forbidden") {
				return 403
			}
			if strings.Contains(err.Error(), "Service Unavailable") {
				return 503
			}
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	// 1. Exactly 30 in the window, across both Envoys and three replicas.
	counts := map[int]int{}
	for i := range 45 {
		counts[get(proxies[i%2])]++
	}
	if counts[200] != 30 || counts[429] != 15 {
		t.Errorf("45 requests in one window: %v, want 30 allowed and 15 limited", counts)
	}

	// 2. A kill switch set through replica 1 stops Envoy B (replicas 2, 3).
	time.Sleep(10 * time.Second) // a fresh window
	op, _ := os.ReadFile(filepath.Join(dir, "state-authz1", "operator.token"))
	req, _ := http.NewRequest("PUT", "http://"+apis[0].API+"/api/v1/killswitch", strings.NewReader(`{"scope":"agent:bot","reason":"e2e"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(op)))
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("kill switch on replica 1: %v %v", resp, err)
	}
	for get(proxies[1]) != 403 {
		if time.Since(start) > time.Second {
			t.Fatal("the kill switch did not reach the other Envoy's replicas within 1 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("kill switch effective through the other Envoy after %s", time.Since(start).Round(time.Millisecond))
	req, _ = http.NewRequest("DELETE", "http://"+apis[0].API+"/api/v1/killswitch", strings.NewReader(`{"scope":"agent:bot"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(op)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("kill switch off: %v %v", resp, err)
	}

	// 3. Redis killed mid-traffic: only 503s; back: traffic flows.
	time.Sleep(200 * time.Millisecond)
	up.Reset()
	rs.Kill()
	for i := range 10 {
		if s := get(proxies[i%2]); s != 503 {
			t.Errorf("with Redis down: %d, want 503", s)
		}
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream reached %d times with Redis down", n)
	}
	rs.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for get(proxies[0]) != 200 || get(proxies[1]) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("traffic did not resume after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// withAuthzEndpoints rewrites a bootstrap's bridle_authz cluster to
// balance over several local decision replicas.
func withAuthzEndpoints(t *testing.T, bootstrap []byte, ports []int) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bootstrap, &b); err != nil {
		t.Fatal(err)
	}
	for _, c := range b["staticResources"].(map[string]any)["clusters"].([]any) {
		cluster := c.(map[string]any)
		if cluster["name"] != "bridle_authz" {
			continue
		}
		var eps []any
		for _, p := range ports {
			eps = append(eps, map[string]any{"endpoint": map[string]any{"address": map[string]any{
				"socketAddress": map[string]any{"address": "127.0.0.1", "portValue": p}}}})
		}
		cluster["loadAssignment"].(map[string]any)["endpoints"] = []any{map[string]any{"lbEndpoints": eps}}
	}
	out, _ := json.Marshal(b)
	return out
}

func execBridle(args ...string) ([]byte, error) {
	return exec.Command(bridleBin, args...).Output()
}
