package detect

import (
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
}

// apiKeyParams are the credential parameters that count as API-key auth.
var apiKeyParams = map[string]bool{"key": true, "api_key": true, "apikey": true, "api-key": true, "access_token": true, "token": true, "auth_token": true, "x-api-key": true}

// sessionCookies are cookie names that look like sessions or tokens.
var sessionCookies = []string{"session", "sess", "sid", "token", "auth", "jwt", "jsessionid", "phpsessid", "connect.sid"}

// credential is what authenticates a request: its scheme and a
// non-reversible fingerprint (contract: scheme + ":" + 8 hex of SHA-256).
type credential struct {
	scheme      authSet
	fingerprint string
}

// authOf finds the authentication schemes of a request, and its principal
// credential (the first found, by precedence).
func authOf(t *reassembly.Transaction, query []queryParam) (authSet, credential) {
	var set authSet
	var cred credential
	take := func(bit authSet, name, value string) {
		set |= bit
		if cred.scheme == 0 && value != "" {
			cred = credential{bit, Fingerprint(name, value)}
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
			take(authBearer, "bearer", a)
		}
	}
	for _, h := range apiKeyHeaders {
		if v := t.ReqHeader(h); v != "" {
			take(authAPIKeyHeader, "apikey", v)
		}
	}
	for _, q := range query {
		if apiKeyParams[paramKey(q.name)] && q.value != "" {
			take(authAPIKeyQuery, "apikey", q.value)
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
