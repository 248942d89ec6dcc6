// Package api is Bridle's HTTP API for operators and agents: the probes
// (/healthz: the process is up; /readyz: config, certificates, Envoy and the
// state store are ready) and /api/v1. Until operator roles exist, the
// operator endpoints answer loopback clients only.
package api

import (
	"encoding/json"
	"net/http"
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
}

// Handler returns the API's HTTP handler.
func Handler(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := d.Ready.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	if d.KillSwitch != nil {
		ks := killSwitchHandler{d.KillSwitch}
		mux.Handle("GET /api/v1/killswitch", operator(ks.list))
		mux.Handle("PUT /api/v1/killswitch", operator(ks.set(true)))
		mux.Handle("DELETE /api/v1/killswitch", operator(ks.set(false)))
	}
	return mux
}

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
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
