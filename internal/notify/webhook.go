package notify

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Webhook event names (Event.Event and the X-Bridle-Event header).
const (
	EventApprovalCreated  = "approval.created"
	EventApprovalApproved = "approval.approved"
	EventApprovalDenied   = "approval.denied"
	EventApprovalExpired  = "approval.expired"
	EventDecision         = "decision" // a policy decision; only with WebhookDecisions
)

// Webhook request headers.
const (
	SignatureHeader = "X-Bridle-Signature"
	EventHeader     = "X-Bridle-Event"
	DeliveryHeader  = "X-Bridle-Delivery"
)

// SignatureTolerance is how far a signature's t may be from the receiver's
// clock; older deliveries are refused as replays.
const SignatureTolerance = 5 * time.Minute

// minWebhookSecret is the shortest webhook secret accepted: the HMAC is
// only as strong as a secret nobody can guess.
const minWebhookSecret = 16

// ErrSignature is wrapped by every error of Verify.
var ErrSignature = errors.New("invalid webhook signature")

// Event is the JSON body of a webhook. These seven fields are all a
// receiver ever gets: no body, credential or policy detail.
type Event struct {
	Event      string    `json:"event"`
	ApprovalID string    `json:"approval_id,omitempty"` // empty for EventDecision
	Action     string    `json:"action"`
	Decision   string    `json:"decision"` // require_approval, approved, denied, expired; allow, deny for EventDecision
	Agent      string    `json:"agent"`
	Connector  string    `json:"connector"`
	Time       time.Time `json:"time"`
}

// Sign returns the X-Bridle-Signature value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC([]byte(secret), ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks an X-Bridle-Signature header against the raw body a
// receiver got: some v1 must be the HMAC of "<t>.<body>" under secret
// (several v1 values are allowed, for a secret being rotated), compared in
// constant time, and t within SignatureTolerance of now.
func Verify(secret, header string, body []byte, now time.Time) error {
	if header == "" {
		return fmt.Errorf("%w: no %s header", ErrSignature, SignatureHeader)
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				sigs = append(sigs, sig)
			}
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: no valid t", ErrSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no valid v1", ErrSignature)
	}
	if skew := now.Unix() - t; skew > int64(SignatureTolerance/time.Second) || -skew > int64(SignatureTolerance/time.Second) {
		return fmt.Errorf("%w: t is %d s away from now", ErrSignature, skew)
	}
	want := webhookMAC([]byte(secret), ts, body)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 matches", ErrSignature)
}

// webhooks delivers Events to one URL.
type webhooks struct {
	url       string
	secret    []byte
	decisions bool
	client    *http.Client
	out       *outbox
	now       func() time.Time
}

func newWebhooks(rawURL, secret string, decisions bool, d Delivery, log *slog.Logger) (*webhooks, error) {
	if rawURL == "" {
		if secret != "" || decisions {
			return nil, errors.New("webhook_secret and webhook_decisions need webhook_url")
		}
		return nil, nil
	}
	var errs []error
	if _, err := checkURL(rawURL); err != nil {
		errs = append(errs, fmt.Errorf("webhook_url: %w", err))
	}
	if len(secret) < minWebhookSecret {
		errs = append(errs, fmt.Errorf("webhook_secret: required with webhook_url, at least %d bytes", minWebhookSecret))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &webhooks{
		url: rawURL, secret: []byte(secret), decisions: decisions,
		client: newHTTPClient(d.Timeout), out: newOutbox("webhook", log, d), now: time.Now,
	}, nil
}

func (w *webhooks) outbox() *outbox {
	if w == nil {
		return nil
	}
	return w.out
}

func (w *webhooks) approvalCreated(a Approval) {
	if w == nil {
		return
	}
	w.send(Event{Event: EventApprovalCreated, ApprovalID: a.ID, Action: a.Action, Decision: "require_approval",
		Agent: a.Agent, Connector: a.Connector, Time: cmpTime(a.CreatedAt, w.now())})
}

func (w *webhooks) approvalDecided(a Approval) {
	if w == nil {
		return
	}
	var name string
	switch a.State {
	case StateApproved:
		name = EventApprovalApproved
	case StateDenied:
		name = EventApprovalDenied
	case StateExpired:
		name = EventApprovalExpired
	default:
		w.out.log.Warn("approval decided with an unknown state: no webhook", logFieldApprovalID, a.ID, "state", a.State)
		return
	}
	w.send(Event{Event: name, ApprovalID: a.ID, Action: a.Action, Decision: a.State,
		Agent: a.Agent, Connector: a.Connector, Time: cmpTime(a.DecidedAt, w.now())})
}

// send queues ev; it never blocks. A nil *webhooks does nothing.
func (w *webhooks) send(ev Event) {
	if w == nil {
		return
	}
	ev.Time = ev.Time.UTC().Truncate(time.Millisecond)
	body, err := json.Marshal(ev)
	if err != nil {
		w.out.log.Error("webhook event not encodable", logFieldWhat, ev.Event, logFieldError, err.Error())
		return
	}
	id := "dlv_" + rand.Text() // same on every attempt: receivers dedupe on it
	w.out.enqueue(job{
		what:  ev.Event,
		attrs: []any{logFieldApprovalID, ev.ApprovalID, "delivery_id", id},
		send: func(ctx context.Context) error {
			h := http.Header{}
			h.Set(EventHeader, ev.Event)
			h.Set(DeliveryHeader, id)
			// Signed per attempt, so a retry carries a fresh t.
			h.Set(SignatureHeader, Sign(string(w.secret), w.now(), body))
			_, err := postJSON(ctx, w.client, w.url, h, body)
			return err
		},
	})
}

// cmpTime returns t, or def when t is zero.
func cmpTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}
