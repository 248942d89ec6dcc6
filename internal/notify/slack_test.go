package notify

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func botConfig(f *fakeServer) SlackConfig {
	return SlackConfig{BotToken: testBotToken, Channel: "C0APPROVALS", SigningSecret: testSigningSecret, APIURL: f.URL + "/api"}
}

func TestSlackRequestCarriesOnlyTheApprovalFacts(t *testing.T) {
	fields := []string{"*Action*\ngithub.pr.merge", "*Agent*\ncoder", "*Connector*\ngh", "*Approval*\napr_TESTID",
		"*Expires*\n<!date^1760000300^{date_short_pretty} {time}|2025-10-09 08:58 UTC>"}
	buttons := []string{"actions", "bridle_approval",
		"button", "plain_text", "Approve", "bridle_approve", "apr_TESTID", "primary",
		"button", "plain_text", "Deny", "bridle_deny", "apr_TESTID", "danger"}
	for _, tc := range []struct {
		name       string
		slack      func(f *fakeServer) SlackConfig
		noTarget   bool
		wantPath   string
		wantAuth   string
		wantKeys   []string
		wantButton bool
	}{
		{name: "a bot token posts to the channel with Approve and Deny buttons", slack: botConfig,
			wantPath: "/api/chat.postMessage", wantAuth: "Bearer " + testBotToken,
			wantKeys: []string{"blocks", "channel", "text"}, wantButton: true},
		{name: "an incoming webhook posts the same message and buttons without a channel",
			slack: func(f *fakeServer) SlackConfig {
				return SlackConfig{WebhookURL: f.URL + "/hook", SigningSecret: testSigningSecret}
			},
			wantPath: "/hook", wantKeys: []string{"blocks", "text"}, wantButton: true},
		{name: "without a signing secret the message has no buttons",
			slack: func(f *fakeServer) SlackConfig {
				c := botConfig(f)
				c.SigningSecret = ""
				return c
			},
			wantPath: "/api/chat.postMessage", wantAuth: "Bearer " + testBotToken, wantKeys: []string{"blocks", "channel", "text"}},
		{name: "an approval without a target shows no target", slack: botConfig, noTarget: true,
			wantPath: "/api/chat.postMessage", wantAuth: "Bearer " + testBotToken,
			wantKeys: []string{"blocks", "channel", "text"}, wantButton: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			s, _ := newTestService(t, Config{Slack: tc.slack(f)})
			a := testApproval()
			if tc.noTarget {
				a.Target = ""
			}
			s.ApprovalCreated(a)
			r := f.next(t)
			if r.path != tc.wantPath {
				t.Fatalf("path: got %s, want %s", r.path, tc.wantPath)
			}
			if got := r.header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization: got %q, want %q", got, tc.wantAuth)
			}
			msg := decodeJSON(t, r.body)
			if got := keys(msg); !slices.Equal(got, tc.wantKeys) {
				t.Errorf("top-level fields: got %v, want %v", got, tc.wantKeys)
			}
			want := []string{"Approval needed: github.pr.merge by coder",
				"header", "plain_text", "Bridle approval request", "section"}
			for _, fld := range fields {
				want = append(want, "mrkdwn", fld)
			}
			if !tc.noTarget {
				want = append(want, "mrkdwn", "*Target*\nocto/app")
			}
			if tc.wantButton {
				want = append(want, buttons...)
			}
			if _, ok := msg["channel"]; ok {
				want = append(want, "C0APPROVALS")
			}
			slices.Sort(want)
			if got := leafStrings(msg); !slices.Equal(got, want) {
				t.Errorf("every string in the message:\n got %q\nwant %q", got, want)
			}
			for _, secret := range []string{testBotToken, testSigningSecret, "xoxb-"} {
				if bytes.Contains(r.body, []byte(secret)) {
					t.Errorf("message carries a secret %q", secret)
				}
			}
		})
	}
}

func TestSlackTextMakesAgentChosenValuesInert(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"a plain value is kept", "octo/app", "octo/app"},
		{"a channel mention is escaped", "<!channel> look", "&lt;!channel&gt; look"},
		{"a link is escaped", "<https://evil.example|click>", "&lt;https://evil.example|click&gt;"},
		{"an ampersand is escaped", "a&b", "a&amp;b"},
		{"a newline cannot start a line of its own", "x\n*Approved by* admin", "x *Approved by* admin"},
		{"a long value is clipped", strings.Repeat("é", 300), strings.Repeat("é", maxFieldRunes-1) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mrkdwn(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSlackMessageIsRewrittenOnceAfterADecision(t *testing.T) {
	decided := func(state, decider string) Approval {
		a := testApproval()
		a.State, a.Decider, a.DecidedAt = state, decider, testNow.Add(time.Minute)
		return a
	}
	for _, tc := range []struct {
		name        string
		holdPost    bool // the post is still in flight when the decision comes
		decisions   []Approval
		wantOutcome string
	}{
		{name: "an approval made in Slack names the user", decisions: []Approval{decided(StateApproved, "slack:U1")},
			wantOutcome: ":white_check_mark: Approved by <@U1>"},
		{name: "a denial by an operator names the operator", decisions: []Approval{decided(StateDenied, "operator:bob")},
			wantOutcome: ":no_entry: Denied by operator:bob"},
		{name: "an expiry says no one decided", decisions: []Approval{decided(StateExpired, "")},
			wantOutcome: ":hourglass: Expired without a decision"},
		{name: "a decision made while the post is in flight is applied once it lands", holdPost: true,
			decisions: []Approval{decided(StateApproved, "slack:U1")}, wantOutcome: ":white_check_mark: Approved by <@U1>"},
		{name: "a decision reported twice rewrites the message once",
			decisions:   []Approval{decided(StateDenied, "slack:U2"), decided(StateDenied, "slack:U2")},
			wantOutcome: ":no_entry: Denied by <@U2>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			release := make(chan struct{})
			if tc.holdPost {
				f.setRespond(func(r recorded, _ int) (int, string) {
					if r.path == "/api/chat.postMessage" {
						<-release
					}
					return http.StatusOK, `{"ok":true,"channel":"C9","ts":"1760000000.000100"}`
				})
			} else {
				close(release)
			}
			s, _ := newTestService(t, Config{Slack: botConfig(f)})
			s.ApprovalCreated(testApproval())
			if !tc.holdPost {
				f.next(t) // the post
			}
			for _, a := range tc.decisions {
				s.ApprovalDecided(a)
			}
			if tc.holdPost {
				close(release)
				f.next(t)
			}
			r := f.next(t)
			if r.path != "/api/chat.update" {
				t.Fatalf("path: got %s, want /api/chat.update", r.path)
			}
			msg := decodeJSON(t, r.body)
			if msg["ts"] != "1760000000.000100" || msg["channel"] == "" {
				t.Errorf("update targets channel %v ts %v, want the posted message", msg["channel"], msg["ts"])
			}
			if got, want := blockTypes(msg), []string{"header", "section", "context"}; !slices.Equal(got, want) {
				t.Errorf("blocks: got %v, want %v (no buttons)", got, want)
			}
			if got := leafStrings(msg); !slices.Contains(got, tc.wantOutcome) {
				t.Errorf("outcome %q missing from %q", tc.wantOutcome, got)
			}
			f.none(t, 50*time.Millisecond)
		})
	}
}

func TestSlackIncomingWebhookCannotRewriteADecisionMadeElsewhere(t *testing.T) {
	f := newFakeServer(t)
	s, _ := newTestService(t, Config{Slack: SlackConfig{WebhookURL: f.URL + "/hook"}})
	s.ApprovalCreated(testApproval())
	f.next(t)
	a := testApproval()
	a.State, a.Decider = StateApproved, "operator:bob"
	s.ApprovalDecided(a)
	f.none(t, 50*time.Millisecond)
}

func TestSlackAPIFailures(t *testing.T) {
	for _, tc := range []struct {
		name         string
		answers      []string // Web API answers in turn; then ok
		status       int      // HTTP status of the first answer
		wantRequests int
		want         DeliveryStats
	}{
		{name: "channel_not_found is not retried", answers: []string{`{"ok":false,"error":"channel_not_found"}`},
			wantRequests: 1, want: DeliveryStats{Failed: 1}},
		{name: "invalid_auth is not retried", answers: []string{`{"ok":false,"error":"invalid_auth"}`},
			wantRequests: 1, want: DeliveryStats{Failed: 1}},
		{name: "ratelimited is retried", answers: []string{`{"ok":false,"error":"ratelimited"}`},
			wantRequests: 2, want: DeliveryStats{Delivered: 1}},
		{name: "an HTTP 429 is retried", status: http.StatusTooManyRequests, answers: []string{`{"ok":false}`},
			wantRequests: 2, want: DeliveryStats{Delivered: 1}},
		{name: "an answer that is not JSON is retried", answers: []string{`<html>`},
			wantRequests: 2, want: DeliveryStats{Delivered: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			f.setRespond(func(_ recorded, n int) (int, string) {
				if n <= len(tc.answers) {
					return cmpInt(tc.status, http.StatusOK), tc.answers[n-1]
				}
				return http.StatusOK, `{"ok":true,"channel":"C1","ts":"1.2"}`
			})
			s, _ := newTestService(t, Config{Slack: botConfig(f)})
			s.ApprovalCreated(testApproval())
			waitFor(t, "the delivery to end", func() bool {
				st := s.Stats().Slack
				return st.Delivered+st.Failed > 0
			})
			for range tc.wantRequests {
				f.next(t)
			}
			f.none(t, 50*time.Millisecond)
			if got := s.Stats().Slack; got != tc.want {
				t.Errorf("stats: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func cmpInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
