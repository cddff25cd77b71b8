package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/shadowtap/shadowtap/reassembly"
)

// authSet is a set of authentication schemes seen.
type authSet uint8

const (
	authNone authSet = 1 << iota
	authBasic
	authBearer
	authJWT
	authAPIKeyHeader
	authAPIKeyQuery
	authCookie
)

var authNames = []struct {
	bit  authSet
	name string
}{
	{authNone, "none"}, {authBasic, "basic"}, {authBearer, "bearer"}, {authJWT, "jwt"},
	{authAPIKeyHeader, "apikey-header"}, {authAPIKeyQuery, "apikey-query"}, {authCookie, "cookie"},
}

func (a authSet) names() []string {
	out := []string{}
	for _, n := range authNames {
		if a&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// apiKeyHeaders are request headers that carry API keys.
var apiKeyHeaders = []string{"X-API-Key", "Api-Key", "X-Api-Token", "X-Auth-Token", "Apikey", "X-Access-Token", "Ocp-Apim-Subscription-Key"}

// credentialParams are query parameters that carry credentials; their values
// are redacted in every output.
var credentialParams = map[string]bool{
	"key": true, "api_key": true, "apikey": true, "api-key": true, "access_token": true, "token": true,
	"auth": true, "auth_token": true, "password": true, "passwd": true, "pwd": true, "secret": true,
	"client_secret": true, "sig": true, "signature": true, "session": true, "sessionid": true,
	"x-api-key": true, "id_token": true, "refresh_token": true, "code": true,
	// API keys under the names well-known APIs give them (OpenWeatherMap's
	// appid, Azure API Management's subscription-key, ...).
	"appid": true, "app_key": true, "appkey": true, "api_token": true, "apitoken": true,
	"subscription-key": true, "subscription_key": true,
}

// apiKeyParams are the credential parameters that count as API-key auth.
var apiKeyParams = map[string]bool{"key": true, "api_key": true, "apikey": true, "api-key": true, "access_token": true, "token": true, "auth_token": true, "x-api-key": true,
	"appid": true, "app_key": true, "appkey": true, "api_token": true, "apitoken": true, "subscription-key": true, "subscription_key": true}

// sessionCookies are cookie names that look like sessions or tokens.
var sessionCookies = []string{"session", "sess", "sid", "token", "auth", "jwt", "jsessionid", "phpsessid", "connect.sid"}

// credential is what authenticates a request: its scheme and a
// non-reversible fingerprint (contract: scheme + ":" + 8 hex of SHA-256).
// The fingerprint names the principal: for a JWT the hash of its `sub`
// claim (decoded without verification: a principal, not a proof), so that
// a user's renewed tokens stay one principal; for Basic the user name;
// otherwise the credential itself (API key, session cookie, opaque
// bearer). The scheme is the contract's auth name (jwt, basic, bearer,
// apikey-header, apikey-query, cookie).
type credential struct {
	scheme      authSet
	fingerprint string
	// token hashes the credential as sent (the whole JWT, not its sub): a
	// principal's new token is a new login, its known token elsewhere a
	// copied credential.
	token uint32
}

// authOf finds the authentication schemes of a request, and its principal
// credential (the first found, by precedence).
func authOf(t *reassembly.Transaction, query []queryParam) (authSet, credential) {
	var set authSet
	var cred credential
	take := func(bit authSet, name, value string) {
		set |= bit
		if cred.scheme == 0 && value != "" {
			tok := uint32(hashString(value))
			switch bit {
			case authJWT:
				if sub, ok := jwtSubject(value); ok {
					value = sub
				}
			case authBasic:
				if user, ok := basicUser(value); ok {
					value = user
				}
			}
			cred = credential{bit, Fingerprint(name, value), tok}
		}
	}
	if a := t.ReqHeader("Authorization"); a != "" {
		scheme, val, _ := strings.Cut(a, " ")
		switch strings.ToLower(scheme) {
		case "basic":
			take(authBasic, "basic", val)
		case "bearer":
			if isJWT(val) {
				take(authJWT, "jwt", val)
			} else {
				take(authBearer, "bearer", val)
			}
		default:
			if strings.ContainsAny(a, " \t") {
				take(authBearer, "bearer", a) // an unknown scheme word
			} else {
				take(authAPIKeyHeader, "apikey-header", a) // a bare key
			}
		}
	}
	for _, h := range apiKeyHeaders {
		if v := t.ReqHeader(h); v != "" {
			take(authAPIKeyHeader, "apikey-header", v)
		}
	}
	if set&authAPIKeyHeader == 0 {
		// API-specific key headers (X-Library-Key, X-Acme-Token).
		for _, h := range t.ReqHeaders {
			if h.Value != "" && isKeyHeader(h.Name) {
				take(authAPIKeyHeader, "apikey-header", h.Value)
				break
			}
		}
	}
	for _, q := range query {
		if apiKeyParams[paramKey(q.name)] && q.value != "" {
			take(authAPIKeyQuery, "apikey-query", q.value)
		}
	}
	if c := t.ReqHeader("Cookie"); c != "" {
		for _, part := range strings.Split(c, ";") {
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			ln := strings.ToLower(name)
			for _, s := range sessionCookies {
				if strings.Contains(ln, s) {
					take(authCookie, "cookie", val)
					break
				}
			}
		}
	}
	if set == 0 {
		set = authNone
	}
	return set, cred
}

// isJWT reports a compact JWS: three base64url parts whose header is JSON.
func isJWT(s string) bool {
	a, rest, ok := strings.Cut(s, ".")
	if !ok || len(a) < 10 {
		return false
	}
	b, c, ok := strings.Cut(rest, ".")
	if !ok || b == "" || strings.Contains(c, ".") {
		return false
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(a, "="))
	return err == nil && len(hdr) > 2 && hdr[0] == '{'
}

// Fingerprint reduces a credential to the contract's non-reversible form:
// scheme + ":" + the first 8 hex characters of its SHA-256.
func Fingerprint(scheme, value string) string {
	sum := sha256.Sum256([]byte(value))
	return scheme + ":" + hex.EncodeToString(sum[:4])
}

// maxJWTPayload bounds the JWT payload decoded for its subject.
const maxJWTPayload = 2048

// jwtSubject returns the `sub` claim of a compact JWS, decoded without
// verifying the signature. It decodes into a stack buffer and scans the
// JSON for a top-level "sub" string (escapes kept as sent): no allocation
// beyond the returned string.
func jwtSubject(tok string) (string, bool) {
	_, rest, ok := strings.Cut(tok, ".")
	if !ok {
		return "", false
	}
	payload, _, ok := strings.Cut(rest, ".")
	payload = strings.TrimRight(payload, "=")
	if !ok || payload == "" || base64.RawURLEncoding.DecodedLen(len(payload)) > maxJWTPayload {
		return "", false
	}
	var buf [maxJWTPayload]byte
	n, ok := decodeB64URL(buf[:], payload)
	if !ok {
		return "", false
	}
	return jsonStringField(buf[:n], "sub")
}

// decodeB64URL decodes unpadded base64url (or standard base64) s into dst
// without allocating; false on a bad character or a short dst.
func decodeB64URL(dst []byte, s string) (int, bool) {
	var acc uint32
	nbits, n := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case c >= 'A' && c <= 'Z':
			v = c - 'A'
		case c >= 'a' && c <= 'z':
			v = c - 'a' + 26
		case c >= '0' && c <= '9':
			v = c - '0' + 52
		case c == '-' || c == '+':
			v = 62
		case c == '_' || c == '/':
			v = 63
		default:
			return 0, false
		}
		acc = acc<<6 | uint32(v)
		nbits += 6
		if nbits >= 8 {
			nbits -= 8
			if n >= len(dst) {
				return 0, false
			}
			dst[n] = byte(acc >> nbits)
			n++
		}
	}
	return n, true
}

// jsonStringField finds "name": "value" at the top level of a JSON object
// and returns value (raw, without unescaping).
func jsonStringField(b []byte, name string) (string, bool) {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return "", false
			}
			key := b[i+1 : j]
			i = j
			if depth != 1 || string(key) != name {
				continue
			}
			k := j + 1
			for k < len(b) && (b[k] == ' ' || b[k] == ':' || b[k] == '\t' || b[k] == '\n' || b[k] == '\r') {
				k++
			}
			if k >= len(b) || b[k] != '"' {
				return "", false
			}
			e := k + 1
			for e < len(b) && b[e] != '"' {
				if b[e] == '\\' {
					e++
				}
				e++
			}
			if e >= len(b) || e == k+1 {
				return "", false
			}
			return string(b[k+1 : e]), true
		}
	}
	return "", false
}

// basicUser returns the user name of a Basic credential.
func basicUser(v string) (string, bool) {
	var buf [512]byte
	n, ok := decodeB64URL(buf[:], strings.TrimRight(strings.TrimSpace(v), "="))
	if !ok {
		return "", false
	}
	i := bytes.IndexByte(buf[:n], ':')
	if i <= 0 {
		return "", false
	}
	return string(buf[:i]), true
}

// notKeyHeaders end like key headers but carry no principal.
var notKeyHeaders = []string{"idempotency-key", "sec-websocket-key", "x-csrf-token", "x-xsrf-token", "csrf-token", "x-request-token", "x-idempotency-key"}

// isKeyHeader reports a request header that by its name carries an API
// key or token: "...-Key", "...-Token", "...ApiKey", "...-Secret".
func isKeyHeader(name string) bool {
	n := len(name)
	suffix := func(s string) bool { return n > len(s) && strings.EqualFold(name[n-len(s):], s) }
	if !suffix("-key") && !suffix("-token") && !suffix("apikey") && !suffix("-secret") && !suffix("_key") && !suffix("_token") {
		return false
	}
	for _, x := range notKeyHeaders {
		if strings.EqualFold(name, x) {
			return false
		}
	}
	return true
}
