package detect

import (
	"net/url"
	"slices"
	"strings"
)

// redactSecrets replaces every recognised secret of s, and every personal
// value the scanner finds outside JSON (e-mail addresses), by REDACTED,
// with the scanner's lenient checks: a token that fails its checksum or has
// an unusual length is redacted all the same. A percent-encoded s is
// scanned decoded too; a finding there redacts the whole of s.
func redactSecrets(s string) string {
	fs := theScanner.scan(bytesOf(s), scanSecrets|scanJWT|scanPersonal|scanLenient, nil) // allocates only on a finding
	if len(fs) == 0 {
		if strings.IndexByte(s, '%') >= 0 {
			if d, err := url.PathUnescape(s); err == nil && d != s && len(theScanner.scan(bytesOf(d), scanSecrets|scanJWT|scanPersonal|scanLenient, nil)) > 0 {
				return Redacted
			}
		}
		return s
	}
	slices.SortFunc(fs, func(a, b finding) int { return a.start - b.start })
	var sb strings.Builder
	last := 0
	for _, f := range fs {
		if f.start < last || !(f.typ.secret() || f.typ.personal()) {
			continue
		}
		sb.WriteString(s[last:f.start])
		sb.WriteString(Redacted)
		last = f.end
	}
	sb.WriteString(s[last:])
	return sb.String()
}

// Redacted replaces every credential or secret value in outputs.
const Redacted = "REDACTED"

// Redactor redacts request-targets for outputs as RedactURI does, with the
// query parameters that an engine's specs declare as API keys (apiKey
// security schemes in the query) redacted as the built-in credential
// parameters are. Engine.Redactor returns the engine's; the zero Redactor
// is RedactURI. It is safe for concurrent use.
type Redactor struct {
	keys *keyNames
}

// Redactor returns the redactor of the engine's specs.
func (e *Engine) Redactor() Redactor { return Redactor{e.keys} }

// URI is RedactURI with the redactor's parameter names added.
func (r Redactor) URI(target string) string {
	rest, frag, hasFrag := strings.Cut(target, "#")
	path, query, hasQuery := strings.Cut(rest, "?")
	path = redactSegments(redactUserinfo(path))
	out := path
	if hasQuery {
		out += "?" + redactParams(query, r.keys)
	}
	if hasFrag {
		out += "#" + redactParams(frag, r.keys)
	}
	return out
}

// RedactURI returns the request-target with the values of credential-bearing
// query parameters, any recognised secret and any e-mail address (in the
// path or the query, plain or percent-encoded) replaced by REDACTED;
// everything else stays as sent. Parameter names are
// matched case-insensitively, percent-decoded and without a PHP-style
// "[...]" suffix (api%5Fkey, token[]); the userinfo of an absolute-form
// target (http://user:pass@host/) and credential parameters in a fragment
// (#access_token=...) are redacted too.
//
// It knows the built-in credential parameters only: outputs of an engine
// with specs redact through the engine's Redactor, which knows the
// parameters the specs declare too.
func RedactURI(target string) string { return Redactor{}.URI(target) }

// redactSegments redacts each '/'-separated segment of a path on its own
// (the scanner reads a '/' before an '@' as part of a URL, not of an
// address).
func redactSegments(path string) string {
	if i := strings.Index(path, "://"); i >= 0 {
		// Absolute form: the authority (its userinfo already redacted) is
		// no address; the path after it is scanned.
		j := strings.IndexByte(path[i+3:], '/')
		if j < 0 {
			return path
		}
		return path[:i+3+j] + redactSegments(path[i+3+j:])
	}
	if strings.IndexByte(path, '@') < 0 && strings.IndexByte(path, '%') < 0 {
		return redactSecrets(path)
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = redactSecrets(seg)
	}
	return strings.Join(segs, "/")
}

// redactParams redacts the credential values of an &-separated list, the
// built-in credential parameters' and those keys declares (nil: none).
func redactParams(query string, keys *keyNames) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		if !ok || value == "" {
			parts[i] = redactSecrets(p)
			continue
		}
		if k := paramKey(name); credentialParams[k] || keys != nil && keys.redactsParam(k) {
			parts[i] = name + "=" + Redacted
		} else if r := redactSecrets(value); r != value {
			parts[i] = name + "=" + r
		}
	}
	return strings.Join(parts, "&")
}

// paramKey is the form of a query parameter name that credentialParams
// holds: lower case, percent-decoded, without a "[...]" suffix.
func paramKey(name string) string {
	if strings.IndexByte(name, '%') >= 0 {
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
	}
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	return strings.ToLower(name)
}

// queryParamName is paramKey without the lower-casing: a query parameter
// name percent-decoded and without a "[...]" suffix (api%5Fkey, token[]),
// its case kept. (paramKey is on every request's path and does not call
// it: one call less.)
func queryParamName(name string) string {
	if strings.IndexByte(name, '%') >= 0 {
		if u, err := url.QueryUnescape(name); err == nil {
			name = u
		}
	}
	if i := strings.IndexByte(name, '['); i > 0 {
		name = name[:i]
	}
	return name
}

// redactUserinfo replaces the userinfo of an absolute-form target.
func redactUserinfo(path string) string {
	i := strings.Index(path, "://")
	if i < 0 {
		return path
	}
	authority := path[i+3:]
	if j := strings.IndexByte(authority, '/'); j >= 0 {
		authority = authority[:j]
	}
	at := strings.LastIndexByte(authority, '@')
	if at < 0 {
		return path
	}
	return path[:i+3] + Redacted + path[i+3+at:]
}

// queryParam is one query parameter as sent.
type queryParam struct{ name, value string }

// parseQuery splits the query of a request-target (no decoding).
func parseQuery(target string) []queryParam {
	return appendQuery(nil, target)
}

// appendQuery is parseQuery appending to out.
func appendQuery(out []queryParam, target string) []queryParam {
	_, q, ok := strings.Cut(target, "?")
	if !ok || q == "" {
		return out
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	for q != "" {
		var p string
		p, q, _ = strings.Cut(q, "&")
		if p == "" {
			continue
		}
		n, v, _ := strings.Cut(p, "=")
		out = append(out, queryParam{n, v})
	}
	return out
}
