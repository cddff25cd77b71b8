package detect

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
)

func TestAuthOf(t *testing.T) {
	jwt := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"42"}`)) + ".c2lnbmF0dXJl"
	tests := []struct {
		name      string
		target    string
		headers   []hdr
		want      []string
		principal string // scheme prefix of the fingerprint, "" for none
	}{
		{"none", "/x", nil, []string{"none"}, ""},
		{"basic", "/x", []hdr{{Name: "Authorization", Value: "Basic Ym9iOnNlY3JldA=="}}, []string{"basic"}, "basic:"},
		{"bearer opaque", "/x", []hdr{{Name: "authorization", Value: "Bearer abcdef0123456789"}}, []string{"bearer"}, "bearer:"},
		{"bearer jwt", "/x", []hdr{{Name: "Authorization", Value: "Bearer " + jwt}}, []string{"jwt"}, "jwt:"},
		{"bearer dotted but not jwt", "/x", []hdr{{Name: "Authorization", Value: "Bearer aaaaaaaaaaaa.bbb.ccc"}}, []string{"bearer"}, "bearer:"},
		{"other scheme counts as bearer", "/x", []hdr{{Name: "Authorization", Value: "Token xyz"}}, []string{"bearer"}, "bearer:"},
		{"api key header", "/x", []hdr{{Name: "X-API-Key", Value: "k1"}}, []string{"apikey-header"}, "apikey:"},
		{"azure subscription key", "/x", []hdr{{Name: "Ocp-Apim-Subscription-Key", Value: "k1"}}, []string{"apikey-header"}, "apikey:"},
		{"api key query", "/x?api_key=k1", nil, []string{"apikey-query"}, "apikey:"},
		{"api key query, encoded name", "/x?api%5Fkey=k1", nil, []string{"apikey-query"}, "apikey:"},
		{"api key query, bracketed name", "/x?token[]=k1", nil, []string{"apikey-query"}, "apikey:"},
		{"empty api key query is none", "/x?api_key=", nil, []string{"none"}, ""},
		{"non-credential query is none", "/x?q=1", nil, []string{"none"}, ""},
		{"session cookie", "/x", []hdr{{Name: "Cookie", Value: "theme=dark; SESSIONID=abc"}}, []string{"cookie"}, "cookie:"},
		{"tracking cookie only is none", "/x", []hdr{{Name: "Cookie", Value: "theme=dark; _ga=GA1.2"}}, []string{"none"}, ""},
		{"several schemes, header first", "/x?token=t", []hdr{{Name: "Authorization", Value: "Basic Ym9iOng="}, {Name: "Cookie", Value: "sid=1"}},
			[]string{"basic", "apikey-query", "cookie"}, "basic:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &txT{Method: "GET", Target: tc.target, ReqHeaders: tc.headers}
			set, cred := authOf(tr, parseQuery(tc.target))
			if got := set.names(); !slices.Equal(got, tc.want) {
				t.Errorf("schemes %q, want %q", got, tc.want)
			}
			if tc.principal == "" {
				if cred.fingerprint != "" {
					t.Errorf("principal %q, want none", cred.fingerprint)
				}
				return
			}
			if !strings.HasPrefix(cred.fingerprint, tc.principal) || len(cred.fingerprint) != len(tc.principal)+8 {
				t.Errorf("principal %q, want %s + 8 hex", cred.fingerprint, tc.principal)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	// sha256("secret") = 2bb80d53...
	if got := Fingerprint("bearer", "secret"); got != "bearer:2bb80d53" {
		t.Errorf("Fingerprint = %q", got)
	}
	if Fingerprint("x", "a") == Fingerprint("x", "b") {
		t.Error("different values, same fingerprint")
	}
}

func TestIsJWT(t *testing.T) {
	for s, want := range map[string]bool{
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig": true,
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.":    true, // unsigned (alg none)
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0":     false,
		"eyJhbGciOiJIUzI1NiJ9..sig":                false,
		"a.b.c.d":                                  false,
		"bm90anNvbmF0YWxs.eyJzdWIiOiIxIn0.sig":     false, // header is not JSON
		"":                                         false,
	} {
		if got := isJWT(s); got != want {
			t.Errorf("isJWT(%q) = %v, want %v", s, got, want)
		}
	}
}
