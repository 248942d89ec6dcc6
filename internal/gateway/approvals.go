package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/notify"
	"github.com/bridle-gw/bridle/internal/tokens"
	"github.com/bridle-gw/bridle/redis"
)

// loadKeyring returns the decision-token signing keys: from
// $BRIDLE_SIGNING_KEY (PEM; every replica must share it), else from the
// state dir, created on first boot (0600).
func (g *gateway) loadKeyring() (*tokens.Keyring, error) {
	if pemText, ok := g.opts.Env(tokens.EnvSigningKey); ok && pemText != "" {
		k, err := tokens.FromPEM([]byte(pemText))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tokens.EnvSigningKey, err)
		}
		return k, nil
	}
	k, err := tokens.LoadOrCreate(string(g.dir))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return k, nil
}

// approvalsAdapter gives the decision service the Redis approvals behind
// its own interface, and announces new and expired approvals.
type approvalsAdapter struct {
	a      *redis.Approvals
	notify *notify.Service // nil-safe
	log    *slog.Logger
}

var _ extauthz.ApprovalStore = approvalsAdapter{}

func (x approvalsAdapter) Consume(ctx context.Context, agent, hash string) (extauthz.Grant, bool, error) {
	ap, ok, err := x.a.Consume(ctx, agent, hash)
	return extauthz.Grant{Approver: ap.Decider, ApprovedAt: ap.DecidedAt}, ok, err
}

func (x approvalsAdapter) Lookup(ctx context.Context, agent, hash string) (string, bool, error) {
	ap, ok, err := x.a.Lookup(ctx, agent, hash)
	return ap.State, ok, err
}

func (x approvalsAdapter) Create(ctx context.Context, r extauthz.ApprovalRequest) (string, error) {
	ap, created, err := x.a.Create(ctx, redis.Approval{Agent: r.Agent, Connector: r.Connector, Action: r.Action, SpecHash: r.SpecHash, Rule: r.Rule})
	if err == nil && created {
		x.notify.ApprovalCreated(toNotify(ap)) // once per approval, not per retry
	}
	return ap.ID, err
}

func (x approvalsAdapter) Wait(ctx context.Context, id string) (string, error) {
	ap, err := x.a.Wait(ctx, id)
	if ap.State == redis.ApprovalExpired {
		x.announceExpired(context.WithoutCancel(ctx)) // at once, rather than at the next sweep
	}
	return ap.State, err
}

// announceExpired tells Slack and the webhooks of approvals that expired
// undecided (the buttons go away; approval.expired), each once across
// replicas.
func (x approvalsAdapter) announceExpired(ctx context.Context) {
	expired, err := x.a.ClaimExpired(ctx)
	for _, ap := range expired {
		x.notify.ApprovalDecided(toNotify(ap))
	}
	if err != nil && x.log != nil {
		x.log.Warn("announcing expired approvals", "error", err)
	}
}

// sweepExpired announces expiries every interval until ctx ends: most
// approvals expire with no request waiting on them.
func (x approvalsAdapter) sweepExpired(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			x.announceExpired(ctx)
		}
	}
}

func toNotify(a redis.Approval) notify.Approval {
	return notify.Approval{ID: a.ID, Agent: a.Agent, Connector: a.Connector, Action: a.Action, State: a.State,
		Decider: a.Decider, CreatedAt: a.CreatedAt, DecidedAt: a.DecidedAt, ExpiresAt: a.ExpiresAt}
}

// decider decides approvals from the API, the CLI and Slack, and tells
// Slack and webhooks.
type decider struct {
	a      *redis.Approvals
	notify *notify.Service
}

func (d decider) decide(ctx context.Context, id string, approve bool, who, note string) (redis.Approval, error) {
	ap, err := d.a.Decide(ctx, id, approve, who, note)
	if err == nil {
		d.notify.ApprovalDecided(toNotify(ap))
	}
	return ap, err
}

// Decide implements notify.Decider (Slack buttons).
func (d decider) Decide(ctx context.Context, id string, approve bool, who, note string) error {
	_, err := d.decide(ctx, id, approve, who, note)
	return err
}

// notifyConfig maps the config's notification settings.
func notifyConfig(a config.Approvals, log *slog.Logger) notify.Config {
	c := notify.Config{WebhookURL: a.WebhookURL, WebhookSecret: a.WebhookSecret, WebhookDecisions: a.WebhookDecisions, Logger: log}
	if a.Slack != nil {
		c.Slack = notify.SlackConfig{BotToken: a.Slack.BotToken, Channel: a.Slack.Channel, WebhookURL: a.Slack.WebhookURL,
			SigningSecret: a.Slack.SigningSecret, Approvers: a.Slack.Approvers, APIURL: a.Slack.APIURL}
	}
	return c
}

// tokenChecker verifies decision tokens and marks their nonces used.
type tokenChecker struct {
	keys   *tokens.Keyring
	nonces *redis.Nonces
}

var _ extauthz.TokenChecker = tokenChecker{}

func (c tokenChecker) Identify(token string) (string, error) {
	claims, err := c.keys.Verify(token, time.Now())
	if err != nil {
		return "", err
	}
	return claims.Agent, nil
}

// Check verifies the signature once; use only spends the nonce.
func (c tokenChecker) Check(token, agent, hash string) (func(context.Context) error, error) {
	claims, err := c.keys.Verify(token, time.Now())
	if err == nil {
		err = claims.Matches(agent, hash)
	}
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return c.useNonce(ctx, claims.Nonce) }, nil
}

func (c tokenChecker) useNonce(ctx context.Context, nonce string) error {
	fresh, err := c.nonces.Use(ctx, nonce)
	if errors.Is(err, redis.ErrUnknownNonce) {
		return err // token_invalid: never issued, or Redis lost its data since
	}
	if err != nil {
		return fmt.Errorf("%w: %v", extauthz.ErrStore, err)
	}
	if !fresh {
		return extauthz.ErrTokenReplayed
	}
	return nil
}

// apiApprovals gives the API the approvals behind its own interface.
type apiApprovals struct {
	a *redis.Approvals
	d decider
}

var _ api.Approvals = apiApprovals{}

func (x apiApprovals) List(ctx context.Context, state string) ([]api.Approval, error) {
	list, err := x.a.List(ctx, state)
	out := make([]api.Approval, len(list))
	for i, a := range list {
		out[i] = toAPIApproval(a)
	}
	return out, err
}

func (x apiApprovals) Decide(ctx context.Context, id string, approve bool, decider, note string) (api.Approval, error) {
	a, err := x.d.decide(ctx, id, approve, decider, note)
	switch {
	case errors.Is(err, redis.ErrApprovalNotFound):
		return api.Approval{}, fmt.Errorf("%w: %v", api.ErrNotFound, err)
	case errors.Is(err, redis.ErrApprovalDecided):
		return api.Approval{}, fmt.Errorf("%w: %v", api.ErrConflict, err)
	}
	return toAPIApproval(a), err
}

func toAPIApproval(a redis.Approval) api.Approval {
	return api.Approval{ID: a.ID, Agent: a.Agent, Connector: a.Connector, Action: a.Action, State: a.State, Rule: a.Rule,
		CreatedAt: a.CreatedAt, ExpiresAt: a.ExpiresAt, DecidedAt: a.DecidedAt, Decider: a.Decider, Note: a.Note}
}
