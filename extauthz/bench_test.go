package extauthz

import (
	"io"
	"log/slog"
	"testing"
)

// BenchmarkCheck measures one request-phase Check (allow with credential)
// and one connect-phase Check, without gRPC.
func BenchmarkCheck(b *testing.B) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Swap(testSnapshot())
	cases := map[string]checkCase{
		"request_allow": {phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)},
		"connect_allow": {phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443",
			headers: map[string]string{"proxy-authorization": basic("demo:" + demoToken)}},
		"request_deny_misdirected": {phase: "request", ctx: gh, method: "GET", host: "evil.example", sni: "api.github.com", headers: inTunnel(nil)},
	}
	for name, c := range cases {
		req := checkRequest(c)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Check(b.Context(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecisionLog measures the canonical decision line alone, through
// the text handler `bridle up` uses by default, into io.Discard (the write
// to stderr, one syscall per line, is not included).
func BenchmarkDecisionLog(b *testing.B) {
	s := newTestServer(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	in := newRequest(checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)}))
	d := &Decision{ID: "0195a1b2c3d4e5f60718293a4b5c6d7e", Allow: true, Phase: "request", Agent: "demo",
		Connector: "gh", Action: "github.pr.get", Rule: "github/read"}
	b.ReportAllocs()
	for b.Loop() {
		s.logDecision(in, d)
	}
}
