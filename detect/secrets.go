package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"slices"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/shadowtap/shadowtap/reassembly"
)

// maxSecretEpisodes bounds the secret_exposure episodes kept; beyond it new
// secrets are counted, not reported one by one.
const maxSecretEpisodes = 4096

// secretHit is one secret found in a transaction.
type secretHit struct {
	typ                dataType
	where, fingerprint string
}

// authHeaders carry the API's own credentials, or identity tokens that
// proxies and gateways add: secrets there are authentication, not an
// exposure.
var authHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true,
	"Dd-Api-Key": true, "Dd-Application-Key": true, "X-Goog-Api-Key": true, "Private-Token": true,
	"X-Shopify-Access-Token": true, "X-Postman-Api-Key": true, "X-Vault-Token": true, "X-Amz-Security-Token": true,
	"X-Amzn-Oidc-Data": true, "X-Amzn-Oidc-Accesstoken": true, "X-Goog-Iap-Jwt-Assertion": true,
	"Cf-Access-Jwt-Assertion": true, "X-Jwt-Assertion": true, "X-Id-Token": true,
	"X-Forwarded-Access-Token": true, "X-Auth-Request-Access-Token": true,
}

// issuedHeaders are response headers through which APIs hand out
// credentials (sessions, tokens, redirects of OAuth flows): normal there.
var issuedHeaders = map[string]bool{
	"Set-Cookie": true, "Location": true, "X-Subject-Token": true, "X-Auth-Token": true, "Access-Token": true,
	"X-Access-Token": true, "X-Refresh-Token": true, "X-Csrf-Token": true, "Www-Authenticate": true,
}

// hdrClass is what the secret scan and authOf make of a header name: the
// answers of isAuthHeader, isIssuedHeader and isKeyHeader, whether it is
// Authorization or Cookie, and its apiKeyHeaders index, as one value.
type hdrClass uint16

const (
	hcAuth          hdrClass = 1 << iota // isAuthHeader
	hcIssued                             // isIssuedHeader
	hcKey                                // isKeyHeader
	hcAuthorization                      // Authorization, any case
	hcCookie                             // Cookie, any case
	// hcAPIKeyShift: apiKeyHeaderIndex+1 is in the bits from here up.
	hcAPIKeyShift = 8
)

// apiKeyIndex is the name's apiKeyHeaders index, or -1.
func (c hdrClass) apiKeyIndex() int { return int(c>>hcAPIKeyShift) - 1 }

// classifyHeader computes a header name's class.
func classifyHeader(name string) hdrClass {
	var c hdrClass
	if isAuthHeader(name) {
		c |= hcAuth
	}
	if isIssuedHeader(name) {
		c |= hcIssued
	}
	if isKeyHeader(name) {
		c |= hcKey
	}
	if equalFoldASCII(name, "Authorization") {
		c |= hcAuthorization
	}
	if equalFoldASCII(name, "Cookie") {
		c |= hcCookie
	}
	return c | hdrClass(apiKeyHeaderIndex(name)+1)<<hcAPIKeyShift
}

// commonHeaders are header names frequent in API traffic; knownHeaders
// holds their classes.
var commonHeaders = []string{
	"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Access-Control-Allow-Credentials",
	"Access-Control-Allow-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Origin",
	"Access-Control-Expose-Headers", "Access-Control-Max-Age", "Access-Control-Request-Headers",
	"Access-Control-Request-Method", "Age", "Allow", "Alt-Svc", "Cache-Control", "Cdn-Loop", "Cf-Cache-Status", "Cf-Connecting-Ip",
	"Cf-Ray", "Connection", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
	"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Cross-Origin-Opener-Policy",
	"Cross-Origin-Resource-Policy", "Date", "Dnt", "Etag", "Expect", "Expires", "Forwarded", "Grpc-Accept-Encoding",
	"Grpc-Encoding", "Grpc-Message", "Grpc-Status", "Grpc-Timeout", "Host", "If-Match", "If-Modified-Since",
	"If-None-Match", "If-Range", "If-Unmodified-Since", "Keep-Alive", "Last-Modified", "Link", "Max-Forwards", "Origin",
	"Permissions-Policy", "Pragma", "Priority", "Range", "Referer", "Referrer-Policy", "Retry-After", "Sec-Ch-Ua",
	"Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
	"Server", "Server-Timing", "Strict-Transport-Security", "Te", "Timing-Allow-Origin", "Traceparent", "Tracestate",
	"Trailer", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Vary", "Via",
	"X-Amz-Cf-Id", "X-Amz-Cf-Pop", "X-Amz-Date", "X-Amzn-Requestid", "X-Amzn-Trace-Id", "X-B3-Sampled", "X-B3-Spanid",
	"X-B3-Traceid", "X-Cache", "X-Content-Type-Options", "X-Correlation-Id", "X-Envoy-Upstream-Service-Time",
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Frame-Options",
	"X-Powered-By", "X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset", "X-Real-Ip", "X-Request-Id",
	"X-Requested-With", "X-Response-Time", "X-Runtime", "X-Trace-Id", "X-Xss-Protection",
}

// knownHeaders holds common header names, and the names of authHeaders,
// apiKeyHeaders and issuedHeaders, as sent in HTTP/1 (canonical case, and
// as listed) and in HTTP/2 (lower case), with their classes computed once
// by classifyHeader: one lookup per header instead of the lower-casing and
// comparisons. It is an open-addressed table (linear probing, at most half
// full) on a hash of a few of the name's bytes, which costs less than
// hashing the whole name. It never changes after init.
var knownHeaders = func() *[knownHeaderSlots]knownHeader {
	var t [knownHeaderSlots]knownHeader
	names := append([]string(nil), commonHeaders...)
	names = append(names, apiKeyHeaders[:]...)
	names = append(names, sortedKeys(authHeaders)...)
	names = append(names, sortedKeys(issuedHeaders)...)
	n := 0
	for _, name := range names {
		for _, s := range []string{name, strings.ToLower(name), textproto.CanonicalMIMEHeaderKey(name)} {
			i := knownHeaderSlot(s)
			for t[i].name != "" && t[i].name != s {
				i = (i + 1) % knownHeaderSlots
			}
			if t[i].name == "" {
				if n++; 2*n > knownHeaderSlots {
					panic("detect: knownHeaders is too small")
				}
				t[i] = knownHeader{s, classifyHeader(s)}
			}
		}
	}
	return &t
}()

// knownHeaderSlots is the size of knownHeaders (a power of two).
const knownHeaderSlots = 1024

type knownHeader struct {
	name  string
	class hdrClass
}

// knownHeaderSlot is where a (non-empty) name's search in knownHeaders
// starts: a hash of its length and three of its bytes.
func knownHeaderSlot(name string) int {
	n := len(name)
	h := uint32(n) | uint32(name[0])<<8 | uint32(name[n/2])<<16 | uint32(name[n-1])<<24
	return int(h * 0x9E3779B1 >> 22)
}

// headerClass is classifyHeader, looked up for the known names.
func headerClass(name string) hdrClass {
	if name == "" {
		return classifyHeader(name)
	}
	for i := knownHeaderSlot(name); ; i = (i + 1) % knownHeaderSlots {
		k := &knownHeaders[i]
		if k.name == name {
			return k.class
		}
		if k.name == "" {
			return classifyHeader(name)
		}
	}
}

// isAuthHeader reports a request header that carries credentials.
func isAuthHeader(name string) bool {
	var buf [64]byte
	ln, ok := lowerASCII(buf[:0], name)
	if !ok {
		return isAuthHeaderSlow(name)
	}
	return isAuthHeaderName(ln) || hasCredentialWord(ln)
}

// isAuthHeaderName reports a lower-cased name of authHeaders or
// apiKeyHeaders (a switch: no hashing; TestFastPathsAgree checks that it
// names them all).
func isAuthHeaderName(ln []byte) bool {
	switch string(ln) {
	case "authorization", "proxy-authorization", "cookie", "set-cookie",
		"dd-api-key", "dd-application-key", "x-goog-api-key", "private-token",
		"x-shopify-access-token", "x-postman-api-key", "x-vault-token", "x-amz-security-token",
		"x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-goog-iap-jwt-assertion",
		"cf-access-jwt-assertion", "x-jwt-assertion", "x-id-token",
		"x-forwarded-access-token", "x-auth-request-access-token",
		"x-api-key", "api-key", "x-api-token", "x-auth-token", "apikey", "x-access-token", "ocp-apim-subscription-key":
		return true
	}
	return false
}

// isAuthHeaderSlow is isAuthHeader for names that are long or not ASCII
// (strings.EqualFold folds some non-ASCII letters into ASCII ones).
func isAuthHeaderSlow(name string) bool {
	name = textproto.CanonicalMIMEHeaderKey(name)
	if authHeaders[name] {
		return true
	}
	for _, h := range apiKeyHeaders {
		if strings.EqualFold(h, name) {
			return true
		}
	}
	// A header named for a credential (X-Api-Token, X-Jwt, X-Session-Id,
	// X-Client-Secret...) is how its API takes one: its auth scheme
	// (containsFold is the behavioural detectors').
	for _, w := range credentialWords {
		if containsFold(name, w) {
			return true
		}
	}
	return false
}

// hasCredentialWord reports a lower-case ASCII name holding one of
// credentialWords.
func hasCredentialWord(ln []byte) bool {
	for i, c := range ln {
		var ws []string
		switch c {
		case 't':
			ws = credentialWordsT
		case 'a':
			ws = credentialWordsA
		case 'k':
			ws = credentialWordsK
		case 'j':
			ws = credentialWordsJ
		case 's':
			ws = credentialWordsS
		case 'c':
			ws = credentialWordsC
		case 'p':
			ws = credentialWordsP
		default:
			continue
		}
		for _, w := range ws {
			if len(ln)-i >= len(w) && string(ln[i:i+len(w)]) == w {
				return true
			}
		}
	}
	return false
}

// credentialWords by first letter, for hasCredentialWord (the switch there
// must name every first letter of credentialWords; a test checks).
var (
	credentialWordsT = []string{"token"}
	credentialWordsA = []string{"auth"}
	credentialWordsK = []string{"key"}
	credentialWordsJ = []string{"jwt"}
	credentialWordsS = []string{"session", "secret", "signature"}
	credentialWordsC = []string{"credential"}
	credentialWordsP = []string{"password"}
)

// issuedHeadersLower is issuedHeaders lower-cased, for lookups by a
// lower-cased ASCII name.
var issuedHeadersLower = lowerKeys(issuedHeaders)

func lowerKeys(m map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// isIssuedHeader reports a response header through which APIs hand out
// credentials (issuedHeaders).
func isIssuedHeader(name string) bool {
	var buf [64]byte
	if ln, ok := lowerASCII(buf[:0], name); ok {
		return issuedHeadersLower[string(ln)]
	}
	return issuedHeaders[textproto.CanonicalMIMEHeaderKey(name)]
}

// credentialWords mark header names that carry credentials.
var credentialWords = []string{"token", "auth", "key", "jwt", "session", "secret", "credential", "signature", "password"}

// bytesOf views a string as bytes without copying; the scanner only reads.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// secretFingerprint is the contract's form of a secret in outputs.
func secretFingerprint(v []byte) string {
	sum := sha256.Sum256(v)
	var b [len("secret:") + 8]byte
	copy(b[:], "secret:")
	hex.Encode(b[len("secret:"):], sum[:4])
	return string(b[:])
}

// scanSecrets looks for recognised secrets outside the API's own
// authentication: in the path, in query parameters that are not credential
// parameters, in non-authentication request headers, in response headers
// other than those that issue credentials, and in both bodies (where
// issued JWTs are normal and are not reported) into p.hits; the names the
// preparing engine's specs declare as API keys are authentication too.
// The response body's data types, personal data included, go to
// p.respTypes and its personal values to p.values.
func (p *Prepared) scanSecrets(t *reassembly.Transaction) {
	p.view.query = appendQuery(p.view.query[:0], t.Target)
	p.scanSecretsQuery(t, p.view.query)
}

// scanSecretsQuery is scanSecrets given the target's query parameters
// (appendQuery's).
func (p *Prepared) scanSecretsQuery(t *reassembly.Transaction, query []queryParam) {
	hits := p.hits[:0]
	var keys *keyNames
	if p.by != nil {
		keys = p.by.keys
	}
	add := func(where string, b []byte, fs []finding) {
		for _, f := range fs {
			if !f.typ.secret() {
				continue
			}
			h := secretHit{f.typ, where, secretFingerprint(b[f.start:f.end])}
			if !slices.Contains(hits, h) {
				hits = append(hits, h)
			}
		}
	}
	fs := p.findings[:0]
	path := t.Target
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if fs = theScanner.scan(bytesOf(path), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
		add("url path", bytesOf(path), fs)
	}
	// The parameters with a value, in order (appendQuery leaves out only
	// the empty parts, which have none).
	for i := range query {
		name, value := query[i].name, query[i].value
		if value == "" || credentialParams[paramKey(name)] || keys != nil && keys.isQuery(name) {
			continue
		}
		if fs = theScanner.scan(bytesOf(value), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
			add("query parameter "+truncate(name, 64), bytesOf(value), fs)
		}
	}
	// The request headers' classes, all of them first (a loop with little
	// to keep across the calls), are kept for authAndCreds.
	rh := t.ReqHeaders
	classes := slices.Grow(p.reqClasses[:0], len(rh))[:len(rh)]
	for i := range rh {
		classes[i] = headerClass(rh[i].Name)
	}
	p.reqClasses = classes
	for i := range rh {
		h := &rh[i]
		if len(h.Value) < 16 || classes[i]&hcAuth != 0 || keys != nil && keys.isHeader(h.Name) {
			continue
		}
		if fs = theScanner.scan(bytesOf(h.Value), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
			add("request header "+truncate(h.Name, 64), bytesOf(h.Value), fs)
		}
	}
	for i := range t.RespHeaders {
		h := &t.RespHeaders[i]
		if len(h.Value) < 16 || headerClass(h.Name)&(hcAuth|hcIssued) != 0 || keys != nil && keys.isHeader(h.Name) {
			continue
		}
		if fs = theScanner.scan(bytesOf(h.Value), scanSecrets, fs[:0]); len(fs) > 0 {
			add("response header "+truncate(h.Name, 64), bytesOf(h.Value), fs)
		}
	}
	// The accessors decode an encoded body on first use: here, on the
	// goroutine that prepares.
	req, resp := t.ReqBodySample(), t.RespBodySample()
	if fs = theScanner.scan(req, scanSecrets, fs[:0]); len(fs) > 0 {
		add("request body", req, fs)
	}
	fs = theScanner.scan(resp, scanSecrets|scanPersonal, fs[:0])
	add("response body", resp, fs)
	p.respTypes = setOf(fs)
	if p.respTypes&personalSet != 0 {
		p.values = personalValues(resp, fs, p.values[:0])
	}
	p.findings, p.hits = fs, hits
}

// personalValues appends the personal values among the findings fs of the
// body b to out, in order.
func personalValues(b []byte, fs []finding, out []personalValue) []personalValue {
	for _, f := range fs {
		if f.typ.personal() {
			out = append(out, personalValue{f.typ, valueHash(f.typ, b[f.start:f.end])})
		}
	}
	return out
}

// secretKey identifies a secret_exposure episode: one secret on one
// endpoint.
type secretKey struct {
	host, method, path, fingerprint string
}

// secretEpisode is one open secret_exposure alert.
type secretEpisode struct {
	alert       Alert
	first, last time.Time
	wheres      map[string]bool
}

// secretDetector raises secret_exposure alerts. It is owned by the Engine.
type secretDetector struct {
	episodes map[secretKey]*secretEpisode
	dropped  uint64
}

// observe raises or extends the episodes of the secrets Prepare found in a
// transaction whose endpoint template is path.
func (d *secretDetector) observe(e *Engine, t *reassembly.Transaction, p *Prepared, path string) {
	if len(p.hits) == 0 {
		return
	}
	host, method, ts := p.host, p.method, p.view.ts
	for _, h := range p.hits {
		k := secretKey{host, method, path, h.fingerprint}
		ep := d.episodes[k]
		if ep == nil {
			if len(d.episodes) >= maxSecretEpisodes {
				d.dropped++
				continue
			}
			if d.episodes == nil {
				d.episodes = map[secretKey]*secretEpisode{}
			}
			var principal *string
			if fp := p.view.cred.fingerprint; fp != "" {
				principal = &fp
			}
			sev := dataInfo[h.typ].severity
			ep = &secretEpisode{first: ts, wheres: map[string]bool{}, alert: Alert{
				Kind: KindSecretExposure, Severity: sev, Host: host, Method: method, Path: path,
				Client: p.view.client.String(), Principal: principal,
				Summary: fmt.Sprintf("%s found in the %s of %s %s", dataInfo[h.typ].title, h.where, method, path),
				Evidence: map[string]any{
					"detected_at": FormatTime(ts),
					"secret_type": h.typ.String(),
					"fingerprint": h.fingerprint,
				},
			}}
			d.episodes[k] = ep
		}
		if ts.Before(ep.first) {
			ep.first = ts
		}
		if ts.After(ep.last) {
			ep.last = ts
		}
		ep.alert.Count++
		ep.wheres[h.where] = true
	}
}

// alerts returns the episodes as alerts.
func (d *secretDetector) alerts() []Alert {
	out := make([]Alert, 0, len(d.episodes))
	for _, ep := range d.episodes {
		a := ep.alert
		a.FirstSeen, a.LastSeen = FormatTime(ep.first), FormatTime(ep.last)
		ev := make(map[string]any, len(a.Evidence)+2)
		for k, v := range a.Evidence {
			ev[k] = v
		}
		ev["requests"] = a.Count
		ev["locations"] = sortedKeys(ep.wheres)
		a.Evidence = ev
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].FirstSeen != out[j].FirstSeen {
			return out[i].FirstSeen < out[j].FirstSeen
		}
		return out[i].Evidence["fingerprint"].(string) < out[j].Evidence["fingerprint"].(string)
	})
	return out
}
