package notify

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func webhookConfig(f *fakeServer) Config {
	return Config{WebhookURL: f.URL + "/hook", WebhookSecret: testWebhookSecret}
}

func TestWebhookCarriesOnlyTheEventFields(t *testing.T) {
	decided := func(state string) Approval {
		a := testApproval()
		a.State, a.Decider, a.DecidedAt = state, "slack:U1", testNow.Add(time.Minute)
		return a
	}
	for _, tc := range []struct {
		name         string
		notify       func(s *Service)
		wantEvent    string
		wantDecision string
		wantTime     string
	}{
		{name: "a new approval sends approval.created", notify: func(s *Service) { s.ApprovalCreated(testApproval()) },
			wantEvent: EventApprovalCreated, wantDecision: "require_approval", wantTime: "2025-10-09T08:53:20Z"},
		{name: "an approval sends approval.approved", notify: func(s *Service) { s.ApprovalDecided(decided(StateApproved)) },
			wantEvent: EventApprovalApproved, wantDecision: "approved", wantTime: "2025-10-09T08:54:20Z"},
		{name: "a denial sends approval.denied", notify: func(s *Service) { s.ApprovalDecided(decided(StateDenied)) },
			wantEvent: EventApprovalDenied, wantDecision: "denied", wantTime: "2025-10-09T08:54:20Z"},
		{name: "an expiry sends approval.expired", notify: func(s *Service) { s.ApprovalDecided(decided(StateExpired)) },
			wantEvent: EventApprovalExpired, wantDecision: "expired", wantTime: "2025-10-09T08:54:20Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			s, _ := newTestService(t, webhookConfig(f))
			tc.notify(s)
			r := f.next(t)
			got := decodeJSON(t, r.body)
			want := map[string]any{"event": tc.wantEvent, "approval_id": "apr_TESTID", "action": "github.pr.merge",
				"decision": tc.wantDecision, "agent": "coder", "connector": "gh", "time": tc.wantTime}
			if !slices.Equal(keys(got), keys(want)) || !slices.Equal(leafStrings(got), leafStrings(want)) {
				t.Errorf("body: got %v, want %v", got, want)
			}
			if err := Verify(testWebhookSecret, r.header.Get(SignatureHeader), r.body, testNow); err != nil {
				t.Errorf("Verify of what the receiver got: %v", err)
			}
			if r.header.Get(EventHeader) != tc.wantEvent || !strings.HasPrefix(r.header.Get(DeliveryHeader), "dlv_") {
				t.Errorf("headers: %s %q, %s %q", EventHeader, r.header.Get(EventHeader), DeliveryHeader, r.header.Get(DeliveryHeader))
			}
			if bytes.Contains(r.body, []byte(testWebhookSecret)) || bytes.Contains(r.body, []byte("octo/app")) {
				t.Errorf("body carries more than the event fields: %s", r.body)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"approval.created"}`)
	valid := Sign(testWebhookSecret, testNow, body)
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{name: "a signature made with the secret verifies", header: valid, body: body, now: testNow, ok: true},
		{name: "a signature four minutes old verifies", header: valid, body: body, now: testNow.Add(4 * time.Minute), ok: true},
		{name: "one matching v1 among several verifies (secret rotation)",
			header: Sign("the-old-secret-0123456789", testNow, body) + ",v1=" + strings.SplitN(valid, "v1=", 2)[1],
			body:   body, now: testNow, ok: true},
		{name: "a signature made with another secret fails", header: Sign("another-secret-0123456789", testNow, body),
			body: body, now: testNow},
		{name: "a signature six minutes old fails as a replay", header: valid, body: body, now: testNow.Add(6 * time.Minute)},
		{name: "a signature from six minutes ahead fails", header: valid, body: body, now: testNow.Add(-6 * time.Minute)},
		{name: "a tampered body fails", header: valid, body: []byte(`{"event":"approval.approved"}`), now: testNow},
		{name: "a missing header fails", header: "", body: body, now: testNow},
		{name: "a header without t fails", header: valid[strings.Index(valid, "v1="):], body: body, now: testNow},
		{name: "a header without v1 fails", header: valid[:strings.Index(valid, ",")], body: body, now: testNow},
		{name: "a v1 that is not hex fails", header: "t=1760000000,v1=zz", body: body, now: testNow},
		{name: "a t moved to another second fails",
			header: strings.Replace(valid, "t=1760000000", "t=1760000001", 1), body: body, now: testNow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(testWebhookSecret, tc.header, tc.body, tc.now)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if !tc.ok && !errors.Is(err, ErrSignature) {
				t.Fatalf("got %v, want ErrSignature", err)
			}
		})
	}
}

func TestWebhookRetries(t *testing.T) {
	for _, tc := range []struct {
		name         string
		statuses     []int // answers in turn; then 200
		wantRequests int
		want         DeliveryStats
	}{
		{name: "a 500 is retried until it succeeds", statuses: []int{500, 500}, wantRequests: 3, want: DeliveryStats{Delivered: 1}},
		{name: "a 400 is not retried", statuses: []int{400}, wantRequests: 1, want: DeliveryStats{Failed: 1}},
		{name: "a 404 is not retried", statuses: []int{404}, wantRequests: 1, want: DeliveryStats{Failed: 1}},
		{name: "a redirect is not followed or retried", statuses: []int{302}, wantRequests: 1, want: DeliveryStats{Failed: 1}},
		{name: "a 408 is retried", statuses: []int{408}, wantRequests: 2, want: DeliveryStats{Delivered: 1}},
		{name: "a 429 is retried", statuses: []int{429}, wantRequests: 2, want: DeliveryStats{Delivered: 1}},
		{name: "a 503 on every attempt fails after five", statuses: []int{503, 503, 503, 503, 503, 503},
			wantRequests: 5, want: DeliveryStats{Failed: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			f.setRespond(func(_ recorded, n int) (int, string) {
				if n <= len(tc.statuses) {
					return tc.statuses[n-1], "no"
				}
				return http.StatusOK, "ok"
			})
			s, _ := newTestService(t, webhookConfig(f))
			s.ApprovalCreated(testApproval())
			var ids []string
			for range tc.wantRequests {
				r := f.next(t)
				ids = append(ids, r.header.Get(DeliveryHeader))
				if err := Verify(testWebhookSecret, r.header.Get(SignatureHeader), r.body, testNow); err != nil {
					t.Errorf("attempt %d: %v", len(ids), err)
				}
			}
			waitFor(t, "the delivery to end", func() bool {
				st := s.Stats().Webhooks
				return st.Delivered+st.Failed > 0
			})
			f.none(t, 50*time.Millisecond)
			if got := s.Stats().Webhooks; got != tc.want {
				t.Errorf("stats: got %+v, want %+v", got, tc.want)
			}
			if len(slices.Compact(slices.Clone(ids))) != 1 {
				t.Errorf("delivery ids across attempts: got %v, want one id", ids)
			}
		})
	}
}

func TestWebhookFailuresNeverLogTheURL(t *testing.T) {
	f := newFakeServer(t)
	url := f.URL + "/hooks/T000/B000/secret-path-token"
	f.Close() // every attempt is a network error
	s, logs := newTestService(t, Config{WebhookURL: url, WebhookSecret: testWebhookSecret})
	s.ApprovalCreated(testApproval())
	waitFor(t, "the delivery to fail", func() bool { return s.Stats().Webhooks.Failed == 1 })
	if out := logs.String(); strings.Contains(out, "secret-path-token") || !strings.Contains(out, "notification failed") {
		t.Errorf("logs: want the failure without the URL, got:\n%s", out)
	}
}

func TestWebhookQueueDropsWhenFullAndNeverBlocks(t *testing.T) {
	f := newFakeServer(t)
	release := make(chan struct{})
	f.setRespond(func(recorded, int) (int, string) { <-release; return http.StatusOK, "ok" })
	cfg := webhookConfig(f)
	cfg.Delivery = Delivery{QueueSize: 2, Workers: 1, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Timeout: 5 * time.Second}
	s, logs := newTestService(t, cfg)
	s.ApprovalCreated(testApproval()) // taken by the one worker, which then waits on the receiver
	waitFor(t, "the first delivery to be in flight", func() bool { return len(s.hooks.out.q) == 0 })
	start := time.Now()
	for range 9 {
		s.ApprovalCreated(testApproval())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("notifying with a full queue took %v: it must not block", took)
	}
	if got := s.Stats().Webhooks.Dropped; got != 7 {
		t.Errorf("dropped: got %d, want 7 (1 in flight, 2 queued)", got)
	}
	if n := strings.Count(logs.String(), "notification dropped"); n != 1 {
		t.Errorf("drop log lines: got %d, want 1 (rate-limited)", n)
	}
	close(release)
	waitFor(t, "the queued deliveries", func() bool { return s.Stats().Webhooks.Delivered == 3 })
}

func TestCloseDrainsTheQueue(t *testing.T) {
	f := newFakeServer(t)
	f.setRespond(func(_ recorded, n int) (int, string) {
		time.Sleep(10 * time.Millisecond)
		if n == 1 {
			return http.StatusInternalServerError, "retry me"
		}
		return http.StatusOK, "ok"
	})
	s, _ := newTestService(t, webhookConfig(f))
	for range 5 {
		s.ApprovalCreated(testApproval())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := s.Stats().Webhooks, (DeliveryStats{Delivered: 5}); got != want {
		t.Errorf("after Close: got %+v, want %+v", got, want)
	}
	s.ApprovalCreated(testApproval())
	if got := s.Stats().Webhooks.Dropped; got != 1 {
		t.Errorf("a notification after Close: dropped %d, want 1", got)
	}
}

func TestCloseGivesUpAtItsDeadline(t *testing.T) {
	f := newFakeServer(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	f.setRespond(func(recorded, int) (int, string) { <-stuck; return http.StatusOK, "ok" })
	cfg := webhookConfig(f)
	cfg.Delivery = Delivery{Workers: 1, Timeout: time.Minute}
	s, _ := newTestService(t, cfg)
	for range 3 {
		s.ApprovalCreated(testApproval())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: got %v, want context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v after its deadline", took)
	}
	if st := s.Stats().Webhooks; st.Failed+st.Dropped != 3 || st.Delivered != 0 {
		t.Errorf("after Close: got %+v, want all 3 abandoned", st)
	}
}

func TestDecisionEventsAreSentOnlyWhenAskedFor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		decisions bool
	}{
		{name: "with webhook_decisions a decision is sent", decisions: true},
		{name: "without webhook_decisions a decision is not sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer(t)
			cfg := webhookConfig(f)
			cfg.WebhookDecisions = tc.decisions
			s, _ := newTestService(t, cfg)
			s.Decision(Event{Event: "ignored", Action: "github.repo.get", Decision: "allow", Agent: "coder", Connector: "gh", Time: testNow})
			if !tc.decisions {
				f.none(t, 50*time.Millisecond)
				return
			}
			got := decodeJSON(t, f.next(t).body)
			want := []string{"event", "action", "decision", "agent", "connector", "time"}
			slices.Sort(want)
			if !slices.Equal(keys(got), want) || got["event"] != EventDecision || got["decision"] != "allow" {
				t.Errorf("body: got %v", got)
			}
		})
	}
}

func TestANilServiceDoesNothing(t *testing.T) {
	var s *Service
	s.ApprovalCreated(testApproval())
	s.ApprovalDecided(testApproval())
	s.Decision(Event{})
	if s.Stats() != (Stats{}) || s.Close(t.Context()) != nil {
		t.Error("a nil Service must report nothing and close cleanly")
	}
}
