package extauthz

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/connectors"
)

func TestRequestsAreParsedIntoActions(t *testing.T) {
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Swap(testSnapshot())
	cases := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		body    string
		action  string
		reason  string
	}{
		{name: "a REST path becomes its action", method: "PUT", path: "/repos/other/api/pulls/7/merge", action: "github.pr.merge",
			headers: map[string]string{partialBodyHeader: "false", "content-type": "application/json"}, body: `{}`},
		{name: "an unknown path becomes github.unknown", method: "GET", path: "/no/such/thing", action: "github.unknown"},
		{name: "a GraphQL mutation is read from the body", method: "POST", path: "/graphql", action: "github.graphql.mutation.mergePullRequest",
			headers: map[string]string{partialBodyHeader: "false", "content-type": "application/json"},
			body:    `{"query":"mutation { mergePullRequest(input:{}) { clientMutationId } }"}`},
		{name: "a GraphQL body Envoy did not buffer is denied", method: "POST", path: "/graphql",
			headers: map[string]string{"content-type": "application/json"}, reason: "body_unparseable"},
		{name: "a truncated GraphQL body is denied", method: "POST", path: "/graphql",
			headers: map[string]string{partialBodyHeader: "true", "content-type": "application/json"}, body: `{"query":"mutation {`, reason: "body_unparseable"},
		{name: "invalid percent-encoding is denied", method: "GET", path: "/repos/a%zz/b", reason: "body_unparseable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := checkRequest(checkCase{phase: "request", ctx: gh, method: tc.method, host: "api.github.com", sni: "api.github.com", headers: inTunnel(tc.headers)})
			req.Attributes.Request.Http.Path = tc.path
			req.Attributes.Request.Http.RawBody = []byte(tc.body)
			resp, _ := s.Check(t.Context(), req)
			md := resp.GetDynamicMetadata().GetFields()
			if tc.reason != "" {
				assertDecision(t, resp, 403, tc.reason)
				return
			}
			assertDecision(t, resp, 0, "")
			if got := md["action"].GetStringValue(); got != tc.action {
				t.Errorf("action %q, want %q", got, tc.action)
			}
		})
	}
}

func TestCompanionHeadersOnlyWhenAbsent(t *testing.T) {
	reg, err := connectors.New([]connectors.Spec{{Name: "claude", Type: "anthropic", Credential: &connectors.CredentialSpec{Value: "sk-ant"}}})
	if err != nil {
		t.Fatal(err)
	}
	snap := testSnapshot()
	snap.Connectors["claude"] = reg.Connectors()[0]
	s := newTestServer(slog.New(slog.DiscardHandler), nil)
	s.Swap(snap)
	ctx := map[string]string{envoy.CtxConnector: "claude", envoy.CtxHost: "api.anthropic.com"}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    bool
	}{
		{"added when the agent sent none", nil, true},
		{"kept when the agent sent one", map[string]string{"anthropic-version": "2024-01-01"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := inTunnel(tc.headers)
			h[envoy.HeaderConnectAuthority] = "api.anthropic.com:443"
			resp, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "request", ctx: ctx, method: "GET", host: "api.anthropic.com", sni: "api.anthropic.com", headers: h}))
			ok := resp.GetOkResponse()
			if got := headerValue(ok.GetHeaders(), "anthropic-version") != ""; got != tc.want {
				t.Errorf("anthropic-version set = %v, want %v (%v)", got, tc.want, ok.GetHeaders())
			}
			if headerValue(ok.GetHeaders(), "x-api-key") != "sk-ant" || slices.Contains(ok.GetHeadersToRemove(), "x-api-key") {
				t.Errorf("credential: set %v, remove %v", ok.GetHeaders(), ok.GetHeadersToRemove())
			}
			if !slices.Contains(ok.GetHeadersToRemove(), "authorization") {
				t.Errorf("agent authorization not removed: %v", ok.GetHeadersToRemove())
			}
		})
	}
}
