package connectors

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Spec is one connector from bridle.yaml, already decoded by the config
// loader. Printing a Spec never shows credential values.
type Spec struct {
	Name string
	Type string // see Types
	// Hosts lists exact host names (no port, no wildcard). Empty means the
	// type's default API host; type http requires hosts.
	Hosts []string
	// Routes are tried before the built-in table of the type (and are the
	// whole table for type http).
	Routes []RouteSpec
	// Credential is injected on allowed requests; nil means none unless the
	// agent has its own in AgentCredentials.
	Credential *CredentialSpec
	// AgentCredentials overrides Credential per agent name.
	AgentCredentials map[string]CredentialSpec
}

// Registry maps hosts to connectors. It is immutable and safe for
// concurrent use; a config reload builds a new one.
type Registry struct {
	byHost map[string]*Connector
	list   []*Connector
}

// New checks and compiles specs. Every problem is reported, joined, each
// prefixed with its YAML path ("connectors[1].routes[0].path: ...") so the
// config loader can point at file:line. Error text never holds a credential
// value.
func New(specs []Spec) (*Registry, error) {
	tables, err := compiledTables()
	if err != nil {
		return nil, fmt.Errorf("built-in route tables: %w", err) // a bug, caught by tests
	}
	reg := &Registry{byHost: make(map[string]*Connector)}
	var errs []error
	hostOwner := make(map[string]int)
	nameOwner := make(map[string]int)
	for i, spec := range specs {
		at := fmt.Sprintf("connectors[%d]", i)
		c, cerrs := compileConnector(spec, tables)
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("%s.%w", at, e))
		}
		if j, dup := nameOwner[spec.Name]; dup && spec.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: duplicate connector name %q (also connectors[%d])", at, spec.Name, j))
		}
		nameOwner[spec.Name] = i
		if c == nil {
			continue
		}
		for k, h := range c.hosts {
			if j, dup := hostOwner[h]; dup {
				errs = append(errs, fmt.Errorf("%s.hosts[%d]: host %q already belongs to connectors[%d]", at, k, h, j))
				continue
			}
			hostOwner[h] = i
			reg.byHost[h] = c
		}
		reg.list = append(reg.list, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return reg, nil
}

// Lookup returns the connector for host (no port; matched exactly, case
// ignored). Connector hosts are exact names: no wildcard, no suffix match.
func (r *Registry) Lookup(host string) (*Connector, bool) {
	c, ok := r.byHost[strings.ToLower(host)]
	return c, ok
}

// Connectors returns the connectors in config order. Do not modify the slice.
func (r *Registry) Connectors() []*Connector { return r.list }

// String lists the connectors without their credentials.
func (r *Registry) String() string {
	names := make([]string, len(r.list))
	for i, c := range r.list {
		names[i] = c.name
	}
	return "connectors.Registry[" + strings.Join(names, " ") + "]"
}

// Format prints String for every verb.
func (r *Registry) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(r.String())) }

// compileConnector checks one spec. Errors are relative to the spec
// ("name: ...", "routes[2].path: ...").
func compileConnector(spec Spec, tables map[string][]*route) (*Connector, []error) {
	var errs []error
	b, ok := builtins[spec.Type]
	if !ok {
		return nil, []error{fmt.Errorf("type: unknown connector type %q (want one of %s)", spec.Type, strings.Join(Types(), ", "))}
	}
	c := &Connector{
		name:         spec.Name,
		typ:          spec.Type,
		prefix:       spec.Type,
		format:       b.format,
		headerParams: b.headerParams,
		normalize:    b.normalize,
		companions:   b.companions,
		creds:        &credentialSet{},
	}
	switch {
	case spec.Name == "":
		errs = append(errs, errors.New("name: required"))
	case spec.Type == TypeHTTP && !isParamName(spec.Name):
		// The name is the action prefix of an http connector.
		errs = append(errs, fmt.Errorf("name: %q must be lower-case snake_case: it prefixes the connector's actions", spec.Name))
	case spec.Type == TypeHTTP && builtins[spec.Name] != nil:
		// An http connector named "github" would mint github.* actions
		// that policies written for the real GitHub connector would match.
		errs = append(errs, fmt.Errorf("name: an http connector cannot be named after the built-in type %q (its actions would look like the real %s connector's): use type: %s, or another name", spec.Name, spec.Name, spec.Name))
	case len(spec.Name) > 64 || strings.ContainsFunc(spec.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		errs = append(errs, fmt.Errorf("name: %q must be at most 64 characters without spaces or control characters", spec.Name))
	}
	if spec.Type == TypeHTTP {
		c.prefix = spec.Name
	}

	hosts := spec.Hosts
	if len(hosts) == 0 {
		if len(b.hosts) == 0 {
			errs = append(errs, fmt.Errorf("hosts: required for type %s", spec.Type))
		}
		hosts = b.hosts
	}
	for k, h := range hosts {
		lh := strings.ToLower(h)
		if err := checkHost(lh); err != nil {
			errs = append(errs, fmt.Errorf("hosts[%d]: %q: %w", k, h, err))
			continue
		}
		if slices.Contains(c.hosts, lh) {
			errs = append(errs, fmt.Errorf("hosts[%d]: %q is listed twice", k, h))
			continue
		}
		c.hosts = append(c.hosts, lh)
	}

	byMethod := make(map[string][]*route)
	for j, rs := range spec.Routes {
		r, rerrs := compileRoute(rs, c.prefix)
		for _, e := range rerrs {
			errs = append(errs, fmt.Errorf("routes[%d].%w", j, e))
		}
		for _, hp := range b.headerParams {
			if routeUsesParam(r, hp.param) {
				rerrs = append(rerrs, fmt.Errorf("routes[%d]: param %q is reserved for the %s header", j, hp.param, hp.header))
				errs = append(errs, rerrs[len(rerrs)-1])
			}
		}
		if len(rerrs) == 0 {
			byMethod[r.method] = append(byMethod[r.method], r)
		}
	}
	for _, r := range tables[spec.Type] {
		byMethod[r.method] = append(byMethod[r.method], r)
	}
	c.routes = make(map[string]*routeTable, len(byMethod))
	for m, routes := range byMethod {
		c.routes[m] = newRouteTable(routes)
	}

	strip := slices.Concat(commonStrip, b.strip)
	if spec.Credential != nil {
		cred, cerrs := compileCredential(*spec.Credential, b.credentialHeader)
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("credential.%w", e))
		}
		c.creds.base = &cred
		strip = append(strip, cred.header)
	}
	agents := make([]string, 0, len(spec.AgentCredentials))
	for agent := range spec.AgentCredentials {
		agents = append(agents, agent)
	}
	slices.Sort(agents)
	for _, agent := range agents {
		if agent == "" {
			errs = append(errs, errors.New("agent_credentials: empty agent name"))
			continue
		}
		cred, cerrs := compileCredential(spec.AgentCredentials[agent], b.credentialHeader)
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("agent_credentials.%s.%w", agent, e))
		}
		if c.creds.agents == nil {
			c.creds.agents = make(map[string]Credential)
		}
		c.creds.agents[agent] = cred
		strip = append(strip, cred.header)
	}
	slices.Sort(strip)
	c.strip = slices.Compact(strip)
	return c, errs
}

// checkHost accepts a lower-case DNS name: no port, scheme, path, wildcard,
// trailing dot or IP literal, since hosts are matched exactly against SNI
// and :authority (clients send no SNI for an IP literal, so such a host
// could never be reached through the MITM listener).
func checkHost(h string) error {
	switch {
	case h == "" || len(h) > 253:
		return errors.New("must be a host name of 1 to 253 characters")
	case strings.Contains(h, ":"):
		return errors.New("give the name without a port (connectors serve port 443)")
	case strings.Contains(h, "*"):
		return errors.New("wildcard hosts are not supported yet; list each host")
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return errors.New("IP literals are not supported as connector hosts; use a DNS name")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return errors.New("must be a plain host name (no port, scheme, wildcard or trailing dot)")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || isDigit(c) || c == '-') {
				return errors.New("must be a plain host name (no port, scheme, wildcard or trailing dot)")
			}
		}
	}
	return nil
}

// String describes the spec without credential values.
func (s Spec) String() string {
	return fmt.Sprintf("connector spec %s (%s, hosts %v, %d routes, credential set: %t, %d agent credentials)",
		s.Name, s.Type, s.Hosts, len(s.Routes), s.Credential != nil, len(s.AgentCredentials))
}

// Format prints String for every verb, so no verb can reach the credentials.
func (s Spec) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }
