//go:build soak

// Soak runs `bridle up` (real Envoy; a real redis-server when one is on
// PATH, else the embedded Redis) against a local TLS echo upstream and
// sends a steady open-loop load through the agent proxy for a while:
//
//	70 % allowed GETs through CONNECT tunnels (MITM, h2)         → 200
//	15 % DELETEs the policy denies                                → 403
//	10 % GETs of an agent limited to 20 requests/s                → 200 or 429
//	 5 % plain-HTTP requests without proxy credentials            → 407
//
// It samples Bridle's RSS and goroutines (/proc, /metrics go_goroutines) and
// Envoy's RSS and memory (/proc, admin /memory) every -sample, and fails if
// any status was unexpected, if fewer than 95 % of the scheduled requests
// were sent, or if a resource grew by more than 10 % from the first quarter
// of the samples after warm-up to the last quarter (medians). Only loopback
// addresses are used.
//
// Run it with `make soak` (SOAK_DURATION, SOAK_RATE); it is not part of
// `make test`. See docs/reliability.md.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bridle-gw/bridle/internal/echo"
	"github.com/bridle-gw/bridle/internal/statedir"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	bridle, envoy    string
	duration, warmup time.Duration
	sample           time.Duration
	rate, workers    int
	keep             bool
}

func run() error {
	var o options
	flag.StringVar(&o.bridle, "bridle", "bin/bridle", "bridle binary")
	flag.StringVar(&o.envoy, "envoy", ".tools/bin/envoy", "envoy binary")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to send load")
	flag.DurationVar(&o.warmup, "warmup", 0, "samples before this are not judged (default: a fifth of -duration, at most 2m)")
	flag.DurationVar(&o.sample, "sample", 10*time.Second, "resource sampling interval")
	flag.IntVar(&o.rate, "rate", 1000, "requests per second")
	flag.IntVar(&o.workers, "workers", 256, "concurrent requests at most")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	if o.warmup == 0 {
		o.warmup = min(o.duration/5, 2*time.Minute)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dir, err := os.MkdirTemp("", "bridle-soak-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	env, err := setUp(ctx, dir, o)
	defer env.close() // whatever setUp started
	if err != nil {
		return err
	}
	fmt.Printf("soak: %s at %d requests/s (warm-up %s), bridle pid %d, envoy pid %d, redis: %s\n",
		o.duration, o.rate, o.warmup, env.bridle.Process.Pid, env.envoyPID, env.redisKind)
	return soak(ctx, env, o)
}

// environment is the running gateway and what the load needs to reach it.
type environment struct {
	dir       string
	bridle    *exec.Cmd
	bridleOut *os.File
	redis     *exec.Cmd
	redisKind string
	envoyPID  int
	eps       statedir.Endpoints
	upstream  *httptest.Server
	pool      *x509.CertPool
	tokens    map[string]string // agent → token
}

func (e *environment) close() {
	if e.bridle != nil && e.bridle.Process != nil && e.bridleOut != nil && !e.ok() {
		if b, err := os.ReadFile(e.bridleOut.Name()); err == nil {
			fmt.Fprintf(os.Stderr, "bridle output:\n%s\n", tail(string(b), 40))
		}
	}
	if e.bridle != nil && e.bridle.Process != nil {
		e.bridle.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { e.bridle.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			e.bridle.Process.Kill()
		}
	}
	if e.redis != nil && e.redis.Process != nil {
		e.redis.Process.Kill()
		e.redis.Wait()
	}
	if e.upstream != nil {
		e.upstream.Close()
	}
	if e.bridleOut != nil {
		e.bridleOut.Close()
	}
}

const policy = `version: 1
policies:
  - name: soak
    rules:
      - {name: reads, effect: allow, actions: ["github.*.get", "github.*.list"]}
      - {name: never delete repositories, effect: deny, actions: [github.repo.delete]}
`

func setUp(ctx context.Context, dir string, o options) (*environment, error) {
	e := &environment{dir: dir, tokens: map[string]string{}}
	certs, err := echo.NewCerts("api.github.com")
	if err != nil {
		return e, err
	}
	e.upstream = httptest.NewUnstartedServer(&discardEcho{})
	e.upstream.TLS = certs.TLSConfig()
	e.upstream.EnableHTTP2 = true
	e.upstream.StartTLS()
	if err := os.WriteFile(filepath.Join(dir, "upstream-ca.pem"), certs.CAPEM, 0o644); err != nil {
		return e, err
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(policy), 0o644); err != nil {
		return e, err
	}
	sums := map[string]string{}
	for _, agent := range []string{"soak", "limited"} {
		e.tokens[agent], sums[agent] = statedir.NewToken()
	}
	redisYAML := ""
	if e.redis, err = startRedis(ctx); err != nil {
		return e, err
	}
	if e.redis != nil {
		e.redisKind = "redis-server " + e.redis.Args[2]
		redisYAML = fmt.Sprintf("redis: {url: \"redis://127.0.0.1:%s\"}\n", e.redis.Args[2])
	} else {
		e.redisKind = "embedded (no redis-server on PATH)"
	}
	cfg := fmt.Sprintf(`version: 1
listen: {proxy: 127.0.0.1:0, api: 127.0.0.1:0, xds: 127.0.0.1:0, authz: 127.0.0.1:0, envoy_admin: 127.0.0.1:0}
%sagents:
  - {name: soak, token_sha256: %q, rate_limit: {requests: 100000, per: 1s}}
  - {name: limited, token_sha256: %q, rate_limit: {requests: 20, per: 1s}}
policies: [policy.yaml]
connectors:
  - name: github
    type: github
    upstream: %s
    upstream_ca: ./upstream-ca.pem
    unsafe_allow_private_upstream: true
    credential: {value: "Bearer soak-credential"}
`, redisYAML, sums["soak"], sums["limited"], e.upstream.Listener.Addr())
	config := filepath.Join(dir, "bridle.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		return e, err
	}
	if e.bridleOut, err = os.Create(filepath.Join(dir, "bridle.log")); err != nil {
		return e, err
	}
	e.bridle = exec.Command(o.bridle, "up", "--config", config)
	e.bridle.Env = append(os.Environ(), "BRIDLE_ENVOY="+o.envoy)
	e.bridle.Stdout, e.bridle.Stderr = e.bridleOut, e.bridleOut
	if err := e.bridle.Start(); err != nil {
		return e, err
	}
	state := statedir.Dir(filepath.Join(dir, ".bridle"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if e.eps, err = state.ReadEndpoints(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return e, fmt.Errorf("bridle did not become ready; see %s", e.bridleOut.Name())
		}
		time.Sleep(100 * time.Millisecond)
	}
	bundle, err := os.ReadFile(state.CABundle())
	if err != nil {
		return e, err
	}
	e.pool = x509.NewCertPool()
	e.pool.AppendCertsFromPEM(bundle)
	if e.envoyPID = childPID(e.bridle.Process.Pid); e.envoyPID == 0 {
		return e, errors.New("no envoy child of bridle found")
	}
	return e, nil
}

// ok reports whether the gateway came up (endpoints known, Envoy found).
func (e *environment) ok() bool { return e.envoyPID != 0 }

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// discardEcho answers 200 with a small JSON body without keeping anything
// (echo.Handler remembers every request, which would grow for the soak).
type discardEcho struct{}

func (discardEcho) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true}`)
}

// startRedis starts a redis-server on a free loopback port if one is on
// PATH; nil (embedded Redis) otherwise.
func startRedis(ctx context.Context) (*exec.Cmd, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 100 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			fmt.Fprint(c, "PING\r\n")
			c.SetReadDeadline(time.Now().Add(time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return cmd, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, errors.New("redis-server did not answer PING")
}

// childPID returns a child of pid (bridle's Envoy), or 0.
func childPID(pid int) int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, field := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(field); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// class is one kind of request in the mix.
type class struct {
	name   string
	weight int
	method string
	url    func(i int) string
	client *http.Client
	want   []int

	mu       sync.Mutex
	statuses map[int]int64
	errors   map[string]int64 // transport errors and unexpected answers, by message
	lat      []time.Duration
}

// record counts one answer; body is read only for unexpected statuses.
func (c *class) record(status int, body string, err error, d time.Duration) (unexpected bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		msg := err.Error()
		if len(msg) > 120 {
			msg = msg[:120]
		}
		c.errors[msg]++
		return true
	}
	c.statuses[status]++
	c.lat = append(c.lat, d)
	if slices.Contains(c.want, status) {
		return false
	}
	detail := strings.TrimSpace(body)
	if i := strings.Index(body, `"reason":"`); i >= 0 {
		detail, _, _ = strings.Cut(body[i+10:], `"`)
	}
	if len(detail) > 80 {
		detail = detail[:80]
	}
	c.errors[fmt.Sprintf("status %d: %s", status, detail)]++
	return true
}

func (e *environment) client(user *url.Userinfo) *http.Client {
	tr := &http.Transport{
		Proxy:               http.ProxyURL(&url.URL{Scheme: "http", Host: e.eps.Proxy, User: user}),
		TLSClientConfig:     &tls.Config{RootCAs: e.pool},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// sample is one reading of the resources watched.
type sample struct {
	at                      time.Duration
	bridleRSS, envoyRSS     int64 // bytes
	goroutines              int64
	envoyHeap, envoyAlloc   int64 // bytes, from admin /memory
	sent, unexpected, stall int64
}

func soak(ctx context.Context, e *environment, o options) error {
	classes := []*class{
		{name: "allowed GET (MITM)", weight: 14, method: "GET", want: []int{200},
			url: func(i int) string { return fmt.Sprintf("https://api.github.com/repos/acme/api-%d", i%100) }, client: e.client(url.UserPassword("soak", e.tokens["soak"]))},
		{name: "denied DELETE (MITM)", weight: 3, method: "DELETE", want: []int{403},
			url: func(i int) string { return fmt.Sprintf("https://api.github.com/repos/acme/api-%d", i%100) }, client: e.client(url.UserPassword("soak", e.tokens["soak"]))},
		{name: "rate-limited GET (MITM)", weight: 2, method: "GET", want: []int{200, 429},
			url: func(i int) string { return "https://api.github.com/repos/acme/limited" }, client: e.client(url.UserPassword("limited", e.tokens["limited"]))},
		{name: "no credentials (plain HTTP)", weight: 1, method: "GET", want: []int{407},
			url: func(i int) string { return "http://api.github.com/repos/acme/api" }, client: e.client(nil)},
	}
	var wheel []*class
	for _, c := range classes {
		c.statuses, c.errors = map[int]int64{}, map[string]int64{}
		for range c.weight {
			wheel = append(wheel, c)
		}
	}
	var sent, unexpected, stalled atomic.Int64
	jobs := make(chan int, o.workers)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c := wheel[i%len(wheel)]
				start := time.Now()
				req, _ := http.NewRequest(c.method, c.url(i), nil)
				status, body, err := 0, "", error(nil)
				if resp, rerr := c.client.Do(req); rerr != nil {
					err = rerr
				} else {
					if !slices.Contains(c.want, resp.StatusCode) {
						b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
						body = string(b)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					status = resp.StatusCode
				}
				if c.record(status, body, err, time.Since(start)) {
					unexpected.Add(1)
				}
			}
		}()
	}

	var samples []sample
	began := time.Now()
	takeSample := func() {
		s := sample{at: time.Since(began), sent: sent.Load(), unexpected: unexpected.Load(), stall: stalled.Load()}
		s.bridleRSS = rss(e.bridle.Process.Pid)
		s.envoyRSS = rss(e.envoyPID)
		s.goroutines = goroutines(e.eps.API)
		s.envoyHeap, s.envoyAlloc = envoyMemory(e.eps.EnvoyAdmin)
		samples = append(samples, s)
		fmt.Printf("%7s  sent %8d  unexpected %4d  skipped %5d  bridle rss %6.1f MiB  goroutines %5d  envoy rss %6.1f MiB  heap %6.1f MiB  allocated %6.1f MiB\n",
			s.at.Round(time.Second), s.sent, s.unexpected, s.stall, mib(s.bridleRSS), s.goroutines, mib(s.envoyRSS), mib(s.envoyHeap), mib(s.envoyAlloc))
	}
	takeSample()

	// Open loop: every 10 ms, schedule rate/100 requests; a request that
	// finds every worker busy is skipped and counted (the gateway is
	// behind), never queued without bound.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sampleTick := time.NewTicker(o.sample)
	defer sampleTick.Stop()
	end := time.After(o.duration)
	perTick, carry, i := o.rate/100, o.rate%100, 0
	carried := 0
loop:
	for {
		select {
		case <-ctx.Done():
			fmt.Println("interrupted")
			break loop
		case <-end:
			break loop
		case <-sampleTick.C:
			takeSample()
		case <-tick.C:
			n := perTick
			if carried += carry; carried >= 100 {
				n, carried = n+1, carried-100
			}
			for range n {
				select {
				case jobs <- i:
					sent.Add(1)
				default:
					stalled.Add(1)
				}
				i++
			}
		}
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(began)
	takeSample()
	return report(classes, samples, o, elapsed, sent.Load(), unexpected.Load(), stalled.Load())
}

func report(classes []*class, samples []sample, o options, elapsed time.Duration, sent, unexpected, stalled int64) error {
	var failures []string
	fmt.Printf("\nsent %d requests in %s (%.0f/s; %d skipped because every worker was busy)\n",
		sent, elapsed.Round(time.Second), float64(sent)/elapsed.Seconds(), stalled)
	var all []time.Duration
	for _, c := range classes {
		slices.Sort(c.lat)
		all = append(all, c.lat...)
		fmt.Printf("  %-28s statuses %v  p50 %s  p99 %s\n", c.name, c.statuses, pct(c.lat, 50), pct(c.lat, 99))
		for msg, n := range c.errors {
			fmt.Printf("      %d × %s\n", n, msg)
		}
	}
	slices.Sort(all)
	fmt.Printf("  all: p50 %s  p90 %s  p99 %s  max %s\n", pct(all, 50), pct(all, 90), pct(all, 99), pct(all, 100))
	if unexpected > 0 {
		failures = append(failures, fmt.Sprintf("%d unexpected statuses or errors", unexpected))
	}
	scheduled := float64(o.rate) * elapsed.Seconds()
	if float64(sent) < 0.95*scheduled {
		failures = append(failures, fmt.Sprintf("sent %d of %.0f scheduled (< 95 %%)", sent, scheduled))
	}
	var judged []sample
	for _, s := range samples {
		if s.at >= o.warmup {
			judged = append(judged, s)
		}
	}
	if len(judged) < 4 {
		failures = append(failures, fmt.Sprintf("only %d samples after warm-up: run longer", len(judged)))
	} else {
		// Medians of the first and last quarter of the judged samples, so
		// a momentary spike (a burst of in-flight Checks) does not decide.
		k := max(2, len(judged)/4)
		for _, m := range []struct {
			name   string
			get    func(sample) int64
			judged bool
		}{
			{"bridle RSS", func(s sample) int64 { return s.bridleRSS }, true},
			{"bridle goroutines", func(s sample) int64 { return s.goroutines }, true},
			{"envoy RSS", func(s sample) int64 { return s.envoyRSS }, true},
			{"envoy allocated", func(s sample) int64 { return s.envoyAlloc }, true},
			// tcmalloc's reserved heap grows in steps and is never returned:
			// shown, not judged (RSS covers it).
			{"envoy heap_size", func(s sample) int64 { return s.envoyHeap }, false},
		} {
			first, last := median(judged[:k], m.get), median(judged[len(judged)-k:], m.get)
			lo, hi := m.get(judged[0]), m.get(judged[0])
			for _, s := range judged {
				lo, hi = min(lo, m.get(s)), max(hi, m.get(s))
			}
			growth := 0.0
			if first > 0 {
				growth = (last - first) / first * 100
			}
			fmt.Printf("  %-18s after warm-up: first %s, last %s (%+.1f %%), range %s–%s\n", m.name, human(m.name, first), human(m.name, last), growth, human(m.name, float64(lo)), human(m.name, float64(hi)))
			if growth > 10 && m.judged {
				failures = append(failures, fmt.Sprintf("%s grew %.1f %% after warm-up", m.name, growth))
			}
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("FAIL: %s", strings.Join(failures, "; "))
	}
	fmt.Println("PASS: no unexpected status; resources flat within 10 % after warm-up")
	return nil
}

func median(ss []sample, get func(sample) int64) float64 {
	var vs []int64
	for _, s := range ss {
		vs = append(vs, get(s))
	}
	slices.Sort(vs)
	if n := len(vs); n%2 == 0 {
		return float64(vs[n/2-1]+vs[n/2]) / 2
	}
	return float64(vs[len(vs)/2])
}

func human(name string, v float64) string {
	if strings.Contains(name, "goroutines") {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f MiB", v/(1<<20))
}

func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted) - 1) * p / 100
	return sorted[i].Round(10 * time.Microsecond)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// rss reads VmRSS of pid in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

// goroutines reads go_goroutines from Bridle's /metrics.
func goroutines(api string) int64 {
	resp, err := http.Get("http://" + api + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return 0
}

// envoyMemory reads heap_size and allocated from Envoy's admin /memory.
func envoyMemory(admin string) (heap, allocated int64) {
	resp, err := http.Get("http://" + admin + "/memory")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var m map[string]any
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return 0, 0
	}
	num := func(k string) int64 {
		switch v := m[k].(type) {
		case string:
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		case float64:
			return int64(v)
		}
		return 0
	}
	return num("heap_size"), num("allocated")
}
