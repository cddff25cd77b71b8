package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// ErrBadSpec matches every error LoadSpec returns for a document that is
// not a usable OpenAPI 3.x or Swagger 2.0 spec.
var ErrBadSpec = errors.New("not a usable OpenAPI document")

// Spec is an OpenAPI document reduced to what matching needs: the hosts it
// covers and its operations with their full wire templates. It is immutable
// and safe for concurrent use.
type Spec struct {
	// Path is the file it was loaded from.
	Path string
	// Hosts are the hosts of absolute server URLs; AnyHost is true when a
	// server URL is relative (or there is none), which covers every host.
	Hosts   []string
	AnyHost bool
	Ops     []*SpecOp
	// index holds Ops by their number of segments and first two
	// segments (literal, or "" for a parameter), so that matching a path
	// tries only the templates that can match it.
	index map[specKey][]*SpecOp
	// hints is the prefix tree of Ops' templates (pathHints).
	hints *hintNode
	// APIKeys are the spec's API-key security schemes (OpenAPI 3
	// components.securitySchemes, Swagger 2.0 securityDefinitions, of type
	// apiKey), sorted and without duplicates: their names carry
	// credentials as the built-in ones do (KeyNames).
	APIKeys []APIKey
}

// APIKey is where an API-key security scheme puts its key: In is
// "header", "query" or "cookie" and Name the header, parameter or cookie
// name as declared.
type APIKey struct {
	In, Name string
}

// apiKeysOf returns the API-key schemes of doc (those with an empty name
// or another location left out), sorted and without duplicates.
func apiKeysOf(doc *openapi3.T) []APIKey {
	if doc.Components == nil {
		return nil
	}
	var out []APIKey
	for _, ref := range doc.Components.SecuritySchemes {
		if ref == nil || ref.Value == nil || !strings.EqualFold(ref.Value.Type, "apiKey") {
			continue
		}
		in, name := strings.ToLower(ref.Value.In), strings.TrimSpace(ref.Value.Name)
		if name == "" || in != "header" && in != "query" && in != "cookie" {
			continue
		}
		out = append(out, APIKey{in, name})
	}
	slices.SortFunc(out, func(a, b APIKey) int {
		if c := strings.Compare(a.In, b.In); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return slices.Compact(out)
}

type specKey struct {
	n    int
	a, b string
}

// candidates calls fn with every operation whose template could match segs
// (an operation may come twice when a segment is empty; matching does not
// mind).
func (s *Spec) candidates(segs []string, fn func(*SpecOp)) {
	if s.index == nil {
		s.buildIndex()
	}
	n := len(segs)
	var a, b string
	if n > 0 {
		a = segs[0]
	}
	if n > 1 {
		b = segs[1]
	}
	for _, key := range [4]specKey{{n, a, b}, {n, a, ""}, {n, "", b}, {n, "", ""}} {
		for _, op := range s.index[key] {
			fn(op)
		}
	}
}

// buildIndex indexes Ops. LoadSpec does it, so a loaded Spec is never
// written to again; a Spec built by hand is indexed on first use (then it
// is not safe for concurrent use until that first match).
func (s *Spec) buildIndex() {
	s.index = map[specKey][]*SpecOp{}
	for _, op := range s.Ops {
		if op.segs == nil && op.Path != "" {
			op.segs = compileTemplate(op.Path)
		}
		k := specKey{n: len(op.segs)}
		if len(op.segs) > 0 && !op.segs[0].param {
			k.a = op.segs[0].literal
		}
		if len(op.segs) > 1 && !op.segs[1].param {
			k.b = op.segs[1].literal
		}
		s.index[k] = append(s.index[k], op)
	}
	s.hints = buildHints(s.Ops)
	for _, op := range s.Ops {
		n := s.hints
		for _, sg := range op.segs[:max(len(op.segs)-1, 0)] {
			if sg.param {
				n = n.param
			} else {
				n = n.lit[sg.literal]
			}
		}
		op.litSiblings = len(n.lit) > 0
	}
}

// SpecOp is one documented operation.
type SpecOp struct {
	Method string
	// Path is the full template as it travels on the wire, the server's
	// base path included (/v1/users/{id}).
	Path  string
	segs  []specSeg
	Query []string // documented query parameter names, the spec's API-key ones included
	// Hosts are the hosts whose servers carry this operation's base path;
	// nil means every host the spec covers (a relative server URL, or
	// one base path for all servers).
	Hosts []string
	// litSiblings: the spec documents fixed words where this template's
	// last segment is a parameter.
	litSiblings bool
	// The documented schemas of query parameters, of the JSON request
	// body and of the first 2xx JSON response (nil when not given), for
	// drift (diff.go).
	queryTypes            map[string]*openapi3.Schema
	reqSchema, respSchema *openapi3.Schema
}

// servedBy reports whether the operation exists on host: a server's base
// path applies to that server's host only.
func (op *SpecOp) servedBy(host string) bool {
	return op.Hosts == nil || contains(op.Hosts, host)
}

// specSeg matches one path segment: a literal, or a parameter with an
// optional literal prefix and suffix ("{id}.json").
type specSeg struct {
	literal        string
	param          bool
	prefix, suffix string
	// name is the parameter's; typ constrains its values when the spec
	// declares them (an integer, a UUID, an enumeration): /pet/findByStatus
	// is not /pet/{petId} when petId is an integer.
	name string
	typ  segType
	enum []string
}

// segType is what a documented path parameter's schema says of its values.
type segType uint8

const (
	segAny segType = iota
	segInteger
	segUUID
	segEnum
)

// typeParams sets the types of segs' parameters from the operation's
// path parameter schemas.
func typeParams(segs []specSeg, params ...openapi3.Parameters) {
	for i := range segs {
		if !segs[i].param {
			continue
		}
		for _, ps := range params {
			for _, pr := range ps {
				p := pr.Value
				if p == nil || p.In != "path" || p.Name != segs[i].name || p.Schema == nil || p.Schema.Value == nil {
					continue
				}
				sch := p.Schema.Value
				switch {
				case len(sch.Enum) > 0:
					segs[i].typ, segs[i].enum = segEnum, nil
					for _, v := range sch.Enum {
						segs[i].enum = append(segs[i].enum, fmt.Sprint(v))
					}
				case sch.Type.Is("integer"):
					segs[i].typ = segInteger
				case sch.Format == "uuid":
					segs[i].typ = segUUID
				default:
					segs[i].typ = segAny
				}
			}
		}
	}
}

// accepts reports whether the value (prefix and suffix removed) fits the
// parameter's declared type.
func (s *specSeg) accepts(v string) bool {
	switch s.typ {
	case segInteger:
		return allDigits(v) || len(v) > 1 && v[0] == '-' && allDigits(v[1:])
	case segUUID:
		return classifyWhole(v) == classUUID
	case segEnum:
		return contains(s.enum, v)
	}
	return true
}

// LoadSpec reads an OpenAPI 3.0/3.1 or Swagger 2.0 document, YAML or JSON.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	s, err := parseSpecData(data)
	if err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	s.Path = path
	return s, nil
}

// parseSpecData parses a spec document. The OpenAPI library is not
// hardened against every malformed document, so a panic in it becomes
// ErrBadSpec: a bad spec is a user's input error, not a crash.
func parseSpecData(data []byte) (s *Spec, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("%w: the OpenAPI parser failed on it: %v", ErrBadSpec, r)
		}
	}()
	doc, err := parseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSpec, err)
	}
	return specFrom(doc), nil
}

func parseSpec(data []byte) (*openapi3.T, error) {
	var probe map[string]any
	if err := yaml.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	if _, ok := probe["swagger"]; ok {
		js, err := json.Marshal(jsonable(probe))
		if err != nil {
			return nil, err
		}
		var d2 openapi2.T
		if err := json.Unmarshal(js, &d2); err != nil {
			return nil, err
		}
		return openapi2conv.ToV3(&d2)
	}
	if _, ok := probe["openapi"]; !ok {
		return nil, errors.New("neither an \"openapi\" nor a \"swagger\" field")
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	return loader.LoadFromData(data)
}

// jsonable converts YAML's map[any]any trees (from older YAML) to JSON form.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	}
	return v
}

func specFrom(doc *openapi3.T) *Spec {
	s := &Spec{APIKeys: apiKeysOf(doc)}
	// bases maps each base path to the hosts serving it ("" for a
	// relative server, which serves every host).
	bases := map[string][]string{}
	for _, srv := range doc.Servers {
		u := srv.URL
		for name, v := range srv.Variables {
			u = strings.ReplaceAll(u, "{"+name+"}", v.Default)
		}
		host, base := splitServer(u)
		if host == "" {
			s.AnyHost = true
		} else if !contains(s.Hosts, host) {
			s.Hosts = append(s.Hosts, host)
		}
		b := strings.TrimRight(base, "/")
		if !contains(bases[b], host) {
			bases[b] = append(bases[b], host)
		}
	}
	if len(doc.Servers) == 0 {
		s.AnyHost = true
	}
	if len(bases) == 0 {
		bases[""] = []string{""}
	}
	// With one base path for all servers, every operation is on every host.
	oneBase := len(bases) == 1
	if doc.Paths != nil {
		for p, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				var query []string
				var qtypes map[string]*openapi3.Schema
				for _, ps := range [][]*openapi3.ParameterRef{item.Parameters, op.Parameters} {
					for _, pr := range ps {
						if pr.Value != nil && pr.Value.In == "query" {
							query = append(query, pr.Value.Name)
							if pr.Value.Schema != nil && pr.Value.Schema.Value != nil {
								if qtypes == nil {
									qtypes = map[string]*openapi3.Schema{}
								}
								qtypes[pr.Value.Name] = pr.Value.Schema.Value
							}
						}
					}
				}
				// The query parameters of the API-key schemes are the
				// API's auth, documented for every operation (as
				// the built-in credential parameters are never
				// undocumented).
				for _, k := range s.APIKeys {
					if k.In == "query" && !contains(query, k.Name) {
						query = append(query, k.Name)
					}
				}
				req, resp := bodySchemasOf(op)
				opParams := op.Parameters
				for base, hosts := range bases {
					full := base + "/" + strings.TrimLeft(p, "/")
					op := &SpecOp{Method: strings.ToUpper(method), Path: full, segs: compileTemplate(full), Query: query,
						queryTypes: qtypes, reqSchema: req, respSchema: resp}
					typeParams(op.segs, item.Parameters, opParams)
					if !oneBase && !contains(hosts, "") {
						op.Hosts = slices.Sorted(slices.Values(hosts))
					}
					s.Ops = append(s.Ops, op)
				}
			}
		}
	}
	sort.Slice(s.Ops, func(i, j int) bool {
		if s.Ops[i].Path != s.Ops[j].Path {
			return s.Ops[i].Path < s.Ops[j].Path
		}
		return s.Ops[i].Method < s.Ops[j].Method
	})
	sort.Strings(s.Hosts)
	s.buildIndex()
	return s
}

// splitServer returns the host (without default port) and base path of a
// server URL; a relative URL has no host.
func splitServer(u string) (host, base string) {
	if strings.Contains(u, "://") {
		pu, err := url.Parse(u)
		if err == nil {
			return normalizeHost(pu.Host), pu.Path
		}
	}
	return "", u
}

func compileTemplate(p string) []specSeg {
	var out []specSeg
	for _, s := range strings.Split(strings.Trim(p, "/"), "/") {
		if s == "" {
			continue
		}
		i := strings.IndexByte(s, '{')
		j := strings.LastIndexByte(s, '}')
		if i >= 0 && j > i {
			name := s[i+1 : j]
			if k := strings.IndexByte(name, '}'); k >= 0 {
				name = name[:k] // {a}{b}: the first parameter names the segment
			}
			out = append(out, specSeg{param: true, prefix: s[:i], suffix: s[j+1:], name: name})
		} else {
			out = append(out, specSeg{literal: s})
		}
	}
	return out
}

// matchFor is match for a request of method: a documented operation
// (method set) matches only values of its parameters' declared types; the
// shape of a path for an undocumented method ("") takes any value.
func (op *SpecOp) matchFor(method string, segs []string) int {
	return op.matchTyped(segs, method != "")
}

// match scores how well op's template matches the concrete segments: -1 for
// no match, else the number of literal segments (more specific wins).
func (op *SpecOp) match(segs []string) int { return op.matchTyped(segs, false) }

func (op *SpecOp) matchTyped(segs []string, typed bool) int {
	if len(segs) != len(op.segs) {
		return -1
	}
	score := 0
	for i, s := range op.segs {
		c := segs[i]
		if !s.param {
			if c != s.literal {
				return -1
			}
			score++
			continue
		}
		if len(c) <= len(s.prefix)+len(s.suffix) || !strings.HasPrefix(c, s.prefix) || !strings.HasSuffix(c, s.suffix) {
			return -1
		}
		if typed && s.typ != segAny && !s.accepts(c[len(s.prefix):len(c)-len(s.suffix)]) {
			return -1
		}
	}
	return score
}

// covers reports whether the spec documents the given host.
func (s *Spec) covers(host string) bool {
	return s.AnyHost || contains(s.Hosts, host)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hintNode is one position of a prefix tree over a spec's templates: the
// literal words documented there and whether a parameter is.
type hintNode struct {
	lit   map[string]*hintNode
	param *hintNode
}

func buildHints(ops []*SpecOp) *hintNode {
	root := &hintNode{}
	for _, op := range ops {
		n := root
		for _, s := range op.segs {
			if s.param {
				if n.param == nil {
					n.param = &hintNode{}
				}
				n = n.param
				continue
			}
			if n.lit == nil {
				n.lit = map[string]*hintNode{}
			}
			c := n.lit[s.literal]
			if c == nil {
				c = &hintNode{}
				n.lit[s.literal] = c
			}
			n = c
		}
	}
	return root
}

// segHint is what the covering specs say of one segment of a path none of
// their operations matches.
type segHint uint8

const (
	hintNone  segHint = iota // the specs know nothing of this position
	hintParam                // documented templates have a parameter here and go on below it
	hintFixed                // only fixed words are documented here: do not learn a parameter
	hintWord                 // the specs document this very word here: a literal, whatever it looks like
)

// pathHints returns the hint for each segment (nil without specs). A
// segment the specs document as a word is hintWord (unit42intel stays a
// word though it reads like an id); an unknown word where
// the specs have a parameter is hintParam when the path goes on below it
// (/namespaces/kube-system/pods/…: shadow endpoints under documented
// resources share their parameters), hintNone when it is the last
// segment, which may be an undocumented action (/user/createWithArray).
func pathHints(specs []*Spec, segs []string) []segHint {
	if len(specs) == 0 {
		return nil
	}
	cur := make([]*hintNode, 0, len(specs))
	for _, s := range specs {
		if s.hints == nil {
			s.buildIndex()
		}
		cur = append(cur, s.hints)
	}
	out := make([]segHint, len(segs))
	next := make([]*hintNode, 0, len(specs))
	for i, seg := range segs {
		if len(cur) == 0 {
			break
		}
		next = next[:0]
		known, param := false, false
		for _, n := range cur {
			if c := n.lit[seg]; c != nil {
				known = true
				next = append(next, c)
			}
		}
		if !known {
			for _, n := range cur {
				if n.param != nil {
					param = true
					next = append(next, n.param)
				}
			}
		}
		switch {
		case known:
			out[i] = hintWord
		case param && i < len(segs)-1:
			out[i] = hintParam
		case !param:
			out[i] = hintFixed
		}
		cur, next = next, cur
	}
	return out
}

// shapes reports whether an undocumented method on segs may take op's
// template: not for a POST when op's last segment is a parameter beside
// documented fixed words (/user/login, /user/logout) and the concrete one
// reads as a word too (POST /user/createWithArray is an action of its own,
// not a method on /user/{username}; PATCH /users/alice is one on
// /users/{userId}).
func (op *SpecOp) shapes(method string, segs []string) bool {
	if method != "POST" || len(op.segs) == 0 || len(segs) != len(op.segs) {
		return true
	}
	last := op.segs[len(op.segs)-1]
	if !last.param || !op.litSiblings {
		return true
	}
	c, _ := classify(segs[len(segs)-1])
	return c != classLiteral
}

// unseenOn reports whether the spec's unused operations are listed as
// unseen on host: always on a host the spec names; on a host it covers
// only through a relative server URL (or none), once one of its
// operations was seen there. Otherwise every stray host (a server address
// standing in for a missing Host header) would list the whole spec.
func (s *Spec) unseenOn(host string, seen map[*SpecOp]*epStats) bool {
	if contains(s.Hosts, host) {
		return true
	}
	for _, op := range s.Ops {
		if seen[op] != nil {
			return true
		}
	}
	return false
}

// bodySchemasOf returns the JSON schemas of an operation's request body
// and of its first 2xx response that has one.
func bodySchemasOf(op *openapi3.Operation) (req, resp *openapi3.Schema) {
	jsonSchema := func(c openapi3.Content) *openapi3.Schema {
		for _, mt := range slices.Sorted(maps.Keys(c)) {
			if isJSONType(mediaType(mt)) && c[mt] != nil && c[mt].Schema != nil {
				return c[mt].Schema.Value
			}
		}
		return nil
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		req = jsonSchema(op.RequestBody.Value.Content)
	}
	if op.Responses != nil {
		for _, code := range slices.Sorted(maps.Keys(op.Responses.Map())) {
			if len(code) == 3 && code[0] == '2' || code == "2XX" {
				if r := op.Responses.Value(code); r != nil && r.Value != nil {
					if resp = jsonSchema(r.Value.Content); resp != nil {
						return req, resp
					}
				}
			}
		}
	}
	return req, nil
}
