package e2e

import (
	"net/http"
	"net/url"
	"testing"
)

// Missing, wrong and mismatched proxy credentials get 407 with a
// Proxy-Authenticate challenge, and nothing reaches the upstream.
func TestBadProxyCredentialsAre407(t *testing.T) {
	g, up := githubGateway(t)
	cases := []struct {
		name string
		user *url.Userinfo
		auth string // raw Proxy-Authorization
	}{
		{"no credentials", nil, ""},
		{"wrong token", url.UserPassword(g.agent, "brd_wrong"), basicAuth(g.agent, "brd_wrong")},
		{"right token under another agent's name", url.UserPassword("agent-2", g.token), basicAuth("agent-2", g.token)},
		{"empty token", url.UserPassword(g.agent, ""), basicAuth(g.agent, "")},
		{"unknown scheme", nil, "Digest " + g.token},
		{"bad base64", nil, "Basic !!!"},
	}
	check := func(t *testing.T, what string, status int, body string, hdr http.Header) {
		t.Helper()
		if status != 407 {
			t.Fatalf("%s: status %d, want 407: %s", what, status, body)
		}
		if hdr.Get("Proxy-Authenticate") != `Basic realm="bridle"` {
			t.Errorf("%s: Proxy-Authenticate = %q", what, hdr.Get("Proxy-Authenticate"))
		}
		if d := decodeDeny(t, body); d.Reason != "unauthenticated" || d.DecisionID != hdr.Get("x-bridle-decision-id") {
			t.Errorf("%s: deny %+v, header id %q", what, d, hdr.Get("x-bridle-decision-id"))
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := g.connectStatus(t, "api.github.com:443", tc.auth)
			check(t, "CONNECT", status, body, hdr)
			if tc.auth == "" || tc.user != nil {
				status, body, hdr = g.curl("-x", g.proxyURL(tc.user).String(), "http://api.github.com/user")
				check(t, "plain http", status, body, hdr)
			}
		})
	}
	if n := len(up.Seen()); n != 0 {
		t.Errorf("upstream saw %d requests, want none", n)
	}
}

// The token alone (as the proxy user, or with an empty user) identifies the
// agent, as with `bridle run --token`.
func TestTokenAloneAuthenticates(t *testing.T) {
	g, _ := githubGateway(t)
	for _, u := range []*url.Userinfo{url.User(g.token), url.UserPassword("", g.token)} {
		if status, body, _ := g.curl("-x", g.proxyURL(u).String(), "https://api.github.com/user"); status != 200 {
			t.Errorf("proxy user %q: status %d: %s", u.String(), status, body)
		}
	}
}
