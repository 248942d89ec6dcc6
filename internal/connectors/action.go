package connectors

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Action is what a request does, in the terms policies match (DESIGN §3).
// JSON field names are those of the API and the audit log.
type Action struct {
	Agent     string `json:"agent"`
	Connector string `json:"connector"` // connector name
	// Type is the action type, `<prefix>.<resource>.<verb>`; JSON "action".
	Type   string `json:"action"`
	Method string `json:"method"`
	Host   string `json:"host"`
	// Path is the raw request path without its query, percent-encoding kept.
	Path string `json:"path"`
	// Params holds strings, float64 numbers and booleans.
	Params map[string]any `json:"params"`
}

// CanonicalJSON returns the RFC 8785 (JCS) form of the action: the bytes
// its spec hash is computed over. Nil and empty Params both encode as {}, so
// an action built by the API and one parsed at the proxy hash alike.
func (a Action) CanonicalJSON() ([]byte, error) {
	// Keys in UTF-16 order: action agent connector host method params path.
	b := make([]byte, 0, 256)
	var err error
	for _, kv := range [...]struct{ key, val string }{
		{`{"action":`, a.Type}, {`,"agent":`, a.Agent}, {`,"connector":`, a.Connector},
		{`,"host":`, a.Host}, {`,"method":`, a.Method},
	} {
		b = append(b, kv.key...)
		if b, err = appendJCSString(b, kv.val); err != nil {
			return nil, fmt.Errorf("canonical action: %s: %w", kv.key, err)
		}
	}
	b = append(b, `,"params":`...)
	params := a.Params
	if params == nil {
		params = map[string]any{}
	}
	if b, err = appendJCS(b, params); err != nil {
		return nil, fmt.Errorf("canonical action: params: %w", err)
	}
	b = append(b, `,"path":`...)
	if b, err = appendJCSString(b, a.Path); err != nil {
		return nil, fmt.Errorf("canonical action: path: %w", err)
	}
	return append(b, '}'), nil
}

// SpecHash returns action_spec_hash (DESIGN §3): the hex SHA-256 of
// CanonicalJSON. It returns an error, never a fallback string, for an
// action that has no canonical form (a NaN, invalid UTF-8, an unsupported
// param type): a degenerate hash could make two different actions equal.
func (a Action) SpecHash() (string, error) {
	b, err := a.CanonicalJSON()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
