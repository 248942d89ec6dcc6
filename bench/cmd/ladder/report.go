//go:build bench

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// writeMachine prints what the figures were measured on and with.
func writeMachine(out io.Writer, o *options) {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	version := func(bin string, args ...string) string {
		b, _ := exec.Command(bin, args...).CombinedOutput()
		if len(b) == 0 {
			return "?"
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		return strings.TrimSpace(line)
	}
	fmt.Fprintf(out, "- machine: %d CPUs (%s), Linux %s, %s\n", numCPU(), model, strings.TrimSpace(string(kernel)), runtime.Version())
	fmt.Fprintf(out, "- envoy: %s\n", version(o.envoy, "--version"))
	fmt.Fprintf(out, "- redis: %s\n", version("redis-server", "--version"))
	fmt.Fprintf(out, "- fortio: %s · wrk: %s · ghz: %s\n", version(o.fortio, "version"), version(o.wrk, "-v"), version(o.ghz, "--version")+" (v0.120.0 via go install)")
	fmt.Fprintf(out, "- runs: %s each; fixed rate %d/s over %d connections (new-connection rows %d/s); saturation %d connections; Check-only rates %v and %d Checks at %d streams; policy %d rules; unique repo per request: %v\n",
		o.duration, o.rate, o.latConns, o.freshRate, o.satConns, o.ghzRates, o.checks, o.satConns, o.rules, o.unique)
	fmt.Fprintf(out, "- pinning (taskset): load generators and the upstream on CPU %s; Envoy (--concurrency 1), the decision service and redis-server on CPU %s\n",
		o.cpuLoad, o.cpuGateway)
}

// probe sends one request the way the load generators will and checks the
// answer: the expected status and, through Bridle, the injected credential
// (the echo upstream reflects the headers it got).
func probe(t target, upAddr string) error {
	tr := &http.Transport{DisableKeepAlives: true}
	if t.caPath != "" {
		pemBytes, err := os.ReadFile(t.caPath)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemBytes)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	for _, kv := range t.env {
		if k, v, _ := strings.Cut(kv, "="); k == "HTTP_PROXY" && v != "" {
			u, err := url.Parse(v)
			if err != nil {
				return err
			}
			tr.Proxy = http.ProxyURL(u)
		}
	}
	if tr.Proxy == nil {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, upAddr)
		}
	}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(strings.Replace(t.url, "{uuid}", "probe", 1))
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != t.status {
		return fmt.Errorf("probe: status %d, want %d: %s", resp.StatusCode, t.status, body)
	}
	return nil
}

// redisCounters are the redis-server counters that tell how many commands
// and round trips the decision service sent.
type redisCounters struct{ commands, evalsha, evalshaUsec, reads int64 }

func redisStats(addr string) (redisCounters, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "stats", "commandstats").Result()
	if err != nil {
		return redisCounters{}, fmt.Errorf("redis INFO: %w", err)
	}
	var rc redisCounters
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		switch k {
		case "total_commands_processed":
			rc.commands, _ = strconv.ParseInt(v, 10, 64)
		case "total_reads_processed":
			rc.reads, _ = strconv.ParseInt(v, 10, 64)
		case "cmdstat_evalsha":
			for _, field := range strings.Split(v, ",") {
				k, n, _ := strings.Cut(field, "=")
				switch k {
				case "calls":
					rc.evalsha, _ = strconv.ParseInt(n, 10, 64)
				case "usec":
					rc.evalshaUsec, _ = strconv.ParseInt(n, 10, 64)
				}
			}
		}
	}
	// Our own INFO is one command and one read.
	rc.commands--
	rc.reads--
	return rc, nil
}

// decisions is the sum of bridle_decisions_total from Bridle's /metrics.
func decisions(apiAddr string) int64 {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + apiAddr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "bridle_decisions_total{") {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		total += v
	}
	return int64(total)
}
