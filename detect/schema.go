package detect

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/shadowtap/shadowtap/reassembly"
)

// Bounds of the JSON schemas inferred per endpoint.
const (
	// maxSchemaDepth: values nested deeper are not described.
	maxSchemaDepth = 6
	// maxSchemaProps: properties kept per object (the first seen).
	maxSchemaProps = 32
	// maxSchemaNodes: nodes per inferred schema (request or response).
	maxSchemaNodes = 96
	// maxSchemaNameLen truncates property names.
	maxSchemaNameLen = 48
	// maxSchemaItems: elements of an array looked at (the first ones).
	maxSchemaItems = 8
	// schemaFirstBodies bodies per endpoint are all described; after them
	// one in schemaEvery.
	schemaFirstBodies = 64
	schemaEvery       = 32
	// maxSchemaBody: larger body samples are not parsed.
	maxSchemaBody = 256 << 10
)

// JSON kinds seen at a schema position.
const (
	kindNull uint8 = 1 << iota
	kindBool
	kindInt
	kindNumber
	kindString
	kindObject
	kindArray
)

// String formats recognised; fmtOther marks a string matching none.
const (
	fmtEmail uint8 = 1 << iota
	fmtUUID
	fmtDateTime
	fmtDate
	fmtIPv4
	fmtOther
)

// schemaNode describes the values seen at one position of a JSON body.
type schemaNode struct {
	kinds   uint8
	formats uint8
	// objects counts the values that were objects: a property present in
	// all of them is required.
	objects uint32
	props   []schemaProp // by name
	// first is the index in props of the property that came first in
	// the object described last: a guess that jsonWalker checks, so a
	// stale one (after an insertion) costs a binary search only. Not
	// state.
	first int32
	// propsCapped: an object had properties beyond maxSchemaProps, or the
	// node budget ran out below this node.
	propsCapped bool
	items       *schemaNode
}

type schemaProp struct {
	name string
	seen uint32
	// next is the index in the parent's props of the property that
	// followed this one last time: objects of one endpoint tend to list
	// their properties in one order (see schemaNode.first). Not state.
	next int32
	node *schemaNode
}

// bodySchemas is what an endpoint keeps of its bodies and query values.
type bodySchemas struct {
	req, resp  *schemaNode
	reqNodes   int
	respNodes  int
	bodies     uint64 // transactions looked at for bodies
	skipped    uint64 // bodies that were not valid JSON (or truncated)
	queryKinds map[string]uint8
	reqTypes   map[string]struct{} // request media types
}

// observe describes the transaction's JSON bodies and query values; n is
// the endpoint's request count including this one.
func (b *bodySchemas) observe(t *reassembly.Transaction, query []queryParam, n uint64) {
	b.observeInfo(t, query, nil, n)
}

// observeInfo is observe with the query parameters' kinds and credential
// flags given (txView.qinfo; nil: found here).
func (b *bodySchemas) observeInfo(t *reassembly.Transaction, query []queryParam, info []queryInfo, n uint64) {
	if len(info) != len(query) {
		info = nil
	}
	for i, q := range query {
		var qi queryInfo
		if info != nil {
			qi = info[i]
		} else {
			qi = queryInfo{kind: queryKind(q.value), cred: credentialParams[paramKey(q.name)]}
		}
		if q.name == "" || qi.cred {
			continue
		}
		name := truncate(q.name, maxQueryNameLen)
		if b.queryKinds == nil {
			b.queryKinds = map[string]uint8{}
		}
		if k, ok := b.queryKinds[name]; ok && k|qi.kind == k {
			// Nothing new: no need to store it again.
		} else if ok || len(b.queryKinds) < maxQueryNames {
			b.queryKinds[name] = k | qi.kind
		}
	}
	if t == nil || n > schemaFirstBodies && n%schemaEvery != 0 {
		return
	}
	b.bodies++
	if len(t.ReqBodySample()) > 0 {
		ct := mediaType(t.ReqHeader("Content-Type"))
		if ct != "" {
			addBounded(&b.reqTypes, ct, maxRespTypes)
		}
		if isJSONType(ct) {
			if t.Flags&reassembly.FlagReqTruncated == 0 && len(t.ReqBody) <= maxSchemaBody && validJSON(t.ReqBody) {
				if b.req == nil {
					b.req, b.reqNodes = &schemaNode{}, 1
				}
				w := jsonWalker{b: t.ReqBody, budget: &b.reqNodes}
				w.value(b.req, 0)
			} else {
				b.skipped++
			}
		}
	}
	if len(t.RespBodySample()) > 0 && t.Status >= 200 && t.Status < 300 && isJSONType(mediaType(t.RespHeader("Content-Type"))) {
		if t.Flags&reassembly.FlagRespTruncated == 0 && len(t.RespBody) <= maxSchemaBody && validJSON(t.RespBody) {
			if b.resp == nil {
				b.resp, b.respNodes = &schemaNode{}, 1
			}
			w := jsonWalker{b: t.RespBody, budget: &b.respNodes}
			w.value(b.resp, 0)
		} else {
			b.skipped++
		}
	}
}

// validJSON reports whether b is valid JSON, as encoding/json.Valid does,
// in about a third of its instructions: it is encoding/json/v2's syntax
// checker (jsontext, the implementation behind json.Valid once Go builds
// with json v2) with v1's leniencies, duplicate names and invalid UTF-8
// allowed. FuzzValidJSON checks the two agree.
func validJSON(b []byte) bool {
	return jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}

// merge adds o's descriptions to b's (templates folding together).
func (b *bodySchemas) merge(o *bodySchemas) {
	for k, v := range o.queryKinds {
		if b.queryKinds == nil {
			b.queryKinds = map[string]uint8{}
		}
		if _, ok := b.queryKinds[k]; ok || len(b.queryKinds) < maxQueryNames {
			b.queryKinds[k] |= v
		}
	}
	for k := range o.reqTypes {
		addBounded(&b.reqTypes, k, maxRespTypes)
	}
	b.bodies += o.bodies
	b.skipped += o.skipped
	b.req = mergeSchema(b.req, o.req, &b.reqNodes)
	b.resp = mergeSchema(b.resp, o.resp, &b.respNodes)
}

// mergeSchema merges src into dst within the node budget.
func mergeSchema(dst, src *schemaNode, budget *int) *schemaNode {
	if src == nil {
		return dst
	}
	if dst == nil {
		if *budget == 0 {
			*budget = 1
		}
		dst = &schemaNode{}
	}
	dst.kinds |= src.kinds
	dst.formats |= src.formats
	dst.objects += src.objects
	dst.propsCapped = dst.propsCapped || src.propsCapped
	for _, p := range src.props {
		i, ok := slices.BinarySearchFunc(dst.props, p.name, func(a schemaProp, n string) int { return strings.Compare(a.name, n) })
		if !ok {
			if len(dst.props) >= maxSchemaProps || *budget >= maxSchemaNodes {
				dst.propsCapped = true
				continue
			}
			*budget++
			dst.props = slices.Insert(dst.props, i, schemaProp{name: p.name, node: &schemaNode{}})
		}
		dst.props[i].seen += p.seen
		dst.props[i].node = mergeSchema(dst.props[i].node, p.node, budget)
	}
	if src.items != nil {
		if dst.items == nil && *budget < maxSchemaNodes {
			*budget++
			dst.items = &schemaNode{}
		}
		if dst.items != nil {
			dst.items = mergeSchema(dst.items, src.items, budget)
		}
	}
	return dst
}

func isJSONType(ct string) bool {
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// queryKind classifies a query value.
func queryKind(v string) uint8 {
	switch {
	case v == "":
		return kindString
	case v == "true" || v == "false":
		return kindBool
	case allDigits(v) || v[0] == '-' && allDigits(v[1:]):
		return kindInt
	}
	// The character test first: most values fail it, and a failed
	// ParseFloat allocates its error.
	if strings.IndexFunc(v, func(r rune) bool {
		return r != '.' && r != '-' && r != 'e' && r != 'E' && r != '+' && (r < '0' || r > '9')
	}) < 0 {
		if _, err := json.Number(v).Float64(); err == nil {
			return kindNumber
		}
	}
	return kindString
}

// stringFormat recognises the formats of a (raw, unescaped) string.
func stringFormat(s []byte) uint8 {
	n := len(s)
	switch {
	case n == 0 || n > 64:
		return fmtOther
	case n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && classifyWhole(string(s)) == classUUID:
		return fmtUUID
	case n == 10 && isDate(string(s)):
		return fmtDate
	case n >= 20 && s[10] == 'T' && isDate(string(s[:10])):
		if _, err := time.Parse(time.RFC3339Nano, string(s)); err == nil {
			return fmtDateTime
		}
	case n >= 7 && n <= 15 && s[0] >= '0' && s[0] <= '9':
		if a, err := netip.ParseAddr(string(s)); err == nil && a.Is4() {
			return fmtIPv4
		}
	default:
		if at := slices.Index(s, '@'); at > 0 && at < n-3 && slices.Index(s[at:], '.') > 1 && slices.Index(s, ' ') < 0 {
			return fmtEmail
		}
	}
	return fmtOther
}

// jsonWalker describes a valid JSON text (checked with validJSON first).
type jsonWalker struct {
	b      []byte
	i      int
	budget *int
	// walkSkipped walks the values it skips as it walks the others
	// (tests compare skip with it).
	walkSkipped bool
}

func (w *jsonWalker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// value reads one value into n (nil: skip it).
func (w *jsonWalker) value(n *schemaNode, depth int) {
	w.ws()
	if w.i >= len(w.b) {
		return
	}
	if depth >= maxSchemaDepth {
		n = nil
	}
	if n == nil && !w.walkSkipped {
		w.skip()
		return
	}
	switch c := w.b[w.i]; {
	case c == '{':
		w.i++
		if n != nil {
			n.kinds |= kindObject
			n.objects++
		}
		prev := int32(-1) // index of the property read last
		for {
			w.ws()
			if w.i >= len(w.b) {
				return
			}
			if w.b[w.i] == '}' {
				w.i++
				return
			}
			if w.b[w.i] == ',' {
				w.i++
				continue
			}
			key, _ := w.str()
			w.ws()
			w.i++ // ':'
			var c *schemaNode
			c, prev = n.childAfter(key, prev, w.budget)
			w.value(c, depth+1)
		}
	case c == '[':
		w.i++
		if n != nil {
			n.kinds |= kindArray
		}
		var it *schemaNode
		if n != nil {
			if n.items == nil && *w.budget < maxSchemaNodes {
				*w.budget++
				n.items = &schemaNode{}
			}
			it = n.items
		}
		for k := 0; ; {
			w.ws()
			if w.i >= len(w.b) {
				return
			}
			if w.b[w.i] == ']' {
				w.i++
				return
			}
			if w.b[w.i] == ',' {
				w.i++
				continue
			}
			if k < maxSchemaItems {
				w.value(it, depth+1)
			} else {
				w.value(nil, depth+1)
			}
			k++
		}
	case c == '"':
		s, escaped := w.str()
		if n != nil {
			n.kinds |= kindString
			if escaped {
				n.formats |= fmtOther
			} else {
				n.formats |= stringFormat(s)
			}
		}
	case c == 't' || c == 'f':
		w.lit()
		if n != nil {
			n.kinds |= kindBool
		}
	case c == 'n':
		w.lit()
		if n != nil {
			n.kinds |= kindNull
		}
	default:
		start := w.i
		w.lit()
		if n != nil {
			if slices.ContainsFunc(w.b[start:w.i], func(c byte) bool { return c == '.' || c == 'e' || c == 'E' }) {
				n.kinds |= kindNumber
			} else {
				n.kinds |= kindInt
			}
		}
	}
}

// skip moves past the value at w.i describing nothing, as walking it
// with a nil node does, but faster: in a valid text the value ends at the
// bracket that closes its own, found by counting brackets outside
// strings.
func (w *jsonWalker) skip() {
	switch w.b[w.i] {
	case '"':
		w.str()
		return
	case '{', '[':
	default:
		w.lit()
		return
	}
	b, i, depth := w.b, w.i, 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = stringEnd(b, i+1)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				w.i = i + 1
				return
			}
		}
		i++
	}
	w.i = len(b)
}

// stringEnd returns the index just past the quote that closes the string
// whose contents start at i (len(b) when none does).
func stringEnd(b []byte, i int) int {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		q += i
		// Escaped when an odd run of backslashes precedes it.
		bs := 0
		for j := q - 1; j >= i && b[j] == '\\'; j-- {
			bs++
		}
		if bs%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
}

// lit skips a number or a literal.
func (w *jsonWalker) lit() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return
		}
		w.i++
	}
}

// str reads a string at w.i and returns its raw contents.
func (w *jsonWalker) str() (s []byte, escaped bool) {
	w.i++ // '"'
	start := w.i
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case '\\':
			escaped = true
			w.i += 2
			continue
		case '"':
			s = w.b[start:w.i]
			w.i++
			return s, escaped
		}
		w.i++
	}
	return w.b[start:], escaped
}

// child returns the node of property key of n (nil when n is nil or the
// bounds are reached), counting the property as present.
func (n *schemaNode) child(key []byte, budget *int) *schemaNode {
	c, _ := n.childAfter(key, -1, budget)
	return c
}

// childAfter is child for the property that follows the one at index
// prev of n.props in an object (-1: the first). It also returns the index
// of key's property (-1 when none), for the next call.
//
// It tries the property that followed prev last time before searching
// props, and notes which one did follow: the guess is checked, so the
// result is child's whatever the guesses.
func (n *schemaNode) childAfter(key []byte, prev int32, budget *int) (*schemaNode, int32) {
	if n == nil {
		return nil, -1
	}
	key = key[:min(len(key), maxSchemaNameLen)]
	guess := n.first
	if prev >= 0 && int(prev) < len(n.props) {
		guess = n.props[prev].next
	}
	i, ok := int(guess), false
	if guess < 0 || i >= len(n.props) || n.props[i].name != string(key) {
		i, ok = slices.BinarySearchFunc(n.props, key, compareName)
		if !ok {
			if len(n.props) >= maxSchemaProps || *budget >= maxSchemaNodes {
				n.propsCapped = true
				return nil, -1
			}
			*budget++
			n.props = slices.Insert(n.props, i, schemaProp{name: string(key), node: &schemaNode{}})
		}
		// An insertion may have moved prev's property one up: then the
		// note goes to its neighbour, a wrong guess for later.
		if prev >= 0 && int(prev) < len(n.props) {
			n.props[prev].next = int32(i)
		} else {
			n.first = int32(i)
		}
	}
	n.props[i].seen++
	return n.props[i].node, int32(i)
}

// compareName orders a property by name against a key, as
// strings.Compare(p.name, string(key)) does, without making the string.
func compareName(p schemaProp, key []byte) int {
	a := p.name
	for i := 0; i < len(a) && i < len(key); i++ {
		if a[i] != key[i] {
			if a[i] < key[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(key):
		return -1
	case len(a) > len(key):
		return 1
	}
	return 0
}

// openAPI renders the node as an OpenAPI 3.1 schema.
func (n *schemaNode) openAPI() *openapi3.Schema {
	s := &openapi3.Schema{}
	if n == nil {
		return s
	}
	var types openapi3.Types
	k := n.kinds
	if k&kindNumber != 0 {
		k &^= kindInt
	}
	for _, t := range []struct {
		bit  uint8
		name string
	}{{kindObject, "object"}, {kindArray, "array"}, {kindString, "string"}, {kindInt, "integer"}, {kindNumber, "number"}, {kindBool, "boolean"}, {kindNull, "null"}} {
		if k&t.bit != 0 {
			types = append(types, t.name)
		}
	}
	if len(types) > 0 {
		s.Type = &types
	}
	if n.kinds&kindString != 0 {
		switch n.formats {
		case fmtEmail:
			s.Format = "email"
		case fmtUUID:
			s.Format = "uuid"
		case fmtDateTime:
			s.Format = "date-time"
		case fmtDate:
			s.Format = "date"
		case fmtIPv4:
			s.Format = "ipv4"
		}
	}
	if n.kinds&kindObject != 0 && len(n.props) > 0 {
		s.Properties = make(openapi3.Schemas, len(n.props))
		for _, p := range n.props {
			s.Properties[p.name] = openapi3.NewSchemaRef("", p.node.openAPI())
			if p.seen >= n.objects {
				s.Required = append(s.Required, p.name)
			}
		}
	}
	if n.kinds&kindArray != 0 {
		s.Items = openapi3.NewSchemaRef("", n.items.openAPI())
	}
	return s
}

// queryType is the OpenAPI type of a query parameter from its value kinds.
func queryType(k uint8) *openapi3.Schema {
	switch {
	case k == kindInt:
		return openapi3.NewIntegerSchema()
	case k == kindBool:
		return openapi3.NewBoolSchema()
	case k != 0 && k&^(kindInt|kindNumber) == 0:
		return openapi3.NewFloat64Schema()
	}
	return openapi3.NewStringSchema()
}

// encode writes the schemas for the engine's saved state (state_inventory.go).
func (b *bodySchemas) encode(w *stateEnc) {
	names := sortedKeys(b.queryKinds)
	w.u(uint64(len(names)))
	for _, k := range names {
		w.str(k)
		w.byte(b.queryKinds[k])
	}
	w.strSet(b.reqTypes)
	w.u(b.bodies)
	w.u(b.skipped)
	encodeSchemaNode(w, b.req)
	encodeSchemaNode(w, b.resp)
}

// decodeBodySchemas reads what encode wrote; the node budgets are
// recounted, so a corrupt state cannot exceed them.
func decodeBodySchemas(d *stateDec) bodySchemas {
	var b bodySchemas
	if k := d.n(2); k > 0 {
		b.queryKinds = make(map[string]uint8, k)
		for i := 0; i < k && d.err == nil; i++ {
			name := d.str()
			if len(b.queryKinds) < maxQueryNames {
				b.queryKinds[name] = d.byte()
			} else {
				d.byte()
			}
		}
	}
	b.reqTypes = d.strSet()
	b.bodies = d.u()
	b.skipped = d.u()
	b.req = decodeSchemaNode(d, &b.reqNodes, 0)
	b.resp = decodeSchemaNode(d, &b.respNodes, 0)
	return b
}

func encodeSchemaNode(w *stateEnc, n *schemaNode) {
	if n == nil {
		w.byte(0)
		return
	}
	w.byte(1)
	w.byte(n.kinds)
	w.byte(n.formats)
	w.u(uint64(n.objects))
	w.bool(n.propsCapped)
	w.u(uint64(len(n.props)))
	for _, p := range n.props {
		w.str(p.name)
		w.u(uint64(p.seen))
		encodeSchemaNode(w, p.node)
	}
	encodeSchemaNode(w, n.items)
}

func decodeSchemaNode(d *stateDec, budget *int, depth int) *schemaNode {
	if d.byte() == 0 || d.err != nil {
		return nil
	}
	if depth > maxSchemaDepth+1 || *budget >= maxSchemaNodes {
		d.fail("schema bounds")
		return nil
	}
	*budget++
	n := &schemaNode{kinds: d.byte(), formats: d.byte(), objects: uint32(d.u()), propsCapped: d.bool()}
	k := d.n(3)
	if k > maxSchemaProps {
		d.fail("schema properties")
		return nil
	}
	for i := 0; i < k && d.err == nil; i++ {
		p := schemaProp{name: d.str(), seen: uint32(d.u())}
		p.node = decodeSchemaNode(d, budget, depth+1)
		if p.node == nil {
			p.node = &schemaNode{}
		}
		if i > 0 && p.name <= n.props[len(n.props)-1].name {
			d.fail("schema property order")
			return nil
		}
		n.props = append(n.props, p)
	}
	n.items = decodeSchemaNode(d, budget, depth+1)
	return n
}
