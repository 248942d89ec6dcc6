// Package notify tells humans and other systems about approvals: it posts
// an approval request to Slack with Approve and Deny buttons, accepts
// Slack's signed button callbacks and hands the decision to a Decider, and
// delivers signed JSON webhooks on approval events.
//
// It knows nothing of Redis or the decision service: the approval flow
// adapts its own records to Approval and calls the Notifier methods, which
// never block (every outbound call goes through a bounded queue, retried
// with backoff, and what does not fit is dropped and counted).
//
// # What leaves Bridle
//
// Only the fields named here, so that a Slack workspace or a webhook
// receiver never learns a credential, a request or response body, or a
// policy detail (rule names, conditions):
//
//   - Slack: action type, agent, connector, resource target when the action
//     names one, approval id, expiry time, and after a decision its outcome
//     and who decided.
//   - Webhooks: {"event", "approval_id", "action", "decision", "agent",
//     "connector", "time"}.
//
// # Slack: what works with which
//
//   - Bot token (slack.bot_token + slack.channel, a Slack app with the
//     chat:write scope): chat.postMessage with buttons; after a decision made
//     anywhere (API, CLI, Slack, expiry) on this replica the message is
//     rewritten with chat.update, best effort.
//   - Incoming webhook (slack.webhook_url): the message and its buttons are
//     posted too (incoming webhooks carry Block Kit), but no message id comes
//     back, so a decision made outside Slack cannot update it. A decision made
//     with the buttons updates it through the callback's response_url.
//   - Buttons work only when the Slack app that owns the token or webhook has
//     Interactivity enabled with its Request URL pointing at the handler from
//     Service.SlackHandler, and slack.signing_secret is that app's signing
//     secret. Without a signing secret messages carry no buttons: decide with
//     the API or the CLI.
//   - slack.approvers, when set, lists the Slack user ids allowed to decide;
//     anyone else who clicks is told so and nothing is decided.
//
// # Verifying Bridle's webhooks
//
// Each delivery is a POST with Content-Type application/json, the event
// name in X-Bridle-Event, a delivery id in X-Bridle-Delivery (the same on
// every retry, so receivers can drop duplicates), and
//
//	X-Bridle-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// A receiver recomputes the HMAC over the exact bytes it received, compares
// in constant time and refuses a t more than five minutes from its clock;
// Verify does all three. Deliveries are retried (408, 429, 5xx and network
// errors; up to 5 attempts, backoff doubling from 1 s with jitter), so a
// receiver should answer 2xx quickly and treat the delivery id as the
// idempotency key.
package notify
