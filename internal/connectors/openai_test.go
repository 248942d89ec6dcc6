package connectors

import "testing"

var openaiGolden = []golden{
	{"creates a chat completion with its model", "POST", "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}`, "openai.chat_completion.create", P{"model": "gpt-4o-mini", "stream": true}},
	{"reads max_completion_tokens as a number", "POST", "/v1/chat/completions", `{"messages":[],"max_completion_tokens":256,"model":"o3","n":2}`, "openai.chat_completion.create", P{"model": "o3", "max_completion_tokens": 256.0, "n": 2.0}},
	{"finds model after a large nested message", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"text","text":"{\"model\":\"fake\"}"}]}],"model":"gpt-4.1"}`, "openai.chat_completion.create", P{"model": "gpt-4.1"}},
	{"decodes escapes in the model name", "POST", "/v1/chat/completions", `{"model":"gpt\u002d4o"}`, "openai.chat_completion.create", P{"model": "gpt-4o"}},
	{"treats a null field as absent", "POST", "/v1/chat/completions", `{"model":"gpt-4o","max_tokens":null}`, "openai.chat_completion.create", P{"model": "gpt-4o"}},
	{"lists stored chat completions", "GET", "/v1/chat/completions?model=gpt-4o", "", "openai.chat_completion.list", P{"model": "gpt-4o"}},
	{"gets a stored chat completion", "GET", "/v1/chat/completions/chatcmpl-1", "", "openai.chat_completion.get", P{"completion_id": "chatcmpl-1"}},
	{"updates a stored chat completion", "POST", "/v1/chat/completions/chatcmpl-1", `{"metadata":{}}`, "openai.chat_completion.update", P{"completion_id": "chatcmpl-1"}},
	{"deletes a stored chat completion", "DELETE", "/v1/chat/completions/chatcmpl-1", "", "openai.chat_completion.delete", P{"completion_id": "chatcmpl-1"}},
	{"lists messages of a chat completion", "GET", "/v1/chat/completions/chatcmpl-1/messages", "", "openai.chat_completion_message.list", P{"completion_id": "chatcmpl-1"}},
	{"creates a response", "POST", "/v1/responses", `{"model":"gpt-5","input":"hi","background":true,"max_output_tokens":1000}`, "openai.response.create", P{"model": "gpt-5", "background": true, "max_output_tokens": 1000.0}},
	{"gets a response", "GET", "/v1/responses/resp_1", "", "openai.response.get", P{"response_id": "resp_1"}},
	{"deletes a response", "DELETE", "/v1/responses/resp_1", "", "openai.response.delete", P{"response_id": "resp_1"}},
	{"cancels a response", "POST", "/v1/responses/resp_1/cancel", "", "openai.response.cancel", P{"response_id": "resp_1"}},
	{"lists a response's input items", "GET", "/v1/responses/resp_1/input_items", "", "openai.response_input_item.list", P{"response_id": "resp_1"}},
	{"creates embeddings", "POST", "/v1/embeddings", `{"model":"text-embedding-3-small","input":["a"],"dimensions":256}`, "openai.embedding.create", P{"model": "text-embedding-3-small", "dimensions": 256.0}},
	{"creates a legacy completion", "POST", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"x","max_tokens":5}`, "openai.completion.create", P{"model": "gpt-3.5-turbo-instruct", "max_tokens": 5.0}},
	{"creates a moderation", "POST", "/v1/moderations", `{"model":"omni-moderation-latest","input":"x"}`, "openai.moderation.create", P{"model": "omni-moderation-latest"}},
	{"generates images", "POST", "/v1/images/generations", `{"model":"gpt-image-1","prompt":"cat","n":4,"size":"1024x1024"}`, "openai.image.generate", P{"model": "gpt-image-1", "n": 4.0, "size": "1024x1024"}},
	{"creates speech", "POST", "/v1/audio/speech", `{"model":"tts-1","input":"x","voice":"alloy"}`, "openai.audio_speech.create", P{"model": "tts-1"}},
	{"transcribes audio without reading the multipart body", "POST", "/v1/audio/transcriptions", "", "openai.audio_transcription.create", nil},
	{"lists files for a purpose", "GET", "/v1/files?purpose=batch", "", "openai.file.list", P{"purpose": "batch"}},
	{"uploads a file", "POST", "/v1/files", "", "openai.file.create", nil},
	{"gets a file", "GET", "/v1/files/file-1", "", "openai.file.get", P{"file_id": "file-1"}},
	{"deletes a file", "DELETE", "/v1/files/file-1", "", "openai.file.delete", P{"file_id": "file-1"}},
	{"downloads a file", "GET", "/v1/files/file-1/content", "", "openai.file_content.get", P{"file_id": "file-1"}},
	{"lists models", "GET", "/v1/models", "", "openai.model.list", nil},
	{"gets a model", "GET", "/v1/models/gpt-4o", "", "openai.model.get", P{"model": "gpt-4o"}},
	{"deletes a fine-tuned model with a colon", "DELETE", "/v1/models/ft:gpt-4o:acme::abc", "", "openai.model.delete", P{"model": "ft:gpt-4o:acme::abc"}},
	{"creates a batch", "POST", "/v1/batches", `{"input_file_id":"file-1","endpoint":"/v1/chat/completions","completion_window":"24h"}`, "openai.batch.create", P{"input_file_id": "file-1", "endpoint": "/v1/chat/completions"}},
	{"lists batches", "GET", "/v1/batches", "", "openai.batch.list", nil},
	{"gets a batch", "GET", "/v1/batches/batch_1", "", "openai.batch.get", P{"batch_id": "batch_1"}},
	{"cancels a batch", "POST", "/v1/batches/batch_1/cancel", "", "openai.batch.cancel", P{"batch_id": "batch_1"}},
	{"names an unlisted endpoint unknown", "POST", "/v1/fine_tuning/jobs", `{"model":"x"}`, "openai.unknown", P{"method": "POST", "path": "/v1/fine_tuning/jobs"}},
}

func init() { goldenTables[TypeOpenAI] = openaiGolden }

func TestOpenAIGolden(t *testing.T) {
	runGolden(t, Spec{Name: "openai", Type: TypeOpenAI}, "application/json", openaiGolden)
}
