package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// apiCall sends a JSON request to the API as the agent.
func (g *gateway) apiCall(t *testing.T, method, path string, body any, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+g.eps.API+path, r)
	req.Header.Set("Authorization", "Bearer "+g.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}

const actionsPolicy = `version: 1
policies:
  - name: p
    rules:
      - {name: reads, effect: allow, actions: ["github.*.get"]}
      - {name: merges need a human, effect: require_approval, actions: [github.pr.merge]}
      - {name: no deletes, effect: deny, actions: [github.repo.delete]}
`

// The action API decides a described request, issues a one-time token, and
// executes it through the gateway's own Envoy: the upstream sees the
// injected credential, once.
func TestActionAPIAllowAndExecuteOnce(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: actionsPolicy, connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
		credHeader: "Authorization", credValue: "Bearer " + secretCredential}}})
	read := map[string]any{"method": "GET", "url": "https://api.github.com/repos/acme/api", "headers": map[string]string{"Accept": "application/json"}}
	status, res := g.apiCall(t, "POST", "/api/v1/actions", read, nil)
	if status != 201 || res["decision"] != "allow" || res["action"] != "github.repo.get" || res["token"] == nil {
		t.Fatalf("submit: %d %v", status, res)
	}
	id, tok := res["id"].(string), res["token"].(string)
	status, out := g.apiCall(t, "POST", "/api/v1/actions/"+id+"/execute", read, map[string]string{"X-Bridle-Decision-Token": tok})
	if status != 200 || out["status"].(float64) != 200 {
		t.Fatalf("execute: %d %v", status, out)
	}
	seen := up.Seen()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	assertForwardedClean(t, seen[0].Header)
	if status, out := g.apiCall(t, "POST", "/api/v1/actions/"+id+"/execute", read, map[string]string{"X-Bridle-Decision-Token": tok}); status != 403 {
		t.Errorf("second execute: %d %v", status, out)
	}
	if len(up.Seen()) != 1 {
		t.Error("a replayed token reached the upstream")
	}
}

// require_approval through the API: pending until an operator approves,
// then the token comes with the next GET and executes once; the request
// must be the one that was decided.
func TestActionAPIApprovalFlow(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	events := make(chan string, 10) // the webhook's events, as an approver's tool sees them
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Event string }
		json.NewDecoder(r.Body).Decode(&ev)
		events <- ev.Event
	}))
	t.Cleanup(hook.Close)
	g := startGateway(t, gatewayOpts{policy: actionsPolicy, extraYAML: "approvals: {webhook_url: " + hook.URL + ", webhook_secret: e2e-webhook-secret}",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer x"}}})
	merge := map[string]any{"method": "PUT", "url": "https://api.github.com/repos/acme/api/pulls/7/merge",
		"headers": map[string]string{"Content-Type": "application/json"}, "body": `{"merge_method":"squash"}`}
	status, res := g.apiCall(t, "POST", "/api/v1/actions", merge, nil)
	if status != 201 || res["decision"] != "require_approval" || res["approval_id"] == nil || res["token"] != nil {
		t.Fatalf("submit: %d %v", status, res)
	}
	id := res["id"].(string)
	select { // an approval opened through the API is announced like one from the proxy
	case ev := <-events:
		if ev != "approval.created" {
			t.Errorf("first webhook event %q, want approval.created", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("no webhook for the approval the action API opened")
	}
	if _, got := g.apiCall(t, "GET", "/api/v1/actions/"+id, nil, nil); got["state"] != "pending" || got["token"] != nil {
		t.Errorf("before approval: %v", got)
	}
	g.bridleCLI(t, "approvals", "approve", res["approval_id"].(string))
	_, got := g.apiCall(t, "GET", "/api/v1/actions/"+id, nil, nil)
	tok, _ := got["token"].(string)
	if got["state"] != "approved" || tok == "" {
		t.Fatalf("after approval: %v", got)
	}
	if _, again := g.apiCall(t, "GET", "/api/v1/actions/"+id, nil, nil); again["token"] != nil {
		t.Error("the token was handed out twice")
	}
	changed := map[string]any{"method": "PUT", "url": "https://api.github.com/repos/acme/api/pulls/8/merge",
		"headers": map[string]string{"Content-Type": "application/json"}, "body": `{"merge_method":"squash"}`}
	if status, out := g.apiCall(t, "POST", "/api/v1/actions/"+id+"/execute", changed, map[string]string{"X-Bridle-Decision-Token": tok}); status != 403 {
		t.Errorf("execute with another request: %d %v", status, out)
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream saw %d requests", len(up.Seen()))
	}

	// The refused call did not spend the token: the decided request goes
	// through with it, once.
	status, out := g.apiCall(t, "POST", "/api/v1/actions/"+id+"/execute", merge, map[string]string{"X-Bridle-Decision-Token": tok})
	if status != 200 || out["status"] != float64(200) {
		t.Fatalf("execute: %d %v", status, out)
	}
	if seen := up.Seen(); len(seen) != 1 || seen[0].Method != "PUT" || seen[0].BodySize != int64(len(`{"merge_method":"squash"}`)) {
		t.Errorf("upstream saw %+v", seen)
	}
	if status, out := g.apiCall(t, "POST", "/api/v1/actions/"+id+"/execute", merge, map[string]string{"X-Bridle-Decision-Token": tok}); status != 403 {
		t.Errorf("a second execute with the same token: %d %v", status, out)
	}
	if n := len(up.Seen()); n != 1 {
		t.Errorf("upstream saw %d requests, want 1", n)
	}
}

// Denied actions get no token; malformed requests are refused naming each
// field; operators cannot submit actions.
func TestActionAPIRefusals(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: actionsPolicy, connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up}}})
	status, res := g.apiCall(t, "POST", "/api/v1/actions", map[string]any{"method": "DELETE", "url": "https://api.github.com/repos/acme/api"}, nil)
	if status != 201 || res["decision"] != "deny" || res["token"] != nil || res["rule"] != "p/no deletes" {
		t.Errorf("deny: %d %v", status, res)
	}
	status, res = g.apiCall(t, "POST", "/api/v1/actions", map[string]any{"method": "BREW", "url": "ftp://x", "headers": map[string]string{"X-Bridle-Agent-Id": "x"}}, nil)
	fields, _ := res["fields"].(map[string]any)
	if status != 400 || fields["method"] == nil || fields["url"] == nil || fields["headers.X-Bridle-Agent-Id"] == nil {
		t.Errorf("malformed: %d %v", status, res)
	}
	status, res = g.apiCall(t, "POST", "/api/v1/actions", map[string]any{"method": "GET", "url": "https://api.github.com/", "extra": 1}, nil)
	if status != 400 || !strings.Contains(res["error"].(string), "extra") {
		t.Errorf("extra field: %d %v", status, res)
	}
	status, res = g.apiCall(t, "POST", "/api/v1/actions", map[string]any{"method": "GET", "url": "https://example.com/"}, nil)
	if status != 403 {
		t.Errorf("host without connector: %d %v", status, res)
	}
}

// approvedMergeToken gets a real decision token for merging pr of
// acme/api, the way an agent does: it submits the action to the API, an
// operator approves it with the CLI, and the API hands out the token (whose
// nonce Bridle registered when it issued it). The policy must require
// approval for github.pr.merge.
func (g *gateway) approvedMergeToken(t *testing.T, pr int) string {
	t.Helper()
	merge := map[string]any{"method": "PUT", "url": fmt.Sprintf("https://api.github.com/repos/acme/api/pulls/%d/merge", pr),
		"headers": map[string]string{"Content-Type": "application/json"}, "body": `{"merge_method":"squash"}`}
	status, res := g.apiCall(t, "POST", "/api/v1/actions", merge, nil)
	if status != 201 || res["decision"] != "require_approval" || res["approval_id"] == nil {
		t.Fatalf("submit: %d %v", status, res)
	}
	g.bridleCLI(t, "approvals", "approve", res["approval_id"].(string))
	_, got := g.apiCall(t, "GET", "/api/v1/actions/"+res["id"].(string), nil, nil)
	tok, _ := got["token"].(string)
	if tok == "" {
		t.Fatalf("after approval: %v", got)
	}
	return tok
}

// An approval that expires undecided, with no request held on it, is
// announced once: approval.expired reaches the webhook.
func TestUndecidedApprovalExpiryIsAnnounced(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	events := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Event string }
		json.NewDecoder(r.Body).Decode(&ev)
		events <- ev.Event
	}))
	t.Cleanup(hook.Close)
	g := startGateway(t, gatewayOpts{policy: actionsPolicy,
		extraYAML: "approvals: {hold: 500ms, timeout: 1s, webhook_url: " + hook.URL + ", webhook_secret: e2e-webhook-secret}",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up,
			credHeader: "Authorization", credValue: "Bearer x"}}})
	merge := map[string]any{"method": "PUT", "url": "https://api.github.com/repos/acme/api/pulls/7/merge",
		"headers": map[string]string{"Content-Type": "application/json"}, "body": `{"merge_method":"squash"}`}
	if status, res := g.apiCall(t, "POST", "/api/v1/actions", merge, nil); status != 201 || res["decision"] != "require_approval" {
		t.Fatalf("submit: %d %v", status, res)
	}
	var got []string
	deadline := time.After(15 * time.Second) // 1 s to expire, a sweep every 5 s
	for !slices.Contains(got, "approval.expired") {
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-deadline:
			t.Fatalf("webhook events %v: no approval.expired", got)
		}
	}
	time.Sleep(6 * time.Second) // another sweep: still announced once
	for len(events) > 0 {
		got = append(got, <-events)
	}
	if !slices.Equal(got, []string{"approval.created", "approval.expired"}) {
		t.Errorf("webhook events %v, want approval.created then approval.expired, once each", got)
	}
}
