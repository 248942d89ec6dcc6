package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testNow is the clock of every test that signs something.
var testNow = time.Unix(1_760_000_000, 0).UTC()

const (
	testSigningSecret = "slack-signing-secret-0123456789"
	testBotToken      = "xoxb-test-bot-token-do-not-leak"
	testWebhookSecret = "webhook-secret-0123456789abcdef"
)

// testApproval is the approval most tests notify about.
func testApproval() Approval {
	return Approval{
		ID: "apr_TESTID", Agent: "coder", Connector: "gh", Action: "github.pr.merge", Target: "octo/app",
		State: StatePending, CreatedAt: testNow, ExpiresAt: testNow.Add(5 * time.Minute),
	}
}

// recorded is one request a fake server received.
type recorded struct {
	path   string
	header http.Header
	body   []byte
}

// fakeServer is a local fake of Slack (Web API, incoming webhook,
// response_url) or of a webhook receiver. It records every request and
// answers with respond, or 200 {"ok":true,...}.
type fakeServer struct {
	*httptest.Server
	reqs    chan recorded
	mu      sync.Mutex
	respond func(r recorded, n int) (int, string) // n counts requests, from 1
	n       int
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{reqs: make(chan recorded, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec := recorded{path: r.URL.Path, header: r.Header.Clone(), body: body}
		f.mu.Lock()
		f.n++
		n, respond := f.n, f.respond
		f.mu.Unlock()
		status, answer := http.StatusOK, `{"ok":true,"channel":"C1","ts":"1760000000.000100"}`
		if respond != nil {
			status, answer = respond(rec, n)
		}
		f.reqs <- rec
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) setRespond(fn func(r recorded, n int) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.respond = fn
}

// next returns the next request, failing after five seconds.
func (f *fakeServer) next(t *testing.T) recorded {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request reached the fake server")
		return recorded{}
	}
}

// none fails if a request arrives within d.
func (f *fakeServer) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-f.reqs:
		t.Fatalf("unexpected request to %s: %s", r.path, r.body)
	case <-time.After(d):
	}
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestService builds a Service with fast retries and a fixed clock;
// it is closed when the test ends.
func newTestService(t *testing.T, cfg Config) (*Service, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Delivery == (Delivery{}) {
		cfg.Delivery = Delivery{BaseBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Timeout: 2 * time.Second}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if s.slack != nil {
		s.slack.now = func() time.Time { return testNow }
	}
	if s.hooks != nil {
		s.hooks.now = func() time.Time { return testNow }
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s, logs
}

// fakeDecider records Decide calls.
type fakeDecider struct {
	mu    sync.Mutex
	calls []decideCall
	err   error
	after func(c decideCall) // runs inside Decide, like the lead's ApprovalDecided
}

type decideCall struct {
	id, decider, note string
	approve           bool
}

func (d *fakeDecider) Decide(_ context.Context, id string, approve bool, decider, note string) error {
	c := decideCall{id: id, approve: approve, decider: decider, note: note}
	d.mu.Lock()
	d.calls = append(d.calls, c)
	err, after := d.err, d.after
	d.mu.Unlock()
	if err == nil && after != nil {
		after(c)
	}
	return err
}

func (d *fakeDecider) got() []decideCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]decideCall(nil), d.calls...)
}

// slackSign signs body as Slack does.
func slackSign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// clickPayload is a block_actions payload as Slack sends it for a click on
// one of our buttons.
func clickPayload(actionID, approvalID, userID, responseURL string) map[string]any {
	return map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": userID, "username": "alice", "team_id": "T1"},
		"api_app_id":   "A1",
		"team":         map[string]any{"id": "T1", "domain": "acme"},
		"container":    map[string]any{"type": "message", "message_ts": "1760000000.000100", "channel_id": "C1"},
		"channel":      map[string]any{"id": "C1", "name": "approvals"},
		"response_url": responseURL,
		"trigger_id":   "1.2.3",
		"message": map[string]any{"ts": "1760000000.000100", "blocks": []any{
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*Action*\ngithub.pr.merge"}},
			map[string]any{"type": "actions", "block_id": actionsBlockID, "elements": []any{}},
		}},
		"actions": []any{map[string]any{
			"type": "button", "action_id": actionID, "block_id": actionsBlockID, "value": approvalID, "action_ts": "1760000001.1",
		}},
	}
}

// formBody encodes payload as Slack's form body.
func formBody(t *testing.T, payload any) []byte {
	t.Helper()
	js, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(url.Values{"payload": {string(js)}}.Encode())
}

// signedRequest is a callback request signed with secret at ts.
func signedRequest(body []byte, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/slack/interactive", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	tss := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("X-Slack-Request-Timestamp", tss)
	r.Header.Set("X-Slack-Signature", slackSign(secret, tss, body))
	return r
}

// decodeJSON decodes a recorded body into a map.
func decodeJSON(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, body)
	}
	return m
}

// keys returns the sorted keys of m.
func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// leafStrings returns every string value anywhere in v, sorted.
func leafStrings(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	sort.Strings(out)
	return out
}

// blockTypes lists the type of each block of a Slack message body.
func blockTypes(msg map[string]any) []string {
	var out []string
	blocks, _ := msg["blocks"].([]any)
	for _, b := range blocks {
		m, _ := b.(map[string]any)
		s, _ := m["type"].(string)
		out = append(out, s)
	}
	return out
}

// httpBody is a request body of b.
func httpBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }
