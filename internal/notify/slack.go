package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SlackConfig is approvals.slack in bridle.yaml. Set BotToken with Channel,
// or WebhookURL (see the package doc for what each allows).
type SlackConfig struct {
	// BotToken (bot_token) is a bot token (xoxb-…) with chat:write;
	// messages go to Channel through chat.postMessage and are updated with
	// chat.update after a decision.
	BotToken string
	// Channel (channel) is the channel id, e.g. C0123456789.
	Channel string
	// WebhookURL (webhook_url) is an incoming webhook URL. It is a secret:
	// anyone holding it can post to the channel.
	WebhookURL string
	// SigningSecret (signing_secret) is the Slack app's signing secret,
	// which verifies button callbacks. Empty: messages carry no buttons.
	SigningSecret string
	// Approvers (approvers) are the Slack user ids allowed to decide;
	// empty lets anyone who can see the message decide.
	Approvers []string
	// APIURL (api_url) is the Web API base, https://slack.com/api/ by
	// default; a local fake in tests.
	APIURL string
}

const (
	defaultSlackAPI = "https://slack.com/api/"
	// slackHooksOrigin is where Slack's response_url values point.
	slackHooksOrigin = "https://hooks.slack.com"
	// trackedMessagesMax bounds the messages remembered for chat.update.
	trackedMessagesMax = 10000
)

// slackRetryable are Web API error codes (HTTP 200, ok:false) worth
// another attempt; every other code (channel_not_found, invalid_auth…)
// fails the same way again.
var slackRetryable = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

type slackClient struct {
	botToken, channel, webhookURL string
	signingSecret                 []byte
	approvers                     map[string]bool // nil: anyone
	api, apiOrigin                string
	client                        *http.Client
	out                           *outbox
	log                           *slog.Logger
	now                           func() time.Time
	msgs                          *tracker
}

func newSlackClient(cfg SlackConfig, d Delivery, log *slog.Logger) (*slackClient, error) {
	if cfg.BotToken == "" && cfg.Channel == "" && cfg.WebhookURL == "" && cfg.SigningSecret == "" &&
		len(cfg.Approvers) == 0 && cfg.APIURL == "" {
		return nil, nil
	}
	var errs []error
	switch {
	case cfg.BotToken != "" && cfg.WebhookURL != "":
		errs = append(errs, errors.New("slack: set bot_token or webhook_url, not both"))
	case cfg.BotToken == "" && cfg.WebhookURL == "":
		errs = append(errs, errors.New("slack: needs bot_token (with channel) or webhook_url"))
	case cfg.BotToken != "" && cfg.Channel == "":
		errs = append(errs, errors.New("slack.channel: required with bot_token"))
	case cfg.BotToken == "" && cfg.Channel != "":
		errs = append(errs, errors.New("slack.channel: only used with bot_token (an incoming webhook has its own channel)"))
	}
	if cfg.WebhookURL != "" {
		if _, err := checkURL(cfg.WebhookURL); err != nil {
			errs = append(errs, fmt.Errorf("slack.webhook_url: %w", err))
		}
	}
	api := cfg.APIURL
	if api == "" {
		api = defaultSlackAPI
	}
	apiURL, err := checkURL(api)
	if err != nil {
		errs = append(errs, fmt.Errorf("slack.api_url: %w", err))
	}
	var approvers map[string]bool
	for i, id := range cfg.Approvers {
		if !validSlackID(id) {
			errs = append(errs, fmt.Errorf("slack.approvers[%d]: %q is not a Slack user id (like U0123ABCD)", i, id))
		}
		if approvers == nil {
			approvers = map[string]bool{}
		}
		approvers[id] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &slackClient{
		botToken: cfg.BotToken, channel: cfg.Channel, webhookURL: cfg.WebhookURL,
		signingSecret: []byte(cfg.SigningSecret), approvers: approvers,
		api: strings.TrimSuffix(api, "/") + "/", apiOrigin: apiURL.Scheme + "://" + apiURL.Host,
		client: newHTTPClient(d.Timeout), out: newOutbox("slack", log, d), log: log, now: time.Now,
		msgs: &tracker{m: map[string]*trackedMessage{}},
	}, nil
}

func (c *slackClient) outbox() *outbox {
	if c == nil {
		return nil
	}
	return c.out
}

func (c *slackClient) interactive() bool { return len(c.signingSecret) > 0 }

// created posts the approval request.
func (c *slackClient) created(a Approval) {
	if c == nil {
		return
	}
	msg := requestMessage(a, c.interactive())
	if c.botToken == "" {
		c.enqueue("slack.post", a.ID, func(ctx context.Context) error {
			return c.postTo(ctx, c.webhookURL, msg)
		})
		return
	}
	msg.Channel = c.channel
	c.msgs.begin(a.ID, c.now(), a.ExpiresAt)
	c.enqueue("slack.post", a.ID, func(ctx context.Context) error {
		channel, ts, err := c.call(ctx, "chat.postMessage", msg)
		if err != nil {
			return err
		}
		if final, ok := c.msgs.posted(a.ID, channel, ts); ok {
			c.update(decidedMessage(final), channel, ts, a.ID) // decided while we were posting
		}
		return nil
	})
}

// decided rewrites the message of a decided approval, when this replica
// posted it with the bot token and nothing has rewritten it yet.
func (c *slackClient) decided(a Approval) {
	if c == nil || c.botToken == "" {
		return
	}
	if channel, ts, ok := c.msgs.decided(a); ok {
		c.update(decidedMessage(a), channel, ts, a.ID)
	}
}

func (c *slackClient) update(msg slackMessage, channel, ts, approvalID string) {
	msg.Channel, msg.TS = channel, ts
	c.enqueue("slack.update", approvalID, func(ctx context.Context) error {
		_, _, err := c.call(ctx, "chat.update", msg)
		return err
	})
}

// respond posts msg to an interaction's response_url.
func (c *slackClient) respond(responseURL string, msg slackMessage, approvalID string) {
	if !c.allowedResponseURL(responseURL) {
		if responseURL != "" {
			c.log.Warn("slack response_url refused: not a Slack hooks URL", logFieldApprovalID, approvalID)
		}
		return
	}
	c.enqueue("slack.respond", approvalID, func(ctx context.Context) error {
		return c.postTo(ctx, responseURL, msg)
	})
}

// allowedResponseURL admits only Slack's own hooks origin (or the
// configured API origin, for a local fake). The callback is signed, but a
// leaked signing secret must not turn Bridle into a relay that POSTs to
// any address its attacker names.
func (c *slackClient) allowedResponseURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Host == "" {
		return false
	}
	origin := u.Scheme + "://" + u.Host
	return origin == slackHooksOrigin || origin == c.apiOrigin
}

func (c *slackClient) enqueue(what, approvalID string, send func(context.Context) error) {
	c.out.enqueue(job{what: what, attrs: []any{logFieldApprovalID, approvalID}, send: send})
}

// postTo POSTs msg to an incoming webhook or a response_url; both answer
// a plain "ok" and signal errors by status.
func (c *slackClient) postTo(ctx context.Context, target string, msg slackMessage) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return permanentError{err}
	}
	_, err = postJSON(ctx, c.client, target, nil, body)
	return err
}

// call invokes a Web API method with the bot token and returns the
// message's channel and ts. Slack reports most failures as HTTP 200 with
// ok:false and an error code.
func (c *slackClient) call(ctx context.Context, method string, msg slackMessage) (channel, ts string, err error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return "", "", permanentError{err}
	}
	h := http.Header{"Authorization": {"Bearer " + c.botToken}}
	answer, err := postJSON(ctx, c.client, c.api+method, h, body)
	if err != nil {
		return "", "", fmt.Errorf("slack %s: %w", method, err)
	}
	var res struct {
		OK      bool   `json:"ok"`
		Error   string `json:"error"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	if err := json.Unmarshal(answer, &res); err != nil {
		return "", "", fmt.Errorf("slack %s: answer is not JSON", method)
	}
	if !res.OK {
		err := fmt.Errorf("slack %s: %s", method, clip(res.Error, 64))
		if !slackRetryable[res.Error] {
			err = permanentError{err}
		}
		return "", "", err
	}
	return res.Channel, res.TS, nil
}

// tracker remembers, per approval, the message posted for it, so that a
// decision made anywhere rewrites it exactly once. It is local to the
// replica that posted; other replicas' decisions still reach Slack when
// they are made with the buttons (the callback carries channel and ts).
type tracker struct {
	mu sync.Mutex
	m  map[string]*trackedMessage
}

type trackedMessage struct {
	channel, ts string    // empty until chat.postMessage answers
	final       *Approval // decided before the post completed
	rewritten   bool
	forget      time.Time
}

// begin starts tracking; past the bound it prunes and, when still full,
// leaves the approval untracked (its message is then not rewritten).
func (t *tracker) begin(id string, now, expires time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= trackedMessagesMax {
		for k, m := range t.m {
			if now.After(m.forget) {
				delete(t.m, k)
			}
		}
		if len(t.m) >= trackedMessagesMax {
			return
		}
	}
	// Kept past expiry for an hour, so an expiry reported late still finds it.
	t.m[id] = &trackedMessage{forget: cmpTime(expires, now.Add(time.Hour)).Add(time.Hour)}
}

// posted records where the message went; it returns the decision to
// apply now when one came in meanwhile.
func (t *tracker) posted(id, channel, ts string) (Approval, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.m[id]
	if m == nil {
		return Approval{}, false
	}
	m.channel, m.ts = channel, ts
	if m.final == nil || m.rewritten {
		return Approval{}, false
	}
	m.rewritten = true
	return *m.final, true
}

// decided claims the rewrite of a's message for a decision reported by
// the approval flow.
func (t *tracker) decided(a Approval) (channel, ts string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.m[a.ID]
	switch {
	case m == nil || m.rewritten:
		return "", "", false
	case m.ts == "":
		m.final = &a
		return "", "", false
	}
	m.rewritten = true
	return m.channel, m.ts, true
}

// claim claims the rewrite for a decision made with the buttons; an
// approval this replica does not track (posted by another) is claimed.
func (t *tracker) claim(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.m[id]
	if m == nil {
		return true
	}
	if m.rewritten {
		return false
	}
	m.rewritten = true
	return true
}
