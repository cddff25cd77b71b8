package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"

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
var apiKeyHeaders = [...]string{"X-API-Key", "Api-Key", "X-Api-Token", "X-Auth-Token", "Apikey", "X-Access-Token", "Ocp-Apim-Subscription-Key"}

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

// keyNames are the credential names that the specs' API-key security
// schemes declare (Spec.APIKeys) beyond the built-in ones (apiKeyHeaders,
// apiKeyParams, sessionCookies): authAndCreds takes credentials from them
// as from those, the secret scan leaves their values alone (the API's own
// auth) and a Redactor redacts their query values. An engine builds it
// from its specs (newKeyNames) and never changes it; it is nil when the
// specs declare no name the built-in lists lack, so that the path without
// specs tests one pointer.
type keyNames struct {
	// header holds the header names as declared, matched ASCII
	// case-insensitively (HTTP header names are).
	header []string
	// query and cookie hold the names as declared, matched exactly (as
	// OpenAPI says); a query name is also tried percent-decoded and
	// without a PHP-style "[...]" suffix.
	query, cookie map[string]struct{}
	// queryFold holds the query names in paramKey's form (lower case):
	// redaction matches them as it matches the built-in credential
	// parameters, case-insensitively (redacting more is the safe side).
	queryFold map[string]struct{}
}

// newKeyNames collects the API-key names of specs that the built-in
// lists do not already cover; nil when there is none. Authorization and
// Cookie declared as API-key headers keep their own parsing (the
// Authorization scheme word, the cookie names).
func newKeyNames(specs []*Spec) *keyNames {
	k := &keyNames{}
	add := func(m *map[string]struct{}, name string) {
		if *m == nil {
			*m = map[string]struct{}{}
		}
		(*m)[name] = struct{}{}
	}
	for _, s := range specs {
		for _, key := range s.APIKeys {
			switch key.In {
			case "header":
				if apiKeyHeaderIndex(key.Name) >= 0 || equalFoldASCII(key.Name, "Authorization") || equalFoldASCII(key.Name, "Cookie") ||
					slices.ContainsFunc(k.header, func(h string) bool { return len(h) == len(key.Name) && equalFoldASCII(h, key.Name) }) {
					continue
				}
				k.header = append(k.header, key.Name)
			case "query":
				if pk := paramKey(key.Name); !credentialParams[pk] {
					add(&k.queryFold, pk)
				}
				if !apiKeyParams[paramKey(key.Name)] {
					add(&k.query, key.Name)
					if n := queryParamName(key.Name); n != key.Name && n != "" {
						add(&k.query, n) // isQuery's decoded form of a declared "a[b]"
					}
				}
			case "cookie":
				if !isSessionCookie(key.Name) {
					add(&k.cookie, key.Name)
				}
			}
		}
	}
	if len(k.header) == 0 && len(k.query) == 0 && len(k.queryFold) == 0 && len(k.cookie) == 0 {
		return nil
	}
	return k
}

// isHeader reports a header name that k declares (nil: none).
func (k *keyNames) isHeader(name string) bool {
	if k == nil {
		return false
	}
	for _, h := range k.header {
		if len(h) == len(name) && equalFoldASCII(h, name) {
			return true
		}
	}
	return false
}

// isQuery reports a query parameter name (as sent) that k declares.
func (k *keyNames) isQuery(name string) bool {
	if k == nil || len(k.query) == 0 {
		return false
	}
	if _, ok := k.query[name]; ok {
		return true
	}
	if strings.IndexByte(name, '%') < 0 && strings.IndexByte(name, '[') < 0 {
		return false
	}
	_, ok := k.query[queryParamName(name)]
	return ok
}

// redactsParam reports a query parameter whose paramKey is key and whose
// value k redacts.
func (k *keyNames) redactsParam(key string) bool {
	if k == nil {
		return false
	}
	_, ok := k.queryFold[key]
	return ok
}

// isCookie reports a cookie name that k declares.
func (k *keyNames) isCookie(name string) bool {
	if k == nil || len(k.cookie) == 0 {
		return false
	}
	_, ok := k.cookie[name]
	return ok
}

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
	set, cred, _ := authAndCreds(t, query, nil, nil, nil)
	return set, cred
}

// newCredential builds the credential of a request whose principal
// credential is value, of the scheme bit named name.
func newCredential(bit authSet, name, value string) credential {
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
	return credential{bit, Fingerprint(name, value), tok}
}

const (
	// credCacheSlots is the number of credentials a credCache holds (a
	// power of two).
	credCacheSlots = 4096
	// maxCachedCred bounds the length of a credential kept in a
	// credCache; longer ones are computed each time.
	maxCachedCred = 512
)

// credCache remembers the credentials built from the credential values
// Prepare saw last: clients send the same token, key or session with
// request after request, and a JWT's credential costs a hash of the
// token, a base64 decoding of its payload and a SHA-256 (about 1.5 µs).
// It is a two-way set-associative table: a value's pair of slots is chosen
// by a seeded hash; a new entry goes to the pair's first slot and the one
// it displaces to the second, each replaced whole (an atomic pointer), so
// it is bounded (credCacheSlots entries of at most maxCachedCred bytes),
// safe for any number of goroutines at once, and never locks. An entry is a function of its key alone (scheme and value),
// so what the cache holds, and in which order transactions fill it,
// changes what is computed, never a result. The nil *credCache caches
// nothing.
type credCache struct {
	seed  maphash.Seed
	slots [credCacheSlots]atomic.Pointer[credEntry]
}

// credEntry is one credential of a credCache and its key.
type credEntry struct {
	bit         authSet
	name, value string // value is a copy: no view of a transaction is kept
	cred        credential
}

func newCredCache() *credCache { return &credCache{seed: maphash.MakeSeed()} }

// credential is newCredential(bit, name, value), from the cache when it
// holds it.
func (c *credCache) credential(bit authSet, name, value string) credential {
	if c == nil || len(value) > maxCachedCred {
		return newCredential(bit, name, value)
	}
	i := (maphash.String(c.seed, value) + uint64(bit)) & (credCacheSlots - 2)
	first, second := &c.slots[i], &c.slots[i+1]
	old := first.Load()
	for _, e := range [2]*credEntry{old, second.Load()} {
		if e != nil && e.bit == bit && e.value == value && e.name == name {
			return e.cred
		}
	}
	e := &credEntry{bit: bit, name: name, value: strings.Clone(value)}
	e.cred = newCredential(bit, name, e.value)
	first.Store(e)
	if old != nil {
		second.Store(old)
	}
	return e.cred
}

// credName is where an API key of a request was and its name: "header",
// "query" or "cookie" and the name (credName.String is "in:name").
type credName struct{ in, name string }

func (c credName) String() string { return c.in + ":" + c.name }

// addTo adds c's "in:name" to the set *m, as addBounded with maxCredNames
// does, building the key only when it is new.
func (c credName) addTo(m *map[string]struct{}) {
	if *m == nil {
		*m = map[string]struct{}{}
	}
	if len(*m) >= maxCredNames {
		return
	}
	var buf [maxQueryNameLen]byte
	k := append(append(append(buf[:0], c.in...), ':'), c.name...)
	k = k[:min(len(k), maxQueryNameLen)]
	if _, ok := (*m)[string(k)]; !ok {
		(*m)[string(k)] = struct{}{}
	}
}

// reqAuthHeaders are the request headers authOf reads, found in one pass.
type reqAuthHeaders struct {
	authorization string
	apiKey        [len(apiKeyHeaders)]string // the first of each, by apiKeyHeaders
	cookie        string
	// keyHeader is the first header with a value whose name isKeyHeader.
	keyHeader    string
	hasKeyHeader bool
	// apiKeySeen has bit i set when apiKeyHeaders[i] was found.
	apiKeySeen uint8
}

// apiKeyHeaders fit reqAuthHeaders.apiKeySeen (this does not compile
// otherwise).
var _ [8 - len(apiKeyHeaders)]struct{}

// apiKeyHeaderIndex finds the apiKeyHeaders entry that name matches
// (ASCII case-insensitively, as Transaction.ReqHeader does).
func apiKeyHeaderIndex(name string) int {
	for i, h := range apiKeyHeaders {
		if len(h) == len(name) && equalFoldASCII(h, name) {
			return i
		}
	}
	return -1
}

// scanReqAuthHeaders reads the headers authOf needs; the first header of
// each name counts, as with Transaction.ReqHeader. classes are the
// headers' classes (headerClass) when the caller has them, else nil.
func scanReqAuthHeaders(hs []reassembly.Header, classes []hdrClass) reqAuthHeaders {
	var r reqAuthHeaders
	var seen uint16 // bits 0..len(apiKeyHeaders)-1, then authorization, cookie
	const seenAuthz, seenCookie uint16 = 1 << len(apiKeyHeaders), 2 << len(apiKeyHeaders)
	if len(classes) != len(hs) {
		classes = nil
	}
	for i := range hs {
		h := &hs[i]
		var c hdrClass
		if classes != nil {
			c = classes[i]
		} else {
			c = headerClass(h.Name)
		}
		switch {
		case c&hcAuthorization != 0 && seen&seenAuthz == 0:
			seen |= seenAuthz
			r.authorization = h.Value
			continue
		case c&hcCookie != 0 && seen&seenCookie == 0:
			seen |= seenCookie
			r.cookie = h.Value
			continue
		}
		if k := c.apiKeyIndex(); k >= 0 {
			if seen&(1<<k) == 0 {
				seen |= 1 << k
				r.apiKey[k] = h.Value
				r.apiKeySeen |= 1 << k
			}
		}
		if !r.hasKeyHeader && h.Value != "" && c&hcKey != 0 {
			r.keyHeader, r.hasKeyHeader = h.Value, true
		}
	}
	return r
}

// authAndCreds finds the authentication schemes of a request and its
// principal credential (the first found, by precedence; through cc, which
// may be nil), and appends to names where its API keys were (header, query
// or cookie; bearer and basic credentials are schemes of their own). The
// names keys declares (nil: none) count as the built-in ones; a declared
// header comes after the built-in key headers in precedence.
func authAndCreds(t *reassembly.Transaction, query []queryParam, names []credName, cc *credCache, keys *keyNames) (authSet, credential, []credName) {
	return authAndCredsClassed(t, nil, query, names, cc, keys)
}

// authAndCredsClassed is authAndCreds given the request headers' classes
// (nil: computed here).
func authAndCredsClassed(t *reassembly.Transaction, classes []hdrClass, query []queryParam, names []credName, cc *credCache, keys *keyNames) (authSet, credential, []credName) {
	var set authSet
	var cred credential
	take := func(bit authSet, name, value string) {
		set |= bit
		if cred.scheme == 0 && value != "" {
			cred = cc.credential(bit, name, value)
		}
	}
	hs := scanReqAuthHeaders(t.ReqHeaders, classes)
	if a := hs.authorization; a != "" {
		scheme, val, _ := strings.Cut(a, " ")
		if !isASCII(scheme) {
			scheme = strings.ToLower(scheme) // as the ASCII fold below, for the rest
		}
		switch {
		case equalFoldASCII(scheme, "basic"):
			take(authBasic, "basic", val)
		case equalFoldASCII(scheme, "bearer"):
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
	for m := hs.apiKeySeen; m != 0; m &= m - 1 { // those found, in order
		i := bits.TrailingZeros8(m)
		if v := hs.apiKey[i]; v != "" {
			take(authAPIKeyHeader, "apikey-header", v)
			names = append(names, credName{"header", apiKeyHeaders[i]})
		}
	}
	if keys != nil {
		for _, h := range keys.header {
			if v := t.ReqHeader(h); v != "" {
				take(authAPIKeyHeader, "apikey-header", v)
				names = append(names, credName{"header", h})
			}
		}
	}
	if set&authAPIKeyHeader == 0 && hs.hasKeyHeader {
		// API-specific key headers (X-Library-Key, X-Acme-Token).
		take(authAPIKeyHeader, "apikey-header", hs.keyHeader)
	}
	for _, q := range query {
		if q.value != "" && (apiKeyParams[paramKey(q.name)] || keys != nil && keys.isQuery(q.name)) {
			take(authAPIKeyQuery, "apikey-query", q.value)
			names = append(names, credName{"query", q.name})
		}
	}
	if c := hs.cookie; c != "" {
		for c != "" {
			var part string
			part, c, _ = strings.Cut(c, ";")
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if isSessionCookie(name) || keys != nil && keys.isCookie(name) {
				take(authCookie, "cookie", val)
				names = append(names, credName{"cookie", name})
			}
		}
	}
	if set == 0 {
		set = authNone
	}
	return set, cred, names
}

// isSessionCookie reports a cookie name that holds one of sessionCookies
// once lower-cased.
func isSessionCookie(name string) bool {
	var buf [64]byte
	ln, ok := lowerASCII(buf[:0], name)
	if !ok {
		ln = []byte(strings.ToLower(name))
	}
	for _, s := range sessionCookies {
		if bytes.Contains(ln, bytesOf(s)) {
			return true
		}
	}
	return false
}

// lowerASCII appends s lower-cased to dst; false (and dst unchanged) when
// s is not ASCII or does not fit in dst's capacity.
func lowerASCII(dst []byte, s string) ([]byte, bool) {
	if len(s) > cap(dst)-len(dst) {
		return dst, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return dst[:len(dst)-i], false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst, true
}

// equalFoldASCII reports a and b equal under ASCII case folding.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
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
	a = strings.TrimRight(a, "=")
	var buf [256]byte
	if base64.RawURLEncoding.DecodedLen(len(a)) > len(buf) {
		hdr, err := base64.RawURLEncoding.DecodeString(a)
		return err == nil && len(hdr) > 2 && hdr[0] == '{'
	}
	// DecodeString is Decode into a new buffer: here one on the stack.
	n, err := base64.RawURLEncoding.Decode(buf[:], bytesOf(a))
	return err == nil && n > 2 && buf[0] == '{'
}

// Fingerprint reduces a credential to the contract's non-reversible form:
// scheme + ":" + the first 8 hex characters of its SHA-256.
func Fingerprint(scheme, value string) string {
	var sum [sha256.Size]byte
	if len(value) <= 256 {
		var b [256]byte
		sum = sha256.Sum256(b[:copy(b[:], value)])
	} else {
		sum = sha256.Sum256([]byte(value))
	}
	var sb strings.Builder
	sb.Grow(len(scheme) + 9)
	sb.WriteString(scheme)
	sb.WriteByte(':')
	var x [8]byte
	hex.Encode(x[:], sum[:4])
	sb.Write(x[:])
	return sb.String()
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
	// Same-length folds: strings.EqualFold is an ASCII fold on these.
	suffix := func(s string) bool { return n > len(s) && equalFoldASCII(name[n-len(s):], s) }
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
