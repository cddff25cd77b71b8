package synth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// sanitizeRefs replaces every $ref of the generic document tree v that
// does not resolve inside root (another file's, or a dangling pointer) by
// an empty object, or an empty string where a description is expected.
// It returns the (possibly replaced) value.
func sanitizeRefs(root map[string]any, v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			if !resolves(root, ref) {
				if key == "description" || key == "summary" || key == "title" {
					return ""
				}
				return map[string]any{}
			}
		}
		for k, e := range x {
			x[k] = sanitizeRefs(root, e, k)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = sanitizeRefs(root, e, "")
		}
	}
	return v
}

// resolves reports whether ref is a local JSON pointer to a value of root.
func resolves(root map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var cur any = root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[tok]; !ok {
			return false
		}
	}
	return true
}

// pathParams returns params plus a parameter for every {name} of the path
// template that none declares (operations whose definition was in another
// file), so that no template placeholder travels on the wire.
func pathParams(path string, params openapi3.Parameters) openapi3.Parameters {
	for rest := path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		name := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		declared := false
		for _, pr := range params {
			if pr != nil && pr.Value != nil && pr.Value.In == "path" && pr.Value.Name == name {
				declared = true
			}
		}
		if !declared {
			params = append(params, &openapi3.ParameterRef{Value: &openapi3.Parameter{Name: name, In: "path", Required: true}})
		}
	}
	return params
}

// idStyle is how an API spells the ids in its paths when the spec does not
// say more than "string".
type idStyle uint8

const (
	styleDefault  idStyle = iota // word-NNN slugs, numbers when untyped
	stylePrefixed                // cus_4QFJOjw2pOmAGJ… (Stripe)
	styleGID                     // 16-digit numeric strings (Asana gids)
	styleGUID                    // GUIDs (DocuSign)
	styleK8s                     // DNS-label names (Kubernetes)
	styleDO                      // numbers for droplets and actions, UUIDs otherwise (DigitalOcean)
	styleHex24                   // 24-hex ObjectIds
)

// pickStyle chooses the id style from the API's title and host.
func pickStyle(title, host string) idStyle {
	t := strings.ToLower(title + " " + host)
	switch {
	case strings.Contains(t, "stripe"):
		return stylePrefixed
	case strings.Contains(t, "asana"):
		return styleGID
	case strings.Contains(t, "docusign"):
		return styleGUID
	case strings.Contains(t, "kubernetes"):
		return styleK8s
	case strings.Contains(t, "digitalocean"):
		return styleDO
	case strings.Contains(t, "xsoar"):
		return styleHex24
	}
	return styleDefault
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// k8sNamespaces are the few namespaces of a cluster.
var k8sNamespaces = []string{"default", "kube-system", "payments", "web-prod", "web-staging", "monitoring", "ingress-nginx", "data-pipeline", "cert-manager", "search"}

// styledID returns the id of object id for the path parameter name under
// the literal segment parent, in the API's style; ok is false when the
// style has no opinion (the caller keeps its default).
func styledID(style idStyle, name, parent string, id int64) (string, bool) {
	ln := strings.ToLower(name)
	x := mix(uint64(id)*0x9e3779b97f4a7c15 + uint64(len(name)))
	if strings.Contains(ln, "uuid") || strings.Contains(ln, "guid") {
		return string(appendUUID(nil, uint64(id))), true
	}
	switch style {
	case stylePrefixed:
		word := ln
		if word == "id" || word == "" {
			word = strings.ToLower(parent)
		}
		var pre []byte
		for i := 0; i < len(word) && len(pre) < 4; i++ {
			if c := word[i]; c >= 'a' && c <= 'z' {
				pre = append(pre, c)
			}
		}
		if len(pre) < 2 {
			pre = append(pre, "id"...)
		}
		b := append(pre, '_')
		for i := range 24 {
			b = append(b, base62[(x>>(uint(i)%58)^uint64(i)*0x2545)%62])
			if i%8 == 7 {
				x = mix(x)
			}
		}
		return string(b), true
	case styleGID:
		return strconv.FormatUint(1_200_000_000_000_000+uint64(id)*7_919_133+x%7_919_133, 10), true
	case styleGUID:
		return strings.ToUpper(string(appendUUID(nil, uint64(id)))), true
	case styleHex24:
		return fmt.Sprintf("%08x%016x", uint32(0x65a0_0000+id), x), true
	case styleK8s:
		if ln == "namespace" {
			return k8sNamespaces[uint64(id)%uint64(len(k8sNamespaces))], true
		}
		b := append([]byte(words[uint64(id)%uint64(len(words))]), '-')
		const dns = "bcdfghjklmnpqrstvwxz2456789"
		for i := range 10 {
			b = append(b, dns[(x>>(uint(i)*5))%uint64(len(dns))])
		}
		b = append(b, '-')
		y := mix(x)
		for i := range 5 {
			b = append(b, dns[(y>>(uint(i)*5))%uint64(len(dns))])
		}
		return string(b), true
	case styleDO:
		for _, w := range []string{"droplet", "action", "record", "image", "snapshot", "ssh_key", "key", "neighbor", "size"} {
			if strings.Contains(ln, w) {
				return strconv.FormatInt(10_000_000+id*131+int64(x%131), 10), true
			}
		}
		if strings.HasSuffix(ln, "name") || ln == "tag_id" || ln == "region" || strings.HasSuffix(ln, "slug") {
			return words[uint64(id)%uint64(len(words))] + "-" + strconv.FormatInt(id, 10), true
		}
		return string(appendUUID(nil, uint64(id))), true
	}
	return "", false
}

// parentSegment is the literal segment before {name} in a path template.
func parentSegment(path, name string) string {
	i := strings.Index(path, "{"+name+"}")
	if i <= 0 {
		return ""
	}
	p := strings.TrimSuffix(path[:i], "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// malformedRequest returns the k-th malformed request of an impaired run.
// For a spec-driven API the ones naming a path name one of the spec's
// most used operations (the built-in API's paths do not exist there).
func (s *sim) malformedRequest(k int) []byte {
	raw := malformed[k]
	if s.spec == nil {
		return raw
	}
	method := "GET"
	if k == 2 {
		method = "POST"
	}
	best := -1
	for i, op := range s.ops {
		if op.method == method && op.documented && op.spec.weight > 0 && (best < 0 || op.spec.weight > s.ops[best].spec.weight) {
			best = i
		}
	}
	if best < 0 {
		return raw
	}
	op := s.ops[best]
	target := op.path
	for _, pr := range op.spec.params {
		if p := pr.Value; p != nil && p.In == "path" {
			target = strings.ReplaceAll(target, "{"+p.Name+"}", styledParamValue(p, 1, 1, s.spec.style, op.path))
		}
	}
	old := []string{"/v1/customers/1", "", "/v1/orders", "", "/v1/products/SKU-00001"}[k]
	if old == "" {
		return raw
	}
	out := strings.Replace(string(raw), " "+old+" ", " "+target+" ", 1)
	return []byte(strings.ReplaceAll(out, "api.example.com", s.host))
}
