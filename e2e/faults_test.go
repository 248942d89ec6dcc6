package e2e

// The fault suite of issue #10: each fault is injected into a real Envoy,
// redis-server and bridle, and for every one the test asserts that no
// request that should be denied reaches the upstream, and that every
// request gets an answer with a decision (a Bridle decision id, or Envoy's
// fail-closed 503 when no decision service answers). docs/reliability.md
// lists every fault, with the tests here and the older ones that already
// covered a fault (unavailable_test.go, state_test.go, reload_test.go,
// lifecycle_test.go, mesh_test.go).

import (
	"bufio"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the audit store's driver, to hold its lock from the test

	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/tokens"
	"github.com/bridle-gw/bridle/redis/redistest"
)

// answer is what the agent got for one request.
type answer struct {
	status     int
	reason     string // from the deny body, if JSON
	decisionID string // x-bridle-decision-id
	body       string
	took       time.Duration
}

// viaTunnel CONNECTs to target as the agent, speaks TLS with sni (HTTP/1.1)
// and writes raw. The answer is the CONNECT's refusal or the inner response.
func viaTunnel(g *gateway, target, sni, raw string) (answer, error) {
	start := time.Now()
	resp, body, conn, err := g.connect(target, basicAuth(g.agent, g.token))
	if err != nil {
		return answer{}, err
	}
	defer conn.Close()
	if resp.StatusCode != http.StatusOK {
		return newAnswer(resp.StatusCode, resp.Header, body, start), nil
	}
	tc := tls.Client(conn, &tls.Config{ServerName: sni, RootCAs: g.caPool, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		return answer{}, fmt.Errorf("TLS through the tunnel: %w", err)
	}
	if _, err := io.WriteString(tc, raw); err != nil {
		return answer{}, err
	}
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return answer{}, err
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return newAnswer(r.StatusCode, r.Header, string(b), start), nil
}

// do sends a bodiless request with c and reads the answer.
func do(c *http.Client, method, url string) (answer, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return answer{}, err
	}
	return send(c, req)
}

// send sends req with c and reads the answer, timing it.
func send(c *http.Client, req *http.Request) (answer, error) {
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return newAnswer(resp.StatusCode, resp.Header, string(b), start), nil
}

func newAnswer(status int, h http.Header, body string, start time.Time) answer {
	a := answer{status: status, decisionID: h.Get("x-bridle-decision-id"), body: body, took: time.Since(start)}
	if i := strings.Index(body, `"reason":"`); i >= 0 {
		a.reason, _, _ = strings.Cut(body[i+len(`"reason":"`):], `"`)
	}
	return a
}

func (a answer) String() string {
	return fmt.Sprintf("%d %s (decision %q, %s)", a.status, a.reason, a.decisionID, a.took.Round(time.Millisecond))
}

// faultGateway is the standard GitHub setup with a rate limit high enough
// for load (the default 120/min would answer 429s) and extra config.
func faultGateway(t *testing.T, extraYAML string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer ${env:E2E_GITHUB_TOKEN}"}},
		env:       []string{"E2E_GITHUB_TOKEN=" + secretCredential},
		agentYAML: "rate_limit: {requests: 100000, per: 60s}",
		extraYAML: extraYAML,
	})
	return g, up
}

// metricSum adds up every series of a metric in Prometheus text, or -1 when
// the metric is absent.
func metricSum(text, name string) float64 {
	sum, found := 0.0, false
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	if !found {
		return -1
	}
	return sum
}

// countLines counts lines of bridle's output holding every part.
func (g *gateway) countLines(parts ...string) int {
	n := 0
	for _, line := range strings.Split(g.out.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// A stalled Redis (SIGSTOP: connections open, nothing answers) is the worst
// case for a client without timeouts. Every request — inside an open
// tunnel, through a new tunnel, plain HTTP — is denied 503
// store_unavailable with a decision id within the store's op timeout
// (50 ms), never allowed and never left hanging; an agent under a kill
// switch stays refused while Redis is stalled; traffic resumes on its own.
func TestFaultRedisStalledDeniesFast(t *testing.T) {
	g, up, rs := stateGateway(t, "")
	tunnel := g.client(g.agentProxy())
	if a, err := do(tunnel, "GET", "https://api.github.com/repos/acme/api"); err != nil || a.status != 200 {
		t.Fatalf("before: %v %v", a, err)
	}
	rs.Pause()
	up.Reset()
	var worst time.Duration
	check := func(what string, a answer, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s with Redis stalled: %v", what, err)
			return
		}
		if a.status != 503 || a.reason != "store_unavailable" || len(a.decisionID) != 32 {
			t.Errorf("%s with Redis stalled: %v, want 503 store_unavailable with a decision id", what, a)
		}
		worst = max(worst, a.took)
		t.Logf("%s: %v", what, a)
	}
	for i := range 3 {
		a, err := do(tunnel, "GET", fmt.Sprintf("https://api.github.com/repos/acme/api?open=%d", i))
		check("request in an open tunnel", a, err)
		a, err = viaTunnel(g, "api.github.com:443", "api.github.com", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n")
		check("request through a new tunnel", a, err)
		a, err = do(g.client(g.agentProxy()), "GET", "http://api.github.com/repos/acme/api")
		check("plain HTTP request", a, err)
	}
	t.Logf("slowest denial with Redis stalled: %s (store op timeout 50 ms)", worst.Round(time.Millisecond))
	if worst > 2*time.Second {
		t.Errorf("a denial took %s with Redis stalled: that is a hang, not a timeout", worst)
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests while Redis was stalled", n)
	}
	// Readiness says why: a load balancer stops sending agents here.
	if status, body := g.apiGet(t, "", "/readyz"); status != 503 || !strings.Contains(body, "state store") {
		t.Errorf("/readyz with Redis stalled: %d %s, want 503 naming the state store", status, body)
	}

	// A kill switch set before the stall still holds during it.
	rs.Resume()
	waitStatus(t, g, "https://api.github.com/repos/acme/api", 200)
	if status, body := g.apiGet(t, "", "/readyz"); status != 200 {
		t.Errorf("/readyz after Redis came back: %d %s", status, body)
	}
	g.bridleCLI(t, "killswitch", "on", "--agent", g.agent, "--reason", "fault test")
	rs.Pause()
	up.Reset()
	for i := range 5 {
		a, err := do(tunnel, "GET", fmt.Sprintf("https://api.github.com/repos/acme/api?killed=%d", i))
		if err == nil && (a.status < 400 || a.decisionID == "") {
			t.Errorf("kill switch on, Redis stalled: %v, want a 403 or 503 with a decision id", a)
		}
		a, err = do(g.client(g.agentProxy()), "GET", "http://api.github.com/repos/acme/api")
		if err != nil || a.status < 400 || a.decisionID == "" {
			t.Errorf("kill switch on, Redis stalled, plain HTTP: %v %v", a, err)
		}
		time.Sleep(200 * time.Millisecond) // cross the cache's 500 ms staleness limit
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests from a killed agent while Redis was stalled", n)
	}
	rs.Resume()
	g.bridleCLI(t, "killswitch", "off", "--agent", g.agent)
	waitStatus(t, g, "https://api.github.com/repos/acme/api", 200)
}

// A bridle.yaml edit that fails (broken YAML, a truncated file, an unset
// secret, a private upstream without the opt-in, a restart-only change)
// changes nothing: the last good config keeps serving allows and denials
// exactly as before, each refusal is logged and counted.
func TestFaultBrokenConfigReloadKeepsServing(t *testing.T) {
	g, up := githubGateway(t)
	good, err := os.ReadFile(g.config)
	if err != nil {
		t.Fatal(err)
	}
	withStripe := string(good) + "  - {name: stripe, type: stripe, upstream: 127.0.0.1:9, upstream_ca: ./upstream-ca-0.pem}\n"
	cases := []struct {
		name, content string
	}{
		{"YAML syntax error", string(good) + "  - {name: [unclosed\n"},
		{"an empty (truncated) file", ""},
		{"unset environment variable in a credential", strings.Replace(string(good), "E2E_GITHUB_TOKEN", "E2E_UNSET_VARIABLE", 1)},
		{"private upstream without unsafe_allow_private_upstream", withStripe},
		{"unknown key", strings.Replace(string(good), "agents:", "agentz: []\nagents:", 1)},
		{"a change that needs a restart (state_dir)", string(good) + "state_dir: elsewhere\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, mark := g.countLines("config reload refused"), len(g.out.String())
			if err := os.WriteFile(g.config, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			syscall.Kill(g.cmd.Process.Pid, syscall.SIGHUP) // the file watch may fire too
			deadline := time.Now().Add(5 * time.Second)
			for g.countLines("config reload refused") == before && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if g.countLines("config reload refused") == before {
				t.Fatalf("the broken config was not refused; output:\n%s", g.out.String())
			}
			time.Sleep(100 * time.Millisecond) // the error lines follow the refusal
			for _, line := range strings.Split(g.out.String()[mark:], "\n") {
				if strings.Contains(line, "config error") {
					t.Logf("refused: %s", line)
				}
			}
			up.Reset()
			status, body, hdr := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api")
			if status != 200 {
				t.Errorf("allowed request under the last good config: %d %s", status, body)
			} else {
				assertForwardedClean(t, decodeEcho(t, body).Header)
			}
			if len(hdr.Get("x-bridle-decision-id")) != 32 {
				t.Errorf("allowed answer without a decision id: %v", hdr)
			}
			status, body, _ = g.connectStatus(t, "api.stripe.com:443", basicAuth(g.agent, g.token))
			if status != 403 || decodeDeny(t, body).Reason != "no_connector" {
				t.Errorf("host of the refused config: %d %s", status, body)
			}
			status, body, _ = g.curl("-x", g.proxyURL(nil).String(), "http://api.github.com/repos/acme/api")
			if status != 407 || decodeDeny(t, body).Reason != "unauthenticated" {
				t.Errorf("unauthenticated request: %d %s", status, body)
			}
			if n := len(up.Seen()); n != 1 {
				t.Errorf("upstream saw %d requests, want only the allowed one", n)
			}
		})
	}
	_, metrics := g.apiGet(t, "", "/metrics")
	if n := metricSum(metrics, `bridle_config_reloads_total{result="error"}`); n < float64(len(cases)) {
		t.Errorf("bridle_config_reloads_total{result=error} = %v, want ≥ %d", n, len(cases))
	}
	// The good file again: a reload succeeds.
	if err := os.WriteFile(g.config, good, 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(g.cmd.Process.Pid, syscall.SIGHUP)
	g.waitLog(t, "config reloaded")
}

// Envoy killed under `bridle up`, twice, while an allowed and a denied
// client keep sending: the supervisor restarts it (logged), a request
// either finds no listener or gets a decided answer, the denied client
// never gets a 2xx, and the upstream saw only allowed requests.
func TestFaultEnvoyKilledUnderLoad(t *testing.T) {
	g, up := faultGateway(t, "")
	var allowedOK, deniedAnswers, refused, undecided, deniedLeak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	send := func(denied bool) {
		defer wg.Done()
		proxy := g.agentProxy()
		if denied {
			proxy = g.proxyURL(nil)
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			c := g.client(proxy)
			a, err := do(c, "GET", fmt.Sprintf("http://api.github.com/repos/acme/api?denied=%v&i=%d", denied, i))
			c.CloseIdleConnections()
			switch {
			case err != nil:
				refused.Add(1) // no Envoy listening (or reset mid-restart): no answer at all
			case denied && a.status < 300:
				deniedLeak.Add(1)
			case a.decisionID == "":
				undecided.Add(1)
			case denied:
				deniedAnswers.Add(1)
			case a.status == 200:
				allowedOK.Add(1)
			}
		}
	}
	wg.Add(2)
	go send(false)
	go send(true)
	for range 2 {
		time.Sleep(time.Second)
		old := g.envoyPID()
		if old <= 0 {
			t.Fatal("no envoy child found") // never kill(0)
		}
		restarts := g.countLines("envoy exited; restarting")
		syscall.Kill(old, syscall.SIGKILL)
		deadline := time.Now().Add(30 * time.Second)
		for g.countLines("envoy exited; restarting") == restarts || g.envoyPID() == old || g.envoyPID() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("envoy was not restarted")
			}
			time.Sleep(50 * time.Millisecond)
		}
		waitStatus(t, g, "https://api.github.com/repos/acme/api", 200)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("allowed 200: %d, denied with a decision: %d, no answer (Envoy down): %d, answered without a decision: %d",
		allowedOK.Load(), deniedAnswers.Load(), refused.Load(), undecided.Load())
	if deniedLeak.Load() != 0 {
		t.Errorf("%d unauthenticated requests got a 2xx", deniedLeak.Load())
	}
	if undecided.Load() != 0 {
		t.Errorf("%d requests were answered without a decision id", undecided.Load())
	}
	if allowedOK.Load() == 0 || deniedAnswers.Load() == 0 {
		t.Error("the load did not run")
	}
	for _, r := range up.Seen() {
		if strings.Contains(r.Path, "denied=true") {
			t.Errorf("upstream saw a denied request: %s", r.Path)
		}
	}
}

// holdAuditLock takes SQLite's write lock on the audit database and keeps
// it until release is called, as another process (a backup tool, a stuck
// sqlite3 shell) could.
func holdAuditLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("locking %s: %v", path, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// auditFaultTraffic sends allowed and unauthenticated requests while the
// audit store cannot be written: every decision is made as usual and fast.
func auditFaultTraffic(t *testing.T, g *gateway, up *upstream, n int) {
	t.Helper()
	up.Reset()
	client := g.client(g.agentProxy())
	var slowest time.Duration
	for i := range n {
		a, err := do(client, "GET", fmt.Sprintf("https://api.github.com/repos/acme/api?i=%d", i))
		if err != nil || a.status != 200 || a.decisionID == "" {
			t.Fatalf("allowed request %d with the audit store failing: %v %v", i, a, err)
		}
		d, err := do(g.client(g.proxyURL(nil)), "GET", "http://api.github.com/repos/acme/api")
		if err != nil || d.status != 407 || d.reason != "unauthenticated" {
			t.Fatalf("unauthenticated request %d with the audit store failing: %v %v", i, d, err)
		}
		slowest = max(slowest, a.took, d.took)
	}
	t.Logf("%d allowed + %d denied decisions with the audit store failing; slowest %s", n, n, slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("a decision took %s: the audit store is on the decision path", slowest)
	}
	if got := len(up.Seen()); got != n {
		t.Errorf("upstream saw %d requests, want %d", got, n)
	}
}

// assertAuditLossCounted waits for the writer to give up on a batch, then
// checks the loss is logged and visible in /metrics.
func assertAuditLossCounted(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // busy_timeout is 5 s
	for g.countLines("audit batch lost") == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if g.countLines("audit batch lost") == 0 {
		t.Fatalf("no \"audit batch lost\" log line; output:\n%s", g.out.String())
	}
	t.Logf("logged: %s", g.waitLog(t, "audit batch lost"))
	_, metrics := g.apiGet(t, "", "/metrics")
	var counted []string
	for _, name := range []string{"bridle_audit_dropped_total", "bridle_audit_failed_total", "bridle_audit_lost_total", "bridle_audit_write_errors_total"} {
		if v := metricSum(metrics, name); v > 0 {
			counted = append(counted, fmt.Sprintf("%s=%v", name, v))
		}
	}
	if len(counted) == 0 {
		t.Errorf("records lost to a failing audit store are not counted in /metrics: bridle_audit_dropped_total = %v",
			metricSum(metrics, "bridle_audit_dropped_total"))
	} else {
		t.Logf("counted: %s", strings.Join(counted, ", "))
	}
}

// With the audit database locked by another process, decisions continue at
// full speed (writing is off the decision path), the lost batch is logged
// and counted, and records are written again once the lock is gone.
func TestFaultAuditDBLockedDecisionsContinue(t *testing.T) {
	g, up := faultGateway(t, "")
	release := holdAuditLock(t, filepath.Join(g.dir, ".bridle", "audit.db"))
	auditFaultTraffic(t, g, up, 20)
	assertAuditLossCounted(t, g)
	release()
	_, _, hdr := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/after-unlock")
	id := hdr.Get("x-bridle-decision-id")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := g.apiGet(t, g.operatorToken(t), "/api/v1/traffic?limit=50")
		if strings.Contains(body, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decision %s never reached the audit log after the lock was released", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// With the audit database on a full filesystem (a 1 MiB tmpfs filled up
// after start), decisions continue, and the lost records are logged and
// counted. Needs root (mount); skipped otherwise.
func TestFaultAuditDiskFullDecisionsContinue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the audit database")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { // registered first, so it runs after the gateway stopped
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	g, up := faultGateway(t, "audit: {path: "+filepath.Join(mnt, "audit.db")+"}")
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	filler.Close()
	auditFaultTraffic(t, g, up, 300) // enough records to need new WAL pages
	assertAuditLossCounted(t, g)
	os.Remove(filler.Name()) // let the shutdown checkpoint succeed
}

// tokenGateway runs approvalPolicy (merges need a human; a decision token
// for exactly the merge lets it through once) against a real redis-server,
// and returns a function that issues a token for "merge PR n" with the
// gateway's own signing key, as if issued at the given time, and registers
// its nonce in Redis as Bridle's issuer does (only registered nonces are
// accepted).
func tokenGateway(t *testing.T) (*gateway, *upstream, *redistest.Server, func(pr int, issued time.Time) string) {
	t.Helper()
	rs := redistest.Start(t)
	g, up := tokenGatewayWith(t, "redis: {url: "+rs.URL()+"}")
	opts, err := goredis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	keys, err := tokens.LoadOrCreate(filepath.Join(g.dir, ".bridle"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connectors.New([]connectors.Spec{{Name: "github", Type: "github", Hosts: []string{"api.github.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := reg.Lookup("api.github.com")
	issue := func(pr int, issued time.Time) string {
		t.Helper()
		a, err := c.Parse(connectors.Request{Agent: g.agent, Method: "PUT", Host: "api.github.com", Path: fmt.Sprintf("/repos/acme/api/pulls/%d/merge", pr),
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"merge_method":"squash"}`), BodyBuffered: true})
		if err != nil {
			t.Fatal(err)
		}
		hash, err := a.SpecHash()
		if err != nil {
			t.Fatal(err)
		}
		tok, claims, err := keys.Issue(tokens.Claims{ActionRequestID: fmt.Sprintf("act_fault_%d", pr), ActionSpecHash: hash, Agent: g.agent}, issued)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(t.Context(), "bridle:nonce:"+claims.Nonce, "issued", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return g, up, rs, issue
}

// tokenGatewayWith starts the gateway of tokenGateway with extra config
// (empty: the embedded Redis).
func tokenGatewayWith(t *testing.T, extraYAML string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: approvalPolicy,
		extraYAML:  "approvals: {hold: 300ms, timeout: 1m}\n" + extraYAML,
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer x"}}})
	return g, up
}

// mergePR sends "merge PR n" with a decision token through the proxy.
func mergePR(t *testing.T, c *http.Client, pr int, token string) (answer, error) {
	t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("https://api.github.com/repos/acme/api/pulls/%d/merge", pr), strings.NewReader(`{"merge_method":"squash"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bridle-Decision-Token", token)
	return send(c, req)
}

// Clock skew between the issuer of a decision token and the replica that
// checks it is tolerated up to the 30 s leeway, both ways, and refused
// beyond it (DESIGN §3 "Decision token").
func TestFaultDecisionTokenClockSkew(t *testing.T) {
	g, up, _, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	now := time.Now()
	cases := []struct {
		name   string
		issued time.Time
		status int
		reason string
	}{
		{"issuer 25 s ahead (within the leeway)", now.Add(25 * time.Second), 200, ""},
		{"issuer 35 s ahead (beyond the leeway)", now.Add(35 * time.Second), 403, "token_invalid"},
		{"expired 25 s ago (within the leeway)", now.Add(-tokens.TTL - 25*time.Second), 200, ""},
		{"expired 35 s ago (beyond the leeway)", now.Add(-tokens.TTL - 35*time.Second), 403, "token_invalid"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			pr := 100 + i
			a, err := mergePR(t, client, pr, issue(pr, tc.issued))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v", a)
			if a.status != tc.status || a.reason != tc.reason || a.decisionID == "" {
				t.Errorf("got %v, want %d %s", a, tc.status, tc.reason)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.status == 200]; len(up.Seen()) != want {
				t.Errorf("upstream saw %d merges, want %d", len(up.Seen()), want)
			}
		})
	}
}

// A decision token presented while Redis (the nonce store) is stalled or
// down is a 503, never a pass: a token whose nonce cannot be recorded
// could be replayed. Once Redis is back the token works at most once.
func TestFaultDecisionTokenWithRedisDown(t *testing.T) {
	g, up, rs, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	for _, fault := range []struct {
		name        string
		apply, undo func()
	}{
		{"stalled", rs.Pause, rs.Resume},
		{"killed", rs.Kill, rs.Restart},
	} {
		t.Run(fault.name, func(t *testing.T) {
			pr := map[string]int{"stalled": 200, "killed": 201}[fault.name]
			tok := issue(pr, time.Now())
			up.Reset()
			fault.apply()
			for range 3 {
				a, err := mergePR(t, client, pr, tok)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("Redis %s: %v", fault.name, a)
				if a.status != 503 || a.reason != "store_unavailable" || a.decisionID == "" {
					t.Errorf("token with Redis %s: %v, want 503 store_unavailable", fault.name, a)
				}
				if a.took > 2*time.Second {
					t.Errorf("took %s", a.took)
				}
			}
			if n := len(up.Seen()); n != 0 {
				t.Errorf("upstream saw %d merges with Redis %s", n, fault.name)
			}
			fault.undo()
			deadline := time.Now().Add(10 * time.Second)
			var oks, replays int
			for time.Now().Before(deadline) && oks+replays < 3 {
				a, err := mergePR(t, client, pr, tok)
				if err != nil || a.status == 503 {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				switch {
				case a.status == 200:
					oks++
				case a.status == 403 && (a.reason == "token_replayed" || a.reason == "token_invalid"):
					// replayed: the stalled Redis applied the use on
					// resume; invalid: the killed one lost the registration.
					replays++
				default:
					t.Errorf("after Redis came back: %v", a)
					replays++
				}
			}
			t.Logf("after Redis came back: %d accepted, %d refused", oks, replays)
			if oks > 1 || len(up.Seen()) > 1 {
				t.Errorf("the token was accepted %d times (upstream saw %d merges)", oks, len(up.Seen()))
			}
			if oks+replays == 0 {
				t.Error("no answer but 503 after Redis came back")
			}
		})
	}
}

// A used decision token stays used when Redis loses its data (a restart
// without persistence, a failover to an empty replica): Bridle must not
// forget a nonce while the token it guards can still verify (exp + 30 s).
func TestFaultNonceReplayAfterRedisDataLoss(t *testing.T) {
	g, up, rs, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	tok := issue(300, time.Now())
	if a, err := mergePR(t, client, 300, tok); err != nil || a.status != 200 {
		t.Fatalf("first use: %v %v", a, err)
	}
	if a, _ := mergePR(t, client, 300, tok); a.status != 403 || a.reason != "token_replayed" {
		t.Fatalf("replay before the restart: %v", a)
	}
	rs.Restart() // an empty Redis on the same address, as after a crash without appendonly
	waitStatus(t, g, "https://api.github.com/repos/acme/api", 200)
	up.Reset()
	a, err := mergePR(t, client, 300, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay after Redis lost its data: %v", a)
	if a.status != 403 || a.reason != "token_invalid" || len(up.Seen()) != 0 {
		t.Errorf("a used decision token after Redis lost its data: %v, upstream saw %d merges; want 403 token_invalid "+
			"(Redis no longer knows the nonce)", a, len(up.Seen()))
	}
	freshTokenWorksAfterLoss(t, client, issue)
}

// freshTokenWorksAfterLoss checks that a token issued after the data loss
// is accepted once.
func freshTokenWorksAfterLoss(t *testing.T, client *http.Client, issue func(int, time.Time) string) {
	t.Helper()
	tok := issue(302, time.Now())
	for i, want := range []string{"", "token_replayed"} {
		a, err := mergePR(t, client, 302, tok)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && a.status != 200) || (want != "" && (a.status != 403 || a.reason != want)) {
			t.Errorf("use %d of a token issued after the loss: %v; want %q", i+1, a, want)
		}
	}
}

// restart stops bridle and starts it again on the same config and state
// dir, as an operator or a crash-looping supervisor would.
func (g *gateway) restart(t *testing.T) {
	t.Helper()
	env := g.cmd.Env // the same environment: secrets the config names
	g.stop()
	g.stopped = false
	g.cmd = bridleCommand("up", "--config", g.config, "--log-level", "debug")
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.waitReady()
}

// The same with the embedded Redis, the default of `bridle up`: a restart
// of bridle empties it. The token is a real one, from the action API.
func TestFaultNonceReplayAfterBridleRestartWithEmbeddedRedis(t *testing.T) {
	g, up := tokenGatewayWith(t, "")
	client := g.client(g.agentProxy())
	tok := g.approvedMergeToken(t, 301)
	if a, err := mergePR(t, client, 301, tok); err != nil || a.status != 200 {
		t.Fatalf("first use: %v %v", a, err)
	}
	g.restart(t)
	client = g.client(g.agentProxy())
	up.Reset()
	a, err := mergePR(t, client, 301, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay after a restart of bridle: %v", a)
	if a.status != 403 || a.reason != "token_invalid" || len(up.Seen()) != 0 {
		t.Errorf("a used decision token after bridle restarted with the embedded Redis: %v, upstream saw %d merges; want 403 token_invalid", a, len(up.Seen()))
	}
	fresh := g.approvedMergeToken(t, 302)
	for i, want := range []string{"", "token_replayed"} {
		a, err := mergePR(t, client, 302, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && a.status != 200) || (want != "" && (a.status != 403 || a.reason != want)) {
			t.Errorf("use %d of a token issued after the restart: %v; want %q", i+1, a, want)
		}
	}
}

// A kill switch turned on with the embedded Redis is still on after `bridle
// up` restarts (the embedded Redis keeps its switches in the state dir), for
// new tunnels and in `killswitch status`; turning it off then restores
// traffic.
func TestFaultKillSwitchSurvivesBridleRestartWithEmbeddedRedis(t *testing.T) {
	g, up := faultGateway(t, "")
	g.bridleCLI(t, "killswitch", "on", "--agent", g.agent, "--reason", "set before the restart")
	g.restart(t)
	up.Reset()
	status, body, _ := g.connectStatus(t, "api.github.com:443", basicAuth(g.agent, g.token))
	if status != 403 || decodeDeny(t, body).Reason != "kill_switch" {
		t.Errorf("new tunnel after the restart: %d %s; want 403 kill_switch", status, body)
	}
	if out := g.bridleCLI(t, "killswitch", "status"); !strings.Contains(out, "set before the restart") {
		t.Errorf("status after the restart:\n%s", out)
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while the kept kill switch was on")
	}
	g.bridleCLI(t, "killswitch", "off", "--agent", g.agent)
	if a, err := do(g.client(g.agentProxy()), "GET", "https://api.github.com/repos/acme/api"); err != nil || a.status != 200 {
		t.Errorf("after off: %v %v", a, err)
	}
}

// How long each path takes to fail closed when the decision service hangs
// (SIGSTOP: connections open, no answer). Every answer must be Envoy's 503
// and nothing may reach the upstream. CONNECTs use the 2 s check timeout;
// requests to upstreams use the approval hold's (approvals.hold + 2 s,
// 27 s by default) since #6, which TestDecisionServiceTimeoutIs503 (15 s
// client timeout) no longer tolerates: the times are logged for
// docs/reliability.md.
func TestFaultDecisionServiceStalledTimes(t *testing.T) {
	g, up := faultGateway(t, "")
	tunnel := g.client(g.agentProxy())
	tunnel.Timeout = 60 * time.Second
	if a, err := do(tunnel, "GET", "https://api.github.com/repos/acme/api"); err != nil || a.status != 200 {
		t.Fatalf("before: %v %v", a, err)
	}
	up.Reset()
	if err := syscall.Kill(g.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(g.cmd.Process.Pid, syscall.SIGCONT)
	waitStopped(t, g.cmd.Process.Pid)
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]answer{}
	run := func(name string, f func() (answer, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := f()
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			mu.Lock()
			results[name] = a
			mu.Unlock()
		}()
	}
	run("new CONNECT", func() (answer, error) {
		start := time.Now()
		resp, body, conn, err := g.connect("api.github.com:443", basicAuth(g.agent, g.token))
		if err != nil {
			return answer{}, err
		}
		conn.Close()
		return newAnswer(resp.StatusCode, resp.Header, body, start), nil
	})
	run("request in an open tunnel", func() (answer, error) { return do(tunnel, "GET", "https://api.github.com/repos/acme/api?open") })
	run("plain HTTP request", func() (answer, error) {
		c := g.client(g.agentProxy())
		c.Timeout = 60 * time.Second
		return do(c, "GET", "http://api.github.com/repos/acme/api")
	})
	wg.Wait()
	for name, a := range results {
		t.Logf("%s with the decision service stalled: %v", name, a)
		if a.status != 503 {
			t.Errorf("%s: %v, want Envoy's 503", name, a)
		}
	}
	if a, ok := results["new CONNECT"]; ok && a.took > 5*time.Second {
		t.Errorf("a CONNECT took %s to fail closed", a.took)
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests while the decision service hung", n)
	}
}
