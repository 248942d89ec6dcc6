// Package api is Bridle's HTTP API for operators and agents: the probes
// (/healthz: the process is up; /readyz: config, certificates, Envoy and the
// state store are ready), /metrics, and /api/v1. Every /api/v1 call
// authenticates with a bearer token: agents with their own token (and see
// only their own records), operators with a role token.
package api

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"
)

// Readiness reports why the gateway cannot yet serve, or nil.
type Readiness interface {
	Ready() error
}

// Deps are the parts of the gateway the API reads and changes.
type Deps struct {
	Ready      Readiness
	KillSwitch KillSwitches
	Traffic    TrafficLog
	Metrics    http.Handler // serves /metrics; nil: none
	Reloader   Reloader     // nil: no POST /api/v1/reload
	Approvals  Approvals    // nil: no /api/v1/approvals
	Actions    Actions      // nil: no /api/v1/actions
	// SlackInteractive receives Slack's button callbacks. It is not behind
	// bearer auth: Slack's request signature is its authentication.
	SlackInteractive http.Handler
}

// Reloader reloads the config; the error lists every problem (each
// file:line) when the new config was refused.
type Reloader interface {
	Reload(ctx context.Context, why string) error
}

// Server is the API. Swap replaces the tokens on reload.
type Server struct {
	mux  *http.ServeMux
	auth atomic.Pointer[Tokens]
}

type apiServer = Server

// New builds the API with the given credentials.
func New(d Deps, tokens *Tokens) *Server {
	s := &Server{mux: http.NewServeMux()}
	s.auth.Store(tokens)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := d.Ready.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if d.Metrics != nil {
		s.mux.Handle("GET /metrics", d.Metrics)
	}
	if d.KillSwitch != nil {
		ks := killSwitchHandler{d.KillSwitch}
		s.mux.Handle("GET /api/v1/killswitch", s.operator(Viewer, ks.list))
		s.mux.Handle("PUT /api/v1/killswitch", s.operator(Admin, ks.set(true)))
		s.mux.Handle("DELETE /api/v1/killswitch", s.operator(Admin, ks.set(false)))
	}
	if d.Reloader != nil {
		s.mux.Handle("POST /api/v1/reload", s.operator(Admin, func(w http.ResponseWriter, r *http.Request, p Principal) {
			if err := d.Reloader.Reload(r.Context(), "API by "+p.String()); err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "config refused; the previous config keeps running", "errors": errorLines(err)})
				return
			}
			writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		}))
	}
	if d.Approvals != nil {
		ah := approvalsHandler{d.Approvals}
		s.mux.Handle("GET /api/v1/approvals", s.anyone(Viewer, ah.list))
		s.mux.Handle("POST /api/v1/approvals/{id}/approve", s.operator(Member, ah.decide(true)))
		s.mux.Handle("POST /api/v1/approvals/{id}/deny", s.operator(Member, ah.decide(false)))
	}
	if d.Actions != nil {
		xh := actionsHandler{d.Actions}
		s.mux.Handle("POST /api/v1/actions", s.anyone(Viewer, xh.submit))
		s.mux.Handle("GET /api/v1/actions/{id}", s.anyone(Viewer, xh.get))
		s.mux.Handle("POST /api/v1/actions/{id}/execute", s.anyone(Viewer, xh.execute))
	}
	if d.SlackInteractive != nil {
		s.mux.Handle("POST /slack/interactive", d.SlackInteractive)
	}
	if d.Traffic != nil {
		s.mux.Handle("GET /api/v1/traffic", s.anyone(Viewer, trafficHandler{d.Traffic}.list))
	}
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// SwapTokens installs new credentials (config reload).
func (s *Server) SwapTokens(t *Tokens) { s.auth.Store(t) }

func (s *Server) tokens() *Tokens { return s.auth.Load() }

// NewServer wraps h with the timeouts every listener of Bridle's carries:
// a client that trickles headers or never reads is cut off.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorLines flattens errors.Join trees into one message per line.
func errorLines(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
