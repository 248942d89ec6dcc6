package notify

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newCallback returns a Slack handler over a Service posting to f, and the
// Decider it calls.
func newCallback(t *testing.T, cfg SlackConfig) (http.Handler, *fakeDecider, *Service) {
	t.Helper()
	s, _ := newTestService(t, Config{Slack: cfg})
	d := &fakeDecider{}
	h, err := s.SlackHandler(d)
	if err != nil {
		t.Fatalf("SlackHandler: %v", err)
	}
	return h, d, s
}

func TestSlackCallbackIsVerifiedBeforeAnythingElse(t *testing.T) {
	f := newFakeServer(t)
	body := formBody(t, clickPayload(actionApprove, "apr_TESTID", "U1", f.URL+"/response"))
	for _, tc := range []struct {
		name     string
		request  func() *http.Request
		wantCode int
	}{
		{name: "a request signed with the signing secret is accepted",
			request: func() *http.Request { return signedRequest(body, testSigningSecret, testNow) }, wantCode: http.StatusOK},
		{name: "a request signed four minutes ago is accepted",
			request:  func() *http.Request { return signedRequest(body, testSigningSecret, testNow.Add(-4*time.Minute)) },
			wantCode: http.StatusOK},
		{name: "a request signed with another secret is refused",
			request: func() *http.Request { return signedRequest(body, "some-other-secret", testNow) }, wantCode: http.StatusUnauthorized},
		{name: "a request signed six minutes ago is refused as a replay",
			request:  func() *http.Request { return signedRequest(body, testSigningSecret, testNow.Add(-6*time.Minute)) },
			wantCode: http.StatusUnauthorized},
		{name: "a request stamped six minutes ahead is refused",
			request:  func() *http.Request { return signedRequest(body, testSigningSecret, testNow.Add(6*time.Minute)) },
			wantCode: http.StatusUnauthorized},
		{name: "a body changed after signing is refused", request: func() *http.Request {
			r := signedRequest(body, testSigningSecret, testNow)
			tampered := bytes.Replace(body, []byte(actionApprove), []byte(actionDeny), 1)
			r.Body, r.ContentLength = httpBody(tampered), int64(len(tampered))
			return r
		}, wantCode: http.StatusUnauthorized},
		{name: "a request without a signature is refused", request: func() *http.Request {
			r := signedRequest(body, testSigningSecret, testNow)
			r.Header.Del("X-Slack-Signature")
			return r
		}, wantCode: http.StatusUnauthorized},
		{name: "a request without a timestamp is refused", request: func() *http.Request {
			r := signedRequest(body, testSigningSecret, testNow)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, wantCode: http.StatusUnauthorized},
		{name: "a signature signed for another timestamp is refused", request: func() *http.Request {
			r := signedRequest(body, testSigningSecret, testNow)
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(testNow.Unix()+1, 10))
			return r
		}, wantCode: http.StatusUnauthorized},
		{name: "a signature of another version is refused", request: func() *http.Request {
			r := signedRequest(body, testSigningSecret, testNow)
			r.Header.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
			return r
		}, wantCode: http.StatusUnauthorized},
		{name: "a GET is refused", request: func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/slack/interactive", nil)
		}, wantCode: http.StatusMethodNotAllowed},
		{name: "a body over 64 KiB is refused unread", request: func() *http.Request {
			big := append(bytes.Clone(body), "&pad="+strings.Repeat("x", maxCallbackBody)...)
			return signedRequest(big, testSigningSecret, testNow)
		}, wantCode: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, d, _ := newCallback(t, botConfig(f))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.request())
			if rec.Code != tc.wantCode {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tc.wantCode, rec.Body)
			}
			wantCalls := 0
			if tc.wantCode == http.StatusOK {
				wantCalls = 1
			}
			if got := len(d.got()); got != wantCalls {
				t.Errorf("Decide called %d times, want %d", got, wantCalls)
			}
		})
	}
}

func TestSlackCallbackDecides(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payload   map[string]any
		approvers []string
		decideErr error
		wantCode  int
		wantCalls []decideCall
		wantText  string
	}{
		{name: "Approve decides once for the clicking user",
			payload: clickPayload(actionApprove, "apr_TESTID", "U1", ""), wantCode: http.StatusOK,
			wantCalls: []decideCall{{id: "apr_TESTID", approve: true, decider: "slack:U1"}},
			wantText:  ":white_check_mark: Approved by <@U1>"},
		{name: "Deny decides once for the clicking user",
			payload: clickPayload(actionDeny, "apr_TESTID", "U2", ""), wantCode: http.StatusOK,
			wantCalls: []decideCall{{id: "apr_TESTID", approve: false, decider: "slack:U2"}},
			wantText:  ":no_entry: Denied by <@U2>"},
		{name: "an approver on the list decides", approvers: []string{"U1"},
			payload: clickPayload(actionApprove, "apr_TESTID", "U1", ""), wantCode: http.StatusOK,
			wantCalls: []decideCall{{id: "apr_TESTID", approve: true, decider: "slack:U1"}},
			wantText:  ":white_check_mark: Approved by <@U1>"},
		{name: "a user off the approvers list decides nothing", approvers: []string{"U1"},
			payload: clickPayload(actionApprove, "apr_TESTID", "U666", ""), wantCode: http.StatusOK,
			wantText: "You are not one of Bridle's approvers: nothing was decided."},
		{name: "a store error is reported to the user without its detail", decideErr: errors.New("redis: 10.0.0.5:6379 down"),
			payload: clickPayload(actionApprove, "apr_TESTID", "U1", ""), wantCode: http.StatusOK,
			wantCalls: []decideCall{{id: "apr_TESTID", approve: true, decider: "slack:U1"}},
			wantText:  "Bridle could not record your decision on apr_TESTID: it may already be decided or expired."},
		{name: "a button that is not ours decides nothing",
			payload: clickPayload("something_else", "apr_TESTID", "U1", ""), wantCode: http.StatusBadRequest},
		{name: "a button value that is not an approval id decides nothing",
			payload: clickPayload(actionApprove, "apr TESTID<>", "U1", ""), wantCode: http.StatusBadRequest},
		{name: "a click without a user decides nothing",
			payload: clickPayload(actionApprove, "apr_TESTID", "", ""), wantCode: http.StatusBadRequest},
		{name: "a payload that is not block_actions decides nothing",
			payload: func() map[string]any {
				p := clickPayload(actionApprove, "apr_TESTID", "U1", "")
				p["type"] = "view_submission"
				return p
			}(), wantCode: http.StatusBadRequest},
		{name: "two clicks in one payload decide nothing",
			payload: func() map[string]any {
				p := clickPayload(actionApprove, "apr_TESTID", "U1", "")
				act := p["actions"].([]any)
				p["actions"] = append(act, act[0])
				return p
			}(), wantCode: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			cfg := botConfig(f)
			cfg.Approvers = tc.approvers
			h, d, _ := newCallback(t, cfg)
			d.err = tc.decideErr
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, signedRequest(formBody(t, tc.payload), testSigningSecret, testNow))
			if rec.Code != tc.wantCode {
				t.Fatalf("status: got %d, want %d (%s)", rec.Code, tc.wantCode, rec.Body)
			}
			if got := d.got(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("Decide calls: got %+v, want %+v", got, tc.wantCalls)
			}
			if tc.wantText != "" {
				if got := decodeJSON(t, rec.Body.Bytes())["text"]; got != tc.wantText {
					t.Errorf("answer text: got %q, want %q", got, tc.wantText)
				}
			}
			if strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Errorf("answer leaks the store's error: %s", rec.Body)
			}
		})
	}
}

func TestSlackCallbackRewritesTheMessage(t *testing.T) {
	for _, tc := range []struct {
		name        string
		webhook     bool   // incoming webhook mode (no bot token)
		responseURL string // "" is the fake's /response
		decided     bool   // the approval flow reports the decision inside Decide, as the lead wires it
		wantPath    string // "" : no request
		wantKeys    []string
	}{
		{name: "with a bot token chat.update rewrites the clicked message",
			wantPath: "/api/chat.update", wantKeys: []string{"blocks", "channel", "text", "ts"}},
		{name: "with an incoming webhook the response_url rewrites it", webhook: true,
			wantPath: "/response", wantKeys: []string{"blocks", "replace_original", "text"}},
		{name: "a response_url outside Slack is not called", webhook: true,
			responseURL: "https://attacker.example/collect"},
		{name: "a decision the approval flow reports meanwhile is not rewritten twice", decided: true,
			wantPath: "/api/chat.update", wantKeys: []string{"blocks", "channel", "text", "ts"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			cfg := botConfig(f)
			if tc.webhook {
				cfg = SlackConfig{WebhookURL: f.URL + "/hook", SigningSecret: testSigningSecret, APIURL: f.URL}
			}
			h, d, s := newCallback(t, cfg)
			if tc.decided {
				s.ApprovalCreated(testApproval())
				f.next(t)
				d.after = func(decideCall) {
					a := testApproval()
					a.State, a.Decider = StateApproved, "slack:U1"
					s.ApprovalDecided(a)
				}
			}
			responseURL := tc.responseURL
			if responseURL == "" {
				responseURL = f.URL + "/response"
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, signedRequest(formBody(t, clickPayload(actionApprove, "apr_TESTID", "U1", responseURL)),
				testSigningSecret, testNow))
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200", rec.Code)
			}
			if tc.wantPath == "" {
				f.none(t, 50*time.Millisecond)
				return
			}
			r := f.next(t)
			if r.path != tc.wantPath {
				t.Fatalf("path: got %s, want %s", r.path, tc.wantPath)
			}
			msg := decodeJSON(t, r.body)
			if got := keys(msg); !slices.Equal(got, tc.wantKeys) {
				t.Errorf("fields: got %v, want %v", got, tc.wantKeys)
			}
			if got := blockTypes(msg); slices.Contains(got, "actions") || !slices.Contains(got, "context") {
				t.Errorf("blocks: got %v, want the buttons replaced by the outcome", got)
			}
			if !slices.Contains(leafStrings(msg), ":white_check_mark: Approved by <@U1>") {
				t.Errorf("outcome missing from %s", r.body)
			}
			f.none(t, 50*time.Millisecond)
		})
	}
}

func TestSlackHandlerNeedsASigningSecret(t *testing.T) {
	f := newFakeServer(t)
	cfg := botConfig(f)
	cfg.SigningSecret = ""
	s, _ := newTestService(t, Config{Slack: cfg})
	if _, err := s.SlackHandler(&fakeDecider{}); err == nil {
		t.Fatal("SlackHandler without a signing secret: got nil error")
	}
	var nilService *Service
	if _, err := nilService.SlackHandler(&fakeDecider{}); err == nil {
		t.Fatal("SlackHandler on a nil Service: got nil error")
	}
}
