// Package config reads bridle.yaml: the wire format, a strict decoder that
// reports every problem with file:line:col, and validation into the runtime
// types the rest of Bridle uses. It imports nothing else of Bridle's.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Version is the only config format version this build understands.
const Version = 1

// Defaults for listen addresses; all loopback so that nothing is exposed
// until an operator decides to.
const (
	DefaultProxy      = "127.0.0.1:3128"
	DefaultAPI        = "127.0.0.1:3180"
	DefaultXDS        = "127.0.0.1:18000"
	DefaultAuthz      = "127.0.0.1:18001"
	DefaultEnvoyAdmin = "127.0.0.1:9901"
	DefaultStateDir   = ".bridle"
)

// wire is bridle.yaml as written. It is kept apart from Config so the file
// format can stay stable while runtime types change.
type wire struct {
	Version    *int              `yaml:"version"`
	Listen     wireListen        `yaml:"listen"`
	StateDir   string            `yaml:"state_dir"`
	Agents     []wireAgent       `yaml:"agents"`
	Connectors []wireConnector   `yaml:"connectors"`
	Policies   []string          `yaml:"policies"`
	Secrets    map[string]string `yaml:"secrets"`
	Audit      wireAudit         `yaml:"audit"`
	Redis      wireRedis         `yaml:"redis"`
	Defaults   wireDefaults      `yaml:"defaults"`
	Operators  []wireOperator    `yaml:"operators"`
	Approvals  wireApprovals     `yaml:"approvals"`
}

type wireApprovals struct {
	Hold             time.Duration `yaml:"hold"`
	Timeout          time.Duration `yaml:"timeout"`
	MaxHolds         int           `yaml:"max_holds"`
	Slack            *wireSlack    `yaml:"slack"`
	WebhookURL       string        `yaml:"webhook_url"`
	WebhookSecret    string        `yaml:"webhook_secret"`
	WebhookDecisions bool          `yaml:"webhook_decisions"`
}

type wireSlack struct {
	BotToken      string   `yaml:"bot_token"`
	Channel       string   `yaml:"channel"`
	WebhookURL    string   `yaml:"webhook_url"`
	SigningSecret string   `yaml:"signing_secret"`
	Approvers     []string `yaml:"approvers"`
	APIURL        string   `yaml:"api_url"`
}

type wireOperator struct {
	Name        string `yaml:"name"`
	Role        string `yaml:"role"`
	TokenSHA256 string `yaml:"token_sha256"`
}

type wireRedis struct {
	URL      string        `yaml:"url"`
	Sentinel *wireSentinel `yaml:"sentinel"`
	Cluster  []string      `yaml:"cluster"`
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	TLS      bool          `yaml:"tls"`
	// A private CA (trusted instead of the system roots), a client
	// certificate, the name to verify; any of them turns TLS on.
	TLSCA         string        `yaml:"tls_ca"`
	TLSCert       string        `yaml:"tls_cert"`
	TLSKey        string        `yaml:"tls_key"`
	TLSServerName string        `yaml:"tls_server_name"`
	DialTimeout   time.Duration `yaml:"dial_timeout"`
	OpTimeout     time.Duration `yaml:"op_timeout"`
}

type wireSentinel struct {
	MasterName string   `yaml:"master_name"`
	Addrs      []string `yaml:"addrs"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
}

type wireDefaults struct {
	RateLimit *wireRateLimit `yaml:"rate_limit"`
}

type wireRateLimit struct {
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
}

type wireAudit struct {
	Path          string `yaml:"path"`
	RetentionDays *int   `yaml:"retention_days"`
}

type wireListen struct {
	Proxy      string   `yaml:"proxy"`
	API        string   `yaml:"api"`
	XDS        string   `yaml:"xds"`
	Authz      string   `yaml:"authz"`
	EnvoyAdmin string   `yaml:"envoy_admin"`
	TLS        string   `yaml:"tls"`
	ProxyTLS   bool     `yaml:"proxy_tls"`
	ProxyNames []string `yaml:"proxy_names"`
}

type wireAgent struct {
	Name         string         `yaml:"name"`
	TokenSHA256  string         `yaml:"token_sha256"`
	TokenSHA256s []string       `yaml:"token_sha256s"`
	RateLimit    *wireRateLimit `yaml:"rate_limit"`
}

type wireConnector struct {
	Name                       string                    `yaml:"name"`
	Type                       string                    `yaml:"type"`
	Hosts                      []string                  `yaml:"hosts"`
	Upstream                   string                    `yaml:"upstream"`
	UpstreamCA                 string                    `yaml:"upstream_ca"`
	UnsafeAllowPrivateUpstream bool                      `yaml:"unsafe_allow_private_upstream"`
	Credential                 *wireCredential           `yaml:"credential"`
	AgentCredentials           map[string]wireCredential `yaml:"agent_credentials"`
	Routes                     []wireRoute               `yaml:"routes"`
	RateLimit                  *wireRateLimit            `yaml:"rate_limit"`
}

type wireRoute struct {
	Method string   `yaml:"method"`
	Path   string   `yaml:"path"`
	Action string   `yaml:"action"`
	Query  []string `yaml:"query"`
	Body   []string `yaml:"body"`
}

type wireCredential struct {
	Header string `yaml:"header"`
	Value  string `yaml:"value"`
}

// Config is a validated configuration. It is immutable once returned by
// Load or Parse; a reload builds a new one.
type Config struct {
	File       string // absolute path of bridle.yaml
	Dir        string // directory relative paths are resolved against
	Listen     Listen
	StateDir   string // absolute
	Agents     []Agent
	Connectors []Connector
	Policies   []string // patterns as written; resolve against Dir
	Secrets    map[string]Secret
	Audit      Audit
	Redis      Redis
	// RateLimit applies to every agent without its own.
	RateLimit RateLimit
	Operators []Operator
	Approvals Approvals

	places map[string]pos
}

// Audit says where decision records are kept and for how long.
type Audit struct {
	Path          string // absolute; default <state_dir>/audit.db
	RetentionDays int    // default 30
}

// Listen holds the addresses Bridle and its Envoy bind. Port 0 means "pick a
// free port"; the bound addresses are written to <state_dir>/endpoints.json.
type Listen struct {
	Proxy, API, XDS, Authz, EnvoyAdmin string
	// TLS is "auto" (mutual TLS between Envoy and Bridle and TLS on the
	// API as soon as one of them listens off loopback) or "always".
	TLS string
	// ProxyTLS makes the agent-facing listener speak TLS (agents use
	// HTTPS_PROXY=https://…), so agent tokens never cross a network in
	// clear. Its certificate, from Bridle's CA, names the proxy's IP (or
	// this host's addresses when it listens on all of them) and ProxyNames.
	ProxyTLS   bool
	ProxyNames []string
}

// ControlPlaneTLS reports whether Envoy ↔ Bridle and the API must use TLS:
// always off loopback (xDS carries MITM private keys, Checks carry
// credentials), or when asked for.
func (l Listen) ControlPlaneTLS() bool {
	if l.TLS == "always" {
		return true
	}
	for _, a := range []string{l.XDS, l.Authz, l.API} {
		if ap, err := ParseListenAddr(a); err != nil || !ap.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

// Agent is one agent identity. Only SHA-256 hashes of its tokens are kept.
type Agent struct {
	Name         string
	TokenSHA256s [][32]byte
	RateLimit    RateLimit // the defaults unless the agent sets its own
}

// Approvals sets how require_approval actions wait for a human.
type Approvals struct {
	// Hold is how long a request waits inside its Check for a decision
	// before it is answered 429 approval_pending (then retried).
	Hold time.Duration
	// Timeout is how long an approval may stay undecided (then 408).
	Timeout  time.Duration
	MaxHolds int
	// Notifications. Values may hold ${secret:NAME}, resolved by the
	// gateway's loader; they are secrets (a Slack webhook URL is one).
	Slack            *Slack
	WebhookURL       string
	WebhookSecret    string
	WebhookDecisions bool
}

// Slack posts approval requests with Approve/Deny buttons.
type Slack struct {
	BotToken, Channel, WebhookURL, SigningSecret, APIURL string
	Approvers                                            []string
}

// String never shows tokens or secrets.
func (s Slack) String() string { return "slack channel " + s.Channel }

// Operator is a person or tool using the API with a role: viewer, member,
// admin or owner. Only the token's SHA-256 is kept.
type Operator struct {
	Name        string
	Role        string
	TokenSHA256 [32]byte
}

// Roles an operator may have, weakest first.
var Roles = []string{"viewer", "member", "admin", "owner"}

// RateLimit allows at most Requests in any window of Per.
type RateLimit struct {
	Requests int
	Per      time.Duration
}

// Redis locates the shared store. The zero value means the embedded
// in-process Redis (single instance only).
type Redis struct {
	URL                string
	SentinelMaster     string
	SentinelAddrs      []string
	SentinelUsername   string
	SentinelPassword   string
	Cluster            []string
	Username, Password string
	TLS                bool
	// TLSCA is PEM roots trusted instead of the system's; TLSCert and
	// TLSKey a PEM client certificate and key (checked to match at load);
	// TLSServerName the name the server's certificate must carry (default:
	// the host dialled). Any of them implies TLS.
	TLSCA, TLSCert, TLSKey []byte
	TLSServerName          string
	DialTimeout            time.Duration
	OpTimeout              time.Duration
}

// String never shows passwords.
func (r Redis) String() string {
	switch {
	case r.URL != "":
		return "redis " + redactURL(r.URL)
	case r.SentinelMaster != "":
		return fmt.Sprintf("redis sentinel %s %v", r.SentinelMaster, r.SentinelAddrs)
	case len(r.Cluster) > 0:
		return fmt.Sprintf("redis cluster %v", r.Cluster)
	}
	return "embedded redis"
}

// Connector is one upstream API the agents may reach.
type Connector struct {
	Name  string
	Type  string
	Hosts []string
	// Upstream, when set, is dialled instead of resolving the host names
	// (tests, private APIs). host:port.
	Upstream string
	// UpstreamCA is PEM bytes of extra roots trusted for this upstream.
	UpstreamCA                 []byte
	UnsafeAllowPrivateUpstream bool
	// Credential and AgentCredentials may hold ${secret:NAME} references,
	// resolved by the gateway's loader with the vault key.
	Credential       *Credential
	AgentCredentials map[string]Credential
	Routes           []Route
	// RateLimit, when set, also limits each agent on this connector.
	RateLimit *RateLimit
}

// Route is one entry of a user route table (type http): method and path
// template to an action type, with params from query and JSON body fields.
type Route struct {
	Method, Path, Action string
	Query, Body          []string
}

// Secret is one entry of `secrets:`. Encrypted values are "enc:..." and
// need BRIDLE_ENCRYPTION_KEY; others came from the environment.
type Secret struct {
	Encrypted bool
	Value     string
}

// String never shows the value.
func (s Secret) String() string { return "[secret]" }

// GoString never shows the value.
func (s Secret) GoString() string { return s.String() }

// Credential is the header Bridle injects on allowed requests. An empty
// Header means the connector type's default.
type Credential struct {
	Header string
	Value  string
}

// String redacts the value so a credential can never reach a log line
// through fmt or slog by accident (DESIGN invariant 2).
func (c Credential) String() string { return c.Header + ": [redacted]" }

// GoString redacts for %#v as well.
func (c Credential) GoString() string { return c.String() }

// LogValue redacts for log/slog.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// Load reads and validates the config file at path, resolving ${env:NAME}
// from the process environment. Every problem found is returned at once,
// joined, each an *Error naming file:line:col.
func Load(path string) (*Config, error) { return LoadEnv(path, os.LookupEnv) }

// LoadEnv is Load with an explicit environment.
func LoadEnv(path string, env func(string) (string, bool)) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config path %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(abs, data, env)
}

// Parse decodes and validates config bytes. file names the source in
// errors and anchors relative paths; env resolves ${env:NAME}. On error the
// Config is nil if the YAML could not be read at all, and otherwise partial:
// good only for finding more problems (the gateway's loader checks the
// connectors too so that one run reports everything), never for serving.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	d := &decoder{file: file, env: env, places: map[string]pos{}, raws: map[string]string{}}
	var w wire
	if err := d.document(data, &w); err != nil {
		return nil, err
	}
	// Validate even after decode errors so one run reports everything, but
	// drop validation errors about a place that already has a decode error
	// (an unknown key "tokn_sha256" need not also say "no token").
	decodeErrs := d.errs
	d.errs = nil
	v := &validator{d: d, cfg: &Config{File: file, Dir: filepath.Dir(file), places: d.places}}
	v.run(&w)
	errs := decodeErrs
	for _, e := range d.errs {
		if !overlaps(e, decodeErrs) {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		SortErrors(errs)
		return v.cfg, errors.Join(errs...)
	}
	return v.cfg, nil
}

// SortErrors orders errors as they appear in the file, so a user can fix
// them top to bottom.
func SortErrors(errs []error) {
	line := func(e error) (int, int) {
		if ce, ok := e.(*Error); ok {
			return ce.Line, ce.Col
		}
		return 0, 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		al, ac := line(a)
		bl, bc := line(b)
		if al != bl {
			return al - bl
		}
		return ac - bc
	})
}

// overlaps reports whether e's YAML path contains, or is contained in, the
// path of one of errs.
func overlaps(e error, errs []error) bool {
	ce, ok := e.(*Error)
	if !ok {
		return false
	}
	for _, other := range errs {
		oe, ok := other.(*Error)
		if !ok {
			continue
		}
		if within(ce.Path, oe.Path) || within(oe.Path, ce.Path) {
			return true
		}
	}
	return false
}

// within reports whether path is parent or equal to sub.
func within(path, sub string) bool {
	if path == "" || path == sub {
		return path == sub
	}
	return strings.HasPrefix(sub, path) && (sub[len(path)] == '.' || sub[len(path)] == '[')
}

// document decodes exactly one YAML document into w.
func (d *decoder) document(data []byte, w *wire) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); errors.Is(err, io.EOF) {
		return &Error{File: d.file, Msg: "the file is empty; it needs at least `version: 1`"}
	} else if err != nil {
		return &Error{File: d.file, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return &Error{File: d.file, Line: extra.Line, Col: extra.Column, Msg: "a second YAML document is not allowed"}
	}
	if len(root.Content) == 0 {
		return &Error{File: d.file, Msg: "the file is empty; it needs at least `version: 1`"}
	}
	d.decode(root.Content[0], reflectValue(w), "")
	return nil
}

// Agent returns the named agent.
func (c *Config) Agent(name string) (*Agent, bool) {
	for i := range c.Agents {
		if c.Agents[i].Name == name {
			return &c.Agents[i], true
		}
	}
	return nil, false
}

// Path resolves p relative to the config file's directory.
func (c *Config) Path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// Errorf returns an *Error placed at the YAML path (e.g.
// "connectors[0].upstream"), for checks made outside this package.
// A path missing from the file (a key that was left out) is placed at its
// nearest enclosing mapping.
func (c *Config) Errorf(path, format string, args ...any) error {
	e := &Error{File: c.File, Path: path, Msg: fmt.Sprintf(format, args...)}
	for at := path; ; at = parent(at) {
		if p, ok := c.places[at]; ok {
			e.Line, e.Col = p.line, p.col
			break
		}
		if at == "" {
			break
		}
	}
	return e
}

// Overlaps reports whether err's YAML path contains, or is contained in,
// the path of one of errs: the loader uses it to drop follow-on errors
// about a place that already has one.
func Overlaps(err error, errs []error) bool { return overlaps(err, errs) }

// redactURL hides the password of a redis:// URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}
