package detect

import (
	"bytes"
	"net/url"
	"regexp"
	"strings"
)

// secretPatterns recognise well-known token formats. They are anchored on
// their literal prefixes (never a leading \b, which makes Go's regexp slow).
var secretPatterns = regexp.MustCompile(`(?:hf_[A-Za-z0-9]{30,40}|gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{40,255}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,99}|xox[abposr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-)?[A-Za-z0-9_-]{32,}|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*|-----BEGIN [A-Z ]*PRIVATE KEY-----)`)

// secretPrefixes is the cheap prefilter in front of secretPatterns: the
// pattern runs only on a window around each occurrence of a prefix.
var secretPrefixes = [][]byte{[]byte("hf_"), []byte("ghp_"), []byte("gho_"), []byte("ghu_"), []byte("ghs_"), []byte("ghr_"), []byte("github_pat_"), []byte("AKIA"), []byte("ASIA"), []byte("k_live_"), []byte("k_test_"), []byte("xox"), []byte("AIza"), []byte("sk-"), []byte("eyJ"), []byte("PRIVATE KEY")}

// maxSecretCandidates bounds the windows checked per prefix and body.
const maxSecretCandidates = 64

func hasSecret(b []byte) bool {
	for _, p := range secretPrefixes {
		rest, base := b, 0
		for n := 0; n < maxSecretCandidates; n++ {
			i := bytes.Index(rest, p)
			if i < 0 {
				break
			}
			at := base + i
			lo, hi := max(0, at-40), min(len(b), at+300)
			if secretPatterns.Match(b[lo:hi]) {
				return true
			}
			base = at + len(p)
			rest = b[base:]
		}
	}
	return false
}

func hasSecretString(s string) bool {
	for _, p := range secretPrefixes {
		if strings.Contains(s, string(p)) {
			return secretPatterns.MatchString(s)
		}
	}
	return false
}

// Redacted replaces every credential or secret value in outputs.
const Redacted = "REDACTED"

// RedactURI returns the request-target with the values of credential-bearing
// query parameters and any recognised secret (in the path or the query)
// replaced by REDACTED; everything else stays as sent. Parameter names are
// matched case-insensitively, percent-decoded and without a PHP-style
// "[...]" suffix (api%5Fkey, token[]); the userinfo of an absolute-form
// target (http://user:pass@host/) and credential parameters in a fragment
// (#access_token=...) are redacted too.
func RedactURI(target string) string {
	rest, frag, hasFrag := strings.Cut(target, "#")
	path, query, hasQuery := strings.Cut(rest, "?")
	path = redactUserinfo(path)
	if hasSecretString(path) {
		path = secretPatterns.ReplaceAllString(path, Redacted)
	}
	out := path
	if hasQuery {
		out += "?" + redactParams(query)
	}
	if hasFrag {
		out += "#" + redactParams(frag)
	}
	return out
}

// redactParams redacts the credential values of an &-separated list.
func redactParams(query string) string {
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		if !ok || value == "" {
			if hasSecretString(p) {
				parts[i] = secretPatterns.ReplaceAllString(p, Redacted)
			}
			continue
		}
		if credentialParams[paramKey(name)] {
			parts[i] = name + "=" + Redacted
		} else if hasSecretString(value) {
			parts[i] = name + "=" + secretPatterns.ReplaceAllString(value, Redacted)
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
	_, q, ok := strings.Cut(target, "?")
	if !ok || q == "" {
		return nil
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	var out []queryParam
	for _, p := range strings.Split(q, "&") {
		if p == "" {
			continue
		}
		n, v, _ := strings.Cut(p, "=")
		out = append(out, queryParam{n, v})
	}
	return out
}
