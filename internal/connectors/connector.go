package connectors

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// MaxBodyBytes is the most body a decision reads (the Envoy buffer limit).
// A larger body arrives truncated and Parse refuses it where it is needed.
const MaxBodyBytes = 1 << 20

// Connector is one configured upstream API. It is immutable and safe for
// concurrent use.
type Connector struct {
	name, typ, prefix string
	hosts             []string
	routes            map[string]*routeTable // by method
	format            bodyFormat
	headerParams      []headerParam
	normalize         func(map[string]any)
	creds             *credentialSet // behind a pointer: fmt prints nested pointers as addresses
	companions        []HeaderValue
	strip             []string
}

// Name returns the connector's configured name.
func (c *Connector) Name() string { return c.name }

// Type returns the connector type (see Types).
func (c *Connector) Type() string { return c.typ }

// Hosts returns the connector's hosts, lower case. Do not modify the slice.
func (c *Connector) Hosts() []string { return c.hosts }

// Prefix returns the first part of the connector's action types: the type
// for built-in types, the name for type http (DESIGN §3).
func (c *Connector) Prefix() string { return c.prefix }

// String describes the connector without its credentials.
func (c *Connector) String() string {
	return fmt.Sprintf("connector %s (%s, %s)", c.name, c.typ, strings.Join(c.hosts, ","))
}

// Format prints String for every verb: the struct holds credentials, which
// fmt would otherwise print field by field.
func (c *Connector) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// Request is the part of an HTTP request a connector reads.
type Request struct {
	Agent  string // authenticated agent, copied into the Action
	Method string
	Host   string // without port
	// Path is the raw request-target exactly as Envoy forwards it: origin
	// form, percent-encoding kept, query included.
	Path string
	// Header holds the request headers under canonical keys (as
	// http.Header.Add makes them); lower-case keys are found too.
	Header http.Header
	// Body is the request body as buffered by Envoy (at most MaxBodyBytes).
	Body []byte
	// BodyBuffered says Body holds the request's body (empty or not): Envoy
	// buffered it for this Check, which its x-envoy-auth-partial-body
	// header shows. Without it an empty Body could be an unbuffered body,
	// so a route that reads the body refuses the request: a mismatch
	// between Envoy's buffering and NeedsBody denies instead of deciding
	// without the body.
	BodyBuffered bool
	// BodyTruncated says Envoy buffered only part of the body
	// (x-envoy-auth-partial-body: true).
	BodyTruncated bool
}

// match returns the first route for method that fits segs, or nil.
func (c *Connector) match(method string, segs []string) *route {
	if t := c.routes[method]; t != nil {
		return t.match(segs)
	}
	return nil
}

// Parse turns a request into an action. Any error means deny: the path could
// not be read unambiguously (ErrInvalidPath), a body the action needs is
// missing, truncated or malformed (ErrBodyUnparseable), or the request could
// be read in two ways (ErrAmbiguous). A request no route matches is not an
// error: it is `<prefix>.unknown`, which policy denies unless a rule allows
// it. On error the returned Action holds what was known (Type may be empty),
// for the log line only.
func (c *Connector) Parse(req Request) (Action, error) {
	a := Action{
		Agent:     req.Agent,
		Connector: c.name,
		Method:    req.Method,
		Host:      strings.ToLower(req.Host),
	}
	var buf [16]string
	t, err := parseTarget(req.Path, buf[:])
	if err != nil {
		return a, fmt.Errorf("parsing %s request: %w", c.name, err)
	}
	a.Path = t.path
	params := make(map[string]any, 8)
	r := c.match(req.Method, t.segs)
	if r == nil {
		a.Type = c.prefix + ".unknown"
		params["method"] = req.Method
		params["path"] = t.path
	} else {
		a.Type = r.action
		r.capture(t.segs, params)
	}
	if err := c.readHeaders(req.Header, params); err != nil {
		return a, fmt.Errorf("parsing %s request: %w", a.Type, err)
	}
	if r != nil {
		if err := extractForm(t.query, r.query, params, ErrInvalidPath); err != nil {
			return a, fmt.Errorf("parsing %s query: %w", a.Type, err)
		}
		if r.needsBody() {
			typ, err := c.readBody(r, req, params)
			if err != nil {
				return a, fmt.Errorf("parsing %s body: %w", a.Type, err)
			}
			if typ != "" {
				a.Type = typ
			}
		}
	}
	if c.normalize != nil {
		c.normalize(params)
	}
	a.Params = params
	return a, nil
}

// NeedsBody reports whether the route a request would match reads the body,
// so Envoy buffers bodies (up to MaxBodyBytes) only where a decision needs
// them. path is the raw request-target; an unreadable path needs no body
// (Parse refuses it anyway).
func (c *Connector) NeedsBody(method, path string) bool {
	var buf [16]string
	t, err := parseTarget(path, buf[:])
	if err != nil {
		return false
	}
	r := c.match(method, t.segs)
	return r != nil && r.needsBody()
}

// BodyRoute is a route that reads the body, as an Envoy URI template
// (envoy.path.match.uri_template: "*" one segment, "**" the rest).
type BodyRoute struct {
	Method   string
	Template string
}

// BodyRoutes lists the routes that read the body, for Envoy's per-route
// body buffering. Templates match at least what the routes match.
func (c *Connector) BodyRoutes() []BodyRoute {
	var out []BodyRoute
	for method, t := range c.routes {
		for _, r := range t.all {
			if !r.needsBody() {
				continue
			}
			var b strings.Builder
			for _, s := range r.segs {
				b.WriteByte('/')
				switch s.kind {
				case segLit:
					b.WriteString(s.lit)
				case segTail:
					b.WriteString("**")
				default:
					b.WriteString("*")
				}
			}
			if b.Len() == 0 {
				b.WriteByte('/')
			}
			out = append(out, BodyRoute{Method: method, Template: b.String()})
		}
	}
	slices.SortFunc(out, func(a, b BodyRoute) int {
		return cmp.Or(strings.Compare(a.Template, b.Template), strings.Compare(a.Method, b.Method))
	})
	return slices.Compact(out)
}

// readHeaders copies the type's header params. A header given twice is
// ErrAmbiguous (which value would the upstream use?).
func (c *Connector) readHeaders(h http.Header, params map[string]any) error {
	for _, hp := range c.headerParams {
		vals := headerValues(h, hp.header)
		switch {
		case len(vals) > 1:
			return fmt.Errorf("%w: header %s given more than once", ErrAmbiguous, hp.header)
		case len(vals) == 1:
			if err := setParam(params, hp.param, vals[0]); err != nil {
				return err
			}
		}
	}
	return nil
}

// headerValues returns the values of a header under its canonical key and,
// for callers that filled the map directly, its lower-case key.
func headerValues(h http.Header, lower string) []string {
	if h == nil {
		return nil
	}
	canon := textproto.CanonicalMIMEHeaderKey(lower)
	vals := h[canon]
	if canon != lower {
		if more := h[lower]; len(more) > 0 {
			vals = append(vals[:len(vals):len(vals)], more...)
		}
	}
	return vals
}

// readBody reads the body fields of r; for a GraphQL route it returns the
// action type named by the document.
func (c *Connector) readBody(r *route, req Request, params map[string]any) (string, error) {
	if !req.BodyBuffered {
		return "", fmt.Errorf("%w: the route reads the body but it was not buffered", ErrBodyUnparseable)
	}
	if req.BodyTruncated {
		return "", fmt.Errorf("%w: body truncated at %d bytes", ErrBodyUnparseable, len(req.Body))
	}
	switch cl := headerValues(req.Header, "content-length"); {
	case len(cl) > 1:
		return "", fmt.Errorf("%w: content-length given more than once", ErrAmbiguous)
	case len(cl) == 1:
		n, err := strconv.ParseUint(strings.TrimSpace(cl[0]), 10, 63)
		if err != nil {
			return "", fmt.Errorf("%w: invalid content-length", ErrBodyUnparseable)
		}
		if n != uint64(len(req.Body)) {
			return "", fmt.Errorf("%w: got %d of %d body bytes (missing or truncated)", ErrBodyUnparseable, len(req.Body), n)
		}
	}
	if r.graphql {
		return c.graphqlAction(req.Body, params)
	}
	if len(req.Body) == 0 {
		return "", nil // no body: no body params
	}
	format := c.format
	if format == bodyByContentType {
		var err error
		if format, err = formatOf(headerValues(req.Header, "content-type")); err != nil {
			return "", err
		}
	}
	if format == bodyForm {
		return "", extractForm(string(req.Body), r.body, params, ErrBodyUnparseable)
	}
	return "", extractJSON(req.Body, r.json, params)
}

// formatOf picks the body format from Content-Type.
func formatOf(ct []string) (bodyFormat, error) {
	if len(ct) != 1 {
		return 0, fmt.Errorf("%w: need exactly one content-type, got %d", ErrBodyUnparseable, len(ct))
	}
	media, _, _ := strings.Cut(ct[0], ";")
	media = strings.ToLower(strings.TrimSpace(media))
	switch {
	case media == "application/json" || strings.HasPrefix(media, "application/") && strings.HasSuffix(media, "+json"):
		return bodyJSON, nil
	case media == "application/x-www-form-urlencoded":
		return bodyForm, nil
	}
	return 0, fmt.Errorf("%w: content-type %q is neither JSON nor a form", ErrBodyUnparseable, media)
}

// gqlRequestFields are the members of a GraphQL request that name the
// action; gqlRequestTree selects them from the JSON body.
var (
	gqlRequestFields = [...]field{
		{path: []string{"query"}, formKey: "query", param: "query", typ: typeString},
		{path: []string{"operationName"}, formKey: "operationName", param: "operationName", typ: typeString},
	}
	gqlRequestTree = &jsonNode{children: []*jsonNode{
		{key: []byte("query"), field: &gqlRequestFields[0]},
		{key: []byte("operationName"), field: &gqlRequestFields[1]},
	}}
)

// graphqlAction names a GraphQL request `<prefix>.graphql.<operation>.<field>`
// from its document. Several distinct top-level fields in a query or
// subscription give `<prefix>.graphql.query.multiple`; in a mutation they
// are refused (ErrAmbiguous): one request would carry several writes under
// one action name, and a deny rule naming one of them would not match. The
// params are operation, fields (sorted, comma-separated), field_count
// (selections including aliases and repeats, so policy can bound batched
// writes), operation_name when given, and body_sha256, which binds a
// decision token or approval to this exact document and its variables.
func (c *Connector) graphqlAction(body []byte, params map[string]any) (string, error) {
	if len(body) == 0 {
		return "", fmt.Errorf("%w: empty GraphQL request", ErrBodyUnparseable)
	}
	req := make(map[string]any, 2)
	if err := extractJSON(body, gqlRequestTree, req); err != nil {
		return "", err
	}
	doc, ok := req["query"].(string)
	if !ok {
		return "", fmt.Errorf("%w: GraphQL request without a query string", ErrBodyUnparseable)
	}
	opName, _ := req["operationName"].(string)
	op, err := analyzeGraphQL(doc, opName)
	if err != nil {
		return "", err
	}
	field := op.fields[0]
	if len(op.fields) > 1 {
		if op.kind == "mutation" {
			return "", fmt.Errorf("%w: GraphQL mutation with several top-level fields (%s); send one per request",
				ErrAmbiguous, strings.Join(op.fields, ", "))
		}
		field = "multiple"
	}
	sum := sha256.Sum256(body)
	params["operation"] = op.kind
	params["fields"] = strings.Join(op.fields, ",")
	params["field_count"] = float64(op.count)
	params["body_sha256"] = hex.EncodeToString(sum[:])
	if opName != "" {
		params["operation_name"] = opName
	}
	return c.prefix + ".graphql." + op.kind + "." + field, nil
}
