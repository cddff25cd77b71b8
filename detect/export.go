package detect

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// ExportOptions select what Engine.ExportSpec writes. The zero value
// exports every host.
type ExportOptions struct {
	// Host restricts the document to one host; "" exports all hosts, one
	// server each, with their paths merged (an operation seen on several
	// hosts appears once, with the stats of the first host in name order).
	Host string
	// Title is info.title; "" means "Observed API".
	Title string
	// Version is info.version; "" means "observed".
	Version string
}

// ExportSpec returns an OpenAPI 3.1 document of what was observed: every
// endpoint of the inventory (documented or not) with its path parameters,
// the query parameters seen with their types, the JSON request and
// (2xx) response body schemas inferred from the bodies (schema.go), the
// response status codes and media types, and the security schemes used. Folded traffic (overflow templates, extra
// methods, hosts beyond the cap) is left out. Credentials appear only as
// security schemes (names of headers, parameters and cookies), never values.
// Servers are https://host: a passive sensor cannot always tell the scheme.
func (e *Engine) ExportSpec(opts ExportOptions) *openapi3.T {
	if opts.Title == "" {
		opts.Title = "Observed API"
	}
	if opts.Version == "" {
		opts.Version = "observed"
	}
	doc := &openapi3.T{
		OpenAPI:    "3.1.0",
		Info:       &openapi3.Info{Title: opts.Title, Version: opts.Version},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	for _, name := range sortedKeys(e.hosts) {
		if name == otherHosts || (opts.Host != "" && name != opts.Host) {
			continue
		}
		hs := e.hosts[name]
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: "https://" + name})
		walk(&hs.trie.root, func(n *node) {
			if n.isRest {
				return
			}
			for _, m := range sortedKeys(n.ep) {
				if m != otherMethod {
					addOperation(doc, m, hs.trie.templateOf(n), n.ep[m], e.keys)
				}
			}
		})
		for _, s := range hs.specs {
			for _, op := range s.Ops {
				if st := hs.documented[op]; st != nil {
					addOperation(doc, op.Method, op.Path, st, e.keys)
				}
			}
		}
		for _, k := range sortedShaped(hs.shaped) {
			addOperation(doc, k.method, hs.shaped[k].shapedPath(k.path), hs.shaped[k], e.keys)
		}
	}
	return doc
}

var reParam = regexp.MustCompile(`\{([^{}/]+)\}`)

// addOperation adds the operation method path unless it is there already;
// credential parameters (the built-in ones and those keys declares) are
// security schemes, not query parameters.
func addOperation(doc *openapi3.T, method, path string, st *epStats, keys *keyNames) {
	item := doc.Paths.Value(path)
	if item == nil {
		item = &openapi3.PathItem{}
		doc.Paths.Set(path, item)
	}
	if item.GetOperation(method) != nil {
		return // already exported from another host
	}
	op := openapi3.NewOperation()
	op.OperationID = operationID(method, path)
	op.Summary = "observed " + strconv.FormatUint(st.count, 10) + " times"
	for _, m := range reParam.FindAllStringSubmatch(path, -1) {
		op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()))
	}
	for _, q := range sortedKeys(st.query) {
		if credentialParams[strings.ToLower(q)] || keys.isQuery(q) || q == "" {
			continue
		}
		op.AddParameter(openapi3.NewQueryParameter(q).WithSchema(queryType(st.schemas.queryKinds[q])))
	}
	if b := &st.schemas; b.req != nil {
		body := openapi3.NewRequestBody().WithDescription("observed")
		body.Content = openapi3.Content{}
		types := sortedKeys(b.reqTypes)
		for _, mt := range types {
			if isJSONType(mt) {
				body.Content[mt] = openapi3.NewMediaType().WithSchema(b.req.openAPI())
			}
		}
		if len(body.Content) == 0 {
			body.Content["application/json"] = openapi3.NewMediaType().WithSchema(b.req.openAPI())
		}
		op.RequestBody = &openapi3.RequestBodyRef{Value: body}
	}
	codes := make([]int, 0, len(st.statuses))
	for c := range st.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	op.Responses = openapi3.NewResponsesWithCapacity(len(codes) + 1)
	for _, c := range codes {
		desc := "observed"
		r := &openapi3.Response{Description: &desc}
		if c != 204 && c != 304 && len(st.respTypes) > 0 {
			r.Content = openapi3.Content{}
			for _, mt := range sortedKeys(st.respTypes) {
				schema := &openapi3.Schema{}
				if c >= 200 && c < 300 && isJSONType(mt) && st.schemas.resp != nil {
					schema = st.schemas.resp.openAPI()
				}
				r.Content[mt] = openapi3.NewMediaType().WithSchema(schema)
			}
		}
		op.Responses.Set(strconv.Itoa(c), &openapi3.ResponseRef{Value: r})
	}
	if len(codes) == 0 {
		desc := "no response observed"
		op.Responses.Set("default", &openapi3.ResponseRef{Value: &openapi3.Response{Description: &desc}})
	}
	op.Security = securityOf(doc, st)
	item.SetOperation(method, op)
}

// securityOf declares the schemes an endpoint was called with and returns
// its security requirements: alternatives, plus {} when some calls had
// none; an empty list when every call was unauthenticated.
func securityOf(doc *openapi3.T, st *epStats) *openapi3.SecurityRequirements {
	reqs := openapi3.SecurityRequirements{}
	add := func(name string, ss *openapi3.SecurityScheme) {
		doc.Components.SecuritySchemes[name] = &openapi3.SecuritySchemeRef{Value: ss}
		reqs = append(reqs, openapi3.NewSecurityRequirement().Authenticate(name))
	}
	if st.auth&authBasic != 0 {
		add("basicAuth", openapi3.NewSecurityScheme().WithType("http").WithScheme("basic"))
	}
	if st.auth&authBearer != 0 {
		add("bearerAuth", openapi3.NewSecurityScheme().WithType("http").WithScheme("bearer"))
	}
	if st.auth&authJWT != 0 {
		add("jwtAuth", openapi3.NewJWTSecurityScheme())
	}
	for _, c := range sortedKeys(st.credNames) {
		in, name, _ := strings.Cut(c, ":")
		add(schemeName(in, name), openapi3.NewSecurityScheme().WithType("apiKey").WithIn(in).WithName(name))
	}
	if st.auth&authNone != 0 && len(reqs) > 0 {
		reqs = append(reqs, openapi3.NewSecurityRequirement())
	}
	return &reqs
}

// schemeName is a component name (^[A-Za-z0-9._-]+$) for an API key.
func schemeName(in, name string) string {
	var b strings.Builder
	b.WriteString(in)
	b.WriteString("Key_")
	for _, c := range name {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// operationID is a stable id: the method and the path's words and
// parameters in camel case (GET /users/{userId} → getUsersByUserId).
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	up := true
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '{':
			b.WriteString("By")
			up = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			if up && c >= 'a' && c <= 'z' {
				c -= 32
			}
			b.WriteByte(c)
			up = false
		default:
			up = true
		}
	}
	return b.String()
}

// mediaType is a Content-Type without its parameters, lower-cased.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(strings.TrimSpace(ct))
	if !strings.Contains(ct, "/") || len(ct) > 100 {
		return ""
	}
	return ct
}
