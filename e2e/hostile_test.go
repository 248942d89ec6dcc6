package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// The hostile-input corpus of issue #10, sent as raw bytes through the real
// proxy (and inside a CONNECT tunnel after TLS, for the MITM listener).
// Each input must be denied or rejected — by Bridle with a decision, or by
// Envoy's codec — and no credential may travel to a host it was not meant
// for: the test checks what every local upstream saw.

// hostilePolicy allows reading one repository and nothing else, so a path
// trick that changed what was decided from what was forwarded would show.
const hostilePolicy = `version: 1
policies:
  - name: hostile
    rules:
      - name: read acme/api only
        effect: allow
        actions: [github.repo.get]
        when: {field: params.repo, op: eq, value: acme/api}
`

const (
	hostileGitHubCred = "Bearer gh-hostile-secret-1f2e"
	hostileStripeCred = "Bearer sk-hostile-secret-9a8b"
)

// hostileGateway runs GitHub and Stripe connectors with distinct
// credentials under hostilePolicy.
func hostileGateway(t *testing.T) (g *gateway, gh, st *upstream) {
	t.Helper()
	gh = newUpstream(t, "api.github.com")
	st = newUpstream(t, "api.stripe.com")
	g = startGateway(t, gatewayOpts{
		connectors: []connector{
			{name: "github", typ: "github", host: "api.github.com", up: gh, credHeader: "Authorization", credValue: hostileGitHubCred},
			{name: "stripe", typ: "stripe", host: "api.stripe.com", up: st, credHeader: "Authorization", credValue: hostileStripeCred},
		},
		policy:    hostilePolicy,
		agentYAML: "rate_limit: {requests: 100000, per: 60s}",
	})
	return g, gh, st
}

// reply is one response read from a raw connection.
type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) String() string {
	s := fmt.Sprintf("%d", r.status)
	if id := r.header.Get("x-bridle-decision-id"); id != "" {
		s += " [decided"
		if i := strings.Index(r.body, `"reason":"`); i >= 0 {
			reason, _, _ := strings.Cut(r.body[i+10:], `"`)
			s += ": " + reason
		}
		s += "]"
	} else if r.status >= 400 {
		s += " [Envoy: " + strings.TrimSpace(firstLine(r.body)) + "]"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 60 {
		l = l[:60] + "…"
	}
	return l
}

// readReplies reads responses from br until the connection closes or stays
// silent for wait. A response to a CONNECT is read as such.
func readReplies(conn net.Conn, br *bufio.Reader, connect bool, wait time.Duration) ([]reply, error) {
	var out []reply
	for {
		conn.SetReadDeadline(time.Now().Add(wait))
		req := &http.Request{Method: http.MethodGet}
		if connect && len(out) == 0 {
			req.Method = http.MethodConnect
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			var ne net.Error
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout()) ||
				errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") {
				return out, nil
			}
			return out, err
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		out = append(out, reply{status: resp.StatusCode, header: resp.Header, body: string(b)})
		if connect && resp.StatusCode == http.StatusOK && len(out) == 1 {
			return out, nil // a tunnel: the caller was not expecting to use it
		}
	}
}

// rawProxy writes raw to the proxy listener and reads every response.
func rawProxy(t *testing.T, g *gateway, raw string) []reply {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.eps.Proxy, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Logf("write: %v (the proxy closed early)", err)
	}
	replies, err := readReplies(conn, bufio.NewReader(conn), strings.HasPrefix(raw, "CONNECT "), 1500*time.Millisecond)
	if err != nil {
		t.Logf("reading: %v", err)
	}
	return replies
}

// rawTunnel opens a CONNECT tunnel to api.github.com:443 as the agent,
// speaks TLS (SNI api.github.com, HTTP/1.1) and writes raw inside it.
func rawTunnel(t *testing.T, g *gateway, raw string) []reply {
	t.Helper()
	conn, err := dialConnect(g, "api.github.com:443")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tls.Client(conn, &tls.Config{ServerName: "api.github.com", RootCAs: g.caPool, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS through the tunnel: %v", err)
	}
	tc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, raw); err != nil {
		t.Logf("write: %v (the proxy closed early)", err)
	}
	replies, err := readReplies(tc, bufio.NewReader(tc), false, 1500*time.Millisecond)
	if err != nil {
		t.Logf("reading: %v", err)
	}
	return replies
}

func TestHostileInputIsDeniedOrRejected(t *testing.T) {
	g, gh, st := hostileGateway(t)
	auth := "Proxy-Authorization: " + basicAuth(g.agent, g.token) + "\r\n"
	huge := strings.Repeat("a", 100<<10)
	bigB64 := base64.StdEncoding.EncodeToString([]byte(g.agent + ":" + g.token + strings.Repeat("x", 6000)))
	many := strings.Repeat("X-Filler: 1\r\n", 150)
	port := g.eps.Proxy[strings.LastIndexByte(g.eps.Proxy, ':')+1:]
	_, ghPort, _ := net.SplitHostPort(gh.addr)

	const ok = 200
	cases := []struct {
		name  string
		via   string // "proxy": raw bytes to the proxy listener; "tunnel": inside a CONNECT tunnel to api.github.com
		raw   string
		want  []int    // acceptable status of the first response (none: the connection is closed without one)
		paths []string // what the GitHub upstream may see from this case
	}{
		// Controls: the policy's one allowed request, both ways.
		{"control: allowed request in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{ok}, []string{"/repos/acme/api"}},
		{"control: allowed absolute-form request", "proxy", "GET http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "Connection: close\r\n\r\n", []int{ok}, []string{"/repos/acme/api"}},

		// Malformed Proxy-Authorization.
		{"Proxy-Authorization: bad base64", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic !!!not-base64\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: empty value", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: \r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: scheme only", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: 8 KiB, valid token then padding", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic " + bigB64 + "\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: 100 KiB", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic " + huge + "\r\n\r\n", []int{431, 400, 413}, nil},
		{"Proxy-Authorization: wrong scheme (Digest)", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Digest username=\"" + g.agent + "\", response=\"" + g.token + "\"\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: token in Authorization instead", "proxy", "GET http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: " + basicAuth(g.agent, g.token) + "\r\nConnection: close\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: NUL in the user name", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(g.agent+"\x00:"+g.token)) + "\r\n\r\n", []int{407}, nil},
		{"Proxy-Authorization: twice, a bad one first", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n" + auth + "\r\n", []int{407, 400}, nil},
		{"Proxy-Authorization: twice, the good one first", "proxy", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n" + auth + "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n", []int{407, 400}, nil},

		// Huge headers and URLs: Envoy's limits (60 KiB of headers, 100 headers).
		{"100 KiB URL, absolute-form", "proxy", "GET http://api.github.com/repos/acme/" + huge + " HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "\r\n", []int{431, 414, 400, 413}, nil},
		{"100 KiB header, absolute-form", "proxy", "GET http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "X-Big: " + huge + "\r\n\r\n", []int{431, 400, 413}, nil},
		{"150 headers, absolute-form", "proxy", "GET http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n" + auth + many + "\r\n", []int{431, 400, 413}, nil},
		{"100 KiB URL in a tunnel", "tunnel", "GET /repos/acme/" + huge + " HTTP/1.1\r\nHost: api.github.com\r\n\r\n", []int{431, 414, 400, 413}, nil},
		{"100 KiB header in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nX-Big: " + huge + "\r\n\r\n", []int{431, 400, 413}, nil},

		// Invalid UTF-8 and percent-encoding.
		{"raw 0xFF byte in the path", "tunnel", "GET /repos/acme/api\xff HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 403}, nil},
		{"invalid percent-encoding %zz", "tunnel", "GET /repos/acme/api%zz HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 403}, nil},
		{"percent-encoded invalid UTF-8 %C0%AE", "tunnel", "GET /repos/acme/%C0%AE%C0%AE HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 403}, nil},
		{"NUL byte %00 in the repo name", "tunnel", "GET /repos/acme/api%00 HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 403}, nil},
		{"control byte in a header value", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nX-Bad: a\x01b\r\nConnection: close\r\n\r\n", []int{400}, nil},

		// Encoded slashes and dot segments.
		{"encoded slash makes acme/api one segment", "tunnel", "GET /repos/acme%2Fapi HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{403}, nil},
		{"encoded slash hides a traversal", "tunnel", "GET /repos/acme/api%2F..%2F..%2Forgs%2Fx HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{403}, nil},
		{"dot segments out of the allowed repo", "tunnel", "GET /repos/acme/api/../../orgs/x/members HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{403}, nil},
		{"dot segments out of the allowed repo, absolute-form", "proxy", "GET http://api.github.com/repos/acme/api/../../orgs/x/members HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "Connection: close\r\n\r\n", []int{403}, nil},
		{"dot segments into the allowed repo are decided as forwarded", "tunnel", "GET /repos/evil/x/../../acme/api HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{ok}, []string{"/repos/acme/api"}},
		{"percent-encoded dot segments %2e%2e", "tunnel", "GET /repos/acme/api/%2e%2e/%2e%2e/orgs/x HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{403}, nil},
		{"backslash traversal", "tunnel", "GET /repos/acme/api\\..\\..\\orgs\\x HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 403}, nil},
		{"merged slashes //repos//acme//api", "tunnel", "GET //repos//acme//api HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{ok, 403}, []string{"/repos/acme/api"}},

		// Host confusion.
		{"duplicate Host in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nHost: api.stripe.com\r\nConnection: close\r\n\r\n", []int{400, 421}, nil},
		{"duplicate Host, absolute-form to a connector", "proxy", "GET http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.stripe.com\r\nHost: api.github.com\r\n" + auth + "Connection: close\r\n\r\n", []int{ok, 400}, []string{"/repos/acme/api"}},
		{"absolute-form URL of another connector inside a tunnel", "tunnel", "GET https://api.stripe.com/v1/charges HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{400, 421, 403}, nil},
		{"Host of another connector inside a tunnel", "tunnel", "GET /v1/charges HTTP/1.1\r\nHost: api.stripe.com\r\nConnection: close\r\n\r\n", []int{421}, nil},
		{"Host with the connector's host and another port in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com:8443\r\nConnection: close\r\n\r\n", []int{421, 403}, nil},
		{"Host with userinfo in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com@api.stripe.com\r\nConnection: close\r\n\r\n", []int{400, 421}, nil},
		{"absolute-form URL with userinfo pointing elsewhere", "proxy", "GET http://api.github.com@api.stripe.com/v1/charges HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "Connection: close\r\n\r\n", []int{400, 403}, nil},
		{"absolute-form to the gateway's own proxy port", "proxy", "GET http://127.0.0.1:" + port + "/ HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n" + auth + "Connection: close\r\n\r\n", []int{403}, nil},

		// CONNECT targets.
		{"CONNECT to the upstream's own IP:port", "proxy", "CONNECT " + gh.addr + " HTTP/1.1\r\nHost: " + gh.addr + "\r\n" + auth + "\r\n", []int{403}, nil},
		{"CONNECT to [::1]", "proxy", "CONNECT [::1]:" + ghPort + " HTTP/1.1\r\nHost: [::1]:" + ghPort + "\r\n" + auth + "\r\n", []int{403}, nil},
		{"CONNECT to a metadata address", "proxy", "CONNECT 169.254.169.254:80 HTTP/1.1\r\nHost: 169.254.169.254:80\r\n" + auth + "\r\n", []int{403}, nil},
		{"CONNECT to a numeric IPv4 (2130706433)", "proxy", "CONNECT 2130706433:443 HTTP/1.1\r\nHost: 2130706433:443\r\n" + auth + "\r\n", []int{403, 400}, nil},
		{"CONNECT to the connector host on port 22", "proxy", "CONNECT api.github.com:22 HTTP/1.1\r\nHost: api.github.com:22\r\n" + auth + "\r\n", []int{403}, nil},
		{"CONNECT to the connector host with a trailing dot", "proxy", "CONNECT api.github.com.:443 HTTP/1.1\r\nHost: api.github.com.:443\r\n" + auth + "\r\n", []int{403, ok}, nil},
		{"CONNECT without a port", "proxy", "CONNECT api.github.com HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "\r\n", []int{403, 400}, nil},
		{"CONNECT with userinfo in the target", "proxy", "CONNECT api.stripe.com@api.github.com:443 HTTP/1.1\r\nHost: api.stripe.com@api.github.com:443\r\n" + auth + "\r\n", []int{403, 400}, nil},
		{"CONNECT target and Host disagree", "proxy", "CONNECT evil.example:443 HTTP/1.1\r\nHost: api.github.com:443\r\n" + auth + "\r\n", []int{403, 400}, nil},

		// HTTP/1.0 without Host.
		{"HTTP/1.0 origin-form without Host to the proxy", "proxy", "GET /repos/acme/api HTTP/1.0\r\n" + auth + "\r\n", []int{403, 400, 404}, nil},
		{"HTTP/1.0 without Host inside a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.0\r\n\r\n", []int{400, 421, 426, 403}, nil},

		// Request smuggling shapes: the smuggled second request (a path the
		// policy denies) must never reach the upstream.
		{"CL+TE, absolute-form", "proxy", "POST http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /orgs/smuggled/members HTTP/1.1\r\nHost: api.github.com\r\n\r\n", []int{400, 403}, nil},
		{"CL+TE in a tunnel", "tunnel", "POST /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /orgs/smuggled/members HTTP/1.1\r\nHost: api.github.com\r\n\r\n", []int{400, 403}, nil},
		{"TE+CL in a tunnel, allowed GET carrying a smuggled request", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 60\r\n\r\n0\r\n\r\nGET /orgs/smuggled/members HTTP/1.1\r\nHost: api.github.com\r\n\r\n", []int{400}, nil},
		{"two different Content-Lengths, absolute-form", "proxy", "POST http://api.github.com/repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n" + auth + "Content-Length: 4\r\nContent-Length: 52\r\n\r\nabcdGET /orgs/smuggled/members HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}, nil},
		{"two different Content-Lengths in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nContent-Length: 0\r\nContent-Length: 60\r\n\r\nGET /orgs/smuggled/members HTTP/1.1\r\nHost: api.github.com\r\n\r\n", []int{400}, nil},
		{"obfuscated Transfer-Encoding", "tunnel", "POST /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\nabcd", []int{400, 501, 403}, nil},
		{"Transfer-Encoding with a space before the colon", "tunnel", "POST /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd", []int{400, 403}, nil},
		{"bare LF line endings with a smuggled request", "tunnel", "GET /repos/acme/api HTTP/1.1\nHost: api.github.com\nContent-Length: 55\n\nGET /orgs/smuggled/members HTTP/1.1\nHost: api.github.com\n\n", []int{400, ok}, []string{"/repos/acme/api"}},
		{"pipelined allowed then denied request in a tunnel", "tunnel", "GET /repos/acme/api HTTP/1.1\r\nHost: api.github.com\r\n\r\nGET /orgs/x/members HTTP/1.1\r\nHost: api.github.com\r\nConnection: close\r\n\r\n", []int{ok}, []string{"/repos/acme/api"}},
	}
	var table []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gh.Reset()
			st.Reset()
			var replies []reply
			if tc.via == "tunnel" {
				replies = rawTunnel(t, g, tc.raw)
			} else {
				replies = rawProxy(t, g, tc.raw)
			}
			var got []string
			for _, r := range replies {
				got = append(got, r.String())
			}
			table = append(table, fmt.Sprintf("%-64s %s", tc.name, strings.Join(got, " | ")))
			t.Logf("answers: %s", strings.Join(got, " | "))
			if len(replies) == 0 {
				if len(tc.want) > 0 {
					t.Errorf("connection closed without a response, want one of %v", tc.want)
				}
			} else if !slices.Contains(tc.want, replies[0].status) {
				t.Errorf("status %d, want one of %v: %.300s", replies[0].status, tc.want, replies[0].body)
			}
			for i, r := range replies {
				if r.status >= 200 && r.status < 300 && i > 0 && tc.paths == nil {
					t.Errorf("response %d is a %d", i+1, r.status)
				}
				if r.status >= 400 && r.header.Get("x-bridle-decision-id") != "" {
					decodeDeny(t, r.body)
				}
			}
			for _, s := range gh.Seen() {
				if !slices.Contains(tc.paths, s.Path) {
					t.Errorf("GitHub upstream saw %s %s, want only %v", s.Method, s.Path, tc.paths)
				}
				if got := s.Header.Values("Authorization"); !slices.Equal(got, []string{hostileGitHubCred}) || s.Host != "api.github.com" {
					t.Errorf("GitHub upstream saw Host %q Authorization %q", s.Host, got)
				}
			}
			if n := len(st.Seen()); n != 0 {
				t.Errorf("Stripe upstream saw %d requests: %+v", n, st.Seen())
			}
		})
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "hostile input → first answers:\n%s\n", strings.Join(table, "\n"))
	}
}

// An h2 client that coalesces: it reuses its TLS connection to
// api.github.com (whose leaf is valid for that host only) for a request to
// api.stripe.com, as browsers do when a certificate covers both. The
// second request is 421 misdirected, decided by Bridle, and neither
// credential crosses over.
func TestH2CoalescingToAnotherConnectorIs421(t *testing.T) {
	g, gh, st := hostileGateway(t)
	// The leaf Envoy presents for api.github.com must not cover another host.
	conn, err := dialConnect(g, "api.github.com:443")
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "api.github.com", RootCAs: g.caPool, NextProtos: []string{"h2"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := tc.ConnectionState().PeerCertificates[0].VerifyHostname("api.stripe.com"); err == nil {
		t.Fatal("the api.github.com leaf is also valid for api.stripe.com: leaves must be single-host")
	}
	tc.Close()
	// One h2 connection through the proxy, used for every request below
	// whatever its host, as a coalescing client would.
	tr := &http.Transport{Proxy: http.ProxyURL(g.agentProxy()), TLSClientConfig: &tls.Config{RootCAs: g.caPool}, ForceAttemptHTTP2: true}
	cc, err := tr.NewClientConn(t.Context(), "https", "api.github.com:443")
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	send := func(url, host string) reply {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET %s (Host %s) on the coalesced connection: %v", url, host, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Errorf("%s over %s, want HTTP/2", url, resp.Proto)
		}
		return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
	steps := []struct {
		url, host string
		want      int
		reason    string
	}{
		{"https://api.github.com/repos/acme/api", "api.github.com", 200, ""},
		{"https://api.stripe.com/v1/charges", "api.stripe.com", 421, "misdirected"},
		{"https://api.stripe.com/v1/charges", "api.stripe.com:443", 421, "misdirected"},
		{"https://api.github.com/repos/acme/api", "api.github.com:443", 200, ""},
		{"https://api.github.com/repos/acme/api", "API.GITHUB.COM", 200, ""},
		{"https://api.github.com/repos/acme/api", "api.github.com.", 421, "misdirected"},
	}
	for _, s := range steps {
		r := send(s.url, s.host)
		t.Logf(":authority %-22s → %s", s.host, r)
		if r.status != s.want {
			t.Errorf(":authority %s: status %d, want %d: %s", s.host, r.status, s.want, r.body)
		}
		if s.reason != "" && r.status == s.want && decodeDeny(t, r.body).Reason != s.reason {
			t.Errorf(":authority %s: %s", s.host, r.body)
		}
	}
	if n := len(st.Seen()); n != 0 {
		t.Errorf("Stripe upstream saw %d requests through a GitHub connection", n)
	}
	for _, s := range gh.Seen() {
		if got := s.Header.Values("Authorization"); !slices.Equal(got, []string{hostileGitHubCred}) {
			t.Errorf("GitHub upstream saw Authorization %q", got)
		}
	}
}
