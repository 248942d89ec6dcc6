package connectors

import "testing"

const antBatchPath = "/v1/messages/batches/msgbatch_1"

var anthropicGolden = []golden{
	{"creates a message with its model", "POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Hello"}]}`, "anthropic.message.create", P{"model": "claude-sonnet-4-5", "max_tokens": 1024.0}},
	{"creates a streamed message", "POST", "/v1/messages", `{"stream":true,"model":"claude-haiku-4-5","max_tokens":1,"messages":[]}`, "anthropic.message.create", P{"model": "claude-haiku-4-5", "max_tokens": 1.0, "stream": true}},
	{"reads a body with white space around it", "POST", "/v1/messages", " \n{ \"model\" : \"claude-opus-4-1\" }\r\n", "anthropic.message.create", P{"model": "claude-opus-4-1"}},
	{"counts tokens", "POST", "/v1/messages/count_tokens", `{"model":"claude-sonnet-4-5","messages":[]}`, "anthropic.message.count_tokens", P{"model": "claude-sonnet-4-5"}},
	{"creates a message batch", "POST", "/v1/messages/batches", `{"requests":[{"custom_id":"a","params":{"model":"x"}}]}`, "anthropic.message_batch.create", nil},
	{"lists message batches", "GET", "/v1/messages/batches?limit=10", "", "anthropic.message_batch.list", nil},
	{"gets a message batch", "GET", antBatchPath, "", "anthropic.message_batch.get", P{"batch_id": "msgbatch_1"}},
	{"deletes a message batch", "DELETE", antBatchPath, "", "anthropic.message_batch.delete", P{"batch_id": "msgbatch_1"}},
	{"cancels a message batch", "POST", antBatchPath + "/cancel", "", "anthropic.message_batch.cancel", P{"batch_id": "msgbatch_1"}},
	{"gets message batch results", "GET", antBatchPath + "/results", "", "anthropic.message_batch_result.get", P{"batch_id": "msgbatch_1"}},
	{"creates a legacy completion", "POST", "/v1/complete", `{"model":"claude-2.1","prompt":"\n\nHuman: hi\n\nAssistant:","max_tokens_to_sample":5}`, "anthropic.completion.create", P{"model": "claude-2.1", "max_tokens_to_sample": 5.0}},
	{"lists models", "GET", "/v1/models", "", "anthropic.model.list", nil},
	{"gets a model", "GET", "/v1/models/claude-sonnet-4-5", "", "anthropic.model.get", P{"model": "claude-sonnet-4-5"}},
	{"lists files", "GET", "/v1/files", "", "anthropic.file.list", nil},
	{"uploads a file", "POST", "/v1/files", "", "anthropic.file.create", nil},
	{"gets a file", "GET", "/v1/files/file_1", "", "anthropic.file.get", P{"file_id": "file_1"}},
	{"deletes a file", "DELETE", "/v1/files/file_1", "", "anthropic.file.delete", P{"file_id": "file_1"}},
	{"downloads a file", "GET", "/v1/files/file_1/content", "", "anthropic.file_content.get", P{"file_id": "file_1"}},
	{"names an unlisted endpoint unknown", "GET", "/v1/organizations/me", "", "anthropic.unknown", P{"method": "GET", "path": "/v1/organizations/me"}},
}

func init() { goldenTables[TypeAnthropic] = anthropicGolden }

func TestAnthropicGolden(t *testing.T) {
	runGolden(t, Spec{Name: "claude", Type: TypeAnthropic}, "application/json", anthropicGolden)
}
