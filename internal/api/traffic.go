package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bridle-gw/bridle/internal/audit"
)

// TrafficLog is the decision record store.
type TrafficLog interface {
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
	Follow(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// TrafficRecord is one decision as the API shows it: metadata only.
type TrafficRecord struct {
	Time       time.Time `json:"time"`
	DecisionID string    `json:"decision_id"`
	Phase      string    `json:"phase"`
	Agent      string    `json:"agent"`
	Connector  string    `json:"connector,omitempty"`
	Action     string    `json:"action,omitempty"`
	Decision   string    `json:"decision"`
	Reason     string    `json:"reason,omitempty"`
	Rule       string    `json:"rule,omitempty"`
	Method     string    `json:"method"`
	Host       string    `json:"host"`
	Path       string    `json:"path"` // sensitive query values redacted
	// The only request headers kept.
	ContentType string `json:"content_type,omitempty"`
	UserAgent   string `json:"user_agent,omitempty"`
	// From Envoy's access log, once joined: the upstream's status, the
	// request's duration and body bytes each way.
	Status        int     `json:"status,omitempty"`
	DurationMS    float64 `json:"duration_ms,omitempty"`
	BytesReceived int64   `json:"bytes_received,omitempty"`
	BytesSent     int64   `json:"bytes_sent,omitempty"`
	// Who approved a require_approval action, and when.
	Approver   string    `json:"approver,omitempty"`
	ApprovedAt time.Time `json:"approved_at,omitzero"`
}

type trafficHandler struct{ log TrafficLog }

// list answers GET /api/v1/traffic?agent=&connector=&action=&decision=
// &since=&until=&limit=&cursor=&follow=1. Agents see only their own records,
// whatever they ask for.
func (h trafficHandler) list(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "agent", "connector", "action", "decision", "since", "until", "limit", "cursor", "follow":
		default:
			writeError(w, http.StatusBadRequest, "unknown parameter "+strconv.Quote(k))
			return
		}
	}
	switch d := q.Get("decision"); d {
	case "", audit.DecisionAllow, audit.DecisionDeny:
	default:
		// A held or approval-pending request is a deny until it is let
		// through; a filter that can match nothing is a mistake to report.
		writeError(w, http.StatusBadRequest, "decision: want allow or deny, not "+strconv.Quote(d))
		return
	}
	f := audit.Filter{Agent: q.Get("agent"), Connector: q.Get("connector"), Action: q.Get("action"), Decision: q.Get("decision"), Cursor: q.Get("cursor")}
	if p.Agent {
		if f.Agent != "" && f.Agent != p.Name {
			writeError(w, http.StatusForbidden, "agents see only their own traffic")
			return
		}
		f.Agent = p.Name
	}
	var err error
	if f.Since, err = parseTime(q.Get("since")); err != nil {
		writeError(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	if f.Until, err = parseTime(q.Get("until")); err != nil {
		writeError(w, http.StatusBadRequest, "until: "+err.Error())
		return
	}
	if l := q.Get("limit"); l != "" {
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 {
			writeError(w, http.StatusBadRequest, "limit: want a positive integer")
			return
		}
	}
	query := h.log.Query
	if q.Get("follow") == "1" {
		f.Settle = 3 * time.Second // wait briefly for Envoy's status and latency
		query = h.log.Follow
	}
	page, err := query(r.Context(), f)
	if errors.Is(err, audit.ErrInvalidCursor) {
		writeError(w, http.StatusBadRequest, "cursor: "+err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "audit log unavailable: "+err.Error())
		return
	}
	out := make([]TrafficRecord, len(page.Records))
	for i, rec := range page.Records {
		out[i] = TrafficRecord{Time: rec.Time, DecisionID: rec.DecisionID, Phase: rec.Phase, Agent: rec.Agent,
			Connector: rec.Connector, Action: rec.Action, Decision: rec.Decision, Reason: rec.Reason, Rule: rec.Rule,
			Method: rec.Method, Host: rec.Host, Path: rec.Path, ContentType: rec.ContentType, UserAgent: rec.UserAgent,
			Status: rec.Status, DurationMS: float64(rec.Duration.Microseconds()) / 1000,
			BytesReceived: rec.BytesReceived, BytesSent: rec.BytesSent, Approver: rec.Approver, ApprovedAt: rec.ApprovedAt}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": out, "next_cursor": page.NextCursor})
}

// parseTime accepts RFC 3339 or a duration ago ("15m").
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("want RFC 3339 (2026-01-02T15:04:05Z) or a duration ago (15m)")
	}
	return t, nil
}
