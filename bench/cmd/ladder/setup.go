//go:build bench

package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	benchHost      = "api.github.com" // a typed connector: Bridle parses GitHub's route table
	benchConnector = "github"
	benchAgent     = "bench-agent"
	killedAgent    = "stopped-agent" // has a kill switch on, so the switch cache is not empty
	credentialEnv  = "BENCH_GITHUB_TOKEN"
	credential     = "Bearer ghp_bench_not_a_real_token"
)

// world is every long-running process of a ladder run and where it listens.
type world struct {
	o   *options
	dir string // working files and logs

	upstream  *proc
	upAddr    string
	upCAPath  string
	redis     *proc
	redisAddr string
	bridle    *proc
	cfgPath   string
	stateDir  string
	xdsAddr   string
	authzAddr string
	apiAddr   string
	noop      *proc
	noopAddr  string
	dumpDir   string
	token     string
	procs     []*proc
}

func newWorld(o *options) (*world, error) {
	dir := filepath.Join(o.out, "work")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &world{o: o, dir: dir, token: randomHex(24), dumpDir: filepath.Join(dir, "checks")}, nil
}

func (w *world) close() {
	for i := len(w.procs) - 1; i >= 0; i-- {
		w.procs[i].stop()
	}
}

// procName names a pid for the notes.
func (w *world) procName(pid int) string {
	for _, p := range w.procs {
		if p.pid() == pid {
			return p.name
		}
	}
	return fmt.Sprintf("pid %d", pid)
}

func (w *world) start(name, cpus string, env []string, bin string, args ...string) (*proc, error) {
	p, err := startProc(w.dir, name, cpus, env, bin, args...)
	if err != nil {
		return nil, err
	}
	w.procs = append(w.procs, p)
	return p, nil
}

// startUpstream runs the TLS echo upstream on the load generators' CPU: it
// stands for an API on another machine, so its cost is not the gateway's.
func (w *world) startUpstream() error {
	var err error
	if w.upAddr, err = freeAddr(); err != nil {
		return err
	}
	w.upCAPath = filepath.Join(w.dir, "upstream-ca.pem")
	if w.upstream, err = w.start("upstream", w.o.cpuLoad, nil, w.o.upstream,
		"-listen", w.upAddr, "-ca-out", w.upCAPath, "-host", benchHost); err != nil {
		return err
	}
	return w.upstream.waitFor("listening", 10*time.Second, tcpUp(w.upAddr))
}

// startRedis runs a real redis-server on the gateway CPU, without
// persistence (the rate windows and kill switch live in memory anyway).
func (w *world) startRedis() error {
	var err error
	if w.redisAddr, err = freeAddr(); err != nil {
		return err
	}
	ap := netip.MustParseAddrPort(w.redisAddr)
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server not found: apt-get install redis-server (make redis)")
	}
	if w.redis, err = w.start("redis", w.o.cpuGateway, nil, bin,
		"--port", fmt.Sprint(ap.Port()), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", w.dir, "--logfile", ""); err != nil {
		return err
	}
	return w.redis.waitFor("listening", 10*time.Second, tcpUp(w.redisAddr))
}

// startBridle writes the config — one agent, the GitHub connector pointed
// at the local upstream with a credential, limits high enough never to
// refuse but checked on every request (per agent and per connector, so the
// limiter's script updates two logs; the shortest window Bridle accepts,
// 1 s, keeps each sliding log near one second of traffic), a policy of
// o.rules rules, the real redis-server — and runs `bridle serve` (no Envoy child: the ladder starts
// each Envoy itself, pinned).
func (w *world) startBridle() error {
	addrs := make([]string, 5)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	w.xdsAddr, w.authzAddr, w.apiAddr = addrs[0], addrs[1], addrs[2]
	w.cfgPath = filepath.Join(w.dir, "bridle.yaml")
	w.stateDir = filepath.Join(w.dir, "state")
	if err := os.WriteFile(filepath.Join(w.dir, "policy.yaml"), []byte(benchPolicy(w.o.rules)), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`version: 1
listen: {proxy: %s, api: %s, xds: %s, authz: %s, envoy_admin: %s}
state_dir: state
redis: {url: "redis://%s"}
defaults: {rate_limit: {requests: 10000000, per: 1s}}
agents:
  - {name: %s, token_sha256: %q, rate_limit: {requests: 10000000, per: 1s}}
  - {name: %s, token_sha256: %q}
policies: [policy.yaml]
connectors:
  - name: %s
    type: github
    hosts: [%s]
    upstream: %s
    upstream_ca: ./upstream-ca.pem
    unsafe_allow_private_upstream: true
    credential: {value: "${env:%s}"}
    rate_limit: {requests: 10000000, per: 1s}
`, addrs[3], w.apiAddr, w.xdsAddr, w.authzAddr, addrs[4], w.redisAddr,
		benchAgent, sha256Hex(w.token), killedAgent, sha256Hex(randomHex(24)),
		benchConnector, benchHost, w.upAddr, credentialEnv)
	if err := os.WriteFile(w.cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	var err error
	w.bridle, err = w.start("bridle", w.o.cpuGateway, []string{credentialEnv + "=" + credential},
		w.o.bridle, "serve", "--config", w.cfgPath)
	if err != nil {
		return err
	}
	if err := w.bridle.waitFor("ready", time.Minute, func() bool {
		_, err := os.Stat(filepath.Join(w.stateDir, "endpoints.json"))
		return err == nil && httpOK("http://"+w.apiAddr+"/readyz")()
	}); err != nil {
		return err
	}
	// A kill switch on another agent: every Check consults the switch
	// cache, which then holds a live entry, as in production.
	out, err := exec.Command(w.o.bridle, "killswitch", "on", "--agent", killedAgent, "--reason", "bench", "--config", w.cfgPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bridle killswitch on: %v\n%s", err, out)
	}
	return nil
}

// startNoop runs the no-op ext_authz server on the gateway CPU.
func (w *world) startNoop() error {
	var err error
	if w.noopAddr, err = freeAddr(); err != nil {
		return err
	}
	if err := os.MkdirAll(w.dumpDir, 0o755); err != nil {
		return err
	}
	if w.noop, err = w.start("noop-authz", w.o.cpuGateway, nil, w.o.noop, "-listen", w.noopAddr, "-dump", w.dumpDir); err != nil {
		return err
	}
	return w.noop.waitFor("listening", 10*time.Second, tcpUp(w.noopAddr))
}

// gatewayEnvoy is one Envoy of the ladder with the address agents use.
type gatewayEnvoy struct {
	*proc
	proxy, admin string
	caPath       string // roots that verify its MITM certificates
}

// startEnvoy runs Envoy on the gateway CPU with one worker thread.
func (w *world) startEnvoy(name, bootstrap, proxy, admin, caPath string) (*gatewayEnvoy, error) {
	path := filepath.Join(w.dir, name+".json")
	if err := os.WriteFile(path, []byte(bootstrap), 0o644); err != nil {
		return nil, err
	}
	p, err := w.start(name, w.o.cpuGateway, nil, w.o.envoy, "-c", path, "--use-dynamic-base-id",
		"--concurrency", "1", "--log-level", "warn", "--drain-time-s", "1")
	if err != nil {
		return nil, err
	}
	e := &gatewayEnvoy{proc: p, proxy: proxy, admin: admin, caPath: caPath}
	if err := p.waitFor("ready", 30*time.Second, func() bool {
		return httpOK("http://"+admin+"/ready")() && tcpUp(proxy)()
	}); err != nil {
		return nil, err
	}
	return e, nil
}

// bridleEnvoy starts an Envoy whose bootstrap `bridle envoy bootstrap`
// prints — config from Bridle's xDS — with its Checks sent to authz.
func (w *world) bridleEnvoy(name, authz string) (*gatewayEnvoy, error) {
	proxy, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(w.o.bridle, "envoy", "bootstrap", "--config", w.cfgPath, "--node-id", name,
		"--xds", w.xdsAddr, "--authz", authz, "--admin", admin, "--proxy", proxy).Output()
	if err != nil {
		return nil, fmt.Errorf("bridle envoy bootstrap: %w", err)
	}
	return w.startEnvoy(name, string(out), proxy, admin, filepath.Join(w.stateDir, "ca-bundle.pem"))
}

// ceilingEnvoy starts the no-ext_authz Envoy (ceiling.go).
func (w *world) ceilingEnvoy() (*gatewayEnvoy, error) {
	proxy, err := freeAddr()
	if err != nil {
		return nil, err
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, err
	}
	upCA, err := os.ReadFile(w.upCAPath)
	if err != nil {
		return nil, err
	}
	leaf, caPEM, err := mintLeaf(benchHost)
	if err != nil {
		return nil, err
	}
	caPath := filepath.Join(w.dir, "ceiling-ca.pem")
	if err := os.WriteFile(caPath, caPEM, 0o644); err != nil {
		return nil, err
	}
	b, err := ceilingBootstrap(ceilingSpec{
		Proxy: netip.MustParseAddrPort(proxy), Admin: netip.MustParseAddrPort(admin),
		Upstream: netip.MustParseAddrPort(w.upAddr), Host: benchHost, Connector: benchConnector,
		UpstreamCA: upCA, Leaf: leaf,
	})
	if err != nil {
		return nil, fmt.Errorf("ceiling bootstrap: %w", err)
	}
	return w.startEnvoy("envoy-ceiling", string(b), proxy, admin, caPath)
}

// benchPolicy is n rules in policies of 50, shaped like a real deployment
// with several connectors: a quarter on GitHub actions (exact actions and
// * / ** globs), the rest on other APIs' actions; conditions cycle through
// a glob on the repo, a numeric comparison, an any of eq/in, and none.
// The last two rules decide the benchmark's requests: GET of a pull
// request is allowed under acme/ and denied under secret/. No other rule
// matches those requests with a deny or approval effect, so the allow path
// is an allow and the deny path a policy_deny.
func benchPolicy(n int) string {
	resources := []string{"repo", "pr", "issue", "issue_comment", "release", "workflow_run", "branch", "commit"}
	verbs := []string{"get", "list", "create", "update", "delete", "merge"}
	others := []string{"stripe", "openai", "slack", "crm"}
	var b strings.Builder
	b.WriteString("version: 1\npolicies:\n")
	for i := range max(n-2, 0) {
		if i%50 == 0 {
			fmt.Fprintf(&b, "  - name: p%d\n", i/50)
			if (i/50)%3 == 2 {
				b.WriteString("    agents: [\"bench-*\", ci-bot]\n")
			}
			b.WriteString("    rules:\n")
		}
		prefix := "github"
		if i%4 != 0 {
			prefix = others[i%len(others)]
		}
		res, verb := resources[(i/4)%len(resources)], verbs[(i/32)%len(verbs)]
		action := fmt.Sprintf("%s.%s.%s", prefix, res, verb)
		switch {
		case i%20 == 0:
			action = fmt.Sprintf("%s.*.%s", prefix, verb)
		case i%50 == 4:
			action = prefix + ".**"
		}
		cond := ""
		effect := []string{"allow", "deny", "require_approval", "allow"}[i%4]
		switch (i / 4) % 4 {
		case 0:
			cond = fmt.Sprintf("{field: params.repo, op: glob, value: \"org%d/*\"}", i%7)
		case 1:
			cond = fmt.Sprintf("{field: params.number, op: gt, value: %d}", 1000+i)
		case 2:
			cond = "{any: [{field: params.base, op: eq, value: main}, {field: agent, op: in, value: [a, b]}]}"
		default:
			effect = "allow" // an unconditional deny would decide every request it names
		}
		fmt.Fprintf(&b, "      - name: r%d\n        effect: %s\n        actions: [%q]\n", i, effect, action)
		if cond != "" {
			fmt.Fprintf(&b, "        when: %s\n", cond)
		}
	}
	b.WriteString(`  - name: bench
    rules:
      - name: read pull requests under acme
        effect: allow
        actions: [github.pr.get]
        when: {field: params.repo, op: glob, value: "acme/*"}
      - name: nothing under secret
        effect: deny
        actions: [github.pr.get]
        when: {field: params.repo, op: glob, value: "secret/*"}
`)
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
