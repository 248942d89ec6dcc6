package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/statedir"
)

// caEnvVars are the variables common HTTP stacks read for extra or
// replacement trust: OpenSSL/Go, requests, curl, Node, git, AWS SDKs, pip
// and Deno.
var caEnvVars = []string{
	"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
	"GIT_SSL_CAINFO", "AWS_CA_BUNDLE", "PIP_CERT", "DENO_CERT",
	// git verifies an https:// proxy with its own variable (curl has
	// none: `curl --proxy-cacert "$CURL_CA_BUNDLE"`).
	"GIT_PROXY_SSL_CAINFO",
}

func newRunCmd(getenv func(string) string) *cobra.Command {
	var agent, token string
	cmd := &cobra.Command{
		Use:   "run [--agent NAME] [--token TOKEN] -- CMD [ARGS...]",
		Short: "Run an agent with its traffic sent through Bridle",
		Long: "Runs CMD with HTTP_PROXY/HTTPS_PROXY pointing at the running gateway and a CA bundle\n" +
			"(system roots + Bridle's CA) in SSL_CERT_FILE and friends. CMD replaces this process,\n" +
			"so stdin/stdout/stderr, signals and the exit code are CMD's own.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stateDir, err := config.PeekStateDir(configPath(cmd))
			if err != nil {
				return err
			}
			dir := statedir.Dir(stateDir)
			eps, err := dir.ReadEndpoints()
			if err != nil {
				return err
			}
			if c, err := net.DialTimeout("tcp", eps.Proxy, time.Second); err != nil {
				return fmt.Errorf("bridle is not answering at %s (stale %s?): start it with `bridle up`", eps.Proxy, dir.Path("endpoints.json"))
			} else {
				c.Close()
			}
			if token == "" {
				token = getenv("BRIDLE_TOKEN")
			}
			if agent, token, err = pickAgent(dir, agent, token); err != nil {
				return err
			}
			bin, err := exec.LookPath(args[0])
			if err != nil {
				return fmt.Errorf("running %s: %w", args[0], err)
			}
			env := agentEnv(os.Environ(), proxyURL(eps.ProxyScheme(), eps.Proxy, agent, token), dir.CABundle())
			// Replace this process: no signal relaying, no double Ctrl-C, and
			// the agent's exit status is ours.
			return syscall.Exec(bin, args, env)
		},
	}
	cmd.Flags().StringVar(&agent, "agent", "", "agent name (default: the only agent with a stored dev token)")
	cmd.Flags().StringVar(&token, "token", "", "agent token (default $BRIDLE_TOKEN, then the stored dev token); prefer the env var: argv is visible to other users")
	return cmd
}

// pickAgent resolves which identity to run as.
func pickAgent(dir statedir.Dir, agent, token string) (string, string, error) {
	if token != "" {
		return agent, token, nil
	}
	if agent == "" {
		agents, err := dir.DevAgents()
		if err != nil {
			return "", "", err
		}
		switch len(agents) {
		case 0:
			return "", "", fmt.Errorf("no agent token: create one with `bridle agent add NAME`, or pass --agent and --token")
		case 1:
			agent = agents[0]
		default:
			return "", "", fmt.Errorf("several agents have stored tokens (%v): pick one with --agent", agents)
		}
	}
	token, err := dir.DevToken(agent)
	return agent, token, err
}

// proxyURL is SCHEME://AGENT:TOKEN@proxy, or SCHEME://TOKEN@proxy when no
// agent name is known (the token alone identifies the agent).
func proxyURL(scheme, proxy, agent, token string) string {
	u := &url.URL{Scheme: scheme, Host: proxy, User: url.UserPassword(agent, token)}
	if agent == "" {
		u.User = url.User(token)
	}
	return u.String()
}

// agentEnv returns environ with the proxy and trust variables set. NO_PROXY
// is replaced, not extended: an inherited entry must not let agent traffic
// bypass the gateway; only loopback is exempt.
func agentEnv(environ []string, proxy, bundle string) []string {
	set := map[string]string{
		"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "http_proxy": proxy, "https_proxy": proxy,
		"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
	}
	for _, v := range caEnvVars {
		set[v] = bundle
	}
	out := make([]string, 0, len(environ)+len(set))
	for _, kv := range environ {
		k, _, _ := cutEnv(kv)
		if _, ok := set[k]; !ok {
			out = append(out, kv)
		}
	}
	for k, v := range set {
		out = append(out, k+"="+v)
	}
	return out
}

func cutEnv(kv string) (string, string, bool) {
	for i := 1; i < len(kv); i++ { // a leading '=' is part of the name on Windows-style vars
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}
