package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validator turns the decoded wire struct into a Config, reporting every
// semantic problem with the position of the offending YAML path.
type validator struct {
	d   *decoder
	cfg *Config
}

func reflectValue(w *wire) reflect.Value { return reflect.ValueOf(w).Elem() }

// errorf records an error at path, or at the nearest enclosing path that
// appears in the file (a missing key is reported at its parent mapping).
func (v *validator) errorf(path, format string, args ...any) {
	v.d.errs = append(v.d.errs, v.cfg.Errorf(path, format, args...))
}

// parent strips the last element of a YAML path: a.b[2].c → a.b[2] → a.b.
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func (v *validator) run(w *wire) {
	switch {
	case w.Version == nil:
		v.errorf("", "version is required: add `version: %d` at the top", Version)
	case *w.Version != Version:
		v.errorf("version", "unsupported version %d: this Bridle reads version %d", *w.Version, Version)
	}
	v.listen(w.Listen)
	if w.StateDir == "" {
		w.StateDir = DefaultStateDir
	}
	v.cfg.StateDir = v.cfg.Path(w.StateDir)
	v.agents(w.Agents)
	v.connectors(w.Connectors)
	v.cfg.Secrets = map[string]Secret{}
	v.secrets(w.Secrets)
	v.audit(w.Audit)
	v.operators(w.Operators)
	v.approvals(w.Approvals)
	v.redis(w.Redis)
	v.cfg.RateLimit = DefaultRateLimit
	if w.Defaults.RateLimit != nil {
		v.cfg.RateLimit = v.rateLimit("defaults.rate_limit", *w.Defaults.RateLimit)
	}
	for i, a := range w.Agents {
		if i >= len(v.cfg.Agents) {
			break
		}
		v.cfg.Agents[i].RateLimit = v.cfg.RateLimit
		if a.RateLimit != nil {
			v.cfg.Agents[i].RateLimit = v.rateLimit(fmt.Sprintf("agents[%d].rate_limit", i), *a.RateLimit)
		}
	}
	for i, c := range w.Connectors {
		if c.RateLimit != nil && i < len(v.cfg.Connectors) {
			rl := v.rateLimit(fmt.Sprintf("connectors[%d].rate_limit", i), *c.RateLimit)
			v.cfg.Connectors[i].RateLimit = &rl
		}
	}
	for i, p := range w.Policies {
		if strings.TrimSpace(p) == "" {
			v.errorf(fmt.Sprintf("policies[%d]", i), "empty policy path")
		}
	}
	v.cfg.Policies = w.Policies
}

func (v *validator) listen(l wireListen) {
	fields := []struct {
		name string
		val  string
		def  string
		dst  *string
	}{
		{"proxy", l.Proxy, DefaultProxy, &v.cfg.Listen.Proxy},
		{"api", l.API, DefaultAPI, &v.cfg.Listen.API},
		{"xds", l.XDS, DefaultXDS, &v.cfg.Listen.XDS},
		{"authz", l.Authz, DefaultAuthz, &v.cfg.Listen.Authz},
		{"envoy_admin", l.EnvoyAdmin, DefaultEnvoyAdmin, &v.cfg.Listen.EnvoyAdmin},
	}
	for _, f := range fields {
		addr := f.val
		if addr == "" {
			addr = f.def
		}
		if _, err := ParseListenAddr(addr); err != nil {
			v.errorf("listen."+f.name, "%v", err)
		}
		*f.dst = addr
	}
	v.cfg.Listen.ProxyTLS = l.ProxyTLS
	for i, n := range l.ProxyNames {
		if !validCertName(n) {
			v.errorf(fmt.Sprintf("listen.proxy_names[%d]", i), "%q: want a lower-case DNS name or an IP address for the proxy's certificate", n)
		}
	}
	if len(l.ProxyNames) > 0 && !l.ProxyTLS {
		v.errorf("listen.proxy_names", "proxy_names name the proxy's TLS certificate: set proxy_tls: true as well")
	}
	v.cfg.Listen.ProxyNames = l.ProxyNames
	switch l.TLS {
	case "", "auto":
		v.cfg.Listen.TLS = "auto"
	case "always":
		v.cfg.Listen.TLS = "always"
	default:
		// There is no "never": plain TCP is allowed on loopback only.
		v.errorf("listen.tls", "tls %q: want auto (TLS as soon as a control-plane address is off loopback) or always", l.TLS)
	}
}

// certName matches a lower-case DNS name (labels of letters, digits and
// inner hyphens).
var certName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// validCertName accepts what a server certificate can name: a DNS name or
// an IP address.
func validCertName(n string) bool {
	if _, err := netip.ParseAddr(n); err == nil {
		return true
	}
	return len(n) <= 253 && certName.MatchString(n)
}

// ParseListenAddr checks an ip:port listen address. Envoy binds socket
// addresses without resolving names, so the host must be an IP literal.
func ParseListenAddr(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("listen address %q: want ip:port such as 127.0.0.1:3128 (port 0 picks a free port)", addr)
	}
	return ap, nil
}

// names are used in URLs (proxy userinfo), headers and metric labels, so
// they are kept to a safe, bounded alphabet.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (v *validator) agents(ws []wireAgent) {
	names := map[string]bool{}
	owners := map[[32]byte]string{}
	for i, w := range ws {
		path := fmt.Sprintf("agents[%d]", i)
		if w.Name == "" {
			v.errorf(path+".name", "name is required")
		} else if !nameRE.MatchString(w.Name) {
			v.errorf(path+".name", "agent name %q: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit", w.Name)
		} else if names[w.Name] {
			v.errorf(path+".name", "duplicate agent name %q", w.Name)
		}
		names[w.Name] = true
		a := Agent{Name: w.Name}
		hashes := w.TokenSHA256s
		if w.TokenSHA256 != "" {
			hashes = append([]string{w.TokenSHA256}, hashes...)
		}
		if len(hashes) == 0 {
			v.errorf(path, "agent %q has no token: set token_sha256 (run `bridle agent add %s` to make one)", w.Name, w.Name)
		}
		for j, h := range hashes {
			hp := path + ".token_sha256"
			if w.TokenSHA256 == "" || j > 0 {
				hp = fmt.Sprintf("%s.token_sha256s[%d]", path, j-boolInt(w.TokenSHA256 != ""))
			}
			sum, err := parseSHA256(h)
			if err != nil {
				v.errorf(hp, "%v", err)
				continue
			}
			if other, dup := owners[sum]; dup {
				v.errorf(hp, "this token hash is already used by agent %q; every agent needs its own token", other)
				continue
			}
			owners[sum] = w.Name
			a.TokenSHA256s = append(a.TokenSHA256s, sum)
		}
		v.cfg.Agents = append(v.cfg.Agents, a)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseSHA256(h string) ([32]byte, error) {
	var sum [32]byte
	b, err := hex.DecodeString(strings.TrimSpace(h))
	if err != nil || len(b) != 32 {
		return sum, fmt.Errorf("want the hex SHA-256 of the token (64 hex digits), got %d characters", len(h))
	}
	copy(sum[:], b)
	return sum, nil
}

// connectors checks what only the config knows: names are unique, and the
// upstream, trust and credential settings are well formed. Types, hosts,
// routes and credential headers are the connectors package's to judge (the
// gateway's loader maps its errors back to lines here).
func (v *validator) connectors(ws []wireConnector) {
	for i, w := range ws {
		path := fmt.Sprintf("connectors[%d]", i)
		if w.Name != "" && !nameRE.MatchString(w.Name) {
			v.errorf(path+".name", "connector name %q: use 1-63 of a-z, 0-9, '-' and '_', starting with a letter or digit", w.Name)
		}
		c := Connector{Name: w.Name, Type: w.Type, UnsafeAllowPrivateUpstream: w.UnsafeAllowPrivateUpstream}
		if c.Type == "" {
			c.Type = "http"
		}
		for _, h := range w.Hosts {
			c.Hosts = append(c.Hosts, strings.ToLower(h))
		}
		for _, r := range w.Routes {
			c.Routes = append(c.Routes, Route(r))
		}
		v.upstream(path, w, &c)
		if w.Credential != nil {
			c.Credential = v.credential(path+".credential", *w.Credential)
		}
		for agent, cred := range w.AgentCredentials {
			if c.AgentCredentials == nil {
				c.AgentCredentials = map[string]Credential{}
			}
			if cr := v.credential(path+".agent_credentials."+agent, cred); cr != nil {
				c.AgentCredentials[agent] = *cr
			}
		}
		v.cfg.Connectors = append(v.cfg.Connectors, c)
	}
}

func (v *validator) upstream(path string, w wireConnector, c *Connector) {
	if w.Upstream != "" {
		host, port, err := net.SplitHostPort(w.Upstream)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || n < 1 || n > 65535 || host == "" {
			v.errorf(path+".upstream", "upstream %q: want host:port, e.g. 127.0.0.1:9443", w.Upstream)
		} else {
			c.Upstream = w.Upstream
		}
	}
	if w.UpstreamCA != "" {
		pemBytes, err := readSmallFile(v.cfg.Path(w.UpstreamCA))
		switch {
		case err != nil:
			v.errorf(path+".upstream_ca", "reading upstream_ca: %v", err)
		case !hasCertificate(pemBytes):
			v.errorf(path+".upstream_ca", "upstream_ca %s holds no PEM certificate", w.UpstreamCA)
		default:
			c.UpstreamCA = pemBytes
		}
	}
}

func hasCertificate(b []byte) bool {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return false
		}
		if blk.Type == "CERTIFICATE" {
			if _, err := x509.ParseCertificate(blk.Bytes); err == nil {
				return true
			}
		}
	}
}

// credential checks a credential's value; its header is judged by the
// connectors package, which knows each type's default. ${secret:NAME}
// references stay in the value for the loader to resolve. Errors never
// echo the value: it is a secret.
func (v *validator) credential(path string, w wireCredential) *Credential {
	switch {
	case w.Value == "":
		v.errorf(path+".value", "credential value is empty")
		return nil
	case strings.ContainsAny(w.Value, "\r\n\x00"):
		v.errorf(path+".value", "credential value contains a line break or NUL byte")
		return nil
	}
	return &Credential{Header: strings.ToLower(w.Header), Value: w.Value}
}

// secrets checks that every secret is stored encrypted ("enc:...", made by
// `bridle vault encrypt`) or taken from the environment ("${env:NAME}"):
// a plaintext secret in a config file that is checked in is a leak.
func (v *validator) secrets(ws map[string]string) {
	for _, name := range sortedKeys(ws) {
		path := "secrets." + name
		raw := v.d.raws[path]
		switch {
		case !validRefName(name):
			v.errorf(path, "secret name %q: use letters, digits and '_'", name)
		case strings.HasPrefix(raw, "enc:"):
			v.cfg.Secrets[name] = Secret{Encrypted: true, Value: ws[name]}
		case envRefRE.MatchString(raw):
			v.cfg.Secrets[name] = Secret{Value: ws[name]}
		default:
			v.errorf(path, "secret %s is in plaintext: store it encrypted (`bridle vault encrypt`) or reference ${env:NAME}", name)
		}
	}
}

var envRefRE = regexp.MustCompile(`^\$\{env:[A-Za-z0-9_]+\}$`)

// DefaultRateLimit is the reference product's figure: 120 requests per
// minute per agent.
var DefaultRateLimit = RateLimit{Requests: 120, Per: time.Minute}

func (v *validator) rateLimit(path string, w wireRateLimit) RateLimit {
	if w.Requests < 1 {
		v.errorf(path+".requests", "requests %d: want at least 1", w.Requests)
	}
	if w.Per < time.Second || w.Per > 24*time.Hour || w.Per%time.Millisecond != 0 {
		v.errorf(path+".per", "per %s: want a window from 1s to 24h", w.Per)
	}
	return RateLimit(w)
}

func (v *validator) redis(w wireRedis) {
	r := Redis{URL: w.URL, Cluster: w.Cluster, Username: w.Username, Password: w.Password, TLS: w.TLS,
		DialTimeout: w.DialTimeout, OpTimeout: w.OpTimeout}
	if w.Sentinel != nil {
		r.SentinelMaster, r.SentinelAddrs = w.Sentinel.MasterName, w.Sentinel.Addrs
		r.SentinelUsername, r.SentinelPassword = w.Sentinel.Username, w.Sentinel.Password
	}
	modes := 0
	for _, set := range []bool{r.URL != "", w.Sentinel != nil, len(r.Cluster) > 0} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		v.errorf("redis", "give one of url, sentinel or cluster")
	}
	if r.OpTimeout != 0 && r.OpTimeout > 5*time.Second {
		v.errorf("redis.op_timeout", "op_timeout %s: keep it in the tens of milliseconds; a slow store must fail fast (max 5s)", r.OpTimeout)
	}
	v.redisTLS(w, &r, modes > 0)
	v.cfg.Redis = r
}

// maxFileSize bounds a certificate file the config names.
const maxFileSize = 1 << 20

// readSmallFile reads a file the config names (a CA, a certificate, a
// key): a regular file of at most 1 MiB. A FIFO or /dev/stdin would block
// the loader, and /dev/zero or a huge file would exhaust it.
func readSmallFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	return b, nil
}

// redisTLS reads the TLS files of the redis block (paths relative to the
// config file) and checks they hold what they should.
func (v *validator) redisTLS(w wireRedis, r *Redis, remote bool) {
	if w.TLSCA == "" && w.TLSCert == "" && w.TLSKey == "" && w.TLSServerName == "" {
		return
	}
	if !remote {
		v.errorf("redis", "tls_ca, tls_cert, tls_key and tls_server_name need a url, sentinel or cluster (the embedded Redis is in-process)")
		return
	}
	r.TLS, r.TLSServerName = true, w.TLSServerName
	read := func(field, file string) []byte {
		b, err := readSmallFile(v.cfg.Path(file))
		if err != nil {
			v.errorf("redis."+field, "reading %s: %v", field, err)
			return nil
		}
		return b
	}
	if w.TLSCA != "" {
		if r.TLSCA = read("tls_ca", w.TLSCA); r.TLSCA != nil && !x509.NewCertPool().AppendCertsFromPEM(r.TLSCA) {
			v.errorf("redis.tls_ca", "tls_ca %s holds no PEM certificate", w.TLSCA)
		}
	}
	switch {
	case (w.TLSCert == "") != (w.TLSKey == ""):
		v.errorf("redis.tls_cert", "give tls_cert and tls_key together (a client certificate and its key)")
	case w.TLSCert != "":
		r.TLSCert, r.TLSKey = read("tls_cert", w.TLSCert), read("tls_key", w.TLSKey)
		if r.TLSCert != nil && r.TLSKey != nil {
			if _, err := tls.X509KeyPair(r.TLSCert, r.TLSKey); err != nil {
				v.errorf("redis.tls_cert", "tls_cert %s and tls_key %s: %v", w.TLSCert, w.TLSKey, err)
			}
		}
	}
}

func (v *validator) operators(ws []wireOperator) {
	names := map[string]bool{}
	for i, w := range ws {
		path := fmt.Sprintf("operators[%d]", i)
		if !nameRE.MatchString(w.Name) {
			v.errorf(path+".name", "operator name %q: use 1-63 of a-z, 0-9, '-' and '_'", w.Name)
		} else if names[w.Name] {
			v.errorf(path+".name", "duplicate operator name %q", w.Name)
		}
		names[w.Name] = true
		if !slices.Contains(Roles, w.Role) {
			v.errorf(path+".role", "role %q: want one of %s", w.Role, strings.Join(Roles, ", "))
		}
		sum, err := parseSHA256(w.TokenSHA256)
		if err != nil {
			v.errorf(path+".token_sha256", "%v", err)
		}
		v.cfg.Operators = append(v.cfg.Operators, Operator{Name: w.Name, Role: w.Role, TokenSHA256: sum})
	}
}

// Approval defaults: the hold stays under common agent HTTP client
// timeouts (Envoy notes §3.6); the timeout is the reference product's.
const (
	DefaultHold            = 25 * time.Second
	DefaultApprovalTimeout = 5 * time.Minute
	DefaultMaxHolds        = 100
)

func (v *validator) approvals(w wireApprovals) {
	a := Approvals{Hold: w.Hold, Timeout: w.Timeout, MaxHolds: w.MaxHolds,
		WebhookURL: w.WebhookURL, WebhookSecret: w.WebhookSecret, WebhookDecisions: w.WebhookDecisions}
	if w.Slack != nil {
		a.Slack = &Slack{BotToken: w.Slack.BotToken, Channel: w.Slack.Channel, WebhookURL: w.Slack.WebhookURL,
			SigningSecret: w.Slack.SigningSecret, Approvers: w.Slack.Approvers, APIURL: w.Slack.APIURL}
	}
	if a.Hold == 0 {
		a.Hold = DefaultHold
	}
	if a.Timeout == 0 {
		a.Timeout = DefaultApprovalTimeout
	}
	if a.MaxHolds == 0 {
		a.MaxHolds = DefaultMaxHolds
	}
	if a.Timeout < time.Second || a.Timeout > 24*time.Hour {
		v.errorf("approvals.timeout", "timeout %s: want 1s to 24h", a.Timeout)
	}
	if a.Hold > a.Timeout {
		v.errorf("approvals.hold", "hold %s is longer than the approval timeout %s", a.Hold, a.Timeout)
	}
	if a.MaxHolds < 1 || a.MaxHolds > 10000 {
		v.errorf("approvals.max_holds", "max_holds %d: want 1 to 10000", a.MaxHolds)
	}
	v.cfg.Approvals = a
}

// DefaultRetentionDays is how long decision records are kept by default.
const DefaultRetentionDays = 30

func (v *validator) audit(w wireAudit) {
	v.cfg.Audit = Audit{Path: filepath.Join(v.cfg.StateDir, "audit.db"), RetentionDays: DefaultRetentionDays}
	if w.Path != "" {
		v.cfg.Audit.Path = v.cfg.Path(w.Path)
	}
	if w.RetentionDays != nil {
		if *w.RetentionDays < 1 || *w.RetentionDays > 3650 {
			v.errorf("audit.retention_days", "retention_days %d: want 1 to 3650 days", *w.RetentionDays)
		}
		v.cfg.Audit.RetentionDays = *w.RetentionDays
	}
}

// ValidName reports whether s is a valid agent or connector name.
func ValidName(s string) bool { return nameRE.MatchString(s) }
