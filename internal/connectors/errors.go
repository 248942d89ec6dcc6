package connectors

import "errors"

// Parse errors. Every error from Parse means the caller denies the request;
// DESIGN §3 has one reason code for all of them, body_unparseable. The
// sentinels let logs and tests tell the cases apart (errors.Is).
var (
	// ErrInvalidPath: the request target cannot be read unambiguously (not
	// origin-form, invalid percent-encoding, dot segments, control bytes).
	ErrInvalidPath = errors.New("invalid request path")
	// ErrBodyUnparseable: a body the decision needs is missing, truncated,
	// not of the expected format, or holds a selected field of the wrong type.
	ErrBodyUnparseable = errors.New("body unparseable")
	// ErrAmbiguous: the request could be read in two ways (a selected field
	// twice, in two sources or in two letter cases; several GraphQL
	// operations and no operationName; a mutation with several fields).
	ErrAmbiguous = errors.New("ambiguous request")
)
