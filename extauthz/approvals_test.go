package extauthz

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeApprovals scripts an approval store.
type fakeApprovals struct {
	mu        sync.Mutex
	consumeOK []bool // answers of successive Consume calls (default false)
	lookup    string // "", denied, expired
	waitState string // returned by Wait; "" blocks until ctx ends
	err       error
	created   int
	waited    chan struct{}
}

// approvedAt is when the fake store's approvals were given.
var approvedAt = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

func (f *fakeApprovals) Consume(context.Context, string, string) (Grant, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Grant{}, false, f.err
	}
	if len(f.consumeOK) == 0 {
		return Grant{}, false, nil
	}
	ok := f.consumeOK[0]
	f.consumeOK = f.consumeOK[1:]
	if !ok {
		return Grant{}, false, nil
	}
	return Grant{Approver: "member:mo", ApprovedAt: approvedAt}, true, nil
}

func (f *fakeApprovals) Lookup(context.Context, string, string) (string, bool, error) {
	if f.err != nil {
		return "", false, f.err
	}
	return f.lookup, f.lookup != "", nil
}

func (f *fakeApprovals) Create(context.Context, ApprovalRequest) (string, error) {
	f.mu.Lock()
	f.created++
	f.mu.Unlock()
	return "apr_test", nil
}

func (f *fakeApprovals) Wait(ctx context.Context, _ string) (string, error) {
	if f.waited != nil {
		f.waited <- struct{}{}
	}
	if f.waitState != "" {
		return f.waitState, nil
	}
	<-ctx.Done()
	return "pending", ctx.Err()
}

// fakeTokens answers with err: from Check unless it is one only the
// nonce's use can give (replayed, store down), then from that use. used counts
// the nonces spent.
type fakeTokens struct {
	err  error
	used *int
}

func (f fakeTokens) Check(string, string, string) (func(context.Context) error, error) {
	if !errors.Is(f.err, ErrTokenReplayed) && !errors.Is(f.err, ErrStore) && f.err != nil {
		return nil, f.err
	}
	return func(context.Context) error {
		if f.used != nil {
			*f.used++
		}
		return f.err
	}, nil
}
func (f fakeTokens) Identify(string) (string, error) { return "", errors.New("not a credential") }

func mergeRequest(extra map[string]string) checkCase {
	h := inTunnel(map[string]string{partialBodyHeader: "false", "content-type": "application/json"})
	for k, v := range extra {
		h[k] = v
	}
	return checkCase{phase: "request", ctx: gh, method: "PUT", host: "api.github.com", sni: "api.github.com", headers: h}
}

func runMerge(t *testing.T, s *Server, extra map[string]string) (*Server, func() (int, string, string)) {
	t.Helper()
	s.Swap(testSnapshot())
	return s, func() (int, string, string) {
		req := checkRequest(mergeRequest(extra))
		req.Attributes.Request.Http.Path = "/repos/acme/api/pulls/1/merge"
		req.Attributes.Request.Http.RawBody = []byte(`{}`)
		resp, _ := s.Check(t.Context(), req)
		if resp.GetOkResponse() != nil {
			return 0, "", ""
		}
		d := resp.GetDeniedResponse()
		md := resp.GetDynamicMetadata().GetFields()
		return int(d.GetStatus().GetCode()), md["reason"].GetStringValue(), headerValue(d.GetHeaders(), "x-bridle-approval-id")
	}
}

func TestRequireApproval(t *testing.T) {
	storeDown := errors.New("redis down")
	cases := []struct {
		name      string
		approvals *fakeApprovals
		tokens    TokenChecker
		headers   map[string]string
		status    int
		reason    string
		approval  string
		approver  string // in the audit record of an allowed action
	}{
		{"a valid decision token lets the action through once", &fakeApprovals{}, fakeTokens{}, map[string]string{headerDecisionToken: "jwt"}, 0, "", "", "decision-token"},
		{"a replayed decision token is refused", &fakeApprovals{}, fakeTokens{err: ErrTokenReplayed}, map[string]string{headerDecisionToken: "jwt"}, 403, "token_replayed", "", ""},
		{"a forged decision token is refused", &fakeApprovals{}, fakeTokens{err: errors.New("bad signature")}, map[string]string{headerDecisionToken: "jwt"}, 403, "token_invalid", "", ""},
		{"a token check without the nonce store is a 503", &fakeApprovals{}, fakeTokens{err: ErrStore}, map[string]string{headerDecisionToken: "jwt"}, 503, "store_unavailable", "", ""},
		{"an approval given earlier is used once", &fakeApprovals{lookup: "approved", consumeOK: []bool{true}}, nil, nil, 0, "", "", "member:mo"},
		{"an approval another request took first", &fakeApprovals{lookup: "approved", consumeOK: []bool{false}}, nil, nil, 429, "approval_pending", "", ""},
		{"a denied approval is refused", &fakeApprovals{lookup: "denied"}, nil, nil, 403, "approval_denied", "", ""},
		{"an expired approval is a timeout", &fakeApprovals{lookup: "expired"}, nil, nil, 408, "approval_timeout", "", ""},
		{"approved during the hold goes through", &fakeApprovals{consumeOK: []bool{true}, waitState: "approved"}, nil, nil, 0, "", "", "member:mo"},
		{"denied during the hold is refused", &fakeApprovals{waitState: "denied"}, nil, nil, 403, "approval_denied", "apr_test", ""},
		{"expired during the hold is a timeout", &fakeApprovals{waitState: "expired"}, nil, nil, 408, "approval_timeout", "apr_test", ""},
		{"undecided at the end of the hold is pending", &fakeApprovals{}, nil, nil, 429, "approval_pending", "apr_test", ""},
		{"a store that fails denies with 503", &fakeApprovals{err: storeDown}, nil, nil, 503, "store_unavailable", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Recorder: rec, Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{},
				Approvals: tc.approvals, Tokens: tc.tokens, Hold: 50 * time.Millisecond})
			_, check := runMerge(t, s, tc.headers)
			status, reason, approval := check()
			if status != tc.status || reason != tc.reason || approval != tc.approval {
				t.Errorf("got %d %q %q, want %d %q %q", status, reason, approval, tc.status, tc.reason, tc.approval)
			}
			if len(rec.got) != 1 {
				t.Fatalf("%d audit records, want 1", len(rec.got))
			}
			r := rec.got[0]
			wantAt := time.Time{}
			if tc.approver == "member:mo" {
				wantAt = approvedAt
			}
			if r.Approver != tc.approver || !r.ApprovedAt.Equal(wantAt) {
				t.Errorf("audit record approver %q at %v, want %q at %v", r.Approver, r.ApprovedAt, tc.approver, wantAt)
			}
		})
	}
}

// Holds are bounded per replica: past the bound a request is answered
// 429 too_many_holds at once instead of piling up.
func TestTooManyHolds(t *testing.T) {
	fa := &fakeApprovals{waited: make(chan struct{}, 1)}
	s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{},
		Approvals: fa, Hold: 2 * time.Second, MaxHolds: 1})
	_, check := runMerge(t, s, nil)
	done := make(chan struct{})
	go func() { check(); close(done) }()
	<-fa.waited // the first request is held
	if status, reason, _ := check(); status != 429 || reason != "too_many_holds" {
		t.Errorf("second request: %d %q", status, reason)
	}
	<-done
}

// The 429 approval_pending answer tells the agent when to retry.
func TestPendingCarriesRetryAfter(t *testing.T) {
	s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{},
		Approvals: &fakeApprovals{}, Hold: 10 * time.Millisecond})
	s.Swap(testSnapshot())
	req := checkRequest(mergeRequest(nil))
	req.Attributes.Request.Http.Path = "/repos/acme/api/pulls/1/merge"
	req.Attributes.Request.Http.RawBody = []byte(`{}`)
	resp, _ := s.Check(t.Context(), req)
	if got := headerValue(resp.GetDeniedResponse().GetHeaders(), "retry-after"); got == "" || got == "0" {
		t.Errorf("Retry-After %q", got)
	}
}

// recordingMetrics keeps the store operations timed.
type recordingMetrics struct {
	noMetrics
	mu  sync.Mutex
	ops []string
}

func (m *recordingMetrics) StoreCall(op string, _ time.Duration) {
	m.mu.Lock()
	m.ops = append(m.ops, op)
	m.mu.Unlock()
}

// Every state store call on the decision path is timed under its
// operation: the kill switch and rate limit of every forwarded request,
// the approval lookups and the decision token's nonce.
func TestStoreCallsAreTimed(t *testing.T) {
	tests := []struct {
		name      string
		approvals *fakeApprovals
		headers   map[string]string
		want      []string
	}{
		{"an approval used", &fakeApprovals{lookup: "approved", consumeOK: []bool{true}}, nil,
			[]string{StoreKillSwitch, StoreApproval, StoreRateLimit, StoreApproval}},
		{"a decision token used", &fakeApprovals{}, map[string]string{headerDecisionToken: "jwt"},
			[]string{StoreKillSwitch, StoreRateLimit, StoreNonce}},
		{"a recent denial", &fakeApprovals{lookup: "denied"}, nil,
			[]string{StoreKillSwitch, StoreApproval}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &recordingMetrics{}
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{},
				Approvals: tt.approvals, Tokens: fakeTokens{}, Metrics: m, Hold: 50 * time.Millisecond})
			_, check := runMerge(t, s, tt.headers)
			check()
			if !slices.Equal(m.ops, tt.want) {
				t.Errorf("timed %v, want %v", m.ops, tt.want)
			}
		})
	}
}

// A retry refused by the rate limit, or by a limiter that fails, keeps its
// approval or decision token for the next retry: nothing is spent before
// the limiter admits the request.
func TestRateLimitedRetryKeepsItsGrant(t *testing.T) {
	limited := &RateVerdict{Allowed: false, RetryAfter: time.Second}
	tests := []struct {
		name    string
		verdict *RateVerdict
		err     error
		status  int
		reason  string
	}{
		{"rate limited", limited, nil, 429, "rate_limited"},
		{"limiter down", nil, errors.New("redis down"), 503, "store_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name+", approval", func(t *testing.T) {
			ap := &fakeApprovals{lookup: "approved", consumeOK: []bool{true}}
			lim := &fakeLimiter{verdict: tt.verdict, err: tt.err}
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: lim, KillSwitch: &fakeKill{}, Approvals: ap, Hold: 50 * time.Millisecond})
			_, check := runMerge(t, s, nil)
			if status, reason, _ := check(); status != tt.status || reason != tt.reason {
				t.Fatalf("got %d %s, want %d %s", status, reason, tt.status, tt.reason)
			}
			if len(ap.consumeOK) != 1 {
				t.Error("the approval was spent on a request the limiter refused")
			}
			lim.verdict, lim.err = nil, nil // the window moved on
			if status, _, _ := check(); status != 0 {
				t.Errorf("the retry after the limit: %d, want it let through with the kept approval", status)
			}
		})
		t.Run(tt.name+", decision token", func(t *testing.T) {
			used := 0
			lim := &fakeLimiter{verdict: tt.verdict, err: tt.err}
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: lim, KillSwitch: &fakeKill{},
				Approvals: &fakeApprovals{}, Tokens: fakeTokens{used: &used}, Hold: 50 * time.Millisecond})
			_, check := runMerge(t, s, map[string]string{headerDecisionToken: "jwt"})
			if status, reason, _ := check(); status != tt.status || reason != tt.reason || used != 0 {
				t.Errorf("got %d %s with %d nonce(s) used, want %d %s and none", status, reason, used, tt.status, tt.reason)
			}
		})
	}
}

// identifyingTokens accepts one decision token, for the demo agent.
type identifyingTokens struct {
	fakeTokens
	token string
}

func (f identifyingTokens) Identify(tok string) (string, error) {
	if tok != f.token {
		return "", errors.New("not a token of ours")
	}
	return "demo", nil
}

// A decision token presented as the proxy credential authenticates its
// agent for its own action only: each request on that connection must
// carry the same token, which it spends, even where the policy allows the
// action outright. A leaked token is not a general credential.
func TestDecisionTokenCredentialCoversOneAction(t *testing.T) {
	const tok = "header.payload.signature"
	used := 0
	s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{},
		Approvals: &fakeApprovals{}, Tokens: identifyingTokens{fakeTokens{used: &used}, tok}})
	s.Swap(testSnapshot())
	resp, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443",
		headers: map[string]string{"proxy-authorization": "Bearer " + tok}}))
	tunnel := resp.GetDynamicMetadata().GetFields()[metadataAgentID].GetStringValue()
	if resp.GetOkResponse() == nil || tunnel != "demo#d:"+fingerprint(tok) {
		t.Fatalf("CONNECT with a decision token: ok=%v, carried %q", resp.GetOkResponse() != nil, tunnel)
	}
	tests := []struct {
		name   string
		token  string // x-bridle-decision-token on the request
		status int
		reason string
	}{
		{"without the token", "", 403, "token_invalid"},
		{"with another token", "header.payload.other", 403, "token_invalid"},
		{"with the token", tok, 0, ""},
	}
	for _, tt := range tests {
		h := inTunnel(map[string]string{headerAgentID: tunnel})
		if tt.token != "" {
			h[headerDecisionToken] = tt.token
		}
		resp, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: h}))
		status := int(resp.GetDeniedResponse().GetStatus().GetCode())
		if reason := resp.GetDynamicMetadata().GetFields()["reason"].GetStringValue(); status != tt.status || reason != tt.reason {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, reason, tt.status, tt.reason)
		}
	}
	if used != 1 {
		t.Errorf("%d nonce(s) spent, want 1: an allowed action still spends the token", used)
	}
}
