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
		{"bare key in Authorization", "/x", []hdr{{Name: "Authorization", Value: "ak_live_123"}}, []string{"apikey-header"}, "apikey-header:"},
		{"api key header", "/x", []hdr{{Name: "X-API-Key", Value: "k1"}}, []string{"apikey-header"}, "apikey-header:"},
		{"azure subscription key", "/x", []hdr{{Name: "Ocp-Apim-Subscription-Key", Value: "k1"}}, []string{"apikey-header"}, "apikey-header:"},
		{"api key query", "/x?api_key=k1", nil, []string{"apikey-query"}, "apikey-query:"},
		{"api key query, encoded name", "/x?api%5Fkey=k1", nil, []string{"apikey-query"}, "apikey-query:"},
		{"api key query, bracketed name", "/x?token[]=k1", nil, []string{"apikey-query"}, "apikey-query:"},
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

func TestPrincipalOf(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	jwtFor := func(payload, sig string) string {
		return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "." + sig
	}
	tests := []struct {
		name   string
		header hdr
		target string
		want   string
	}{
		{"jwt names its sub", hdr{Name: "Authorization", Value: "Bearer " + jwtFor(`{"sub":"usr_42","iat":1}`, "c2ln")}, "/x", Fingerprint("jwt", "usr_42")},
		{"renewed jwt, same sub", hdr{Name: "Authorization", Value: "Bearer " + jwtFor(`{"iat":2, "sub" : "usr_42"}`, "b3RoZXI")}, "/x", Fingerprint("jwt", "usr_42")},
		{"nested sub is not the subject", hdr{Name: "Authorization", Value: "Bearer " + jwtFor(`{"act":{"sub":"svc"},"iss":"x"}`, "c2ln")}, "/x",
			Fingerprint("jwt", jwtFor(`{"act":{"sub":"svc"},"iss":"x"}`, "c2ln"))},
		{"basic names its user", hdr{Name: "Authorization", Value: "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:secret"))}, "/x", Fingerprint("basic", "bob")},
		{"api key header", hdr{Name: "X-API-Key", Value: "ak_live_1"}, "/x", Fingerprint("apikey-header", "ak_live_1")},
		{"api key query", hdr{Name: "Accept", Value: "*/*"}, "/x?api_key=ak_live_1", Fingerprint("apikey-query", "ak_live_1")},
		{"cookie", hdr{Name: "Cookie", Value: "session=abc; theme=light"}, "/x", Fingerprint("cookie", "abc")},
		{"api-specific key header", hdr{Name: "X-Library-Key", Value: "ak_live_2"}, "/x", Fingerprint("apikey-header", "ak_live_2")},
		{"idempotency key is no credential", hdr{Name: "Idempotency-Key", Value: "k"}, "/x", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &txT{Method: "GET", Target: tc.target, ReqHeaders: []hdr{tc.header}}
			_, cred := authOf(tr, parseQuery(tc.target))
			if cred.fingerprint != tc.want {
				t.Errorf("principal %q, want %q", cred.fingerprint, tc.want)
			}
		})
	}
}

func TestJWTSubjectAllocs(t *testing.T) {
	tok := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"usr_1234567890","exp":1999999999,"scope":"read write orders customers"}`)) + "."
	if sub, ok := jwtSubject(tok); !ok || sub != "usr_1234567890" {
		t.Fatalf("jwtSubject = %q, %v", sub, ok)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = jwtSubject(tok) }); n > 1 {
		t.Errorf("jwtSubject allocates %.0f times, want at most 1 (the subject)", n)
	}
}
