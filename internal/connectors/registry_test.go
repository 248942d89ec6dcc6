package connectors

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestNewReportsEveryProblemWithItsPath(t *testing.T) {
	specs := []Spec{
		{Name: "gh", Type: TypeGitHub},
		{Name: "gh2", Type: TypeGitHub, Hosts: []string{"API.GITHUB.COM"}},
		{Name: "github", Type: TypeHTTP, Hosts: []string{"x.example"}},
		{Name: "crm", Type: TypeHTTP},
		{Name: "bad", Type: "gitlab"},
		{Name: "crm2", Type: TypeHTTP, Hosts: []string{"crm.example:443", "*.example", "ok.example", "ok.example"}, Routes: []RouteSpec{
			{Method: "G ET", Path: "v1/x", Action: "crm2.x.get"},
			{Method: "GET", Path: "/v1/{id}/{id}", Action: "other.x.get"},
			{Method: "GET", Path: "/v1/{rest...}/x", Action: "crm2.unknown.get"},
			{Method: "POST", Path: "/v1/x", Action: "crm2.x", Query: []string{"access_token"}, Body: []string{"a.b", "a", "n:int"}},
			{Method: "GET", Path: "/v1/a%2Fb", Action: "crm2.x.get"},
			{Method: "GET", Path: "/v1//x", Action: "crm2.X.get"},
		}},
		{Name: "", Type: TypeStripe, Hosts: []string{"stripe.example"}, Credential: &CredentialSpec{Header: "Host", Value: "sk_live_SECRET\r\nx-evil: 1"},
			AgentCredentials: map[string]CredentialSpec{"bob": {Header: "x-bridle-agent-id", Value: ""}}},
		{Name: "st", Type: TypeStripe, Hosts: []string{"stripe2.example"}, Routes: []RouteSpec{{Method: "GET", Path: "/x", Action: "stripe.x.get", Query: []string{"stripe_account"}}}},
		{Name: "gh", Type: TypeHTTP, Hosts: []string{"h.example"}},
	}
	_, err := New(specs)
	if err == nil {
		t.Fatal("New accepted invalid specs")
	}
	msg := err.Error()
	for _, want := range []string{
		`connectors[1].hosts[0]: host "api.github.com" already belongs to connectors[0]`,
		`connectors[2].name: an http connector cannot be named after the built-in type "github"`,
		`connectors[3].hosts: required for type http`,
		`connectors[4].type: unknown connector type "gitlab"`,
		`connectors[5].hosts[0]: "crm.example:443"`,
		`connectors[5].hosts[1]: "*.example"`,
		`connectors[5].hosts[3]: "ok.example" is listed twice`,
		`connectors[5].routes[0].method:`,
		`connectors[5].routes[0].path: must start with /`,
		`connectors[5].routes[1].path: param "id" captured twice`,
		`connectors[5].routes[1].action: "other.x.get" must start with "crm2."`,
		`connectors[5].routes[2].path: {rest...} must be the last segment`,
		`connectors[5].routes[2].action: "crm2.unknown.get": crm2.unknown is reserved`,
		`connectors[5].routes[3].action: "crm2.x" must be crm2.<resource>.<verb>`,
		`connectors[5].routes[3].query[0]: field "access_token" looks like a credential`,
		`connectors[5].routes[3].body[2]: unknown type "int"`,
		`connectors[5].routes[3].body: a is selected twice or both as a value and an object`,
		`connectors[5].routes[4].path: must not contain`,
		`connectors[5].routes[5].path: empty segment`,
		`connectors[6].name: required`,
		`connectors[6].credential.header: "host" cannot carry a credential`,
		`connectors[6].credential.value: contains a control character`,
		`connectors[6].agent_credentials.bob.header: "x-bridle-agent-id" is reserved`,
		`connectors[6].agent_credentials.bob.value: required`,
		`connectors[7].routes[0]: param "stripe_account" is reserved for the stripe-account header`,
		`connectors[8].name: duplicate connector name "gh" (also connectors[0])`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing error %q", want)
		}
	}
	if strings.Contains(msg, "SECRET") {
		t.Errorf("an error shows a credential value:\n%s", msg)
	}
	if t.Failed() {
		t.Logf("errors:\n%s", msg)
	}
}

func TestNewDefaultsHostsAndLooksUpExactly(t *testing.T) {
	var specs []Spec
	for _, typ := range []string{TypeGitHub, TypeStripe, TypeOpenAI, TypeAnthropic, TypeSlack} {
		specs = append(specs, Spec{Name: "c_" + typ, Type: typ})
	}
	specs = append(specs, crmSpec)
	reg, err := New(specs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, want string
	}{
		{"api.github.com", "c_github"},
		{"API.GitHub.COM", "c_github"},
		{"api.stripe.com", "c_stripe"},
		{"api.openai.com", "c_openai"},
		{"api.anthropic.com", "c_anthropic"},
		{"slack.com", "c_slack"},
		{"crm.internal.example", "crm"},
		{"api.github.com:443", ""},
		{"api.github.com.", ""},
		{"evil.api.github.com", ""},
		{"uploads.github.com", ""},
	}
	for _, tt := range tests {
		c, ok := reg.Lookup(tt.host)
		if got := ""; ok {
			got = c.Name()
			if got != tt.want {
				t.Errorf("Lookup(%q): got %q, want %q", tt.host, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("Lookup(%q): not found, want %q", tt.host, tt.want)
		}
	}
	gh, _ := reg.Lookup("api.github.com")
	crm, _ := reg.Lookup("crm.internal.example")
	if gh.Prefix() != "github" || gh.Type() != TypeGitHub || crm.Prefix() != "crm" || !slices.Equal(crm.Hosts(), []string{"crm.internal.example"}) {
		t.Fatalf("got prefixes %q %q", gh.Prefix(), crm.Prefix())
	}
	if len(reg.Connectors()) != 6 {
		t.Fatalf("got %d connectors", len(reg.Connectors()))
	}
}

func TestNeedsBodyOnlyWhereARouteReadsIt(t *testing.T) {
	c := newTestConnector(t, Spec{Name: "gh", Type: TypeGitHub})
	tests := []struct {
		method, path string
		want         bool
	}{
		{"PUT", "/repos/o/r/pulls/1/merge", true},
		{"POST", "/graphql", true},
		{"GET", "/repos/o/r/pulls/1", false},
		{"POST", "/repos/o/r/issues", false},
		{"POST", "/nope", false},
		{"PUT", "/repos/o/../pulls/1/merge", false},
	}
	for _, tt := range tests {
		if got := c.NeedsBody(tt.method, tt.path); got != tt.want {
			t.Errorf("NeedsBody(%s %s): got %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
	routes := c.BodyRoutes()
	for _, want := range []BodyRoute{
		{"PUT", "/repos/*/*/pulls/*/merge"}, {"POST", "/graphql"}, {"PUT", "/repos/*/*/contents/**"},
	} {
		if !slices.Contains(routes, want) {
			t.Errorf("BodyRoutes lacks %v", want)
		}
	}
	if slices.Contains(routes, BodyRoute{"GET", "/repos/*/*/pulls/*"}) {
		t.Error("BodyRoutes lists a route that reads no body")
	}
}

func TestCredentialShapes(t *testing.T) {
	reg, err := New([]Spec{
		{Name: "claude", Type: TypeAnthropic, Credential: &CredentialSpec{Value: "sk-ant-base"},
			AgentCredentials: map[string]CredentialSpec{"alice": {Value: "sk-ant-alice"}, "bob": {Header: "Authorization", Value: "Bearer sk-ant-bob"}}},
		{Name: "gh", Type: TypeGitHub, AgentCredentials: map[string]CredentialSpec{"alice": {Value: "Bearer ghp_alice"}}},
		{Name: "crm", Type: TypeHTTP, Hosts: []string{"crm.example"}, Credential: &CredentialSpec{Header: "X-CRM-Key", Value: "Basic dTpw"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	claude, _ := reg.Lookup("api.anthropic.com")
	gh, _ := reg.Lookup("api.github.com")
	crm, _ := reg.Lookup("crm.example")
	tests := []struct {
		name         string
		c            *Connector
		agent        string
		header, want string
		ok           bool
	}{
		{"uses the type's default header", claude, "carol", "x-api-key", "sk-ant-base", true},
		{"uses an agent's override", claude, "alice", "x-api-key", "sk-ant-alice", true},
		{"lets an override pick its header", claude, "bob", "authorization", "Bearer sk-ant-bob", true},
		{"has only overrides when no base credential is set", gh, "alice", "authorization", "Bearer ghp_alice", true},
		{"has no credential for other agents then", gh, "mallory", "", "", false},
		{"lower-cases a custom header", crm, "any", "x-crm-key", "Basic dTpw", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, ok := tt.c.CredentialFor(tt.agent)
			if ok != tt.ok || cred.Header() != tt.header || cred.Value() != tt.want {
				t.Fatalf("got %q %q %v, want %q %q %v", cred.Header(), cred.Value(), ok, tt.header, tt.want, tt.ok)
			}
		})
	}
	if got, want := claude.CompanionHeaders(), []HeaderValue{{"anthropic-version", "2023-06-01"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("companions: got %v, want %v", got, want)
	}
	if got := gh.CompanionHeaders(); len(got) != 0 {
		t.Errorf("github companions: got %v, want none", got)
	}
	if got, want := claude.StripHeaders(), []string{"authorization", "cookie", "proxy-authorization", "x-api-key"}; !slices.Equal(got, want) {
		t.Errorf("strip: got %v, want %v", got, want)
	}
	if got := crm.StripHeaders(); !slices.Contains(got, "x-crm-key") || !slices.Contains(got, "authorization") {
		t.Errorf("strip: got %v, want the custom credential header and authorization", got)
	}
}
