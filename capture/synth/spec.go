package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// ErrSpec is returned for a --spec document that cannot drive a simulation.
var ErrSpec = errors.New("unusable API specification")

// specOp is an operation read from a --spec document.
type specOp struct {
	op     *openapi3.Operation
	params openapi3.Parameters // path-level and operation-level
	weight float64             // popularity; 0 = never called (unseen)
	status int                 // success status
	listy  bool                // response carries an array (paginated list)
}

// specAPI is an API read from a --spec document.
type specAPI struct {
	ops        []*operation
	host       string
	documented []byte
	// credential names from the spec's security schemes
	headerKey, queryKey, cookieName string
	loginOp                         int // index of a login-like POST, -1 if none
	style                           idStyle
	cum                             []float64
}

// loadSpec reads an OpenAPI 3.x or Swagger 2.0 document (YAML or JSON) and
// turns it into the simulator's operations: about one in seven is left out
// of documented.yaml (shadow) and one in ten documented ones is never called
// (unseen).
func loadSpec(path string, r *rand.Rand) (*specAPI, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading spec: %w", err)
	}
	var probe map[string]any
	if err := yaml.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("parsing spec %s: %w", path, err)
	}
	// Real documents carry references this file cannot resolve (split
	// specs whose other files are absent, dangling definitions): they
	// become empty objects, so what the file itself holds still drives the
	// simulation.
	probe = jsonable(probe).(map[string]any)
	sanitizeRefs(probe, probe, "")
	js, err := json.Marshal(probe)
	if err != nil {
		return nil, fmt.Errorf("converting spec %s: %w", path, err)
	}
	var doc *openapi3.T
	if _, ok := probe["swagger"]; ok {
		var d2 openapi2.T
		if err := json.Unmarshal(js, &d2); err != nil {
			return nil, fmt.Errorf("parsing swagger 2 spec %s: %w", path, err)
		}
		if doc, err = openapi2conv.ToV3(&d2); err != nil {
			return nil, fmt.Errorf("converting swagger 2 spec %s: %w", path, err)
		}
	} else {
		l := openapi3.NewLoader()
		l.IsExternalRefsAllowed = false
		if doc, err = l.LoadFromData(js); err != nil {
			return nil, fmt.Errorf("loading spec %s: %w", path, err)
		}
	}
	api := &specAPI{host: "api.example.com", headerKey: "X-API-Key", queryKey: "api_key", cookieName: "session", loginOp: -1}
	base := ""
	if len(doc.Servers) > 0 {
		if u, err := url.Parse(doc.Servers[0].URL); err == nil {
			if u.Host != "" {
				api.host = u.Hostname()
			}
			base = strings.TrimSuffix(u.Path, "/")
		}
	}
	if doc.Components != nil {
		for _, n := range slices.Sorted(maps.Keys(doc.Components.SecuritySchemes)) {
			ss := doc.Components.SecuritySchemes[n].Value
			if ss == nil || ss.Type != "apiKey" {
				continue
			}
			switch ss.In {
			case "header":
				api.headerKey = ss.Name
			case "query":
				api.queryKey = ss.Name
			case "cookie":
				api.cookieName = ss.Name
			}
		}
	}
	title := ""
	if doc.Info != nil {
		title = doc.Info.Title
	}
	api.style = pickStyle(title, api.host)
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		return nil, fmt.Errorf("spec %s has no paths: %w", path, ErrSpec)
	}
	paths := make([]string, 0, doc.Paths.Len())
	for p := range doc.Paths.Map() {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		item := doc.Paths.Value(p)
		methods := make([]string, 0, 8)
		for m := range item.Operations() {
			methods = append(methods, m)
		}
		slices.Sort(methods)
		for _, m := range methods {
			o := item.Operations()[m]
			so := &specOp{op: o, params: pathParams(p, append(append(openapi3.Parameters{}, item.Parameters...), o.Parameters...)), status: 200}
			if o.Responses != nil {
				codes := make([]int, 0, 4)
				for c := range o.Responses.Map() {
					if n, err := strconv.Atoi(c); err == nil && n >= 200 && n < 300 {
						codes = append(codes, n)
					}
				}
				slices.Sort(codes)
				if len(codes) > 0 {
					so.status = codes[0]
				}
				if rs := respSchema(o, so.status); rs != nil {
					so.listy = rs.Type.Is("array") || hasArrayProp(rs)
				}
			}
			security := "none"
			sec := doc.Security
			if o.Security != nil {
				sec = *o.Security
			}
			for _, req := range sec {
				if len(req) > 0 {
					security = "user"
				}
			}
			lp := strings.ToLower(p)
			if m == "POST" && api.loginOp < 0 && (strings.Contains(lp, "login") || strings.Contains(lp, "signin") || strings.Contains(lp, "token") || strings.Contains(lp, "session")) {
				api.loginOp = len(api.ops)
				security = "none"
			}
			api.ops = append(api.ops, &operation{method: m, path: base + p, summary: o.Summary, documented: true, security: security, spec: so})
		}
	}
	// Popularity: Zipf-like over a shuffled order; shadow and unseen picks.
	order := r.Perm(len(api.ops))
	for rank, i := range order {
		api.ops[i].spec.weight = 1 / float64(rank+1)
	}
	nShadow := max(1, len(api.ops)/7)
	nUnseen := len(api.ops) / 10
	for k, i := range r.Perm(len(api.ops)) {
		switch {
		case i == api.loginOp:
		case k < nShadow:
			api.ops[i].documented = false
			api.ops[i].spec.weight = max(api.ops[i].spec.weight, 0.02)
		case k < nShadow+nUnseen:
			api.ops[i].spec.weight = 0
		}
	}
	sum := 0.0
	for _, op := range api.ops {
		sum += op.spec.weight
		api.cum = append(api.cum, sum)
	}
	// documented.yaml: the document minus the shadow operations.
	for _, p := range paths {
		item := doc.Paths.Value(p)
		for _, op := range api.ops {
			if !op.documented && op.path == base+p {
				item.SetOperation(op.method, nil)
			}
		}
		if len(item.Operations()) == 0 {
			doc.Paths.Delete(p)
		}
	}
	js, err = json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding documented spec: %w", err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(js, &node); err != nil {
		return nil, fmt.Errorf("encoding documented spec: %w", err)
	}
	clearStyle(&node)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&node); err != nil {
		return nil, fmt.Errorf("encoding documented spec: %w", err)
	}
	api.documented = out.Bytes()
	return api, nil
}

// clearStyle turns JSON-flow YAML into block style.
func clearStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle | yaml.DoubleQuotedStyle
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		n.Style = 0
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil || n.Value == "true" || n.Value == "false" || n.Value == "null" || n.Value == "" {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		clearStyle(c)
	}
}

// jsonable converts yaml.v3's generic values to ones encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
	}
	return v
}

func respSchema(o *openapi3.Operation, status int) *openapi3.Schema {
	if o.Responses == nil {
		return nil
	}
	rr := o.Responses.Status(status)
	if rr == nil || rr.Value == nil {
		return nil
	}
	for _, ct := range []string{"application/json", "application/problem+json", "*/*"} {
		if mt := rr.Value.Content.Get(ct); mt != nil && mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	for _, mt := range rr.Value.Content {
		if mt.Schema != nil {
			return mt.Schema.Value
		}
	}
	return nil
}

func hasArrayProp(s *openapi3.Schema) bool {
	for _, p := range s.Properties {
		if p.Value != nil && p.Value.Type.Is("array") {
			return true
		}
	}
	return false
}

// appendJSON appends a value conforming (loosely) to schema; h seeds the
// values, items is the length of arrays.
func appendJSON(dst []byte, s *openapi3.Schema, h uint64, depth, items int) []byte {
	return appendJSONCap(dst, s, h, depth, items, len(dst)+maxBodyBytes)
}

// Bounds of generated bodies: real specs (DocuSign, Stripe) have objects of
// hundreds of properties nested deep, which would make every response
// megabytes long.
const (
	maxBodyProps = 14
	maxBodyBytes = 24 << 10
)

func appendJSONCap(dst []byte, s *openapi3.Schema, h uint64, depth, items, limit int) []byte {
	if s == nil || depth > 5 || len(dst) > limit {
		return append(dst, "null"...)
	}
	if len(s.AllOf) > 0 {
		merged := &openapi3.Schema{Properties: openapi3.Schemas{}}
		for _, a := range s.AllOf {
			if a.Value == nil {
				continue
			}
			for k, v := range a.Value.Properties {
				merged.Properties[k] = v
			}
			if merged.Type == nil {
				merged.Type = a.Value.Type
			}
		}
		if len(merged.Properties) > 0 {
			merged.Type = &openapi3.Types{"object"}
		}
		s = merged
	}
	if len(s.OneOf) > 0 && s.OneOf[0].Value != nil {
		return appendJSONCap(dst, s.OneOf[0].Value, h, depth+1, items, limit)
	}
	if len(s.AnyOf) > 0 && s.AnyOf[0].Value != nil {
		return appendJSONCap(dst, s.AnyOf[0].Value, h, depth+1, items, limit)
	}
	if len(s.Enum) > 0 {
		b, _ := json.Marshal(s.Enum[h%uint64(len(s.Enum))])
		return append(dst, b...)
	}
	switch {
	case s.Type.Is("object") || len(s.Properties) > 0:
		// Required properties first, then the others, in name order.
		keys := make([]string, 0, len(s.Properties))
		for _, k := range s.Required {
			if s.Properties[k] != nil && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		req := len(keys)
		for k := range s.Properties {
			if !slices.Contains(keys[:req], k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys[req:])
		keys = keys[:min(len(keys), max(req, maxBodyProps))]
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendQuote(dst, k)
			dst = append(dst, ':')
			dst = appendJSONCap(dst, s.Properties[k].Value, mix(h+uint64(i)*0x9e37), depth+1, items, limit)
		}
		return append(dst, '}')
	case s.Type.Is("array"):
		dst = append(dst, '[')
		var it *openapi3.Schema
		if s.Items != nil {
			it = s.Items.Value
		}
		for i := range items {
			if i > 0 && len(dst) > limit {
				break
			}
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONCap(dst, it, mix(h+uint64(i)), depth+1, min(items, 3), limit)
		}
		return append(dst, ']')
	case s.Type.Is("integer"):
		return strconv.AppendInt(dst, int64(1+h%100000), 10)
	case s.Type.Is("number"):
		return appendCents(dst, int64(h%1000000))
	case s.Type.Is("boolean"):
		return strconv.AppendBool(dst, h&1 == 0)
	}
	dst = append(dst, '"')
	switch s.Format {
	case "email":
		dst = customerEmail(dst, int64(h%100000))
	case "date":
		dst = append(dst, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h%2000)*24*time.Hour).Format("2006-01-02")...)
	case "date-time":
		dst = append(dst, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h%(1<<25))*time.Second).Format(time.RFC3339)...)
	case "uuid":
		dst = appendUUID(dst, h)
	default:
		dst = append(dst, words[h%uint64(len(words))]...)
		dst = append(dst, '-')
		dst = strconv.AppendUint(dst, (h>>8)%1000, 10)
	}
	return append(dst, '"')
}

func appendUUID(dst []byte, h uint64) []byte {
	a, b := mix(h), mix(h^0xfeed)
	x := fmt.Sprintf("%016x%016x", a, b)
	return append(dst, x[0:8]+"-"+x[8:12]+"-4"+x[13:16]+"-a"+x[17:20]+"-"+x[20:32]...)
}

// paramValue returns a concrete value for a parameter; id is the object the
// caller means (its own, mostly).
func paramValue(p *openapi3.Parameter, id int64, h uint64) string {
	return styledParamValue(p, id, h, styleDefault, "")
}

// styledParamValue is paramValue for an API whose ids have a style (path
// parameters that are untyped or plain strings follow it); path is the
// operation's template.
func styledParamValue(p *openapi3.Parameter, id int64, h uint64, style idStyle, path string) string {
	var s *openapi3.Schema
	if p.Schema != nil {
		s = p.Schema.Value
	}
	isString := s == nil || (s.Type == nil || s.Type.Is("string")) && len(s.Enum) == 0 && s.Format != "date" && s.Format != "date-time"
	if p.In == "path" && style != styleDefault && isString && (s == nil || s.Format != "email") {
		if v, ok := styledID(style, p.Name, parentSegment(path, p.Name), id); ok {
			return v
		}
	}
	if p.Example != nil && p.In != "path" {
		return fmt.Sprint(p.Example)
	}
	if s == nil {
		return strconv.FormatInt(id, 10)
	}
	if len(s.Enum) > 0 {
		return fmt.Sprint(s.Enum[h%uint64(len(s.Enum))])
	}
	switch {
	case s.Type.Is("integer") || s.Type.Is("number"):
		if s.Max != nil && float64(id) > *s.Max {
			return strconv.FormatInt(int64(*s.Max), 10)
		}
		return strconv.FormatInt(id, 10)
	case s.Type.Is("boolean"):
		return strconv.FormatBool(h&1 == 0)
	}
	switch s.Format {
	case "uuid":
		return string(appendUUID(nil, uint64(id)))
	case "email":
		return string(customerEmail(nil, id))
	case "date":
		return "2026-01-" + strconv.Itoa(1+int(h%28))
	}
	return words[uint64(id)%uint64(len(words))] + "-" + strconv.FormatInt(id%1000, 10)
}

func (s *sim) pickSpecOp() int {
	u := s.rng.Float64() * s.spec.cum[len(s.spec.cum)-1]
	i, _ := slices.BinarySearch(s.spec.cum, u)
	return min(i, len(s.spec.cum)-1)
}

// specCalls fills a benign session for a spec-driven API: Zipf-popular
// operations on mostly the caller's own objects.
func (s *sim) specCalls(ss *session) {
	r, a := s.rng, ss.a
	n := min(40, 1+int(math.Exp(r.NormFloat64()*0.7+1.4)))
	if a.kind == kindAdmin {
		n = 2
	}
	for i := range n {
		c := call{spec: s.pickSpecOp(), id: a.cust%500 + 1}
		if r.Float64() < 0.3 {
			c.id = 1 + int64(s.skuZipf.Uint64())
		}
		if i > 0 {
			c.think = think(r)
		}
		ss.calls = append(ss.calls, c)
	}
}

// renderSpec builds the request and response of a spec-driven call.
func (s *sim) renderSpec(ss *session, c *call) (req, resp []byte, srvTime time.Duration) {
	r, a := s.rng, ss.a
	op := s.ops[c.spec]
	so := op.spec
	ua := ss.ua
	if ua == "" {
		ua = a.ua
	}
	target := op.path
	var query []string
	h := r.Uint64()
	for _, pr := range so.params {
		p := pr.Value
		if p == nil {
			continue
		}
		switch p.In {
		case "path":
			target = strings.ReplaceAll(target, "{"+p.Name+"}", url.PathEscape(styledParamValue(p, c.id, h, s.spec.style, op.path)))
		case "query":
			if p.Required || r.IntN(3) == 0 {
				v := styledParamValue(p, c.id, h, s.spec.style, op.path)
				if c.n > 0 && (p.Name == "limit" || p.Name == "page_size" || p.Name == "per_page" || p.Name == "size") {
					v = strconv.Itoa(c.n)
				}
				query = append(query, url.QueryEscape(p.Name)+"="+url.QueryEscape(v))
			}
		}
	}
	authed := !c.noAuth && a.scheme != "none" && a.scheme != "" && op.security != "none"
	if authed && a.scheme == "apikey-query" {
		query = append(query, s.spec.queryKey+"="+a.cred)
	}
	if c.query != "" {
		query = append(query, c.query)
	}
	if len(query) > 0 {
		target += "?" + strings.Join(query, "&")
	}
	hdr := []Header{{"User-Agent", ua}, {"Accept", "application/json"}}
	if a.gzip {
		hdr = append(hdr, Header{"Accept-Encoding", "gzip"})
	}
	if authed {
		switch a.scheme {
		case "jwt":
			hdr = append(hdr, Header{"Authorization", "Bearer " + a.cred})
		case "cookie":
			hdr = append(hdr, Header{"Cookie", s.spec.cookieName + "=" + a.cred})
		case "apikey-header":
			hdr = append(hdr, Header{s.spec.headerKey, a.cred})
		}
	}
	var body []byte
	if so.op.RequestBody != nil && so.op.RequestBody.Value != nil {
		if mt := so.op.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			body = appendJSON(nil, mt.Schema.Value, h, 0, 2)
			if c.bodyAdd != "" && len(body) > 1 && body[len(body)-1] == '}' {
				if len(body) > 2 {
					body = append(body[:len(body)-1], ',')
				} else {
					body = body[:len(body)-1]
				}
				body = append(body, strings.TrimPrefix(c.bodyAdd, ",")...)
				body = append(body, '}')
			}
			hdr = append(hdr, Header{"Content-Type", "application/json"})
		}
	}
	status := c.status
	if status == 0 {
		status = so.status
		switch u := r.Float64(); {
		case op.security != "none" && !authed:
			status = 401
		case u < 0.002:
			status = 500
		case u < 0.02:
			status = 404
		}
	}
	rb := s.buf[:0]
	if status >= 400 {
		rb = append(rb, `{"error":"`...)
		rb = append(rb, strings.ToLower(strings.ReplaceAll(httpStatusText(status), " ", "_"))...)
		rb = append(rb, `"}`...)
	} else if rs := respSchema(so.op, status); rs != nil {
		n := 5 + int(h%20)
		if c.n > 0 {
			n = c.n
		}
		limit := maxBodyBytes
		if c.n > 0 {
			limit = 4 << 20 // the exfiltration pages are meant to be huge
		}
		rb = appendJSONCap(rb, rs, h, 0, n, limit)
	}
	if c.respAdd != "" && len(rb) > 1 && rb[len(rb)-1] == '}' {
		rb = append(rb[:len(rb)-1], c.respAdd...)
		rb = append(rb, '}')
	}
	s.buf = rb
	rsp := Response{Status: status, Header: []Header{{"Content-Type", "application/json"}}, Body: rb, Chunked: so.listy && len(rb) > 4096, ChunkSize: 8192, Compressor: &s.cz, NoBody: status == 204 || status == 304}
	if a.gzip && len(rb) > 1024 && !rsp.NoBody {
		rsp.ContentEncoding = "gzip"
	}
	rq := Request{Method: op.method, Target: target, Host: s.host, Header: hdr, Body: body}
	var err error
	if s.reqBuf, err = rq.Append(s.reqBuf[:0]); err != nil {
		panic(err)
	}
	if s.respBuf, err = rsp.Append(s.respBuf[:0]); err != nil {
		panic(err)
	}
	return s.reqBuf, s.respBuf, time.Duration(2+r.IntN(30)) * time.Millisecond
}

// planSpecIncidents schedules the incidents a generic API allows: an
// unauthenticated id walk, credential stuffing on a login-like operation,
// a stolen key, a leaked token in a URL and a huge list pull.
func (s *sim) planSpecIncidents() {
	r := s.rng
	taken := map[*actor]bool{}
	ipN := uint64(0)
	newIP := func() netip.Addr { ipN++; return publicIP(s.o.Seed<<40 + 0x5bec000 + ipN) }
	find := func(pred func(op *operation) bool) int {
		for _, i := range r.Perm(len(s.ops)) {
			if pred(s.ops[i]) {
				return i
			}
		}
		return -1
	}
	hasIntPath := func(op *operation) bool {
		for _, p := range op.spec.params {
			if p.Value != nil && p.Value.In == "path" && p.Value.Schema != nil && p.Value.Schema.Value != nil && p.Value.Schema.Value.Type.Is("integer") {
				// A walk needs room: an id capped below the walk's length
				// (petstore's orderId ≤ 10) would fetch its maximum over
				// and over, which is no walk.
				if m := p.Value.Schema.Value.Max; m != nil && *m < 1500 {
					continue
				}
				return true
			}
		}
		return false
	}
	if i := find(func(op *operation) bool { return op.method == "GET" && hasIntPath(op) && op.spec.weight > 0 }); i >= 0 {
		idx := s.newIncident("id-walk", "enumeration", []string{"sensitive_data_exposure"}, false, "unauthenticated client walks "+s.ops[i].path+" over sequential ids", nil)
		var cs []call
		for k := range int64(1500) {
			cs = append(cs, call{spec: i, id: 1 + k, noAuth: true, status: s.ops[i].spec.status, think: between(r, 250*time.Millisecond, 600*time.Millisecond)})
		}
		s.series(idx, s.attacker("python-requests/2.31.0"), newIP(), "", s.at(0.62), cs)
	}
	if i := s.spec.loginOp; i >= 0 {
		idx := s.newIncident("credential-stuffing", "auth_abuse", nil, false, "100 addresses hammer "+s.ops[i].path+" with failing logins", nil)
		from := s.at(0.66)
		for range 100 {
			var cs []call
			for range 3 + r.IntN(4) {
				cs = append(cs, call{spec: i, noAuth: true, status: 401, think: between(r, 2*time.Second, 15*time.Second)})
			}
			s.series(idx, s.attacker(browserUAs[0]), newIP(), "", from.Add(time.Duration(r.Int64N(int64(90*time.Minute)))), cs)
		}
	}
	if i := find(func(op *operation) bool { return op.method == "GET" && op.spec.weight > 0 && op.security != "none" }); i >= 0 {
		a := s.pick("apikey-header", taken)
		idx := s.newIncident("stolen-api-key", "credential_misuse", nil, false, "an API key used from a new network with curl", a)
		// The key's owner has used it before, from its own network and
		// client, so that the theft is a change: a key whose first use is
		// the thief's is indistinguishable from a new integration.
		for d := range 6 {
			var own []call
			for range 8 {
				own = append(own, call{spec: s.pickSpecOp(), id: a.cust%500 + 1, think: between(r, 10*time.Second, 60*time.Second)})
			}
			s.series(-1, a, a.ip, "", s.at(0.1+0.1*float64(d)), own)
		}
		var cs []call
		for range 60 {
			cs = append(cs, call{spec: s.pickSpecOp(), id: 1 + r.Int64N(2000), think: between(r, 5*time.Second, 40*time.Second)})
		}
		s.series(idx, a, newIP(), "curl/8.5.0", s.at(0.75), cs)
	}
	if i := find(func(op *operation) bool { return op.method == "GET" && op.spec.weight > 0 }); i >= 0 {
		a := s.pick("jwt", taken)
		idx := s.newIncident("leak-github-token-url", "secret_exposure", undocQuery, false, "a GitHub token (ghp_) in the query string of "+s.ops[i].path, a)
		tok := randToken("ghp_", 36, s.o.Seed+4, alnum)
		var cs []call
		for range 3 {
			cs = append(cs, call{spec: i, id: a.cust%500 + 1, query: "ref=" + tok, think: between(r, 20*time.Minute, 2*time.Hour)})
		}
		s.series(idx, a, a.ip, "", s.at(0.72), cs)
	}
	if i := find(func(op *operation) bool { return op.method == "GET" && op.spec.listy && op.spec.weight > 0 }); i >= 0 {
		a := s.pick("apikey-query", taken)
		idx := s.newIncident("huge-page-exfil", "exfiltration", nil, false, "a key pulls "+s.ops[i].path+" with 2000-item pages", a)
		var cs []call
		for range 6 {
			cs = append(cs, call{spec: i, id: a.cust%500 + 1, n: 2000, think: between(r, 5*time.Second, 10*time.Second)})
		}
		s.series(idx, a, a.ip, "", s.at(0.8), cs)
	}
	s.surgeIdx = -1
	s.natIdx = s.newIncident("shared-nat", "enumeration", []string{"auth_abuse", "credential_misuse"}, true,
		"about a quarter of ordinary users share "+strconv.Itoa(len(s.natIPs))+" NAT addresses", nil)
}

func httpStatusText(code int) string {
	if t := map[int]string{400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 429: "too many requests"}[code]; t != "" {
		return t
	}
	return "internal error"
}
