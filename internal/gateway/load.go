package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/notify"
	"github.com/bridle-gw/bridle/internal/vault"
	"github.com/bridle-gw/bridle/policies"
	"github.com/bridle-gw/bridle/xds"
)

// EncryptionKeyEnv names the variable holding the vault key (64 hex
// digits) that decrypts `enc:` secrets.
const EncryptionKeyEnv = "BRIDLE_ENCRYPTION_KEY"

// Load reads the config file and runs every check `bridle up` relies on:
// the config itself, secrets (decrypted with the vault key), connectors
// (types, hosts, route tables, credential headers) and upstream addresses.
// All problems are returned at once, in file order, each naming
// file:line:col.
func Load(path string, env func(string) (string, bool)) (*Plan, error) {
	cfg, err := config.LoadEnv(path, env)
	if cfg == nil {
		return nil, err
	}
	// Errors found past the config's own are dropped where they concern a
	// place the config already reported (a hosts key of the wrong type need
	// not also be "required").
	cfgErrs := unjoin(err)
	errs := cfgErrs
	add := func(more ...error) {
		for _, e := range more {
			if !config.Overlaps(e, cfgErrs) {
				errs = append(errs, e)
			}
		}
	}
	secrets, serrs := resolveSecrets(cfg, env)
	add(serrs...)
	specs, perrs := connectorSpecs(cfg, secrets)
	add(perrs...)
	if errs := resolveNotifySecrets(cfg, secrets); len(errs) > 0 {
		add(errs...)
	} else if svc, err := notify.New(notifyConfig(cfg.Approvals, nil)); err != nil {
		add(cfg.Errorf("approvals", "%v", err))
	} else {
		_ = svc.Close(context.Background()) // only checking the settings
	}
	reg, rerr := connectors.New(specs)
	for _, e := range unjoin(rerr) {
		add(placed(cfg, e))
	}
	add(checkUpstreams(cfg)...)
	set, perr := loadPolicies(cfg)
	add(perr...)
	if len(errs) > 0 {
		config.SortErrors(errs)
		return nil, errors.Join(dedupe(errs)...)
	}
	return &Plan{Config: cfg, Connectors: reg, Policy: set}, nil
}

// loadPolicies compiles the policy files the config names (paths or
// globs, relative to the config file). A file that fails to load fails the
// whole load: a broken deny rule must never turn into an allow.
func loadPolicies(cfg *config.Config) (*policies.Set, []error) {
	var errs []error
	var files []string
	for i, pattern := range cfg.Policies {
		matched, err := policies.ExpandGlobs(cfg.Dir, []string{pattern})
		if err != nil {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("policies[%d]", i), "%v", err))
			continue
		}
		files = append(files, matched...)
	}
	// Load what was found even if a pattern failed, so one run reports
	// every problem; any error discards the set.
	set, err := policies.Load(files)
	errs = append(errs, unjoin(err)...)
	if len(errs) > 0 {
		return nil, errs
	}
	return set, nil
}

// resolveSecrets decrypts `enc:` secrets with the vault key. Errors name
// the secret, never its value.
func resolveSecrets(cfg *config.Config, env func(string) (string, bool)) (map[string]string, []error) {
	out := map[string]string{}
	var errs []error
	var key *vault.Key
	var keyErr error
	for name, s := range cfg.Secrets {
		if !s.Encrypted {
			out[name] = s.Value
			continue
		}
		if key == nil && keyErr == nil {
			raw, ok := env(EncryptionKeyEnv)
			if !ok || raw == "" {
				keyErr = fmt.Errorf("%s is not set: it is needed to decrypt enc: secrets", EncryptionKeyEnv)
			} else if k, err := vault.ParseKey(raw); err != nil {
				keyErr = fmt.Errorf("%s: %w", EncryptionKeyEnv, err)
			} else {
				key = &k
			}
		}
		if keyErr != nil {
			errs = append(errs, cfg.Errorf("secrets."+name, "secret %s: %v", name, keyErr))
			continue
		}
		plain, err := vault.Decrypt(*key, s.Value)
		if err != nil {
			errs = append(errs, cfg.Errorf("secrets."+name, "secret %s: %v", name, err))
			continue
		}
		out[name] = string(plain)
	}
	return out, errs
}

var secretRefRE = regexp.MustCompile(`\$\{secret:([A-Za-z0-9_]+)\}`)

// connectorSpecs turns config connectors into connector specs, with
// ${secret:NAME} references in credential values resolved.
func connectorSpecs(cfg *config.Config, secrets map[string]string) ([]connectors.Spec, []error) {
	var errs []error
	resolve := func(path, v string) string {
		return secretRefRE.ReplaceAllStringFunc(v, func(ref string) string {
			name := secretRefRE.FindStringSubmatch(ref)[1]
			val, ok := secrets[name]
			if !ok {
				if _, defined := cfg.Secrets[name]; !defined {
					errs = append(errs, cfg.Errorf(path, "unknown secret %q: define it under secrets:", name))
				}
				return ""
			}
			return val
		})
	}
	specs := make([]connectors.Spec, len(cfg.Connectors))
	for i, c := range cfg.Connectors {
		at := fmt.Sprintf("connectors[%d]", i)
		s := connectors.Spec{Name: c.Name, Type: c.Type, Hosts: c.Hosts}
		for _, r := range c.Routes {
			s.Routes = append(s.Routes, connectors.RouteSpec{Method: r.Method, Path: r.Path, Action: r.Action, Query: r.Query, Body: r.Body})
		}
		if c.Credential != nil {
			s.Credential = &connectors.CredentialSpec{Header: c.Credential.Header, Value: resolve(at+".credential.value", c.Credential.Value)}
		}
		for agent, cred := range c.AgentCredentials {
			if s.AgentCredentials == nil {
				s.AgentCredentials = map[string]connectors.CredentialSpec{}
			}
			if _, ok := cfg.Agent(agent); !ok {
				errs = append(errs, cfg.Errorf(at+".agent_credentials."+agent, "no agent named %q", agent))
			}
			s.AgentCredentials[agent] = connectors.CredentialSpec{Header: cred.Header, Value: resolve(at+".agent_credentials."+agent+".value", cred.Value)}
		}
		specs[i] = s
	}
	return specs, errs
}

// resolveNotifySecrets resolves ${secret:NAME} in the approval
// notification settings (tokens, signing secrets, webhook URLs).
func resolveNotifySecrets(cfg *config.Config, secrets map[string]string) []error {
	var errs []error
	resolve := func(path string, v *string) {
		*v = secretRefRE.ReplaceAllStringFunc(*v, func(ref string) string {
			name := secretRefRE.FindStringSubmatch(ref)[1]
			val, ok := secrets[name]
			if !ok {
				errs = append(errs, cfg.Errorf(path, "unknown secret %q: define it under secrets:", name))
			}
			return val
		})
	}
	a := &cfg.Approvals
	resolve("approvals.webhook_url", &a.WebhookURL)
	resolve("approvals.webhook_secret", &a.WebhookSecret)
	if a.Slack != nil {
		resolve("approvals.slack.bot_token", &a.Slack.BotToken)
		resolve("approvals.slack.webhook_url", &a.Slack.WebhookURL)
		resolve("approvals.slack.signing_secret", &a.Slack.SigningSecret)
	}
	return errs
}

// checkUpstreams refuses fixed upstream addresses in private ranges unless
// the connector opts in (DESIGN invariant 11); names are vetted when
// resolved.
func checkUpstreams(cfg *config.Config) []error {
	var errs []error
	for i, c := range cfg.Connectors {
		if c.Upstream == "" || c.UnsafeAllowPrivateUpstream {
			continue
		}
		host, _, _ := net.SplitHostPort(c.Upstream)
		if ip, err := netip.ParseAddr(host); err == nil {
			if err := xds.VetAddr(ip); err != nil {
				errs = append(errs, cfg.Errorf(fmt.Sprintf("connectors[%d].upstream", i),
					"%v; set unsafe_allow_private_upstream: true on this connector to allow it", err))
			}
		}
	}
	return errs
}

// placed turns a connectors error ("connectors[1].hosts[0]: ...") into a
// config error at that YAML path.
func placed(cfg *config.Config, err error) error {
	path, msg, ok := strings.Cut(err.Error(), ": ")
	if !ok || !strings.HasPrefix(path, "connectors[") {
		return cfg.Errorf("", "%v", err)
	}
	return cfg.Errorf(path, "%s", msg)
}

// unjoin flattens errors.Join trees.
func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	return []error{err}
}

// dedupe drops repeated messages (one bad secret used twice is one error).
func dedupe(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}
