package connectors

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Connector types.
const (
	TypeHTTP      = "http"
	TypeGitHub    = "github"
	TypeStripe    = "stripe"
	TypeOpenAI    = "openai"
	TypeAnthropic = "anthropic"
	TypeSlack     = "slack"
)

// bodyFormat is how a connector's API reads request bodies.
type bodyFormat uint8

const (
	bodyJSON          bodyFormat = iota // always JSON, whatever Content-Type says
	bodyForm                            // always application/x-www-form-urlencoded
	bodyByContentType                   // JSON or form by Content-Type; anything else is unparseable
)

// headerParam copies a request header into a param: headers that change
// what a request does (which Stripe account, which OpenAI project) must be
// visible to policy.
type headerParam struct {
	header string // lower case
	param  string
}

// builtin describes a connector type: its route table (data compiled into
// the binary) and how its API takes bodies and credentials.
type builtin struct {
	hosts            []string    // default hosts
	routes           []RouteSpec // built-in table, tried after user routes
	graphqlPath      string      // POST here is a GraphQL request; "" for none
	format           bodyFormat  // how bodies are read
	credentialHeader string      // default credential header; "" means required
	companions       []HeaderValue
	strip            []string // agent headers removed beyond the common ones
	headerParams     []headerParam
	normalize        func(params map[string]any) // canonical forms of params, may be nil
}

// commonStrip are removed for every connector (DESIGN invariant 3).
var commonStrip = []string{"authorization", "cookie", "proxy-authorization", "x-api-key"}

var httpType = builtin{format: bodyByContentType}

// builtins maps a connector type to its description.
var builtins = map[string]*builtin{
	TypeHTTP:      &httpType,
	TypeGitHub:    &githubType,
	TypeStripe:    &stripeType,
	TypeOpenAI:    &openaiType,
	TypeAnthropic: &anthropicType,
	TypeSlack:     &slackType,
}

// Types returns the connector types, sorted.
func Types() []string {
	out := make([]string, 0, len(builtins))
	for t := range builtins {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// compiledTables holds every built-in table compiled once, shared by all
// registries (routes are immutable).
var compiledTables = sync.OnceValues(func() (map[string][]*route, error) {
	out := make(map[string][]*route, len(builtins))
	var errs []error
	for typ, b := range builtins {
		routes := make([]*route, 0, len(b.routes)+1)
		if b.graphqlPath != "" {
			segs, _, err := compileTemplate(b.graphqlPath)
			if err != nil {
				errs = append(errs, fmt.Errorf("built-in %s graphql: %w", typ, err))
			}
			routes = append(routes, &route{method: "POST", segs: segs, lits: literalIndexes(segs), action: typ + ".graphql", graphql: true})
		}
		for j, spec := range b.routes {
			r, rerrs := compileRoute(spec, typ)
			for _, err := range rerrs {
				errs = append(errs, fmt.Errorf("built-in %s route %d (%s %s): %w", typ, j, spec.Method, spec.Path, err))
			}
			for _, hp := range b.headerParams {
				if routeUsesParam(r, hp.param) {
					errs = append(errs, fmt.Errorf("built-in %s route %d: param %q is taken by a header", typ, j, hp.param))
				}
			}
			routes = append(routes, r)
		}
		out[typ] = routes
	}
	return out, errors.Join(errs...)
})

// routeUsesParam reports whether a route fills param from its path or fields.
func routeUsesParam(r *route, param string) bool {
	for _, s := range r.segs {
		if s.kind != segLit && s.param == param {
			return true
		}
	}
	for _, fs := range [][]field{r.query, r.body} {
		for _, f := range fs {
			if f.param == param {
				return true
			}
		}
	}
	return false
}
