// Package statedir owns the layout of Bridle's state directory (.bridle/):
// the bound endpoints of a running instance, the CA bundle agents trust, and
// the plaintext tokens of dev agents. The directory is private (0700) and
// every secret file in it is 0600.
package statedir

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a state directory.
type Dir string

// Ensure creates the directory (and parents) with mode 0700, and tightens
// the mode of an existing one: it holds the CA key and agent tokens.
func (d Dir) Ensure() error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("creating state dir: %w", err)
	}
	if err := os.Chmod(string(d), 0o700); err != nil {
		return fmt.Errorf("securing state dir: %w", err)
	}
	return nil
}

// Path joins name onto the directory.
func (d Dir) Path(name string) string { return filepath.Join(string(d), name) }

// Endpoints are the addresses a running `bridle up` actually bound.
type Endpoints struct {
	Proxy      string `json:"proxy"`
	API        string `json:"api"`
	XDS        string `json:"xds"`
	Authz      string `json:"authz"`
	EnvoyAdmin string `json:"envoy_admin"`
	PID        int    `json:"pid"`
	// APITLS says the API serves HTTPS with a certificate from the CA in
	// this state dir (ca.pem).
	APITLS bool `json:"api_tls,omitempty"`
	// ProxyTLS says the proxy listener speaks TLS (HTTPS_PROXY=https://),
	// with a certificate from the same CA.
	ProxyTLS bool `json:"proxy_tls,omitempty"`
}

// ProxyScheme is the scheme of the proxy URL agents use: https when the
// proxy listener speaks TLS.
func (e Endpoints) ProxyScheme() string {
	if e.ProxyTLS {
		return "https"
	}
	return "http"
}

// APIScheme is the scheme of the API's URL: https when it serves TLS.
func (e Endpoints) APIScheme() string {
	if e.APITLS {
		return "https"
	}
	return "http"
}

const endpointsFile = "endpoints.json"

// WriteEndpoints records the bound addresses for `bridle run` and tests.
func (d Dir) WriteEndpoints(e Endpoints) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding endpoints: %w", err)
	}
	return WriteFile(d.Path(endpointsFile), append(b, '\n'), 0o644)
}

// ReadEndpoints reads the endpoints of a running instance.
func (d Dir) ReadEndpoints() (Endpoints, error) {
	var e Endpoints
	b, err := os.ReadFile(d.Path(endpointsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return e, fmt.Errorf("no running Bridle found (%s is missing): start one with `bridle up`", d.Path(endpointsFile))
	}
	if err != nil {
		return e, fmt.Errorf("reading endpoints: %w", err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("reading %s: %w", d.Path(endpointsFile), err)
	}
	return e, nil
}

// RemoveEndpoints marks the instance stopped.
func (d Dir) RemoveEndpoints() { os.Remove(d.Path(endpointsFile)) }

// CABundle is the file holding system roots plus Bridle's CA, handed to
// agents in SSL_CERT_FILE and friends.
func (d Dir) CABundle() string { return d.Path("ca-bundle.pem") }

// TokenPrefix marks Bridle agent tokens so leaked ones are recognisable
// (secret scanners, logs).
const TokenPrefix = "brd_"

// NewToken returns a fresh agent token: the prefix and 32 random bytes in
// lower-case base32, and the hex SHA-256 that goes into bridle.yaml.
func NewToken() (token, sum string) {
	var b [32]byte
	rand.Read(b[:])
	token = TokenPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
	h := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(h[:])
}

func (d Dir) tokenPath(agent string) string { return d.Path(filepath.Join("agents", agent+".token")) }

// StoreDevToken keeps a dev agent's token (0600) so `bridle run --agent`
// finds it. Production deployments hand tokens to agents another way.
func (d Dir) StoreDevToken(agent, token string) error {
	if err := d.Ensure(); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Path("agents"), 0o700); err != nil {
		return fmt.Errorf("creating agents dir: %w", err)
	}
	return WriteFile(d.tokenPath(agent), []byte(token+"\n"), 0o600)
}

// DevToken reads a stored dev token.
func (d Dir) DevToken(agent string) (string, error) {
	b, err := os.ReadFile(d.tokenPath(agent))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no stored token for agent %q: pass --token, or create one with `bridle agent add %s`", agent, agent)
	}
	if err != nil {
		return "", fmt.Errorf("reading token of agent %q: %w", agent, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// RemoveDevToken forgets a dev agent's token; a missing one is not an
// error.
func (d Dir) RemoveDevToken(agent string) error {
	if err := os.Remove(d.tokenPath(agent)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing token of agent %q: %w", agent, err)
	}
	return nil
}

// DevAgents lists agents with a stored dev token, sorted.
func (d Dir) DevAgents() ([]string, error) {
	entries, err := os.ReadDir(d.Path("agents"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing dev agents: %w", err)
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".token"); ok && !e.IsDir() {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// WriteFile writes atomically (temp file + rename) with the given mode, so
// readers never see a half-written file and secrets are never briefly
// world-readable.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// operatorTokenFile holds the local owner token `bridle up` creates so the
// CLI on this machine can use the API (same trust as the CA key beside it).
const operatorTokenFile = "operator.token"

// OperatorToken returns the local owner token, creating it (0600) on first
// use, and its SHA-256.
func (d Dir) OperatorToken() (token string, sum [32]byte, err error) {
	b, err := os.ReadFile(d.Path(operatorTokenFile))
	switch {
	case err == nil:
		token = strings.TrimSpace(string(b))
	case errors.Is(err, fs.ErrNotExist):
		var raw [32]byte
		rand.Read(raw[:])
		token = "bro_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:]))
		if err := WriteFile(d.Path(operatorTokenFile), []byte(token+"\n"), 0o600); err != nil {
			return "", sum, err
		}
	default:
		return "", sum, fmt.Errorf("reading operator token: %w", err)
	}
	return token, sha256.Sum256([]byte(token)), nil
}

// ReadOperatorToken reads the local owner token without creating it.
func (d Dir) ReadOperatorToken() (string, error) {
	b, err := os.ReadFile(d.Path(operatorTokenFile))
	if err != nil {
		return "", fmt.Errorf("no operator token: set $BRIDLE_OPERATOR_TOKEN, or run the CLI as the user running `bridle up` (%w)", err)
	}
	return strings.TrimSpace(string(b)), nil
}
