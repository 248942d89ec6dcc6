package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// secretCredential is the fake real API key the gateway injects; agents
// never hold it.
const secretCredential = "ghp_e2e_injected_credential_7c1d"

// githubGateway starts the standard setup: one connector "github" for
// api.github.com with an injected Authorization credential.
func githubGateway(t *testing.T) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer ${env:E2E_GITHUB_TOKEN}"}},
		env: []string{"E2E_GITHUB_TOKEN=" + secretCredential},
	})
	return g, up
}

// assertForwardedClean checks what the upstream received: the injected
// credential, and none of the agent's credential or Bridle's headers.
func assertForwardedClean(t *testing.T, h http.Header) {
	t.Helper()
	if got := h.Values("Authorization"); !slices.Equal(got, []string{"Bearer " + secretCredential}) {
		t.Errorf("upstream Authorization = %q, want exactly the injected credential", got)
	}
	for k := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-bridle-") || lk == "proxy-authorization" || lk == "x-api-key" || lk == "cookie" {
			t.Errorf("upstream received %s: %q", k, h.Values(k))
		}
	}
}
