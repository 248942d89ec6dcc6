package e2e

import (
	"net/url"
	"testing"
)

// Absolute-form plain-HTTP requests (HTTP_PROXY) get the same decisions as
// CONNECT: the credential is injected and the request goes to the
// connector's TLS upstream, so the credential only travels encrypted.
func TestPlainHTTPAbsoluteFormGetsSameDecisions(t *testing.T) {
	g, up := githubGateway(t)
	cases := []struct {
		name   string
		proxy  *url.URL
		target string
		status int
		reason string
	}{
		{"allowed to a connector host", g.agentProxy(), "http://api.github.com/repos/acme/api", 200, ""},
		{"no credentials", g.proxyURL(nil), "http://api.github.com/repos/acme/api", 407, "unauthenticated"},
		{"wrong token", g.proxyURL(url.UserPassword(g.agent, "brd_nope")), "http://api.github.com/", 407, "unauthenticated"},
		{"unconfigured host", g.agentProxy(), "http://example.com/", 403, "no_connector"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			status, body, _ := g.curl("-x", tc.proxy.String(), "-H", "Authorization: agent-own", tc.target)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			if tc.status != 200 {
				if d := decodeDeny(t, body); d.Reason != tc.reason {
					t.Errorf("reason %q, want %q", d.Reason, tc.reason)
				}
				if len(up.Seen()) != 0 {
					t.Errorf("a denied request reached the upstream")
				}
				return
			}
			got := decodeEcho(t, body)
			assertForwardedClean(t, got.Header)
			if seen := up.Seen(); len(seen) != 1 || seen[0].Proto != "HTTP/2.0" && seen[0].Proto != "HTTP/1.1" {
				t.Errorf("upstream saw %v", seen)
			}
		})
	}
}

// The absolute URL decides, not a conflicting Host header (Envoy rewrites
// Host from the URL): a Host of another connector cannot redirect the
// credential.
func TestPlainHTTPHostHeaderCannotRedirect(t *testing.T) {
	g, up := githubGateway(t)
	status, body, _ := g.curl("-x", g.agentProxy().String(), "-H", "Host: evil.example", "http://api.github.com/user")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if got := decodeEcho(t, body); got.Host != "api.github.com" {
		t.Errorf("upstream saw Host %q", got.Host)
	}
	if len(up.Seen()) != 1 {
		t.Errorf("upstream saw %d requests", len(up.Seen()))
	}
}
