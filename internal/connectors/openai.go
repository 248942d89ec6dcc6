package connectors

// openaiType is api.openai.com. The model is a param wherever the body
// names it. The OpenAI-Organization and OpenAI-Project headers choose whose
// quota and data a key acts on, so they become params too.
var openaiType = builtin{
	hosts:            []string{"api.openai.com"},
	routes:           openaiRoutes,
	format:           bodyJSON,
	credentialHeader: "authorization",
	headerParams: []headerParam{
		{header: "openai-organization", param: "organization"},
		{header: "openai-project", param: "project"},
	},
}

var openaiRoutes = []RouteSpec{
	{"POST", "/v1/chat/completions", "openai.chat_completion.create", nil,
		qs("model:string", "stream:bool", "max_tokens:number", "max_completion_tokens:number", "n:number")},
	{"GET", "/v1/chat/completions", "openai.chat_completion.list", qs("model"), nil},
	{"GET", "/v1/chat/completions/{completion_id}", "openai.chat_completion.get", nil, nil},
	{"POST", "/v1/chat/completions/{completion_id}", "openai.chat_completion.update", nil, nil},
	{"DELETE", "/v1/chat/completions/{completion_id}", "openai.chat_completion.delete", nil, nil},
	{"GET", "/v1/chat/completions/{completion_id}/messages", "openai.chat_completion_message.list", nil, nil},

	{"POST", "/v1/responses", "openai.response.create", nil,
		qs("model:string", "stream:bool", "max_output_tokens:number", "background:bool", "store:bool")},
	{"GET", "/v1/responses/{response_id}", "openai.response.get", nil, nil},
	{"DELETE", "/v1/responses/{response_id}", "openai.response.delete", nil, nil},
	{"POST", "/v1/responses/{response_id}/cancel", "openai.response.cancel", nil, nil},
	{"GET", "/v1/responses/{response_id}/input_items", "openai.response_input_item.list", nil, nil},

	{"POST", "/v1/embeddings", "openai.embedding.create", nil, qs("model:string", "dimensions:number")},
	{"POST", "/v1/completions", "openai.completion.create", nil, qs("model:string", "max_tokens:number")},
	{"POST", "/v1/moderations", "openai.moderation.create", nil, qs("model:string")},
	{"POST", "/v1/images/generations", "openai.image.generate", nil, qs("model:string", "n:number", "size")},
	{"POST", "/v1/audio/speech", "openai.audio_speech.create", nil, qs("model:string")},
	// Multipart bodies are not read: the route names the action, that is all.
	{"POST", "/v1/audio/transcriptions", "openai.audio_transcription.create", nil, nil},

	{"GET", "/v1/files", "openai.file.list", qs("purpose"), nil},
	{"POST", "/v1/files", "openai.file.create", nil, nil},
	{"GET", "/v1/files/{file_id}", "openai.file.get", nil, nil},
	{"DELETE", "/v1/files/{file_id}", "openai.file.delete", nil, nil},
	{"GET", "/v1/files/{file_id}/content", "openai.file_content.get", nil, nil},

	{"GET", "/v1/models", "openai.model.list", nil, nil},
	{"GET", "/v1/models/{model}", "openai.model.get", nil, nil},
	{"DELETE", "/v1/models/{model}", "openai.model.delete", nil, nil},

	{"POST", "/v1/batches", "openai.batch.create", nil, qs("endpoint", "input_file_id")},
	{"GET", "/v1/batches", "openai.batch.list", nil, nil},
	{"GET", "/v1/batches/{batch_id}", "openai.batch.get", nil, nil},
	{"POST", "/v1/batches/{batch_id}/cancel", "openai.batch.cancel", nil, nil},
}
