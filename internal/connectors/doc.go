// Package connectors turns HTTP requests into actions (DESIGN §2 step 3, §3
// "Action"): it maps a host to its connector, matches the request against the
// connector's route table and names the action `<prefix>.<resource>.<verb>`
// with params taken from path segments, selected query fields, selected body
// fields and a few headers. It also describes how each connector's API takes
// credentials (which header, which fixed companion headers, which headers an
// agent must never pass upstream).
//
// The package is pure: no network I/O, no secret resolution (credential
// values arrive resolved) and nothing else of Bridle imported. A Registry is
// immutable once built and safe for concurrent use.
//
// # Route tables
//
// Built-in types (github, stripe, openai, anthropic, slack) carry a table
// compiled into the binary; users add routes for any HTTP API (type http) or
// extend a built-in table (their routes are tried first). Routes are tried in
// order and the first match wins. A path template is a list of segments:
// literals, {name} (one non-empty segment, a string param), {name:int} (one
// segment of 1–15 decimal digits, a number param) and a final {name...} (one or
// more non-empty segments joined with "/"). Query and body selectors are
// "name" or "name:type" with type string, number or bool; body selectors may
// be dotted ("config.url") to reach nested JSON objects (form bodies spell
// that "config[url]"); the param is the selector with dots and dashes turned
// into underscores ("config_url").
//
// # Params
//
// Param values are strings, float64 numbers and booleans. Numbers are always
// float64, whatever their source, because JSON, Rego and RFC 8785 all treat
// numbers as IEEE 754 doubles; integers up to 2^53 are exact. Path segments
// are strings unless the template says {name:int}. A request no route matches
// becomes `<prefix>.unknown` with params method and path (the path without its
// query: query values may be secrets, DESIGN invariant 6).
//
// # Bodies
//
// Only routes with body selectors (and GitHub's GraphQL endpoint) read the
// body; NeedsBody and BodyRoutes tell the caller where Envoy must buffer it
// (MaxBodyBytes). GitHub, OpenAI and Anthropic bodies are read as JSON
// whatever Content-Type says (as those APIs do), Stripe's as forms, Slack's
// and type http's by Content-Type. The JSON reader validates the whole body
// in one pass without building a tree and copies only selected scalars.
//
// # Security choices
//
// Everything here parses input an agent controls, to decide what an upstream
// will do. Wherever the upstream might read a request differently from us,
// Parse refuses (an error, which the caller turns into a deny) rather than
// guess: invalid percent-encoding, dot segments (also when hidden behind %2F),
// a selected field given twice or in two places or in two letter cases,
// truncated or invalid bodies, GraphQL mutations with several different
// top-level fields. See ErrInvalidPath, ErrBodyUnparseable and ErrAmbiguous.
package connectors
