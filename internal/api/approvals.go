package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// Approval is one request for a human decision, as the API shows it.
type Approval struct {
	ID        string    `json:"id"`
	Agent     string    `json:"agent"`
	Connector string    `json:"connector"`
	Action    string    `json:"action"`
	State     string    `json:"state"`
	Rule      string    `json:"rule,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Decider   string    `json:"decider,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Approvals lists and decides approvals (shared by every replica).
// Decide errors wrap ErrNotFound or ErrConflict where they apply.
type Approvals interface {
	List(ctx context.Context, state string) ([]Approval, error)
	Decide(ctx context.Context, id string, approve bool, decider, note string) (Approval, error)
}

// Errors an Approvals implementation wraps.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

type approvalsHandler struct{ a Approvals }

// list answers GET /api/v1/approvals?state=pending; agents see their own.
func (h approvalsHandler) list(w http.ResponseWriter, r *http.Request, p Principal) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", "pending", "approved", "denied", "expired", "used":
	default:
		writeError(w, http.StatusBadRequest, "state: want pending, approved, denied, expired or used")
		return
	}
	list, err := h.a.List(r.Context(), state)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state store unavailable: "+err.Error())
		return
	}
	out := []Approval{}
	for _, a := range list {
		if !p.Agent || a.Agent == p.Name {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
}

type decideRequest struct {
	Note string `json:"note"`
}

// decide answers POST /api/v1/approvals/{id}/approve|deny (members and up).
func (h approvalsHandler) decide(approve bool) authFunc {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		var req decideRequest
		if r.ContentLength != 0 {
			if err := decodeStrict(r.Body, &req); err != nil && !errors.Is(err, io.EOF) {
				writeError(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		if len(req.Note) > 500 {
			writeError(w, http.StatusBadRequest, "note: at most 500 characters")
			return
		}
		a, err := h.a.Decide(r.Context(), r.PathValue("id"), approve, p.String(), req.Note)
		switch {
		case errors.Is(err, ErrNotFound):
			writeError(w, http.StatusNotFound, err.Error())
		case errors.Is(err, ErrConflict):
			writeError(w, http.StatusConflict, err.Error())
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "state store unavailable: "+err.Error())
		default:
			writeJSON(w, http.StatusOK, a)
		}
	}
}
