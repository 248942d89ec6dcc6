package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSlack answers chat.postMessage and chat.update and keeps what it got.
type fakeSlack struct {
	mu    sync.Mutex
	posts []string
	srv   *httptest.Server
}

func newFakeSlack(t *testing.T) *fakeSlack {
	f := &fakeSlack{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posts = append(f.posts, r.URL.Path+" "+string(b))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"channel":"C123","ts":"1700000000.000100"}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) all() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

// A held request is released by an operator pressing Approve in Slack:
// the message carries only the approval's facts, and the callback is
// accepted only with Slack's signature.
func TestHeldRequestReleasedFromSlack(t *testing.T) {
	slack := newFakeSlack(t)
	const signing = "e2e-slack-signing-secret-0123456789"
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: approvalPolicy,
		extraYAML: "approvals: {hold: 20s, timeout: 1m, slack: {bot_token: xoxb-e2e-token, channel: C123, signing_secret: " + signing +
			", api_url: \"" + slack.srv.URL + "/api/\"}}",
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer " + secretCredential}}})

	done := make(chan mergeResult, 1)
	go func() { done <- g.merge(t, g.client(g.agentProxy()), nil) }()
	id := g.pendingApproval(t)
	var posted string
	deadline := time.Now().Add(10 * time.Second)
	for posted == "" && time.Now().Before(deadline) {
		for _, p := range slack.all() {
			if strings.Contains(p, "chat.postMessage") && strings.Contains(p, id) {
				posted = p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if posted == "" {
		t.Fatalf("no Slack message for %s: %v", id, slack.all())
	}
	if !strings.Contains(posted, "github.pr.merge") || !strings.Contains(posted, g.agent) {
		t.Errorf("the message lacks the action or agent: %s", posted)
	}
	for _, secret := range []string{secretCredential, g.token, "merge_method"} {
		if strings.Contains(posted, secret) {
			t.Errorf("the Slack message contains %q", secret)
		}
	}

	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]string{"id": "U42"},
		"actions":   []map[string]string{{"action_id": "bridle_approve", "value": id}},
		"container": map[string]string{"channel_id": "C123", "message_ts": "1700000000.000100"},
	})
	body := url.Values{"payload": {string(payload)}}.Encode()
	send := func(secret string) int {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		req, _ := http.NewRequest("POST", "http://"+g.eps.API+"/slack/interactive", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := send("wrong-secret-wrong-secret-wrong"); s != 401 {
		t.Errorf("a forged callback: %d, want 401", s)
	}
	if s := send(signing); s != 200 {
		t.Fatalf("the signed callback: %d", s)
	}
	r := <-done
	if r.status != 200 {
		t.Errorf("the held request after Approve in Slack: %+v", r)
	}
	if len(up.Seen()) != 1 {
		t.Errorf("upstream saw %d requests", len(up.Seen()))
	}
	_, body2 := g.apiGet(t, g.operatorToken(t), "/api/v1/approvals?state=")
	if !strings.Contains(body2, "slack:U42") {
		t.Errorf("the approval does not record the Slack user: %s", body2)
	}
}
