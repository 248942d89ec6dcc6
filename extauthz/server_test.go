package extauthz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/policies"
)

const (
	demoToken = "brd_demo_token"
	// demoTunnel is the identity a tunnel opened with demoToken carries.
	demoTunnel = "demo#t:fb78d515fa3d5947" // sha256(demoToken)[:8]
	credential = "Bearer ghp_real_credential"
)

// testPolicy allows everything the tests send, except what the policy
// tests exercise.
const testPolicy = `version: 1
policies:
  - name: test
    rules:
      - {name: everything else, effect: allow, actions: ["github.**", "public.**", "anthropic.**"]}
      - {name: no deletes, effect: deny, actions: [github.repo.delete]}
      - {name: merges need a human, effect: require_approval, actions: [github.pr.merge], when: {field: params.repo, op: glob, value: "acme/*"}}
      - {name: no graphql queries, effect: deny, actions: ["github.graphql.query.**"]}
`

func testSnapshot() *Snapshot {
	reg, err := connectors.New([]connectors.Spec{
		{Name: "github", Type: "github", Credential: &connectors.CredentialSpec{Header: "Authorization", Value: credential}},
		{Name: "public", Type: "http", Hosts: []string{"api.public.example"}},
	})
	if err != nil {
		panic(err)
	}
	pol, err := policies.LoadBytes("test.yaml", []byte(testPolicy))
	if err != nil {
		panic(err)
	}
	snap := &Snapshot{
		Policy:          pol,
		Agents:          NewAgents(map[string][][32]byte{"demo": {sha256.Sum256([]byte(demoToken))}}),
		AgentLimits:     map[string]Limit{"demo": {Requests: 120, Per: time.Minute}},
		ConnectorLimits: map[string]*Limit{},
		Connectors:      map[string]*connectors.Connector{},
	}
	for _, c := range reg.Connectors() {
		snap.Connectors[c.Name()] = c
	}
	return snap
}

type checkCase struct {
	name    string
	phase   string
	ctx     map[string]string
	method  string
	host    string
	sni     string
	headers map[string]string
	status  int    // 0: allow
	reason  string // deny reason
}

func checkRequest(c checkCase) *authv3.CheckRequest {
	ext := map[string]string{envoy.CtxPhase: c.phase}
	for k, v := range c.ctx {
		ext[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: ext,
		TlsSession:        &authv3.AttributeContext_TLSSession{Sni: c.sni},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: c.method, Host: c.host, Path: "/repos/a/b?token=secret", Headers: c.headers,
		}},
	}}
}

var gh = map[string]string{envoy.CtxConnector: "github", envoy.CtxHost: "api.github.com"}

func inTunnel(extra map[string]string) map[string]string {
	h := map[string]string{envoy.HeaderAgentID: demoTunnel, envoy.HeaderConnectAuthority: "api.github.com:443"}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

func TestCheckDecisions(t *testing.T) {
	auth := map[string]string{"proxy-authorization": basic("demo:" + demoToken)}
	cases := []checkCase{
		{name: "connect with a valid token to a connector host is allowed", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", headers: auth},
		{name: "connect without credentials is 407", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", status: 407, reason: "unauthenticated"},
		{name: "connect with a wrong token is 407", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", headers: map[string]string{"proxy-authorization": basic("demo:nope")}, status: 407, reason: "unauthenticated"},
		{name: "connect to a host without connector is 403", phase: "connect", method: "CONNECT", host: "example.com:443", headers: auth, status: 403, reason: "no_connector"},
		{name: "unauthenticated connect to an unknown host is 407 first", phase: "connect", method: "CONNECT", host: "example.com:443", status: 407, reason: "unauthenticated"},
		{name: "connect to a connector host on another port is 403", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:8443", headers: auth, status: 403, reason: "no_connector"},
		{name: "connect naming a connector that no longer exists is 403", phase: "connect", ctx: map[string]string{envoy.CtxConnector: "gone", envoy.CtxHost: "api.github.com"}, method: "CONNECT", host: "api.github.com:443", headers: auth, status: 403, reason: "no_connector"},
		{name: "request in a tunnel is allowed", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)},
		{name: "request with :authority port 443 is allowed", phase: "request", ctx: gh, method: "GET", host: "api.github.com:443", sni: "api.github.com", headers: inTunnel(nil)},
		{name: "request without agent id is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: map[string]string{envoy.HeaderConnectAuthority: "api.github.com:443"}, status: 407, reason: "unauthenticated"},
		{name: "request with agent id '-' (missing filter state) is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderAgentID: "-"}), status: 407, reason: "unauthenticated"},
		{name: "request from a removed agent is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderAgentID: carried("removed", newCredentialRef('t', "x"))}), status: 407, reason: "unauthenticated"},
		{name: "request in a tunnel opened with a revoked token is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderAgentID: carried("demo", newCredentialRef('t', "brd_revoked"))}), status: 407, reason: "unauthenticated"},
		{name: "request with a bare agent name (no credential) is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderAgentID: "demo"}), status: 407, reason: "unauthenticated"},
		{name: "request with a malformed credential is 407", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderAgentID: "demo#x:0123456789abcdef"}), status: 407, reason: "unauthenticated"},
		{name: "request whose Host differs from the chain is 421", phase: "request", ctx: gh, method: "GET", host: "api.stripe.com", sni: "api.github.com", headers: inTunnel(nil), status: 421, reason: "misdirected"},
		{name: "request whose SNI differs is 421", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.stripe.com", headers: inTunnel(nil), status: 421, reason: "misdirected"},
		{name: "request without SNI is 421", phase: "request", ctx: gh, method: "GET", host: "api.github.com", headers: inTunnel(nil), status: 421, reason: "misdirected"},
		{name: "request in a tunnel CONNECTed elsewhere is 421", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderConnectAuthority: "evil.example:443"}), status: 421, reason: "misdirected"},
		{name: "request in a tunnel CONNECTed to another port is 421", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(map[string]string{envoy.HeaderConnectAuthority: "api.github.com:8443"}), status: 421, reason: "misdirected"},
		{name: "request on the catch-all route without connector is 403", phase: "request", method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil), status: 403, reason: "no_connector"},
		{name: "plain http with a valid token is allowed", phase: "plain", ctx: gh, method: "GET", host: "api.github.com", headers: auth},
		{name: "plain http to port 80 is allowed", phase: "plain", ctx: gh, method: "GET", host: "api.github.com:80", headers: auth},
		{name: "plain http without credentials is 407", phase: "plain", ctx: gh, method: "GET", host: "api.github.com", status: 407, reason: "unauthenticated"},
		{name: "plain http to an unknown host is 403", phase: "plain", method: "GET", host: "example.com", headers: auth, status: 403, reason: "no_connector"},
		{name: "plain http with a Host unlike the route's is 421", phase: "plain", ctx: gh, method: "GET", host: "evil.example", headers: auth, status: 421, reason: "misdirected"},
		{name: "a route without a phase is denied", method: "GET", host: "api.github.com", headers: auth, status: 503, reason: "policy_error"},
		{name: "an unknown phase is denied", phase: "later", ctx: gh, method: "GET", host: "api.github.com", headers: auth, status: 503, reason: "policy_error"},
	}
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Swap(testSnapshot())
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Check(t.Context(), checkRequest(tc))
			if err != nil {
				t.Fatalf("Check returned a gRPC error %v: Envoy would not see a decision id", err)
			}
			assertDecision(t, resp, tc.status, tc.reason)
		})
	}
}

// assertDecision checks an allow (status 0) or a deny with its status,
// reason, JSON body and decision id header.
func assertDecision(t *testing.T, resp *authv3.CheckResponse, status int, reason string) {
	t.Helper()
	md := resp.GetDynamicMetadata().GetFields()
	id := md["decision_id"].GetStringValue()
	if len(id) != 32 {
		t.Errorf("decision id %q", id)
	}
	if status == 0 {
		if resp.GetStatus().GetCode() != 0 || resp.GetOkResponse() == nil {
			t.Fatalf("want allow, got %v", resp)
		}
		if h := headerValue(resp.GetOkResponse().GetResponseHeadersToAdd(), "x-bridle-decision-id"); h != id {
			t.Errorf("x-bridle-decision-id %q, metadata %q", h, id)
		}
		return
	}
	d := resp.GetDeniedResponse()
	if resp.GetStatus().GetCode() == 0 || d == nil {
		t.Fatalf("want deny %d, got %v", status, resp)
	}
	if int(d.GetStatus().GetCode()) != status {
		t.Errorf("status %d, want %d", d.GetStatus().GetCode(), status)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(d.GetBody()), &body); err != nil {
		t.Fatalf("body %q: %v", d.GetBody(), err)
	}
	if body["reason"] != reason || body["decision_id"] != id || body["error"] == "" {
		t.Errorf("body %v, want reason %q and id %q", body, reason, id)
	}
	for _, k := range []string{"action", "rule"} {
		if _, ok := body[k]; !ok {
			t.Errorf("body lacks %q", k)
		}
	}
	if headerValue(d.GetHeaders(), "x-bridle-decision-id") != id || headerValue(d.GetHeaders(), "content-type") != "application/json" {
		t.Errorf("deny headers %v", d.GetHeaders())
	}
	if (status == 407) != (headerValue(d.GetHeaders(), "proxy-authenticate") == `Basic realm="bridle"`) {
		t.Errorf("Proxy-Authenticate must be set exactly on 407: %v", d.GetHeaders())
	}
}

func headerValue(hs []*corev3.HeaderValueOption, name string) string {
	for _, h := range hs {
		if strings.EqualFold(h.GetHeader().GetKey(), name) {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func TestAllowInjectsCredentialAndStripsAgentCredentials(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Swap(testSnapshot())
	resp, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)}))
	ok := resp.GetOkResponse()
	if len(ok.GetHeaders()) != 1 || headerValue(ok.GetHeaders(), "authorization") != credential ||
		ok.GetHeaders()[0].GetAppendAction() != corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD {
		t.Errorf("credential headers %v", ok.GetHeaders())
	}
	for _, h := range []string{"proxy-authorization", "x-api-key", "cookie"} {
		if !slices.Contains(ok.GetHeadersToRemove(), h) {
			t.Errorf("%s not removed", h)
		}
	}
	if slices.Contains(ok.GetHeadersToRemove(), "authorization") {
		t.Error("the credential header is both set and removed: Envoy would drop the credential")
	}
	for _, h := range []string{"x-bridle-agent-id", "x-bridle-connect-authority"} {
		if !slices.Contains(ok.GetHeadersToRemove(), h) {
			t.Errorf("%s not in headers_to_remove (a mesh Envoy relies on it)", h)
		}
	}

	// A connector without credential forwards with no header set, and
	// still removes whatever the agent sent.
	resp, _ = s.Check(t.Context(), checkRequest(checkCase{phase: "request",
		ctx: map[string]string{envoy.CtxConnector: "public", envoy.CtxHost: "api.public.example"}, method: "GET",
		host: "api.public.example", sni: "api.public.example",
		headers: inTunnel(map[string]string{envoy.HeaderConnectAuthority: "api.public.example:443"})}))
	ok = resp.GetOkResponse()
	if len(ok.GetHeaders()) != 0 || !slices.Contains(ok.GetHeadersToRemove(), "authorization") {
		t.Errorf("public connector: set %v, remove %v", ok.GetHeaders(), ok.GetHeadersToRemove())
	}

	// The connect phase injects nothing (a terminated CONNECT forwards no
	// headers) but hands the agent id to set_filter_state.
	resp, _ = s.Check(t.Context(), checkRequest(checkCase{phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443",
		headers: map[string]string{"proxy-authorization": basic("demo:" + demoToken)}}))
	if len(resp.GetOkResponse().GetHeaders()) != 0 {
		t.Errorf("connect allow sets headers %v", resp.GetOkResponse().GetHeaders())
	}
	if got := resp.GetDynamicMetadata().GetFields()[envoy.MetadataAgentID].GetStringValue(); got != demoTunnel {
		t.Errorf("agent_id metadata %q, want the agent and its token's fingerprint %q", got, demoTunnel)
	}
}

// Every early exit of the decision path denies.
func TestCheckFailsClosed(t *testing.T) {
	req := checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)})
	t.Run("cold start without a snapshot denies with 503", func(t *testing.T) {
		s := newTestServer(slog.New(slog.DiscardHandler), nil)
		resp, _ := s.Check(t.Context(), req)
		assertDecision(t, resp, 503, "policy_error")
	})
	t.Run("a cancelled context denies", func(t *testing.T) {
		s := newTestServer(slog.New(slog.DiscardHandler), nil)
		s.Swap(testSnapshot())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		resp, _ := s.Check(ctx, req)
		assertDecision(t, resp, 503, "policy_error")
	})
	t.Run("a panic in the pipeline denies", func(t *testing.T) {
		s := newTestServer(slog.New(slog.DiscardHandler), nil)
		s.Swap(&Snapshot{Connectors: testSnapshot().Connectors}) // nil Agents: the pipeline panics
		resp, err := s.Check(t.Context(), checkRequest(checkCase{phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443",
			headers: map[string]string{"proxy-authorization": basic("demo:" + demoToken)}}))
		if err != nil {
			t.Fatal(err)
		}
		assertDecision(t, resp, 503, "policy_error")
	})
	t.Run("the zero Decision denies", func(t *testing.T) {
		var d Decision
		if d.Allow || d.Status() != 503 || respond(&d).GetOkResponse() != nil {
			t.Errorf("zero decision allows or has status %d", d.Status())
		}
	})
}

// One canonical line per decision; never the token, the credential, or a
// query string.
func TestDecisionLogLine(t *testing.T) {
	var buf bytes.Buffer
	limiter := &fakeLimiter{}
	s := New(Deps{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Limiter: limiter, KillSwitch: &fakeKill{}})
	s.Swap(testSnapshot())
	auth := map[string]string{"proxy-authorization": basic("demo:" + demoToken)}
	s.Check(t.Context(), checkRequest(checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com", headers: auth}))
	s.Check(t.Context(), checkRequest(checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com"}))
	matrix := checkRequest(checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com", headers: auth})
	matrix.Attributes.Request.Http.Path = "/repos/a/b;jsessionid=SESSIONCANARY;v=2?token=secret"
	limiter.err = errors.New("redis down")
	s.Check(t.Context(), matrix)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), buf.String())
	}
	for i, want := range []struct{ level, decision, reason, path string }{
		{"INFO", "allow", "allowed", "/repos/a/b"},
		{"WARN", "deny", "unauthenticated", "/repos/a/b"},
		{"ERROR", "deny", "store_unavailable", "/repos/a/b;jsessionid=REDACTED"}, // an internal error; a sensitive value runs to the next /
	} {
		var m map[string]any
		json.Unmarshal([]byte(lines[i]), &m)
		if m["level"] != want.level || m[LogDecision] != want.decision || m[LogReason] != want.reason || m[LogPath] != want.path || len(m[LogDecisionID].(string)) != 32 {
			t.Errorf("line %d: %v", i, m)
		}
	}
	for _, secret := range []string{demoToken, "ghp_real_credential", "token=secret", "SESSIONCANARY"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q", secret)
		}
	}
}

// The context-extension and header names are a contract with the Envoy
// config package.
func TestContractWithEnvoyConfig(t *testing.T) {
	pairs := [][2]string{
		{phaseKey, envoy.CtxPhase}, {connectorKey, envoy.CtxConnector}, {hostKey, envoy.CtxHost},
		{phaseConnect, envoy.PhaseConnect}, {phasePlain, envoy.PhasePlain}, {phaseRequest, envoy.PhaseRequest},
		{headerAgentID, envoy.HeaderAgentID}, {headerConnectAuthority, envoy.HeaderConnectAuthority},
		{metadataAgentID, envoy.MetadataAgentID},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("extauthz uses %q where the Envoy config uses %q", p[0], p[1])
		}
	}
}

type fakeRecorder struct{ got []Record }

func (f *fakeRecorder) Record(r Record) { f.got = append(f.got, r) }

// Every Check, allowed or denied, is handed to the recorder once, with its
// decision id and status; the record type has no place for a credential.
func TestEveryDecisionIsRecorded(t *testing.T) {
	rec := &fakeRecorder{}
	s := newTestServer(slog.New(slog.DiscardHandler), rec)
	s.Swap(testSnapshot())
	allow, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)}))
	deny, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com"}))
	if len(rec.got) != 2 {
		t.Fatalf("%d records, want 2", len(rec.got))
	}
	a, d := rec.got[0], rec.got[1]
	if !a.Allow || a.Status != 0 || a.Reason != "allowed" || a.DecisionID != allow.GetDynamicMetadata().GetFields()["decision_id"].GetStringValue() || a.Action != "github.repo.get" {
		t.Errorf("allow record %+v", a)
	}
	if d.Allow || d.Status != 407 || d.Reason != "unauthenticated" || d.DecisionID != deny.GetDynamicMetadata().GetFields()["decision_id"].GetStringValue() {
		t.Errorf("deny record %+v", d)
	}
	if strings.Contains(fmt.Sprintf("%+v", a), "ghp_real_credential") {
		t.Error("the record carries the credential")
	}
}

// A connector host whose every address was refused as private is denied
// with private_upstream in every phase, after authentication, and the other
// hosts are unaffected.
func TestPrivateUpstreamIsDenied(t *testing.T) {
	auth := map[string]string{"proxy-authorization": basic("demo:" + demoToken)}
	pub := map[string]string{envoy.CtxConnector: "public", envoy.CtxHost: "api.public.example"}
	cases := []checkCase{
		{name: "connect is 403 private_upstream", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", headers: auth, status: 403, reason: "private_upstream"},
		{name: "unauthenticated connect is 407 first", phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", status: 407, reason: "unauthenticated"},
		{name: "request in a tunnel is 403 private_upstream", phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil), status: 403, reason: "private_upstream"},
		{name: "plain http is 403 private_upstream", phase: "plain", ctx: gh, method: "GET", host: "api.github.com", headers: auth, status: 403, reason: "private_upstream"},
		{name: "another connector's host is still decided normally", phase: "plain", ctx: pub, method: "GET", host: "api.public.example", headers: auth},
	}
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	snap := testSnapshot()
	snap.Refused = map[string]bool{"api.github.com": true}
	s.Swap(snap)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := s.Check(t.Context(), checkRequest(tc))
			if err != nil {
				t.Fatal(err)
			}
			assertDecision(t, resp, tc.status, tc.reason)
		})
	}
}
