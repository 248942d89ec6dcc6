package connectors

// anthropicType is api.anthropic.com. The key goes in x-api-key; the API
// also requires anthropic-version, added when the agent leaves it out.
var anthropicType = builtin{
	hosts:            []string{"api.anthropic.com"},
	routes:           anthropicRoutes,
	format:           bodyJSON,
	credentialHeader: "x-api-key",
	companions:       []HeaderValue{{Name: "anthropic-version", Value: "2023-06-01"}},
}

const antBatch = "/v1/messages/batches/{batch_id}"

var anthropicRoutes = []RouteSpec{
	{"POST", "/v1/messages", "anthropic.message.create", nil, qs("model:string", "stream:bool", "max_tokens:number")},
	{"POST", "/v1/messages/count_tokens", "anthropic.message.count_tokens", nil, qs("model:string")},
	{"POST", "/v1/messages/batches", "anthropic.message_batch.create", nil, nil},
	{"GET", "/v1/messages/batches", "anthropic.message_batch.list", nil, nil},
	{"GET", antBatch, "anthropic.message_batch.get", nil, nil},
	{"DELETE", antBatch, "anthropic.message_batch.delete", nil, nil},
	{"POST", antBatch + "/cancel", "anthropic.message_batch.cancel", nil, nil},
	{"GET", antBatch + "/results", "anthropic.message_batch_result.get", nil, nil},
	{"POST", "/v1/complete", "anthropic.completion.create", nil, qs("model:string", "max_tokens_to_sample:number")},
	{"GET", "/v1/models", "anthropic.model.list", nil, nil},
	{"GET", "/v1/models/{model}", "anthropic.model.get", nil, nil},
	{"GET", "/v1/files", "anthropic.file.list", nil, nil},
	{"POST", "/v1/files", "anthropic.file.create", nil, nil},
	{"GET", "/v1/files/{file_id}", "anthropic.file.get", nil, nil},
	{"DELETE", "/v1/files/{file_id}", "anthropic.file.delete", nil, nil},
	{"GET", "/v1/files/{file_id}/content", "anthropic.file_content.get", nil, nil},
}
