package connectors

import "testing"

var slackJSONGolden = []golden{
	{"posts a message with its channel", "POST", "/api/chat.postMessage", `{"channel":"C123","text":"hi"}`, "slack.chat.post_message", P{"channel": "C123"}},
	{"replies in a thread", "POST", "/api/chat.postMessage", `{"channel":"C123","thread_ts":"1700000000.0001","text":"hi"}`, "slack.chat.post_message", P{"channel": "C123", "thread_ts": "1700000000.0001"}},
	{"posts an ephemeral message", "POST", "/api/chat.postEphemeral", `{"channel":"C1","user":"U1","text":"x"}`, "slack.chat.post_ephemeral", P{"channel": "C1", "user": "U1"}},
	{"edits a message", "POST", "/api/chat.update", `{"channel":"C1","ts":"1.2","text":"y"}`, "slack.chat.update", P{"channel": "C1", "ts": "1.2"}},
	{"deletes a message", "POST", "/api/chat.delete", `{"channel":"C1","ts":"1.2"}`, "slack.chat.delete", P{"channel": "C1", "ts": "1.2"}},
	{"schedules a message", "POST", "/api/chat.scheduleMessage", `{"channel":"C1","post_at":1700000000,"text":"x"}`, "slack.chat.schedule_message", P{"channel": "C1", "post_at": 1700000000.0}},
	{"creates a private channel", "POST", "/api/conversations.create", `{"name":"ops","is_private":true}`, "slack.conversation.create", P{"name": "ops", "is_private": true}},
	{"invites users", "POST", "/api/conversations.invite", `{"channel":"C1","users":"U1,U2"}`, "slack.conversation.invite", P{"channel": "C1", "users": "U1,U2"}},
	{"kicks a user", "POST", "/api/conversations.kick", `{"channel":"C1","user":"U9"}`, "slack.conversation.kick", P{"channel": "C1", "user": "U9"}},
	{"archives a channel", "POST", "/api/conversations.archive", `{"channel":"C1"}`, "slack.conversation.archive", P{"channel": "C1"}},
	{"unarchives a channel", "POST", "/api/conversations.unarchive", `{"channel":"C1"}`, "slack.conversation.unarchive", P{"channel": "C1"}},
	{"renames a channel", "POST", "/api/conversations.rename", `{"channel":"C1","name":"new"}`, "slack.conversation.rename", P{"channel": "C1", "name": "new"}},
	{"sets a topic", "POST", "/api/conversations.setTopic", `{"channel":"C1","topic":"t"}`, "slack.conversation.set_topic", P{"channel": "C1"}},
	{"sets a purpose", "POST", "/api/conversations.setPurpose", `{"channel":"C1","purpose":"p"}`, "slack.conversation.set_purpose", P{"channel": "C1"}},
	{"opens a DM", "POST", "/api/conversations.open", `{"users":"U1"}`, "slack.conversation.open", P{"users": "U1"}},
	{"adds a reaction", "POST", "/api/reactions.add", `{"channel":"C1","timestamp":"1.2","name":"thumbsup"}`, "slack.reaction.add", P{"channel": "C1", "timestamp": "1.2", "name": "thumbsup"}},
	{"removes a reaction", "POST", "/api/reactions.remove", `{"channel":"C1","timestamp":"1.2","name":"x"}`, "slack.reaction.remove", P{"channel": "C1", "timestamp": "1.2", "name": "x"}},
	{"pins a message", "POST", "/api/pins.add", `{"channel":"C1","timestamp":"1.2"}`, "slack.pin.add", P{"channel": "C1"}},
	{"unpins a message", "POST", "/api/pins.remove", `{"channel":"C1","timestamp":"1.2"}`, "slack.pin.remove", P{"channel": "C1"}},
	{"deletes a file", "POST", "/api/files.delete", `{"file":"F1"}`, "slack.file.delete", P{"file": "F1"}},
	{"completes an upload into a channel", "POST", "/api/files.completeUploadExternal", `{"files":[{"id":"F1"}],"channel_id":"C1"}`, "slack.file.complete_upload", P{"channel_id": "C1"}},
	{"tests auth", "POST", "/api/auth.test", "", "slack.auth.test", nil},
}

var slackFormGolden = []golden{
	{"posts a message from a form body", "POST", "/api/chat.postMessage", "channel=C123&text=hello+world", "slack.chat.post_message", P{"channel": "C123"}},
	{"takes the channel from the query of a POST", "POST", "/api/chat.postMessage?channel=C7", "text=x", "slack.chat.post_message", P{"channel": "C7"}},
	{"gets a permalink with GET", "GET", "/api/chat.getPermalink?channel=C1&message_ts=1.2", "", "slack.chat.get_permalink", P{"channel": "C1"}},
	{"lists channels", "GET", "/api/conversations.list?types=private_channel", "", "slack.conversation.list", P{"types": "private_channel"}},
	{"gets channel info", "GET", "/api/conversations.info?channel=C1", "", "slack.conversation.get", P{"channel": "C1"}},
	{"reads channel history", "GET", "/api/conversations.history?channel=C1&limit=10", "", "slack.conversation.history", P{"channel": "C1"}},
	{"reads thread replies", "GET", "/api/conversations.replies?channel=C1&ts=1.2", "", "slack.conversation.replies", P{"channel": "C1", "ts": "1.2"}},
	{"lists channel members", "GET", "/api/conversations.members?channel=C1", "", "slack.conversation_member.list", P{"channel": "C1"}},
	{"joins a channel with a form", "POST", "/api/conversations.join", "channel=C2", "slack.conversation.join", P{"channel": "C2"}},
	{"leaves a channel with a form", "POST", "/api/conversations.leave", "channel=C2", "slack.conversation.leave", P{"channel": "C2"}},
	{"lists users", "GET", "/api/users.list", "", "slack.user.list", nil},
	{"gets a user", "GET", "/api/users.info?user=U1", "", "slack.user.get", P{"user": "U1"}},
	{"looks up a user without copying the email", "GET", "/api/users.lookupByEmail?email=a%40b.example", "", "slack.user.lookup_by_email", nil},
	{"lists a user's conversations", "GET", "/api/users.conversations?user=U1", "", "slack.user_conversation.list", P{"user": "U1"}},
	{"gets reactions", "GET", "/api/reactions.get?channel=C1&timestamp=1.2", "", "slack.reaction.get", P{"channel": "C1", "timestamp": "1.2"}},
	{"lists pins", "GET", "/api/pins.list?channel=C1", "", "slack.pin.list", P{"channel": "C1"}},
	{"lists files of a channel", "GET", "/api/files.list?channel=C1", "", "slack.file.list", P{"channel": "C1"}},
	{"gets file info", "GET", "/api/files.info?file=F1", "", "slack.file.get", P{"file": "F1"}},
	{"gets an upload URL", "GET", "/api/files.getUploadURLExternal?filename=a.txt&length=3", "", "slack.file.get_upload_url", nil},
	{"gets team info", "GET", "/api/team.info", "", "slack.team.get", nil},
	{"searches messages without copying the query", "GET", "/api/search.messages?query=password", "", "slack.search.messages", nil},
	{"ignores a legacy token in the form body", "POST", "/api/chat.delete", "token=xoxb-1&channel=C1&ts=1.2", "slack.chat.delete", P{"channel": "C1", "ts": "1.2"}},
	{"names an unlisted method unknown", "POST", "/api/admin.users.remove", "user=U1", "slack.unknown", P{"method": "POST", "path": "/api/admin.users.remove"}},
}

func init() { goldenTables[TypeSlack] = append(slackJSONGolden, slackFormGolden...) }

func TestSlackGolden(t *testing.T) {
	spec := Spec{Name: "slack", Type: TypeSlack}
	t.Run("json", func(t *testing.T) { runGolden(t, spec, "application/json; charset=utf-8", slackJSONGolden) })
	t.Run("form", func(t *testing.T) { runGolden(t, spec, "application/x-www-form-urlencoded", slackFormGolden) })
}
