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

// isAuthHeader reports a request header that carries credentials.
func isAuthHeader(name string) bool {
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

// credentialWords mark header names that carry credentials.
var credentialWords = []string{"token", "auth", "key", "jwt", "session", "secret", "credential", "signature", "password"}

// bytesOf views a string as bytes without copying; the scanner only reads.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// secretFingerprint is the contract's form of a secret in outputs.
func secretFingerprint(v []byte) string {
	sum := sha256.Sum256(v)
	return "secret:" + hex.EncodeToString(sum[:4])
}

// findSecrets looks for recognised secrets outside the API's own
// authentication: in the path, in query parameters that are not credential
// parameters, in non-authentication request headers, in response headers
// other than those that issue credentials, and in both bodies (where
// issued JWTs are normal and are not reported). The findings of the
// response body, personal data included, are left in d.resp.
func (d *secretDetector) findSecrets(t *reassembly.Transaction) {
	hits := d.hits[:0]
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
	fs := d.buf[:0]
	path, query, _ := strings.Cut(t.Target, "?")
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	if fs = theScanner.scan(bytesOf(path), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
		add("url path", bytesOf(path), fs)
	}
	for p := range strings.SplitSeq(query, "&") {
		name, value, _ := strings.Cut(p, "=")
		if value == "" || credentialParams[paramKey(name)] {
			continue
		}
		if fs = theScanner.scan(bytesOf(value), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
			add("query parameter "+truncate(name, 64), bytesOf(value), fs)
		}
	}
	for _, h := range t.ReqHeaders {
		if len(h.Value) < 16 || isAuthHeader(h.Name) {
			continue
		}
		if fs = theScanner.scan(bytesOf(h.Value), scanSecrets|scanJWT, fs[:0]); len(fs) > 0 {
			add("request header "+truncate(h.Name, 64), bytesOf(h.Value), fs)
		}
	}
	for _, h := range t.RespHeaders {
		if len(h.Value) < 16 || isAuthHeader(h.Name) || issuedHeaders[textproto.CanonicalMIMEHeaderKey(h.Name)] {
			continue
		}
		if fs = theScanner.scan(bytesOf(h.Value), scanSecrets, fs[:0]); len(fs) > 0 {
			add("response header "+truncate(h.Name, 64), bytesOf(h.Value), fs)
		}
	}
	if fs = theScanner.scan(t.ReqBody, scanSecrets, fs[:0]); len(fs) > 0 {
		add("request body", t.ReqBody, fs)
	}
	fs = theScanner.scan(t.RespBody, scanSecrets|scanPersonal, fs[:0])
	add("response body", t.RespBody, fs)
	d.buf, d.hits = fs, hits
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
	// hits are the secrets of the transaction being observed.
	hits []secretHit
	// buf holds the findings of its response body after scan (secrets and
	// personal data); their spans index the response body.
	buf []finding
	// inResponse is set by scan when the response body holds a secret;
	// respTypes are the data types of the response body.
	inResponse bool
	respTypes  sensitiveSet
}

// scan finds the secrets of one transaction, for observe and the
// inventory, and the personal data of its response.
func (d *secretDetector) scan(t *reassembly.Transaction) {
	d.findSecrets(t)
	d.respTypes = setOf(d.buf)
	d.inResponse = d.respTypes&sensSecret != 0
}

// observe raises or extends the episodes of the secrets scan found in a
// transaction whose endpoint template is path.
func (d *secretDetector) observe(e *Engine, t *reassembly.Transaction, path string) {
	if e.last != nil && d.respTypes&personalSet != 0 {
		e.pii.observeValues(e.last, t, d.buf, path)
	}
	if len(d.hits) == 0 {
		return
	}
	host := EndpointHost(t)
	method := strings.ToUpper(truncate(t.Method, 32))
	ts := t.RequestTime
	if ts.IsZero() {
		ts = t.ResponseTime
	}
	for _, h := range d.hits {
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
			_, cred := authOf(t, parseQuery(t.Target))
			var principal *string
			if cred.fingerprint != "" {
				p := cred.fingerprint
				principal = &p
			}
			sev := dataInfo[h.typ].severity
			ep = &secretEpisode{first: ts, wheres: map[string]bool{}, alert: Alert{
				Kind: KindSecretExposure, Severity: sev, Host: host, Method: method, Path: path,
				Client: e.clientOf(t).String(), Principal: principal,
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
