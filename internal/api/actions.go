package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// ActionRequest is an HTTP request an agent wants to make, submitted for a
// decision before it is sent (DESIGN §3 "HTTP API").
type ActionRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// ActionResult is the decision on an action request, and its state.
type ActionResult struct {
	ID         string `json:"id"`
	Action     string `json:"action"`
	Decision   string `json:"decision"` // allow | deny | require_approval
	Reason     string `json:"reason,omitempty"`
	Rule       string `json:"rule,omitempty"`
	State      string `json:"state"` // decided | pending | approved | denied | expired | executed
	ApprovalID string `json:"approval_id,omitempty"`
	// Token is the one-time decision token, returned once: with an allow,
	// or on the first GET after approval.
	Token string `json:"token,omitempty"`
}

// ExecuteResult is the upstream's answer to an executed action.
type ExecuteResult struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// Actions decides, stores and executes action requests for agents.
// Errors wrap ErrBadRequest (with a message naming the field), ErrNotFound
// or ErrForbidden where they apply.
type Actions interface {
	Submit(ctx context.Context, agent string, r ActionRequest) (ActionResult, error)
	Get(ctx context.Context, agent, id string) (ActionResult, error)
	// Execute sends the request again: it must be the request that was
	// decided (bodies are never stored), and the token must be valid.
	Execute(ctx context.Context, agent, id, token string, r ActionRequest) (ExecuteResult, error)
}

// More errors an Actions implementation wraps.
var (
	ErrBadRequest = errors.New("bad request")
	ErrForbidden  = errors.New("forbidden")
)

type actionsHandler struct{ a Actions }

func agentOnly(w http.ResponseWriter, p Principal) bool {
	if !p.Agent {
		writeError(w, http.StatusForbidden, "actions are submitted by agents with their own token")
		return false
	}
	return true
}

// submit answers POST /api/v1/actions.
func (h actionsHandler) submit(w http.ResponseWriter, r *http.Request, p Principal) {
	if !agentOnly(w, p) {
		return
	}
	var req ActionRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if problems := validateAction(req); len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid action request", "fields": problems})
		return
	}
	res, err := h.a.Submit(r.Context(), p.Name, req)
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// validateAction names every missing or malformed field.
func validateAction(r ActionRequest) map[string]string {
	problems := map[string]string{}
	switch r.Method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
	case "":
		problems["method"] = "required"
	default:
		problems["method"] = "want GET, HEAD, POST, PUT, PATCH or DELETE"
	}
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		problems["url"] = "required"
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "":
		problems["url"] = "want an absolute http(s) URL without user info or fragment"
	}
	for k := range r.Headers {
		lk := strings.ToLower(k)
		if lk == "host" || lk == "content-length" || strings.HasPrefix(lk, "x-bridle-") || strings.HasPrefix(lk, ":") {
			problems["headers."+k] = "set by Bridle, not by the request"
		}
	}
	if len(r.Body) > 1<<20 {
		problems["body"] = "larger than 1 MiB"
	}
	return problems
}

// get answers GET /api/v1/actions/{id}.
func (h actionsHandler) get(w http.ResponseWriter, r *http.Request, p Principal) {
	if !agentOnly(w, p) {
		return
	}
	res, err := h.a.Get(r.Context(), p.Name, r.PathValue("id"))
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// execute answers POST /api/v1/actions/{id}/execute with the token in
// X-Bridle-Decision-Token.
func (h actionsHandler) execute(w http.ResponseWriter, r *http.Request, p Principal) {
	if !agentOnly(w, p) {
		return
	}
	tok := r.Header.Get("X-Bridle-Decision-Token")
	if tok == "" {
		writeError(w, http.StatusBadRequest, "X-Bridle-Decision-Token: required")
		return
	}
	var req ActionRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "body: the action request that was submitted: "+err.Error())
		return
	}
	if problems := validateAction(req); len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid action request", "fields": problems})
		return
	}
	res, err := h.a.Execute(r.Context(), p.Name, r.PathValue("id"), tok, req)
	if err != nil {
		writeActionError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeActionError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrBadRequest):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
}
