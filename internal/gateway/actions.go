package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/tokens"
	"github.com/bridle-gw/bridle/policies"
	"github.com/bridle-gw/bridle/redis"
)

// actionService implements the action API (POST /api/v1/actions and
// friends): an agent submits an HTTP request description, Bridle parses it
// with the same connector code as the proxy, decides, and issues a one-time
// decision token; executing sends the request through the gateway's own
// Envoy with that token. Request bodies are never stored (DESIGN invariant
// 6): the agent sends the request again to execute it, and it must hash to
// the action that was decided.
type actionService struct {
	g    *gateway
	keys *tokens.Keyring
	// approvals opens approvals the way the proxy does, so Slack and the
	// webhooks hear of them too.
	approvals approvalsAdapter
	records   *redis.Records
	client    *http.Client // through the gateway's own proxy
}

// actionRecord is what is kept of a submitted action: metadata only.
type actionRecord struct {
	ID, Agent, Connector, Action, SpecHash string
	Decision, Reason, Rule, ApprovalID     string
	TokenIssued, Executed                  bool
	CreatedAt                              time.Time
}

// actionTTL bounds how long a submitted action can be looked up and
// executed: an approval's timeout plus a token's lifetime.
func (s *actionService) actionTTL() time.Duration {
	return s.g.currentPlan().Config.Approvals.Timeout + tokens.TTL + time.Minute
}

func newActionService(g *gateway, keys *tokens.Keyring, approvals approvalsAdapter) *actionService {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(g.system)
	roots.AddCert(g.leaves.ca.Cert)
	proxy := &url.URL{Scheme: "http", Host: g.proxy.String()}
	return &actionService{
		g: g, keys: keys, approvals: approvals, records: redis.NewRecords(g.state.store, "action"),
		client: &http.Client{
			Timeout: 2 * time.Minute,
			Transport: &http.Transport{
				Proxy:             func(*http.Request) (*url.URL, error) { return proxy, nil },
				TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				ForceAttemptHTTP2: true,
				DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				// Each execution authenticates to the proxy with its own
				// one-time credential: never reuse a tunnel.
				DisableKeepAlives: true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// parse turns an action request into the connector's action, exactly as
// the proxy would for the same request.
func (s *actionService) parse(agent string, r api.ActionRequest) (connectors.Action, string, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return connectors.Action{}, "", fmt.Errorf("%w: url: %v", api.ErrBadRequest, err)
	}
	port := u.Port()
	if (u.Scheme == "https" && port != "" && port != "443") || (u.Scheme == "http" && port != "" && port != "80") {
		return connectors.Action{}, "", fmt.Errorf("%w: url: connectors serve the default ports only", api.ErrBadRequest)
	}
	plan := s.g.currentPlan()
	c, ok := plan.Connectors.Lookup(strings.ToLower(u.Hostname()))
	if !ok {
		return connectors.Action{}, "", fmt.Errorf("%w: url: host %s has no connector", api.ErrForbidden, u.Hostname())
	}
	hdr := http.Header{}
	for k, v := range r.Headers {
		hdr.Set(k, v)
	}
	a, err := c.Parse(connectors.Request{Agent: agent, Method: r.Method, Host: strings.ToLower(u.Hostname()), Path: u.RequestURI(),
		Header: hdr, Body: []byte(r.Body), BodyBuffered: true})
	if err != nil {
		return a, "", fmt.Errorf("%w: the request cannot be read unambiguously: %v", api.ErrBadRequest, err)
	}
	hash, err := a.SpecHash()
	if err != nil {
		return a, "", fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return a, hash, nil
}

// Submit decides an action request.
func (s *actionService) Submit(ctx context.Context, agent string, r api.ActionRequest) (api.ActionResult, error) {
	a, hash, err := s.parse(agent, r)
	if err != nil {
		return api.ActionResult{}, err
	}
	rec := actionRecord{ID: "act_" + strings.ToLower(rand.Text()), Agent: agent, Connector: a.Connector, Action: a.Type,
		SpecHash: hash, CreatedAt: time.Now().UTC()}
	dec := s.g.currentPlan().Policy.Evaluate(ctx, policies.Input{Agent: agent, Connector: a.Connector, Action: a.Type,
		Method: a.Method, Host: a.Host, Path: a.Path, Params: a.Params, Time: time.Now()})
	if dec.Rule != nil {
		rec.Rule = dec.Rule.String()
	}
	res := api.ActionResult{ID: rec.ID, Action: a.Type, Rule: rec.Rule}
	switch dec.Effect {
	case policies.Allow:
		rec.Decision, res.State = "allow", "decided"
		if res.Token, err = s.issue(ctx, rec); err != nil {
			return api.ActionResult{}, err
		}
		rec.TokenIssued = true
	case policies.RequireApproval:
		id, err := s.approvals.Create(ctx, extauthz.ApprovalRequest{Agent: agent, Connector: a.Connector, Action: a.Type, SpecHash: hash, Rule: rec.Rule})
		if err != nil {
			return api.ActionResult{}, err
		}
		rec.Decision, rec.ApprovalID, res.State = "require_approval", id, "pending"
	default:
		rec.Decision, rec.Reason, res.State = "deny", dec.Reason, "decided"
	}
	res.Decision, res.Reason, res.ApprovalID = rec.Decision, rec.Reason, rec.ApprovalID
	return res, s.save(ctx, rec)
}

// Get reports an action's state, and hands out its token once after
// approval (consuming the approval, so it cannot also let a proxied retry
// through).
func (s *actionService) Get(ctx context.Context, agent, id string) (api.ActionResult, error) {
	rec, err := s.load(ctx, agent, id)
	if err != nil {
		return api.ActionResult{}, err
	}
	res := api.ActionResult{ID: rec.ID, Action: rec.Action, Decision: rec.Decision, Reason: rec.Reason, Rule: rec.Rule, ApprovalID: rec.ApprovalID, State: "decided"}
	if rec.Executed {
		res.State = "executed"
	}
	if rec.Decision != "require_approval" || rec.Executed {
		return res, nil
	}
	ap, err := s.g.state.approvals.Get(ctx, rec.ApprovalID)
	if err != nil {
		return api.ActionResult{}, err
	}
	res.State = ap.State
	if ap.State == redis.ApprovalUsed && rec.TokenIssued {
		res.State = "approved"
	}
	if ap.State == redis.ApprovalApproved && !rec.TokenIssued {
		if _, ok, err := s.g.state.approvals.Consume(ctx, agent, rec.SpecHash); err != nil {
			return api.ActionResult{}, err
		} else if !ok {
			return res, nil // a proxied retry used the approval first
		}
		if res.Token, err = s.issue(ctx, rec); err != nil {
			return api.ActionResult{}, err
		}
		rec.TokenIssued = true
		res.State = "approved"
		if err := s.save(ctx, rec); err != nil {
			return api.ActionResult{}, err
		}
	}
	return res, nil
}

// Execute verifies the agent's token (signature, expiry, this agent, this
// action, nonce unused — marked used now) and sends the request through
// the gateway's Envoy with a fresh one-time token for the same action.
func (s *actionService) Execute(ctx context.Context, agent, id, token string, req api.ActionRequest) (api.ExecuteResult, error) {
	rec, err := s.load(ctx, agent, id)
	if err != nil {
		return api.ExecuteResult{}, err
	}
	now := time.Now()
	claims, err := s.keys.Verify(token, now)
	if err == nil {
		err = claims.Matches(agent, rec.SpecHash)
	}
	if err == nil && claims.ActionRequestID != rec.ID {
		err = errors.New("the token is for another action request")
	}
	if err != nil {
		return api.ExecuteResult{}, fmt.Errorf("%w: decision token: %v", api.ErrForbidden, err)
	}
	// A request that is not the decided action is refused before the
	// nonce is spent, so a mistaken call does not cost the approval.
	if _, hash, err := s.parse(agent, req); err != nil {
		return api.ExecuteResult{}, err
	} else if hash != rec.SpecHash {
		return api.ExecuteResult{}, fmt.Errorf("%w: the request differs from the action that was decided", api.ErrForbidden)
	}
	fresh, err := s.g.state.nonces.Use(ctx, claims.Nonce)
	if errors.Is(err, redis.ErrUnknownNonce) {
		return api.ExecuteResult{}, fmt.Errorf("%w: decision token: %v", api.ErrForbidden, err)
	}
	if err != nil {
		return api.ExecuteResult{}, err
	}
	if !fresh {
		return api.ExecuteResult{}, fmt.Errorf("%w: decision token already used", api.ErrForbidden)
	}
	rec.Executed = true
	if err := s.save(ctx, rec); err != nil {
		return api.ExecuteResult{}, err
	}
	return s.send(ctx, rec, req)
}

// send makes the request through the proxy, authenticated as the agent by
// a fresh decision token (accepted once, for this action only).
func (s *actionService) send(ctx context.Context, rec actionRecord, r api.ActionRequest) (api.ExecuteResult, error) {
	tok, err := s.issue(ctx, rec)
	if err != nil {
		return api.ExecuteResult{}, err
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, strings.NewReader(r.Body))
	if err != nil {
		return api.ExecuteResult{}, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Bridle-Decision-Token", tok)
	// For plain http:// the proxy reads this header on the request itself;
	// for https:// Go sends it on the CONNECT.
	req.Header.Set("Proxy-Authorization", "Bearer "+tok)
	tr := s.client.Transport.(*http.Transport).Clone()
	tr.ProxyConnectHeader = http.Header{"Proxy-Authorization": {"Bearer " + tok}}
	client := *s.client
	client.Transport = tr
	resp, err := client.Do(req)
	if err != nil {
		return api.ExecuteResult{}, fmt.Errorf("sending through the gateway: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return api.ExecuteResult{}, fmt.Errorf("reading the upstream's answer: %w", err)
	}
	out := api.ExecuteResult{Status: resp.StatusCode, Headers: map[string]string{}, Body: string(body)}
	for _, h := range []string{"Content-Type", "Retry-After", "X-Bridle-Decision-Id", "X-Bridle-Approval-Id", "Location", "Etag", "Last-Modified"} {
		if v := resp.Header.Get(h); v != "" {
			out.Headers[strings.ToLower(h)] = v
		}
	}
	return out, nil
}

// issue signs a decision token for rec and registers its nonce: only a
// registered nonce is accepted, once (invariant 5, across Redis data loss).
func (s *actionService) issue(ctx context.Context, rec actionRecord) (string, error) {
	now := time.Now()
	tok, c, err := s.keys.Issue(tokens.Claims{ActionRequestID: rec.ID, ActionSpecHash: rec.SpecHash, Agent: rec.Agent}, now)
	if err != nil {
		return "", err
	}
	if err := s.g.state.nonces.Register(ctx, c.Nonce, c.NonceTTL(now)); err != nil {
		return "", fmt.Errorf("issuing decision token: %w", err)
	}
	return tok, nil
}

func (s *actionService) save(ctx context.Context, rec actionRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return s.records.Put(ctx, rec.Agent, rec.ID, b, s.actionTTL())
}

func (s *actionService) load(ctx context.Context, agent, id string) (actionRecord, error) {
	var rec actionRecord
	b, err := s.records.Get(ctx, agent, id)
	if errors.Is(err, redis.ErrRecordNotFound) {
		return rec, fmt.Errorf("%w: action %s", api.ErrNotFound, id)
	}
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(b, &rec)
}

var _ api.Actions = (*actionService)(nil)
