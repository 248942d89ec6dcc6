package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// With listen.proxy_tls the agent-facing listener speaks TLS: agents on
// other hosts send their token (Proxy-Authorization) inside TLS. Go
// net/http, curl and Python requests — each launched by `bridle run`,
// which hands out an https:// proxy URL — reach the upstream with the
// injected credential; a cleartext client gets no decision.
func TestProxyListenerTLS(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{proxyTLS: true,
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer ${env:E2E_GITHUB_TOKEN}"}},
		env: []string{"E2E_GITHUB_TOKEN=" + secretCredential},
	})
	if !g.eps.ProxyTLS || !strings.Contains(g.out.String(), "proxy   https://") {
		t.Fatalf("endpoints and banner do not say the proxy speaks TLS: %+v", g.eps)
	}

	t.Run("Go net/http", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "https://api.github.com/repos/acme/api", nil)
		req.Header.Set("Authorization", "Bearer agent-own")
		resp, err := g.client(g.agentProxy()).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body.String())
		}
		assertForwardedClean(t, decodeEcho(t, body.String()).Header)
		if _, err := g.client(g.proxyURL(nil)).Get("https://api.github.com/user"); err == nil || !strings.Contains(err.Error(), "Proxy Authentication Required") {
			t.Errorf("no credentials: err = %v, want a 407", err)
		}
	})

	t.Run("curl under bridle run", func(t *testing.T) {
		out, code := g.bridleRun(t, "sh", "-c", `echo "$HTTPS_PROXY" | cut -d: -f1`)
		if code != 0 || strings.TrimSpace(out) != "https" {
			t.Fatalf("bridle run hands out %q, want an https:// proxy URL", out)
		}
		// curl verifies an https:// proxy only with --proxy-cacert: it does
		// not apply CURL_CA_BUNDLE to the proxy (curl/curl#16148).
		out, code = g.bridleRun(t, "sh", "-c", `exec curl -sS --proxy-cacert "$CURL_CA_BUNDLE" -H "Authorization: agent-own" https://api.github.com/repos/acme/api`)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		assertForwardedClean(t, decodeEcho(t, out).Header)
		out, code = g.bridleRun(t, "sh", "-c", `exec curl -sS --proxy-cacert "$CURL_CA_BUNDLE" -o /dev/null -w "%{http_code}" http://api.github.com/plain`)
		if code != 0 || out != "200" {
			t.Errorf("plain http through the TLS proxy: exit %d, status %q", code, out)
		}
	})

	t.Run("Python requests under bridle run", func(t *testing.T) {
		script := `
import json, requests
r = requests.get("https://api.github.com/repos/acme/api", headers={"Authorization": "token agent-own"})
print(json.dumps([r.status_code, r.json()["header"]]))
`
		out, code := g.bridleRun(t, "python3", "-c", script)
		if code != 0 {
			t.Fatalf("python exit %d: %s", code, out)
		}
		var got []json.RawMessage
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 {
			t.Fatalf("python output %q: %v", out, err)
		}
		var status int
		var hdr http.Header
		json.Unmarshal(got[0], &status)
		json.Unmarshal(got[1], &hdr)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		assertForwardedClean(t, hdr)
	})

	t.Run("a cleartext CONNECT gets no decision", func(t *testing.T) {
		up.Reset()
		c, err := net.DialTimeout("tcp", g.eps.Proxy, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: " +
			basicAuth(g.agent, g.token) + "\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		if strings.HasPrefix(line, "HTTP/") {
			t.Errorf("a cleartext CONNECT was answered %q", line)
		}
		if len(up.Seen()) != 0 {
			t.Error("the upstream was reached")
		}
	})

	t.Run("the proxy certificate does not pass for a connector host", func(t *testing.T) {
		conn, err := tls.Dial("tcp", g.eps.Proxy, &tls.Config{RootCAs: g.caPool, ServerName: "api.github.com"})
		if err == nil {
			conn.Close()
			t.Error("the proxy's certificate verified as api.github.com")
		}
	})
}
