package extauthz

import (
	"github.com/bridle-gw/bridle/policies"
	"log/slog"
	"testing"
)

func TestPolicyDecides(t *testing.T) {
	cases := []struct {
		name   string
		method string
		path   string
		policy string // "" keeps the test policy; "nil" removes it; else YAML
		status int
		reason string
		rule   string
	}{
		{name: "an allowed action is forwarded", method: "GET", path: "/repos/acme/api", status: 0, rule: "test/everything else"},
		{name: "a deny rule wins over an allow", method: "DELETE", path: "/repos/acme/api", status: 403, reason: "policy_deny", rule: "test/no deletes"},
		{name: "require_approval without an approval store fails closed", method: "PUT", path: "/repos/acme/api/pulls/1/merge", status: 503, reason: "store_unavailable", rule: "test/merges need a human"},
		{name: "no matching rule is a default deny", method: "GET", path: "/repos/acme/api", status: 403, reason: "default_deny",
			policy: "version: 1\npolicies: [{name: p, rules: [{name: r, effect: allow, actions: [stripe.**]}]}]\n"},
		{name: "no policy files deny everything", method: "GET", path: "/repos/acme/api", status: 403, reason: "default_deny", policy: "none"},
		{name: "no policy at all is a policy error", method: "GET", path: "/repos/acme/api", status: 503, reason: "policy_error", policy: "nil"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			snap := testSnapshot()
			switch tc.policy {
			case "":
			case "nil":
				snap.Policy = nil
			case "none":
				p, err := policies.Load(nil)
				if err != nil {
					t.Fatal(err)
				}
				snap.Policy = p
			default:
				p, err := policiesFrom(tc.policy)
				if err != nil {
					t.Fatal(err)
				}
				snap.Policy = p
			}
			lim := &fakeLimiter{}
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: lim, KillSwitch: &fakeKill{}})
			s.Swap(snap)
			req := checkRequest(checkCase{phase: "request", ctx: gh, method: tc.method, host: "api.github.com", sni: "api.github.com",
				headers: inTunnel(map[string]string{partialBodyHeader: "false", "content-type": "application/json"})})
			req.Attributes.Request.Http.Path = tc.path
			req.Attributes.Request.Http.RawBody = []byte(`{}`)
			resp, _ := s.Check(t.Context(), req)
			assertDecision(t, resp, tc.status, tc.reason)
			if got := resp.GetDynamicMetadata().GetFields()["rule"].GetStringValue(); got != tc.rule {
				t.Errorf("rule %q, want %q", got, tc.rule)
			}
			if tc.status != 0 && lim.calls != 0 {
				t.Error("a policy denial consumed rate-limit budget")
			}
		})
	}
}

func policiesFrom(src string) (*policies.Set, error) {
	return policies.LoadBytes("case.yaml", []byte(src))
}
