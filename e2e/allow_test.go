package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// Allowed requests through CONNECT reach the upstream with the injected
// credential, and without the agent's Authorization, Proxy-Authorization or
// any x-bridle-* header, whatever the agent sent.
func TestAllowedGETThroughConnectGetsCredential(t *testing.T) {
	g, up := githubGateway(t)
	status, body, hdr := g.curl("-x", g.agentProxy().String(),
		"-H", "Authorization: token agent-own-key",
		"-H", "X-Bridle-Agent-Id: someone-else",
		"-H", "X-Bridle-Decision-Token: forged",
		"-H", "X-Api-Key: agent-key",
		"-H", "Cookie: session=agent",
		"-H", "Proxy-Authorization: Basic aW5zaWRlOnRoZS10dW5uZWw=", // inside the tunnel (-H never goes to the proxy)
		"https://api.github.com/repos/acme/api/pulls?state=open")
	if status != 200 {
		t.Fatalf("status %d, body %s", status, body)
	}
	if len(hdr.Get("x-bridle-decision-id")) != 32 {
		t.Errorf("no x-bridle-decision-id on the allowed response: %v", hdr)
	}
	got := decodeEcho(t, body)
	if got.Method != "GET" || got.Path != "/repos/acme/api/pulls?state=open" || got.Host != "api.github.com" {
		t.Errorf("upstream saw %s %s %s", got.Method, got.Host, got.Path)
	}
	assertForwardedClean(t, got.Header)
	if n := len(up.Seen()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

func TestAllowedPOSTThroughConnectKeepsBody(t *testing.T) {
	g, up := githubGateway(t)
	resp, err := g.client(g.agentProxy()).Post("https://api.github.com/repos/acme/api/issues",
		"application/json", strings.NewReader(`{"title":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	got := decodeEcho(t, string(b))
	if got.Method != "POST" || got.BodySize != int64(len(`{"title":"hello"}`)) {
		t.Errorf("upstream saw %s with %d body bytes", got.Method, got.BodySize)
	}
	assertForwardedClean(t, got.Header)
	if resp.ProtoMajor != 2 {
		// Go negotiates h2 with Envoy's MITM listener through the tunnel.
		t.Errorf("client spoke %s to the gateway, want HTTP/2", resp.Proto)
	}
	if len(up.Seen()) != 1 {
		t.Errorf("upstream saw %d requests, want 1", len(up.Seen()))
	}
}

// Escaped slashes stay data inside a segment: the upstream receives %2F
// unchanged, and dot segments are resolved before the decision.
func TestPathNormalisationKeepsEscapedSlashes(t *testing.T) {
	g, _ := githubGateway(t)
	_, body, _ := g.curl("--path-as-is", "-x", g.agentProxy().String(), "https://api.github.com/repos/a%2Fb/x/../c//d")
	got := decodeEcho(t, body)
	if got.Path != "/repos/a%2Fb/c/d" {
		t.Errorf("upstream path %q, want /repos/a%%2Fb/c/d", got.Path)
	}
}
