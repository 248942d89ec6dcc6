// Package api is Bridle's HTTP API for operators and agents. This build
// serves the probes: /healthz (the process is up) and /readyz (config,
// certificates and Envoy are ready, so traffic can be decided).
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

// Handler returns the API's HTTP handler.
func Handler(r Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := r.Ready(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
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
