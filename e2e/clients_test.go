package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bridleRun runs `bridle run` with args and returns stdout and the exit
// code. The child inherits a clean environment plus PATH.
func (g *gateway) bridleRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bridleBin, append([]string{"run", "--config", g.config, "--"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PYTHONPATH=" + os.Getenv("PYTHONPATH"),
		// Inherited proxy settings must not survive: bridle run replaces them.
		"NO_PROXY=api.github.com", "HTTPS_PROXY=http://127.0.0.1:1"}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("bridle run: %v", err)
	}
	if stderr.Len() > 0 {
		t.Logf("stderr of %v:\n%s", args, stderr.String())
	}
	return string(out), code
}

// `bridle run -- curl` sends curl through the gateway with the agent's
// stored token and the CA bundle, and passes curl's exit code through.
func TestBridleRunCurl(t *testing.T) {
	g, _ := githubGateway(t)
	out, code := g.bridleRun(t, "curl", "-sS", "-H", "Authorization: agent-own", "https://api.github.com/repos/acme/api")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	assertForwardedClean(t, decodeEcho(t, out).Header)

	out, code = g.bridleRun(t, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "http://api.github.com/plain")
	if code != 0 || out != "200" {
		t.Errorf("plain http through bridle run: exit %d, status %q", code, out)
	}
	// A host without a connector: the CONNECT is refused 403 (curl shows
	// the proxy's answer only as its CONNECT code, and exits 56).
	out, code = g.bridleRun(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_connect}", "https://example.com/")
	if code == 0 || out != "403" {
		t.Errorf("unconfigured host through bridle run: exit %d, CONNECT answered %q; want a failure and 403", code, out)
	}
	if _, code := g.bridleRun(t, "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit code %d, want 7 passed through", code)
	}
}

// The environment `bridle run` gives the agent.
func TestBridleRunEnvironment(t *testing.T) {
	g, _ := githubGateway(t)
	out, code := g.bridleRun(t, "sh", "-c", `for v in HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS GIT_SSL_CAINFO GIT_PROXY_SSL_CAINFO AWS_CA_BUNDLE PIP_CERT DENO_CERT; do eval "echo $v=\$$v"; done`)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		env[k] = v
	}
	want := g.agentProxy().String()
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"} {
		if env[k] != want {
			t.Errorf("%s = %q, want the agent's proxy URL", k, env[k])
		}
	}
	if env["NO_PROXY"] != "localhost,127.0.0.1,::1" {
		t.Errorf("NO_PROXY = %q: an inherited entry must not bypass the gateway", env["NO_PROXY"])
	}
	bundle := filepath.Join(g.dir, ".bridle", "ca-bundle.pem")
	for _, k := range []string{"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO", "GIT_PROXY_SSL_CAINFO", "AWS_CA_BUNDLE", "PIP_CERT", "DENO_CERT"} {
		if env[k] != bundle {
			t.Errorf("%s = %q, want %s", k, env[k], bundle)
		}
	}
}

// Go's net/http (h2 over the tunnel) through the gateway: allow, 407, 403.
func TestGoNetHTTPClient(t *testing.T) {
	g, _ := githubGateway(t)
	req, _ := http.NewRequest("GET", "https://api.github.com/user", nil)
	req.Header.Set("Authorization", "Bearer agent-own")
	resp, err := g.client(g.agentProxy()).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	assertForwardedClean(t, decodeEcho(t, string(body)).Header)

	// Go surfaces a refused CONNECT as an error carrying the status.
	_, err = g.client(g.proxyURL(nil)).Get("https://api.github.com/user")
	if err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
		t.Errorf("no credentials: err = %v, want a 407", err)
	}
	_, err = g.client(g.agentProxy()).Get("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("unconfigured host: err = %v, want a 403", err)
	}
}

// Python requests, run by `bridle run`, unmodified: CONNECT (sent as
// HTTP/1.0 by http.client) and plain HTTP.
func TestPythonRequests(t *testing.T) {
	g, _ := githubGateway(t)
	script := `
import json, requests
out = {}
r = requests.get("https://api.github.com/repos/acme/api", headers={"Authorization": "token agent-own"})
out["https"] = [r.status_code, r.json()["header"]]
r = requests.post("http://api.github.com/plain", json={"a": 1})
out["http"] = [r.status_code, r.json()["header"]]
try:
    requests.get("https://example.com/")
    out["denied"] = "no error"
except requests.exceptions.ProxyError as e:
    out["denied"] = str(e)
print(json.dumps(out))
`
	out, code := g.bridleRun(t, "python3", "-c", script)
	if code != 0 {
		t.Fatalf("python exit %d: %s", code, out)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	for _, k := range []string{"https", "http"} {
		var pair []json.RawMessage
		json.Unmarshal(got[k], &pair)
		var status int
		var hdr http.Header
		json.Unmarshal(pair[0], &status)
		json.Unmarshal(pair[1], &hdr)
		if status != 200 {
			t.Errorf("%s: status %d", k, status)
		}
		assertForwardedClean(t, hdr)
	}
	if !strings.Contains(string(got["denied"]), "403") {
		t.Errorf("unconfigured host: %s, want a 403 ProxyError", got["denied"])
	}
}

// `bridle run` hands the agent its terminal: stdin reaches it, and a
// signal sent to `bridle run` (a Ctrl-C, a supervisor's SIGTERM) reaches
// the agent itself, which decides how to exit.
func TestBridleRunPassesStdinAndSignals(t *testing.T) {
	g, _ := githubGateway(t)
	cmd := exec.Command(bridleBin, "run", "--config", g.config, "--", "sh", "-c", `read line; echo "got $line"`)
	cmd.Stdin = strings.NewReader("hello agent\n")
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "got hello agent" {
		t.Errorf("stdin through bridle run: %q, %v", out, err)
	}

	ready := filepath.Join(t.TempDir(), "ready")
	cmd = exec.Command(bridleBin, "run", "--config", g.config, "--", "sh", "-c",
		`trap 'echo got TERM; exit 3' TERM; touch "$0"; while :; do sleep 0.05; done`, ready)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the agent did not start")
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(stdout.String(), "got TERM") {
		t.Errorf("SIGTERM to bridle run: %v, output %q; want the agent's own trap to answer (exit 3)", err, stdout.String())
	}
}
