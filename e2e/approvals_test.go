package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/tokens"
)

const approvalPolicy = `version: 1
policies:
  - name: merges
    rules:
      - {name: reads, effect: allow, actions: ["github.*.get"]}
      - {name: merges need a human, effect: require_approval, actions: [github.pr.merge]}
`

func approvalGateway(t *testing.T, hold, timeout string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, "api.github.com")
	// The embedded Redis runs inside bridle; on a loaded 2-core CI machine
	// one of its operations can run long and turn a retry into 503
	// store_unavailable (fail closed, correctly). These tests are about
	// approval semantics, so they allow it 1 s (its default is 500 ms).
	g := startGateway(t, gatewayOpts{policy: approvalPolicy,
		extraYAML:  "approvals: {hold: " + hold + ", timeout: " + timeout + "}\nredis: {op_timeout: 1s}",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer x"}}})
	return g, up
}

type mergeResult struct {
	status   int
	reason   string
	approval string
	retry    string
}

// merge sends the merge request that needs approval and returns how it was
// answered.
func (g *gateway) merge(t *testing.T, c *http.Client, extra map[string]string) mergeResult {
	t.Helper()
	req, _ := http.NewRequest("PUT", "https://api.github.com/repos/acme/api/pulls/7/merge", strings.NewReader(`{"merge_method":"squash"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range extra {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return mergeResult{reason: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct{ Reason string }
	json.Unmarshal(b, &body)
	return mergeResult{status: resp.StatusCode, reason: body.Reason, approval: resp.Header.Get("x-bridle-approval-id"), retry: resp.Header.Get("Retry-After")}
}

// pendingApproval waits for one pending approval and returns its id.
func (g *gateway) pendingApproval(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, body := g.apiGet(t, g.operatorToken(t), "/api/v1/approvals?state=pending")
		var resp struct{ Approvals []struct{ ID, Action string } }
		json.Unmarshal([]byte(body), &resp)
		if len(resp.Approvals) > 0 {
			return resp.Approvals[0].ID
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no pending approval appeared")
	return ""
}

// A held request is released the moment an operator approves it, and is
// refused the moment one denies it.
func TestHeldRequestReleasedByApprovalOrDenial(t *testing.T) {
	g, up := approvalGateway(t, "20s", "1m")
	for _, tc := range []struct {
		verb   string
		status int
		reason string
	}{{"approve", 200, ""}, {"deny", 403, "approval_denied"}} {
		t.Run(tc.verb, func(t *testing.T) {
			up.Reset()
			done := make(chan mergeResult, 1)
			go func() { done <- g.merge(t, g.client(g.agentProxy()), nil) }()
			id := g.pendingApproval(t)
			start := time.Now()
			out := g.bridleCLI(t, "approvals", tc.verb, id, "--note", "e2e")
			if !strings.Contains(out, id) {
				t.Errorf("CLI: %s", out)
			}
			r := <-done
			t.Logf("released %s after the decision", time.Since(start).Round(time.Millisecond))
			if r.status != tc.status || r.reason != tc.reason {
				t.Errorf("got %+v, want %d %q", r, tc.status, tc.reason)
			}
			if want := map[int]int{200: 1, 403: 0}[tc.status]; len(up.Seen()) != want {
				t.Errorf("upstream saw %d requests, want %d", len(up.Seen()), want)
			}
		})
	}
}

// When the hold ends undecided the agent gets 429 approval_pending with the
// approval id; an approval given later lets exactly one retry through.
func TestPendingThenApprovedIsHonouredOnce(t *testing.T) {
	g, up := approvalGateway(t, "1s", "1m")
	c := g.client(g.agentProxy())
	r := g.merge(t, c, nil)
	if r.status != 429 || r.reason != "approval_pending" || r.approval == "" || r.retry == "" {
		t.Fatalf("first attempt: %+v", r)
	}
	approved := time.Now()
	g.bridleCLI(t, "approvals", "approve", r.approval)
	if r := g.merge(t, c, nil); r.status != 200 {
		t.Errorf("retry after approval: %+v", r)
	}
	if r := g.merge(t, c, nil); r.status != 429 {
		t.Errorf("a second retry reused the approval: %+v", r)
	}
	if len(up.Seen()) != 1 {
		t.Errorf("upstream saw %d merges, want 1", len(up.Seen()))
	}
	// The audit record of the merge that went through names who approved
	// it and when.
	var page struct {
		Records []struct {
			Reason, Approver string
			ApprovedAt       time.Time `json:"approved_at"`
		}
	}
	var body string
	for deadline := time.Now().Add(5 * time.Second); len(page.Records) == 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		_, body = g.apiGet(t, g.operatorToken(t), "/api/v1/traffic?action=github.pr.merge&decision=allow")
		json.Unmarshal([]byte(body), &page) // the writer stores records in batches
	}
	if len(page.Records) != 1 {
		t.Fatalf("allowed merges in the audit log: %s", body)
	}
	rec := page.Records[0]
	if rec.Reason != "allowed" || rec.Approver == "" || rec.ApprovedAt.Before(approved.Add(-time.Second)) || rec.ApprovedAt.After(time.Now()) {
		t.Errorf("audit record of the approved merge: %+v (approved at about %v)", rec, approved)
	}
	if out := g.bridleCLI(t, "logs", "--action", "github.pr.merge", "--decision", "allow"); !strings.Contains(out, "approved by "+rec.Approver) {
		t.Errorf("bridle logs does not say who approved:\n%s", out)
	}
}

// An approval undecided past its timeout expires: the next attempt is 408.
func TestUndecidedApprovalTimesOut(t *testing.T) {
	g, up := approvalGateway(t, "500ms", "2s")
	c := g.client(g.agentProxy())
	if r := g.merge(t, c, nil); r.status != 429 {
		t.Fatalf("first attempt: %+v", r)
	}
	time.Sleep(2500 * time.Millisecond)
	if r := g.merge(t, c, nil); r.status != 408 || r.reason != "approval_timeout" {
		t.Errorf("after the timeout: %+v", r)
	}
	if len(up.Seen()) != 0 {
		t.Error("upstream reached")
	}
}

// An agent that hangs up during the hold cancels it; the decision record
// says so.
func TestAgentDisconnectDuringHold(t *testing.T) {
	g, up := approvalGateway(t, "20s", "1m")
	c := g.client(g.agentProxy())
	c.Timeout = 700 * time.Millisecond
	g.merge(t, c, nil)
	g.waitLog(t, "reason=approval_pending", "client disconnected during the hold")
	if len(up.Seen()) != 0 {
		t.Error("upstream reached")
	}
}

// A one-time decision token for exactly this action lets it through the
// proxy once; a replay, a token for another action or a validly signed
// token Bridle never issued (its nonce unregistered) is refused.
func TestDecisionTokenThroughTheProxy(t *testing.T) {
	g, up := approvalGateway(t, "500ms", "1m")
	keys, err := tokens.LoadOrCreate(filepath.Join(g.dir, ".bridle"))
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := connectors.New([]connectors.Spec{{Name: "github", Type: "github", Hosts: []string{"api.github.com"}}})
	c, _ := reg.Lookup("api.github.com")
	forge := func(path string) string {
		a, err := c.Parse(connectors.Request{Agent: g.agent, Method: "PUT", Host: "api.github.com", Path: path,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"merge_method":"squash"}`), BodyBuffered: true})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := a.SpecHash()
		tok, _, err := keys.Issue(tokens.Claims{ActionRequestID: "act_e2e", ActionSpecHash: h, Agent: g.agent}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := g.approvedMergeToken(t, 7)
	client := g.client(g.agentProxy())
	if r := g.merge(t, client, map[string]string{"X-Bridle-Decision-Token": good}); r.status != 200 {
		t.Fatalf("valid token: %+v", r)
	}
	if r := g.merge(t, client, map[string]string{"X-Bridle-Decision-Token": good}); r.status != 403 || r.reason != "token_replayed" {
		t.Errorf("replayed token: %+v", r)
	}
	other := g.approvedMergeToken(t, 8)
	if r := g.merge(t, client, map[string]string{"X-Bridle-Decision-Token": other}); r.status != 403 || r.reason != "token_invalid" {
		t.Errorf("token for another action: %+v", r)
	}
	if r := g.merge(t, client, map[string]string{"X-Bridle-Decision-Token": forge("/repos/acme/api/pulls/7/merge")}); r.status != 403 || r.reason != "token_invalid" {
		t.Errorf("signed with Bridle's key but never issued: %+v", r)
	}
	seen := up.Seen()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests, want 1", len(seen))
	}
	if seen[0].Header.Get("X-Bridle-Decision-Token") != "" {
		t.Error("the decision token reached the upstream")
	}
}
