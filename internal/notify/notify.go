package notify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Approval states, spelled as the approval store spells them.
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateExpired  = "expired"
)

// Approval is what notify needs to know about an approval; the approval
// flow adapts its own record to it. It has no field for a request body,
// a credential or a policy rule on purpose: what is not here cannot leak.
type Approval struct {
	ID        string
	Agent     string
	Connector string
	Action    string // action type, e.g. github.pr.merge
	Target    string // resource the action names (e.g. a repository); may be empty
	State     string // one of the State constants
	Decider   string // who decided: "slack:U123", an operator name…; empty while pending
	CreatedAt time.Time
	DecidedAt time.Time // zero: taken as the time of the ApprovalDecided call
	ExpiresAt time.Time
}

// Notifier is told about approvals by the approval flow. Implementations
// must not block the caller and must be safe for concurrent use.
type Notifier interface {
	// ApprovalCreated is called once for each newly created approval (not
	// for a retry that found an existing one).
	ApprovalCreated(a Approval)
	// ApprovalDecided is called once for each approval that was approved,
	// denied or expired, whatever decided it (API, CLI, Slack, expiry).
	ApprovalDecided(a Approval)
}

// Decider records a human's decision; the Slack callback calls it. decider
// is "slack:<Slack user id>". It returns an error when the approval is
// unknown, no longer pending, or the store fails. It must be safe for
// concurrent use and should return within a second or two: Slack gives up
// on a callback after three seconds.
type Decider interface {
	Decide(ctx context.Context, approvalID string, approve bool, decider, note string) error
}

// Config configures notifications. Slack, WebhookURL, WebhookSecret and
// WebhookDecisions are what bridle.yaml exposes under approvals:; Delivery
// and Logger are for wiring and tests.
type Config struct {
	Slack SlackConfig
	// WebhookURL receives the signed JSON events; https, or http to a
	// loopback address only.
	WebhookURL string
	// WebhookSecret keys the HMAC of X-Bridle-Signature; at least 16 bytes.
	// Required with WebhookURL: an unsigned webhook could be forged by
	// anyone who can reach the receiver.
	WebhookSecret string
	// WebhookDecisions also sends an EventDecision for every policy
	// decision passed to Service.Decision.
	WebhookDecisions bool
	Delivery         Delivery
	Logger           *slog.Logger // nil discards
}

// Delivery tunes the outbound queues (one for Slack, one for webhooks).
// Zero fields take the defaults in parentheses.
type Delivery struct {
	QueueSize   int           // deliveries waiting, per destination (256)
	Workers     int           // deliveries in flight, per destination (2)
	MaxAttempts int           // attempts per delivery (5)
	BaseBackoff time.Duration // wait after the first failure, doubling (1s)
	MaxBackoff  time.Duration // cap on the wait (16s)
	Timeout     time.Duration // per HTTP attempt (10s)
}

func (d Delivery) withDefaults() Delivery {
	def := func(v *int, x int) {
		if *v <= 0 {
			*v = x
		}
	}
	defDur := func(v *time.Duration, x time.Duration) {
		if *v <= 0 {
			*v = x
		}
	}
	def(&d.QueueSize, 256)
	def(&d.Workers, 2)
	def(&d.MaxAttempts, 5)
	defDur(&d.BaseBackoff, time.Second)
	defDur(&d.MaxBackoff, 16*time.Second)
	defDur(&d.Timeout, 10*time.Second)
	return d
}

// Stats counts deliveries per destination since New.
type Stats struct {
	Slack, Webhooks DeliveryStats
}

// DeliveryStats counts the outcomes of deliveries to one destination.
type DeliveryStats struct {
	Delivered uint64 // accepted by the receiver
	Failed    uint64 // refused (4xx), or retries exhausted, or cut off by Close
	Dropped   uint64 // never attempted: the queue was full or closed
}

// Service sends Slack messages and webhooks and serves Slack's callbacks.
// Its methods are safe for concurrent use, and a nil *Service does
// nothing, so the approval flow can hold one unconditionally.
type Service struct {
	slack *slackClient // nil: Slack not configured
	hooks *webhooks    // nil: no webhook_url
}

var _ Notifier = (*Service)(nil)

// New checks cfg and starts the delivery workers of what it configures.
// Every problem is reported together. Close stops the workers.
func New(cfg Config) (*Service, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := cfg.Delivery.withDefaults()
	var errs []error
	sc, err := newSlackClient(cfg.Slack, d, log)
	errs = append(errs, err)
	wh, err := newWebhooks(cfg.WebhookURL, cfg.WebhookSecret, cfg.WebhookDecisions, d, log)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		// Stop whichever half did start.
		for _, o := range []*outbox{sc.outbox(), wh.outbox()} {
			if o != nil {
				_ = o.close(context.Background())
			}
		}
		return nil, fmt.Errorf("approvals notifications: %w", err)
	}
	return &Service{slack: sc, hooks: wh}, nil
}

// Enabled reports whether anything is notified (Slack or a webhook).
func (s *Service) Enabled() bool { return s != nil && (s.slack != nil || s.hooks != nil) }

// ApprovalCreated posts the approval to Slack and sends an
// approval.created webhook. It returns at once.
func (s *Service) ApprovalCreated(a Approval) {
	if s == nil {
		return
	}
	s.slack.created(a)
	s.hooks.approvalCreated(a)
}

// ApprovalDecided rewrites the Slack message when it can and sends an
// approval.approved, .denied or .expired webhook. It returns at once.
func (s *Service) ApprovalDecided(a Approval) {
	if s == nil {
		return
	}
	s.slack.decided(a)
	s.hooks.approvalDecided(a)
}

// Decision sends an EventDecision webhook for one policy decision ("allow",
// "deny", "require_approval") when WebhookDecisions is set; ev.Event is
// overwritten and a zero ev.Time is now. It returns at once.
func (s *Service) Decision(ev Event) {
	if s == nil || s.hooks == nil || !s.hooks.decisions {
		return
	}
	ev.Event = EventDecision
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s.hooks.send(ev)
}

// SlackHandler returns the handler for the Slack app's Interactivity
// Request URL (POST). It calls d for each verified Approve or Deny click.
// It fails when no Slack signing secret is configured.
func (s *Service) SlackHandler(d Decider) (http.Handler, error) {
	if s == nil || s.slack == nil || len(s.slack.signingSecret) == 0 {
		return nil, errors.New("slack handler: no slack.signing_secret configured")
	}
	if d == nil {
		return nil, errors.New("slack handler: nil Decider")
	}
	return &slackHandler{c: s.slack, decider: d}, nil
}

// Stats returns the delivery counters.
func (s *Service) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	return Stats{Slack: s.slack.outbox().stats(), Webhooks: s.hooks.outbox().stats()}
}

// Close stops taking deliveries and waits for the queued ones until ctx
// ends; then it abandons the rest (counted as failed or dropped) and
// returns ctx's error.
func (s *Service) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	// Both drain at once, under the one deadline.
	errs := make(chan error, 2)
	for _, o := range []*outbox{s.slack.outbox(), s.hooks.outbox()} {
		go func() {
			if o == nil {
				errs <- nil
				return
			}
			errs <- o.close(ctx)
		}()
	}
	return cmp.Or(<-errs, <-errs)
}
