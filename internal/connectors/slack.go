package connectors

// slackType is the Slack Web API at slack.com/api/<method>. Slack takes
// arguments from the query string, a form body or a JSON body, and every
// method answers GET and POST, so each method below gets both routes and
// reads its fields from the query and the body; a field in both is refused
// (ErrAmbiguous). Methods not listed are slack.unknown.
var slackType = builtin{
	hosts:            []string{"slack.com"},
	routes:           slackRoutes(slackMethods),
	format:           bodyByContentType,
	credentialHeader: "authorization",
}

type slackMethod struct {
	method, action string
	fields         []string
}

var slackMethods = []slackMethod{
	{"chat.postMessage", "slack.chat.post_message", qs("channel", "thread_ts")},
	{"chat.postEphemeral", "slack.chat.post_ephemeral", qs("channel", "user")},
	{"chat.update", "slack.chat.update", qs("channel", "ts")},
	{"chat.delete", "slack.chat.delete", qs("channel", "ts")},
	{"chat.scheduleMessage", "slack.chat.schedule_message", qs("channel", "post_at:number")},
	{"chat.getPermalink", "slack.chat.get_permalink", qs("channel")},
	{"conversations.list", "slack.conversation.list", qs("types")},
	{"conversations.info", "slack.conversation.get", qs("channel")},
	{"conversations.history", "slack.conversation.history", qs("channel")},
	{"conversations.replies", "slack.conversation.replies", qs("channel", "ts")},
	{"conversations.members", "slack.conversation_member.list", qs("channel")},
	{"conversations.create", "slack.conversation.create", qs("name", "is_private:bool")},
	{"conversations.join", "slack.conversation.join", qs("channel")},
	{"conversations.leave", "slack.conversation.leave", qs("channel")},
	{"conversations.invite", "slack.conversation.invite", qs("channel", "users")},
	{"conversations.kick", "slack.conversation.kick", qs("channel", "user")},
	{"conversations.archive", "slack.conversation.archive", qs("channel")},
	{"conversations.unarchive", "slack.conversation.unarchive", qs("channel")},
	{"conversations.rename", "slack.conversation.rename", qs("channel", "name")},
	{"conversations.setTopic", "slack.conversation.set_topic", qs("channel")},
	{"conversations.setPurpose", "slack.conversation.set_purpose", qs("channel")},
	{"conversations.open", "slack.conversation.open", qs("users")},
	{"users.list", "slack.user.list", nil},
	{"users.info", "slack.user.get", qs("user")},
	{"users.lookupByEmail", "slack.user.lookup_by_email", nil},
	{"users.conversations", "slack.user_conversation.list", qs("user")},
	{"reactions.add", "slack.reaction.add", qs("channel", "timestamp", "name")},
	{"reactions.remove", "slack.reaction.remove", qs("channel", "timestamp", "name")},
	{"reactions.get", "slack.reaction.get", qs("channel", "timestamp")},
	{"pins.add", "slack.pin.add", qs("channel")},
	{"pins.remove", "slack.pin.remove", qs("channel")},
	{"pins.list", "slack.pin.list", qs("channel")},
	{"files.list", "slack.file.list", qs("channel")},
	{"files.info", "slack.file.get", qs("file")},
	{"files.delete", "slack.file.delete", qs("file")},
	{"files.getUploadURLExternal", "slack.file.get_upload_url", nil},
	{"files.completeUploadExternal", "slack.file.complete_upload", qs("channel_id")},
	{"auth.test", "slack.auth.test", nil},
	{"team.info", "slack.team.get", nil},
	{"search.messages", "slack.search.messages", nil},
}

func slackRoutes(methods []slackMethod) []RouteSpec {
	out := make([]RouteSpec, 0, 2*len(methods))
	for _, m := range methods {
		p := "/api/" + m.method
		out = append(out,
			RouteSpec{Method: "POST", Path: p, Action: m.action, Query: m.fields, Body: m.fields},
			RouteSpec{Method: "GET", Path: p, Action: m.action, Query: m.fields})
	}
	return out
}
