package extauthz

import (
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
