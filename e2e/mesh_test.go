package e2e

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/statedir"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bridleProc is a bridle process the test runs directly.
type bridleProc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func startBridle(t *testing.T, stateDir string, args ...string) *bridleProc {
	t.Helper()
	p := &bridleProc{out: &syncBuffer{}}
	p.cmd = bridleCommand(args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	os.Remove(filepath.Join(stateDir, "endpoints.json"))
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		if t.Failed() {
			t.Logf("bridle %v output:\n%s", args, p.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := statedir.Dir(stateDir).ReadEndpoints(); err == nil {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("bridle %v did not become ready:\n%s", args, p.out.String())
	return nil
}

// Two Envoys with different node ids (and proxy ports) share one control
// plane and one decision service. With the xDS server killed both keep
// serving their last config; a connector added meanwhile reaches both once
// it is back.
func TestTwoEnvoysSurviveControlPlaneLoss(t *testing.T) {
	dir := t.TempDir()
	gh := newUpstream(t, "api.github.com")
	st := newUpstream(t, "api.stripe.com")
	token, sum := statedir.NewToken()
	xdsPort, authzPort := freePort(t), freePort(t)
	write := func(name string, withStripe bool) string {
		var b strings.Builder
		fmt.Fprintf(&b, "version: 1\nlisten: {proxy: 127.0.0.1:0, api: 127.0.0.1:0, xds: 127.0.0.1:%d, authz: 127.0.0.1:%d, envoy_admin: 127.0.0.1:0}\n", xdsPort, authzPort)
		fmt.Fprintf(&b, "state_dir: state-%s\nagents: [{name: bot, token_sha256: %q}]\npolicies: [policy.yaml]\nconnectors:\n", name, sum)
		conns := []connector{{name: "github", typ: "github", host: "api.github.com", up: gh}}
		if withStripe {
			conns = append(conns, connector{name: "stripe", typ: "stripe", host: "api.stripe.com", up: st})
		}
		for i, c := range conns {
			ca := fmt.Sprintf("ca-%d.pem", i)
			os.WriteFile(filepath.Join(dir, ca), c.up.caPEM, 0o644)
			fmt.Fprintf(&b, "  - {name: %s, type: %s, hosts: [%s], upstream: %q, upstream_ca: %s, unsafe_allow_private_upstream: true}\n", c.name, c.typ, c.host, c.up.addr, ca)
		}
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(allowAll), 0o644)
	xdsCfg, authzCfg := write("xds", false), write("authz", false)
	xdsProc := startBridle(t, filepath.Join(dir, "state-xds"), "serve", "--role", "xds", "--config", xdsCfg)
	startBridle(t, filepath.Join(dir, "state-authz"), "serve", "--role", "authz", "--config", authzCfg)

	var proxies []string
	for _, node := range []string{"envoy-a", "envoy-b"} {
		proxy := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		out, err := exec.Command(bridleBin, "envoy", "bootstrap", "--config", xdsCfg, "--node-id", node,
			"--proxy", proxy, "--admin", fmt.Sprintf("127.0.0.1:%d", freePort(t))).Output()
		if err != nil {
			t.Fatal(err)
		}
		bs := filepath.Join(dir, node+".json")
		os.WriteFile(bs, out, 0o644)
		startEnvoy(t, bs)
		proxies = append(proxies, proxy)
	}
	g := &gateway{t: t, dir: filepath.Join(dir, "state-xds"), agent: "bot", token: token}
	bundle, _ := os.ReadFile(filepath.Join(dir, "state-xds", "ca-bundle.pem"))
	g.caPool = newPool(bundle)
	get := func(proxy, target string) int {
		c := g.client(&url.URL{Scheme: "http", Host: proxy, User: url.UserPassword("bot", token)})
		defer c.CloseIdleConnections()
		resp, err := c.Get(target)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, p := range proxies {
		if s := get(p, "https://api.github.com/repos/a/b"); s != 200 {
			t.Fatalf("through %s before: %d", p, s)
		}
	}

	xdsProc.cmd.Process.Signal(syscall.SIGKILL)
	xdsProc.cmd.Wait()
	for _, p := range proxies {
		if s := get(p, "https://api.github.com/repos/a/b"); s != 200 {
			t.Errorf("through %s with the control plane down: %d", p, s)
		}
	}
	// Add a connector while the control plane is down; the decision
	// service reloads on its own (file watch).
	write("xds", true)
	write("authz", true)
	time.Sleep(time.Second)
	startBridle(t, filepath.Join(dir, "state-xds"), "serve", "--role", "xds", "--config", xdsCfg)
	for _, p := range proxies {
		deadline := time.Now().Add(45 * time.Second) // Envoy's xDS reconnect backoff
		for get(p, "https://api.stripe.com/v1/customers") != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("through %s: the connector added while xDS was down never arrived", p)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
