package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/textproto"
	"sort"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// maxSecretEpisodes bounds the secret_exposure episodes kept; beyond it new
// secrets are counted, not reported one by one.
const maxSecretEpisodes = 4096

// secretType names a recognised secret by its format.
func secretType(s string) string {
	switch {
	case strings.HasPrefix(s, "hf_"):
		return "huggingface_token"
	case strings.HasPrefix(s, "github_pat_"), strings.HasPrefix(s, "gh"):
		return "github_token"
	case strings.HasPrefix(s, "AKIA"), strings.HasPrefix(s, "ASIA"):
		return "aws_access_key"
	case strings.HasPrefix(s, "sk_live_"), strings.HasPrefix(s, "rk_live_"):
		return "stripe_live_key"
	case strings.HasPrefix(s, "sk_test_"), strings.HasPrefix(s, "rk_test_"):
		return "stripe_test_key"
	case strings.HasPrefix(s, "xox"):
		return "slack_token"
	case strings.HasPrefix(s, "AIza"):
		return "google_api_key"
	case strings.HasPrefix(s, "sk-ant-"):
		return "anthropic_key"
	case strings.HasPrefix(s, "sk-"):
		return "openai_key"
	case strings.HasPrefix(s, "eyJ"):
		return "jwt"
	case strings.Contains(s, "PRIVATE KEY"):
		return "private_key"
	}
	return "secret"
}

// secretHit is one secret found in a transaction.
type secretHit struct {
	typ, where, fingerprint string
}

// authHeaders carry the API's own credentials: secrets there are its
// authentication, not an exposure.
var authHeaders = map[string]bool{"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Set-Cookie": true}

func init() {
	for _, h := range apiKeyHeaders {
		authHeaders[textproto.CanonicalMIMEHeaderKey(h)] = true
	}
}

// findSecrets looks for recognised secrets outside the API's own
// authentication: in the path, in query parameters that are not credential
// parameters, in non-authentication request headers and in both bodies
// (where issued JWTs are normal and are not reported).
func findSecrets(t *reassembly.Transaction, hits []secretHit) []secretHit {
	add := func(where string, b []byte, jwtOK bool) {
		eachSecret(b, jwtOK, func(m []byte) {
			typ := secretType(string(m))
			if typ == "jwt" && !jwtOK {
				return
			}
			sum := sha256.Sum256(m)
			h := secretHit{typ, where, "secret:" + hex.EncodeToString(sum[:4])}
			for _, x := range hits {
				if x == h {
					return
				}
			}
			hits = append(hits, h)
		})
	}
	path, query, _ := strings.Cut(t.Target, "?")
	if hasSecretString(path) {
		add("url path", []byte(path), true)
	}
	for _, p := range strings.Split(query, "&") {
		name, value, _ := strings.Cut(p, "=")
		if value == "" || credentialParams[paramKey(name)] {
			continue
		}
		if hasSecretString(value) {
			add("query parameter "+truncate(name, 64), []byte(value), true)
		}
	}
	for _, h := range t.ReqHeaders {
		if authHeaders[textproto.CanonicalMIMEHeaderKey(h.Name)] {
			continue
		}
		if hasSecretString(h.Value) {
			add("request header "+truncate(h.Name, 64), []byte(h.Value), true)
		}
	}
	add("request body", t.ReqBody, false)
	add("response body", t.RespBody, false)
	return hits
}

// eachSecret calls fn for each recognised secret in b, matching the patterns
// only on windows around the prefilter's prefixes. Issued JWTs are not looked
// for when jwtOK is false (they are normal in bodies).
func eachSecret(b []byte, jwtOK bool, fn func([]byte)) {
	for _, p := range secretPrefixes {
		if !jwtOK && p[0] == 'e' { // eyJ
			continue
		}
		rest, base := b, 0
		for n := 0; n < maxSecretCandidates; n++ {
			i := bytes.Index(rest, p)
			if i < 0 {
				break
			}
			at := base + i
			lo, hi := max(0, at-40), min(len(b), at+300)
			for _, m := range secretPatterns.FindAll(b[lo:hi], 4) {
				fn(m)
			}
			base = at + len(p)
			rest = b[base:]
		}
	}
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
	hits     []secretHit
	// inResponse is set by scan when the response body holds a secret.
	inResponse bool
}

// scan finds the secrets of one transaction, for observe and the inventory.
func (d *secretDetector) scan(t *reassembly.Transaction) {
	d.hits = findSecrets(t, d.hits[:0])
	d.inResponse = false
	for _, h := range d.hits {
		if h.where == "response body" {
			d.inResponse = true
		}
	}
}

// observe raises or extends the episodes of the secrets scan found in a
// transaction whose endpoint template is path.
func (d *secretDetector) observe(e *Engine, t *reassembly.Transaction, path string) {
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
			sev := SeverityHigh
			if h.typ == "private_key" || h.typ == "aws_access_key" || h.typ == "stripe_live_key" {
				sev = SeverityCritical
			}
			ep = &secretEpisode{first: ts, wheres: map[string]bool{}, alert: Alert{
				Kind: KindSecretExposure, Severity: sev, Host: host, Method: method, Path: path,
				Client: e.clientOf(t).String(), Principal: principal,
				Summary: fmt.Sprintf("%s found in the %s of %s %s", secretTitle(h.typ), h.where, method, path),
				Evidence: map[string]any{
					"detected_at": FormatTime(ts),
					"secret_type": h.typ,
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

// secretTitle is a secret type as a person reads it.
func secretTitle(typ string) string {
	switch typ {
	case "huggingface_token":
		return "Hugging Face token"
	case "github_token":
		return "GitHub token"
	case "aws_access_key":
		return "AWS access key"
	case "stripe_live_key":
		return "Stripe live secret key"
	case "stripe_test_key":
		return "Stripe test secret key"
	case "slack_token":
		return "Slack token"
	case "google_api_key":
		return "Google API key"
	case "anthropic_key":
		return "Anthropic API key"
	case "openai_key":
		return "OpenAI API key"
	case "jwt":
		return "JSON Web Token"
	case "private_key":
		return "private key"
	}
	return "secret"
}
