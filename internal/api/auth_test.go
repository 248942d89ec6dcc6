package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/audit"
)

type fakeKill struct{ set []string }

// fakeApprovals and fakeActions answer every call with success.
type fakeApprovals struct{}

func (fakeApprovals) List(context.Context, string) ([]Approval, error) { return nil, nil }
func (fakeApprovals) Decide(context.Context, string, bool, string, string) (Approval, error) {
	return Approval{}, nil
}

type fakeActions struct{}

func (fakeActions) Submit(context.Context, string, ActionRequest) (ActionResult, error) {
	return ActionResult{}, nil
}
func (fakeActions) Get(context.Context, string, string) (ActionResult, error) {
	return ActionResult{}, nil
}
func (fakeActions) Execute(context.Context, string, string, string, ActionRequest) (ExecuteResult, error) {
	return ExecuteResult{}, nil
}

// fakeReloader counts reloads.
type fakeReloader struct{ n int }

func (f *fakeReloader) Reload(context.Context, string) error { f.n++; return nil }

func (f *fakeKill) Set(_ context.Context, scope string, on bool, reason, who string) error {
	if !strings.HasPrefix(scope, "all") && !strings.Contains(scope, ":") {
		return ErrBadScope
	}
	f.set = append(f.set, who)
	return nil
}
func (f *fakeKill) List(context.Context) ([]Switch, error) { return nil, nil }

type fakeTraffic struct{ got audit.Filter }

func (f *fakeTraffic) Query(_ context.Context, fl audit.Filter) (audit.Page, error) {
	f.got = fl
	return audit.Page{Records: []audit.Record{{DecisionID: "x", Agent: fl.Agent}}}, nil
}
func (f *fakeTraffic) Follow(ctx context.Context, fl audit.Filter) (audit.Page, error) {
	return f.Query(ctx, fl)
}

func testTokens() *Tokens {
	c := func(tok string, p Principal) Credential {
		return Credential{SHA256: sha256.Sum256([]byte(tok)), Principal: p}
	}
	return NewTokens([]Credential{
		c("agent-tok", Principal{Name: "bot", Agent: true}),
		c("viewer-tok", Principal{Name: "vic", Role: Viewer}),
		c("member-tok", Principal{Name: "mo", Role: Member}),
		c("admin-tok", Principal{Name: "ada", Role: Admin}),
		c("owner-tok", Principal{Name: "own", Role: Owner}),
	})
}

// Every role × endpoint: allowed or denied, with 401 for no or unknown
// tokens.
func TestRolesPerEndpoint(t *testing.T) {
	kill, traffic, reloads := &fakeKill{}, &fakeTraffic{}, &fakeReloader{}
	srv := New(Deps{Ready: readiness{}, KillSwitch: kill, Traffic: traffic, Reloader: reloads,
		Approvals: fakeApprovals{}, Actions: fakeActions{}}, testTokens())
	const action = `{"method":"GET","url":"https://api.github.com/user"}`
	endpoints := []struct {
		method, path, body string
		min                Role // NoRole: agents allowed too
		agentsOnly         bool // operators are refused
		ok                 int  // the status of an allowed call (200 when 0)
	}{
		{"GET", "/api/v1/traffic", "", NoRole, false, 0},
		{"GET", "/api/v1/killswitch", "", Viewer, false, 0},
		{"PUT", "/api/v1/killswitch", `{"scope":"all"}`, Admin, false, 0},
		{"DELETE", "/api/v1/killswitch", `{"scope":"all"}`, Admin, false, 0},
		{"POST", "/api/v1/reload", "", Admin, false, 0},
		{"GET", "/api/v1/approvals", "", NoRole, false, 0},
		{"POST", "/api/v1/approvals/apr_1/approve", `{"note":"ok"}`, Member, false, 0},
		{"POST", "/api/v1/approvals/apr_1/deny", "", Member, false, 0},
		{"POST", "/api/v1/actions", action, NoRole, true, 201},
		{"GET", "/api/v1/actions/act_1", "", NoRole, true, 0},
		{"POST", "/api/v1/actions/act_1/execute", action, NoRole, true, 0},
	}
	callers := []struct {
		token string
		role  Role
		agent bool
	}{{"", NoRole, false}, {"wrong", NoRole, false}, {"agent-tok", NoRole, true}, {"viewer-tok", Viewer, false},
		{"member-tok", Member, false}, {"admin-tok", Admin, false}, {"owner-tok", Owner, false}}
	for _, e := range endpoints {
		for _, c := range callers {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(e.method, e.path, strings.NewReader(e.body))
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			req.Header.Set("X-Bridle-Decision-Token", "tok")
			srv.ServeHTTP(rec, req)
			want := cmp.Or(e.ok, 200)
			switch {
			case c.token == "" || c.token == "wrong":
				want = 401
			case c.agent && e.min != NoRole:
				want = 403
			case !c.agent && e.agentsOnly:
				want = 403
			case !c.agent && c.role < max(e.min, Viewer):
				want = 403
			}
			if rec.Code != want {
				t.Errorf("%s %s as %q: %d, want %d (%s)", e.method, e.path, c.token, rec.Code, want, rec.Body)
			}
		}
	}
	if reloads.n != 2 { // admin and owner
		t.Errorf("%d reloads, want 2: only admins and owners may reload", reloads.n)
	}
	if len(kill.set) == 0 || !strings.HasPrefix(kill.set[0], "admin:ada") {
		t.Errorf("kill switch changes not attributed to the authenticated operator: %v", kill.set)
	}
}

func TestTrafficIsScopedForAgents(t *testing.T) {
	traffic := &fakeTraffic{}
	srv := New(Deps{Ready: readiness{}, Traffic: traffic}, testTokens())
	get := func(token, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		srv.ServeHTTP(rec, req)
		return rec
	}
	if rec := get("agent-tok", "/api/v1/traffic"); rec.Code != 200 || traffic.got.Agent != "bot" {
		t.Errorf("agent filter %q (%d)", traffic.got.Agent, rec.Code)
	}
	if rec := get("agent-tok", "/api/v1/traffic?agent=other"); rec.Code != 403 {
		t.Errorf("agent asking for another: %d", rec.Code)
	}
	if rec := get("viewer-tok", "/api/v1/traffic?agent=other&decision=deny&since=15m"); rec.Code != 200 || traffic.got.Agent != "other" || traffic.got.Decision != "deny" || traffic.got.Since.IsZero() {
		t.Errorf("operator filter %+v (%d)", traffic.got, rec.Code)
	}
	for _, bad := range []string{"?limit=0", "?since=yesterday", "?bogus=1", "?decision=require_approval", "?decision=ALLOW"} {
		if rec := get("viewer-tok", "/api/v1/traffic"+bad); rec.Code != 400 {
			t.Errorf("%s: %d, want 400", bad, rec.Code)
		}
	}
	rec := get("viewer-tok", "/api/v1/traffic")
	var body map[string]any
	if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["records"] == nil {
		t.Errorf("body %s", rec.Body)
	}
}

func TestKillSwitchRequestValidation(t *testing.T) {
	srv := New(Deps{Ready: readiness{}, KillSwitch: &fakeKill{}}, testTokens())
	for _, body := range []string{`{}`, `{"scope":"all","extra":1}`, `{"scope":"nonsense"}`, `not json`, `{"scope":"all"} {}`} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/api/v1/killswitch", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer admin-tok")
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, rec.Code, rec.Body)
		}
	}
}

// failingKill fails every Set with err.
type failingKill struct{ err error }

func (f failingKill) Set(context.Context, string, bool, string, string) error { return f.err }
func (f failingKill) List(context.Context) ([]Switch, error)                  { return nil, nil }

// A store error says the outcome is unknown (503); a change that took
// effect but was not saved says exactly that (500).
func TestKillSwitchStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		says string
	}{
		{errors.New("redis: i/o timeout"), http.StatusServiceUnavailable, "outcome unknown"},
		{fmt.Errorf("%w: disk full", ErrNotKept), http.StatusInternalServerError, "took effect but will not survive a restart"},
	} {
		srv := New(Deps{Ready: readiness{}, KillSwitch: failingKill{tc.err}}, testTokens())
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/api/v1/killswitch", strings.NewReader(`{"scope":"all"}`))
		req.Header.Set("Authorization", "Bearer admin-tok")
		srv.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.says) {
			t.Errorf("%v: %d %s; want %d saying %q", tc.err, rec.Code, rec.Body, tc.code, tc.says)
		}
	}
}

// Malformed, missing and extra fields on the decide and execute endpoints
// are 400s that say what is wrong; nothing reaches the store.
func TestDecideAndExecuteRefuseBadInput(t *testing.T) {
	srv := New(Deps{Ready: readiness{}, Approvals: fakeApprovals{}, Actions: fakeActions{}}, testTokens())
	long := `{"note":"` + strings.Repeat("x", 501) + `"}`
	tests := []struct {
		name, token, path, body string
		hdr                     map[string]string
		want                    string // in the error
	}{
		{"approve: unknown field", "member-tok", "/api/v1/approvals/apr_1/approve", `{"nte":"typo"}`, nil, `unknown field \"nte\"`},
		{"deny: note of the wrong type", "member-tok", "/api/v1/approvals/apr_1/deny", `{"note":5}`, nil, "note"},
		{"approve: note too long", "member-tok", "/api/v1/approvals/apr_1/approve", long, nil, "note: at most 500 characters"},
		{"approve: not JSON", "member-tok", "/api/v1/approvals/apr_1/approve", `note=ok`, nil, "invalid"},
		{"execute: no token", "agent-tok", "/api/v1/actions/act_1/execute", `{"method":"GET","url":"https://a.example/"}`, map[string]string{}, "X-Bridle-Decision-Token: required"},
		{"execute: unknown field", "agent-tok", "/api/v1/actions/act_1/execute", `{"method":"GET","url":"https://a.example/","bdy":""}`, nil, `unknown field \"bdy\"`},
		{"execute: missing method and url", "agent-tok", "/api/v1/actions/act_1/execute", `{}`, nil, `"method":"required"`},
		{"execute: bad url", "agent-tok", "/api/v1/actions/act_1/execute", `{"method":"GET","url":"ftp://a.example/"}`, nil, "want an absolute http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+tt.token)
			if tt.hdr == nil {
				req.Header.Set("X-Bridle-Decision-Token", "tok")
			}
			srv.ServeHTTP(rec, req)
			if rec.Code != 400 || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%d %s, want 400 with %q", rec.Code, rec.Body, tt.want)
			}
		})
	}
}
