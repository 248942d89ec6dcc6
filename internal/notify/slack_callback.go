package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxCallbackBody bounds what the handler reads before the signature
	// is checked: an unauthenticated sender must not make us buffer more.
	// Slack's block_actions payloads are a few KiB.
	maxCallbackBody = 64 << 10
	// slackTolerance is Slack's advice: a request older (or newer) than
	// five minutes is refused as a replay.
	slackTolerance = 5 * time.Minute
	// decideTimeout keeps us inside the three seconds Slack waits.
	decideTimeout = 2500 * time.Millisecond
	// maxApprovalID bounds the approval id taken from a button.
	maxApprovalID = 64
)

// errSlackSignature is wrapped by every verification failure.
var errSlackSignature = errors.New("slack request not verified")

// slackHandler serves the Slack app's Interactivity Request URL.
type slackHandler struct {
	c       *slackClient
	decider Decider
}

// interaction is the part of a block_actions payload we act on.
type interaction struct {
	approvalID  string
	approve     bool
	userID      string
	channel, ts string
	blocks      []json.RawMessage
	responseURL string
}

func (h *slackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
	if err != nil {
		if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	// Nothing in the body is looked at before it is verified.
	if err := verifySlack(h.c.signingSecret, r.Header, body, h.c.now()); err != nil {
		h.c.log.Warn("slack callback refused", logFieldError, err.Error())
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	in, err := parseInteraction(body)
	if err != nil {
		h.c.log.Warn("slack callback not understood", logFieldError, err.Error())
		http.Error(w, "unsupported interaction", http.StatusBadRequest)
		return
	}
	if h.c.approvers != nil && !h.c.approvers[in.userID] {
		h.c.log.Warn("slack user not an approver", logFieldApprovalID, in.approvalID, "slack_user", in.userID)
		h.notice(w, in, "You are not one of Bridle's approvers: nothing was decided.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), decideTimeout)
	defer cancel()
	if err := h.decider.Decide(ctx, in.approvalID, in.approve, "slack:"+in.userID, ""); err != nil {
		// The store's error stays in our logs; the user gets a sentence.
		h.c.log.Warn("slack decision not recorded", logFieldApprovalID, in.approvalID, "slack_user", in.userID,
			logFieldError, err.Error())
		h.notice(w, in, "Bridle could not record your decision on "+mrkdwn(in.approvalID)+
			": it may already be decided or expired.")
		return
	}
	h.c.log.Info("slack decision recorded", logFieldApprovalID, in.approvalID, "slack_user", in.userID,
		"approve", in.approve)
	msg := clickedMessage(in.blocks, in.approve, in.userID)
	// Slack ignores this answer for block_actions, so the message itself
	// is rewritten below, once, by whichever path claims it.
	writeJSON(w, slackMessage{Text: msg.Text, ReplaceOriginal: true})
	if !h.c.msgs.claim(in.approvalID) {
		return
	}
	if h.c.botToken != "" && in.channel != "" && in.ts != "" {
		msg.ReplaceOriginal = false
		h.c.update(msg, in.channel, in.ts, in.approvalID)
		return
	}
	h.c.respond(in.responseURL, msg, in.approvalID)
}

// notice tells only the clicking user something, through response_url.
func (h *slackHandler) notice(w http.ResponseWriter, in interaction, text string) {
	msg := slackMessage{Text: text, ResponseType: "ephemeral"}
	writeJSON(w, msg)
	h.c.respond(in.responseURL, msg, in.approvalID)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// verifySlack checks Slack's request signature: X-Slack-Signature must be
// "v0=" + hex HMAC-SHA256(signing secret, "v0:" + X-Slack-Request-Timestamp
// + ":" + raw body), compared in constant time so the comparison leaks
// nothing about the expected value, and the timestamp within five minutes
// of now so a captured request cannot be replayed later.
func verifySlack(secret []byte, h http.Header, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: no signing secret configured", errSlackSignature)
	}
	tsHeader := h.Get("X-Slack-Request-Timestamp")
	sigHeader := h.Get("X-Slack-Signature")
	if tsHeader == "" || sigHeader == "" {
		return fmt.Errorf("%w: signature or timestamp header missing", errSlackSignature)
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp is not a number", errSlackSignature)
	}
	limit := int64(slackTolerance / time.Second)
	if skew := now.Unix() - ts; skew > limit || skew < -limit {
		return fmt.Errorf("%w: timestamp %d s away from now", errSlackSignature, skew)
	}
	hexSig, ok := strings.CutPrefix(sigHeader, "v0=")
	if !ok {
		return fmt.Errorf("%w: signature is not v0", errSlackSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not a hex SHA-256", errSlackSignature)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v0:" + tsHeader + ":"))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("%w: signature mismatch", errSlackSignature)
	}
	return nil
}

// parseInteraction reads a verified callback body: form field payload,
// a block_actions JSON with exactly one click on one of our buttons.
func parseInteraction(body []byte) (interaction, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return interaction{}, errors.New("body is not a form")
	}
	raw := form["payload"]
	if len(raw) != 1 {
		return interaction{}, errors.New("want exactly one payload field")
	}
	var p struct {
		Type string `json:"type"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Actions []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
		Container struct {
			ChannelID string `json:"channel_id"`
			MessageTS string `json:"message_ts"`
		} `json:"container"`
		Message struct {
			Blocks []json.RawMessage `json:"blocks"`
		} `json:"message"`
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal([]byte(raw[0]), &p); err != nil {
		return interaction{}, errors.New("payload is not JSON")
	}
	if p.Type != "block_actions" {
		return interaction{}, fmt.Errorf("payload type %q is not block_actions", clip(p.Type, 32))
	}
	if len(p.Actions) != 1 {
		return interaction{}, fmt.Errorf("want one action, got %d", len(p.Actions))
	}
	act := p.Actions[0]
	in := interaction{
		approvalID: act.Value, userID: p.User.ID,
		channel: p.Container.ChannelID, ts: p.Container.MessageTS,
		blocks: p.Message.Blocks, responseURL: p.ResponseURL,
	}
	switch act.ActionID {
	case actionApprove:
		in.approve = true
	case actionDeny:
	default:
		return interaction{}, fmt.Errorf("action %q is not ours", clip(act.ActionID, 32))
	}
	if !validApprovalID(in.approvalID) {
		return interaction{}, errors.New("button value is not an approval id")
	}
	if !validSlackID(in.userID) {
		return interaction{}, errors.New("no valid user id")
	}
	return in, nil
}

// validApprovalID accepts 1-64 ASCII letters, digits, '_' and '-' (the
// store's ids are apr_ + base32); it keeps what reaches the Decider and
// the logs small and plain.
func validApprovalID(s string) bool {
	if len(s) == 0 || len(s) > maxApprovalID {
		return false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
