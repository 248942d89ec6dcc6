package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Block ids and action ids of the buttons; the callback accepts these only.
const (
	actionsBlockID = "bridle_approval"
	actionApprove  = "bridle_approve"
	actionDeny     = "bridle_deny"
)

// maxFieldRunes bounds each value shown in Slack.
const maxFieldRunes = 200

// slackMessage is a chat.postMessage / chat.update / incoming webhook /
// response_url body. Channel and TS are set for the Web API only.
type slackMessage struct {
	Channel         string            `json:"channel,omitempty"`
	TS              string            `json:"ts,omitempty"`
	Text            string            `json:"text"`
	Blocks          []json.RawMessage `json:"blocks,omitempty"`
	ResponseType    string            `json:"response_type,omitempty"`
	ReplaceOriginal bool              `json:"replace_original,omitempty"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
	// Verbatim stops Slack from turning URLs, #channels and @names that
	// may sit in agent-chosen values into links or mentions.
	Verbatim bool `json:"verbatim,omitempty"`
}

type button struct {
	Type     string     `json:"type"`
	Text     textObject `json:"text"`
	ActionID string     `json:"action_id"`
	Value    string     `json:"value"`
	Style    string     `json:"style"`
}

type block struct {
	Type     string       `json:"type"`
	BlockID  string       `json:"block_id,omitempty"`
	Text     *textObject  `json:"text,omitempty"`
	Fields   []textObject `json:"fields,omitempty"`
	Elements []any        `json:"elements,omitempty"`
}

// requestMessage asks for a decision on a. It carries the action type,
// agent, connector, target (if any), approval id and expiry, and nothing
// else: Slack is outside Bridle's trust boundary.
func requestMessage(a Approval, buttons bool) slackMessage {
	blocks := approvalBlocks(a)
	if buttons {
		blocks = append(blocks, block{Type: "actions", BlockID: actionsBlockID, Elements: []any{
			button{Type: "button", Text: textObject{Type: "plain_text", Text: "Approve"},
				ActionID: actionApprove, Value: a.ID, Style: "primary"},
			button{Type: "button", Text: textObject{Type: "plain_text", Text: "Deny"},
				ActionID: actionDeny, Value: a.ID, Style: "danger"},
		}})
	}
	return slackMessage{
		Text:   "Approval needed: " + mrkdwn(a.Action) + " by " + mrkdwn(a.Agent),
		Blocks: rawBlocks(blocks),
	}
}

// decidedMessage is the request message rewritten after a decision: the
// same facts, the outcome, no buttons.
func decidedMessage(a Approval) slackMessage {
	line := outcome(a.State, a.Decider)
	return slackMessage{
		Text:   line + ": " + mrkdwn(a.Action) + " by " + mrkdwn(a.Agent),
		Blocks: rawBlocks(append(approvalBlocks(a), outcomeBlock(line))),
	}
}

// clickedMessage rewrites a message after a button click from the blocks
// the callback echoed (this replica may not have posted it): the actions
// block goes, the outcome is added.
func clickedMessage(blocks []json.RawMessage, approve bool, userID string) slackMessage {
	state := StateDenied
	if approve {
		state = StateApproved
	}
	line := outcome(state, "slack:"+userID)
	var kept []json.RawMessage
	for _, b := range blocks {
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &head) == nil && head.Type != "actions" {
			kept = append(kept, b)
		}
	}
	kept = append(kept, rawBlocks([]block{outcomeBlock(line)})...)
	return slackMessage{Text: line, Blocks: kept, ReplaceOriginal: true}
}

func approvalBlocks(a Approval) []block {
	field := func(label, value string) textObject {
		return textObject{Type: "mrkdwn", Text: "*" + label + "*\n" + value, Verbatim: true}
	}
	fields := []textObject{
		field("Action", mrkdwn(a.Action)),
		field("Agent", mrkdwn(a.Agent)),
		field("Connector", mrkdwn(a.Connector)),
	}
	if a.Target != "" {
		fields = append(fields, field("Target", mrkdwn(a.Target)))
	}
	fields = append(fields, field("Approval", mrkdwn(a.ID)), field("Expires", slackDate(a.ExpiresAt)))
	return []block{
		{Type: "header", Text: &textObject{Type: "plain_text", Text: "Bridle approval request"}},
		{Type: "section", Fields: fields},
	}
}

func outcomeBlock(line string) block {
	return block{Type: "context", Elements: []any{textObject{Type: "mrkdwn", Text: line}}}
}

// outcome is the line saying what became of an approval.
func outcome(state, decider string) string {
	who := "an operator"
	if id, ok := strings.CutPrefix(decider, "slack:"); ok && validSlackID(id) {
		who = "<@" + id + ">" // a mention we build from a checked id
	} else if decider != "" {
		who = mrkdwn(decider)
	}
	switch state {
	case StateApproved:
		return ":white_check_mark: Approved by " + who
	case StateDenied:
		return ":no_entry: Denied by " + who
	case StateExpired:
		return ":hourglass: Expired without a decision"
	default:
		return "Now " + mrkdwn(state)
	}
}

func slackDate(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// mrkdwn makes an agent- or operator-chosen value inert in Slack text:
// &, < and > are escaped so it cannot form a link or an <!everyone>
// mention, control characters (newlines included) become spaces so it
// cannot start a line that passes for one of ours, and it is clipped.
func mrkdwn(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, clip(s, maxFieldRunes))
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip cuts s to at most n runes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func rawBlocks(bs []block) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(bs))
	for _, b := range bs {
		raw, err := json.Marshal(b)
		if err != nil {
			continue // cannot happen: plain structs of strings
		}
		out = append(out, raw)
	}
	return out
}

// validSlackID accepts Slack user ids (U…, W…): 1-32 ASCII letters and
// digits. Anything else is refused rather than passed into a mention.
func validSlackID(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}
