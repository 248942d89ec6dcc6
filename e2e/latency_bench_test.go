package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// BenchmarkSequentialLatency sends 1,000 sequential GETs over one kept-alive
// connection straight to the upstream and the same through the gateway's
// CONNECT+MITM path (two ext_authz Checks per tunnel, one per request),
// and reports the median and p99 of each. Run:
//
//	go test ./e2e -run '^$' -bench SequentialLatency -benchtime 1x
func BenchmarkSequentialLatency(b *testing.B) {
	for _, store := range []string{"embedded-redis", "redis-server"} {
		b.Run(store, func(b *testing.B) {
			extra := ""
			if store == "redis-server" {
				extra = "redis: {url: " + redistest.Start(b).URL() + "}"
			}
			up := newUpstream(b, "api.github.com")
			// A limit the 1,000 requests never reach: every request still
			// pays for the limiter's check, as in production.
			g := startGateway(b, gatewayOpts{agentYAML: "rate_limit: {requests: 100000, per: 60s}", extraYAML: extra,
				connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
					credHeader: "Authorization", credValue: "Bearer x"}}})
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(up.caPEM)
			direct := &http.Client{Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: "api.github.com"},
				ForceAttemptHTTP2: true,
			}}
			via := g.client(g.agentProxy())
			for b.Loop() {
				d := measure(b, direct, "https://"+up.addr+"/repos/acme/api", 1000)
				m := measure(b, via, "https://api.github.com/repos/acme/api", 1000)
				b.ReportMetric(float64(d[0].Microseconds()), "direct-p50-µs")
				b.ReportMetric(float64(d[1].Microseconds()), "direct-p99-µs")
				b.ReportMetric(float64(m[0].Microseconds()), "mitm-p50-µs")
				b.ReportMetric(float64(m[1].Microseconds()), "mitm-p99-µs")
			}
		})
	}
}

// measure returns p50 and p99 of n sequential requests after a warm-up.
func measure(b *testing.B, c *http.Client, url string, n int) [2]time.Duration {
	b.Helper()
	get := func() time.Duration {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	for range 50 {
		get()
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = get()
	}
	slices.Sort(ds)
	return [2]time.Duration{ds[n/2], ds[n*99/100]}
}
