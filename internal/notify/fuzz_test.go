package notify

import (
	"bytes"
	"crypto/hmac"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzSlackCallback feeds the Slack handler arbitrary bodies, timestamps
// and signatures (the seeds are in testdata/fuzz/FuzzSlackCallback). When
// sign is true the input is signed correctly, so the parser behind the
// verifier is reached too. It must never panic, never call Decide more
// than once, and never call it — nor answer 200 — for a request whose
// signature is not the signing secret's.
func FuzzSlackCallback(f *testing.F) {
	f.Add([]byte("payload=%7B%7D"), "1760000000", "", true)
	s, err := New(Config{Slack: SlackConfig{BotToken: testBotToken, Channel: "C1", SigningSecret: testSigningSecret,
		APIURL: "http://127.0.0.1:1/api"}})
	if err != nil {
		f.Fatal(err)
	}
	// Closed at once: a fuzzed response_url must not make us send anything.
	if err := s.Close(f.Context()); err != nil {
		f.Fatal(err)
	}
	c := *s.slack
	c.now = func() time.Time { return testNow }
	f.Fuzz(func(t *testing.T, body []byte, ts, sig string, sign bool) {
		valid := slackSign(testSigningSecret, ts, body)
		if sign {
			sig = valid
		}
		d := &fakeDecider{}
		h := &slackHandler{c: &c, decider: d}
		r := httptest.NewRequest(http.MethodPost, "/slack/interactive", bytes.NewReader(body))
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		calls := len(d.got())
		signed := hmac.Equal([]byte(sig), []byte(valid))
		switch {
		case calls > 1:
			t.Fatalf("Decide called %d times for one request", calls)
		case !signed && calls > 0:
			t.Fatalf("Decide called for a request not signed with the secret")
		case !signed && rec.Code == http.StatusOK:
			t.Fatalf("an unsigned request got 200")
		case calls == 1 && rec.Code != http.StatusOK:
			t.Fatalf("Decide called but answered %d", rec.Code)
		}
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("unexpected status %d", rec.Code)
		}
	})
}
