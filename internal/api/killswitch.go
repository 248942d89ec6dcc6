package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Switch is one kill switch scope's last change.
type Switch struct {
	Scope  string    `json:"scope"`
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	Who    string    `json:"who,omitempty"`
	At     time.Time `json:"at"`
}

// KillSwitches stores kill switches (shared by every replica).
// ErrInvalidScope-style errors from Set must wrap ErrBadScope.
type KillSwitches interface {
	Set(ctx context.Context, scope string, on bool, reason, who string) error
	List(ctx context.Context) ([]Switch, error)
}

// ErrBadScope marks a scope that is none of all, agent:NAME, connector:NAME.
var ErrBadScope = errors.New("invalid kill switch scope")

// ErrNotKept marks a change that took effect but will not survive a restart
// of the gateway (the embedded Redis could not save it).
var ErrNotKept = errors.New("kill switch not kept across restarts")

type killSwitchHandler struct{ k KillSwitches }

func (h killSwitchHandler) list(w http.ResponseWriter, r *http.Request, _ Principal) {
	switches, err := h.k.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state store unavailable: "+err.Error())
		return
	}
	if switches == nil {
		switches = []Switch{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"switches": switches})
}

// killSwitchRequest is the body of PUT and DELETE.
type killSwitchRequest struct {
	Scope  string `json:"scope"`
	Reason string `json:"reason"`
	Who    string `json:"who"`
}

func (h killSwitchHandler) set(on bool) authFunc {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		var req killSwitchRequest
		if err := decodeStrict(r.Body, &req); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if req.Scope == "" {
			writeError(w, http.StatusBadRequest, `scope: required ("all", "agent:NAME" or "connector:NAME")`)
			return
		}
		if len(req.Reason) > 500 || len(req.Who) > 100 {
			writeError(w, http.StatusBadRequest, "reason (500) or who (100) too long")
			return
		}
		// The record names the authenticated operator; a "who" the client
		// sends is kept beside it, never instead of it.
		who := p.String()
		if req.Who != "" {
			who += " (" + req.Who + ")"
		}
		if err := h.k.Set(r.Context(), req.Scope, on, req.Reason, who); err != nil {
			if errors.Is(err, ErrBadScope) {
				writeError(w, http.StatusBadRequest, "scope: "+err.Error())
				return
			}
			if errors.Is(err, ErrNotKept) {
				writeError(w, http.StatusInternalServerError, "the change took effect but will not survive a restart: "+err.Error())
				return
			}
			// The store may or may not have applied it: say so.
			writeError(w, http.StatusServiceUnavailable, "state store unavailable, outcome unknown (check GET /api/v1/killswitch): "+err.Error())
			return
		}
		writeJSON(w, http.StatusOK, Switch{Scope: req.Scope, On: on, Reason: req.Reason, Who: who, At: time.Now().UTC()})
	}
}

// decodeStrict reads one JSON object: unknown fields and trailing data are
// errors that name what was wrong.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return errors.New("body: trailing data after the JSON object")
	}
	return nil
}
