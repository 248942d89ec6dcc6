package notify

import (
	"strings"
	"testing"
)

func TestNewChecksTheConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr []string // each must appear; none: valid
	}{
		{name: "an empty config is valid and sends nothing"},
		{name: "a bot token with a channel is valid",
			cfg: Config{Slack: SlackConfig{BotToken: "xoxb-1", Channel: "C1", SigningSecret: "s"}}},
		{name: "an incoming webhook alone is valid",
			cfg: Config{Slack: SlackConfig{WebhookURL: "https://hooks.slack.com/services/T/B/X"}}},
		{name: "a webhook to loopback over http is valid (tests, local relays)",
			cfg: Config{WebhookURL: "http://127.0.0.1:9/hook", WebhookSecret: testWebhookSecret}},
		{name: "a webhook over http off loopback is refused",
			cfg:     Config{WebhookURL: "http://receiver.example/hook", WebhookSecret: testWebhookSecret},
			wantErr: []string{"webhook_url: http is accepted only to a loopback address"}},
		{name: "a webhook with another scheme is refused",
			cfg:     Config{WebhookURL: "ftp://receiver.example/hook", WebhookSecret: testWebhookSecret},
			wantErr: []string{`webhook_url: scheme "ftp"`}},
		{name: "a webhook without a secret is refused",
			cfg:     Config{WebhookURL: "https://receiver.example/hook"},
			wantErr: []string{"webhook_secret: required with webhook_url"}},
		{name: "a short webhook secret is refused",
			cfg:     Config{WebhookURL: "https://receiver.example/hook", WebhookSecret: "short"},
			wantErr: []string{"at least 16 bytes"}},
		{name: "a webhook secret without a URL is refused", cfg: Config{WebhookSecret: testWebhookSecret},
			wantErr: []string{"need webhook_url"}},
		{name: "a bot token and an incoming webhook together are refused",
			cfg:     Config{Slack: SlackConfig{BotToken: "xoxb-1", Channel: "C1", WebhookURL: "https://hooks.slack.com/x"}},
			wantErr: []string{"bot_token or webhook_url, not both"}},
		{name: "a bot token without a channel is refused", cfg: Config{Slack: SlackConfig{BotToken: "xoxb-1"}},
			wantErr: []string{"slack.channel: required with bot_token"}},
		{name: "a signing secret alone is refused", cfg: Config{Slack: SlackConfig{SigningSecret: "s"}},
			wantErr: []string{"needs bot_token (with channel) or webhook_url"}},
		{name: "an approver that is not a user id is refused",
			cfg:     Config{Slack: SlackConfig{BotToken: "xoxb-1", Channel: "C1", Approvers: []string{"U1", "@bob"}}},
			wantErr: []string{`slack.approvers[1]: "@bob" is not a Slack user id`}},
		{name: "a Slack API over http off loopback is refused",
			cfg:     Config{Slack: SlackConfig{BotToken: "xoxb-1", Channel: "C1", APIURL: "http://slack.example/api"}},
			wantErr: []string{"slack.api_url: http is accepted only to a loopback address"}},
		{name: "every problem is reported at once, without the secret URL",
			cfg:     Config{Slack: SlackConfig{BotToken: "xoxb-1"}, WebhookURL: "http://receiver.example/hooks/secret-token"},
			wantErr: []string{"slack.channel", "webhook_url: http", "webhook_secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				_ = s.Close(t.Context())
				return
			}
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("error quotes the URL: %v", err)
			}
		})
	}
}
