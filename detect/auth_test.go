package detect

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
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

// TestCredCache: credentials from the cache are those newCredential
// builds, whatever the order, the evictions (more values than slots, some
// longer than maxCachedCred) and the goroutines sharing it (run with
// -race); a cached entry holds a copy of its value, not a view.
func TestCredCache(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	type key struct {
		bit         authSet
		name, value string
	}
	schemes := []key{{authJWT, "jwt", ""}, {authBasic, "basic", ""}, {authBearer, "bearer", ""}, {authAPIKeyHeader, "apikey-header", ""},
		{authAPIKeyQuery, "apikey-query", ""}, {authCookie, "cookie", ""}}
	var keys []key
	for i := range 3 * credCacheSlots {
		k := schemes[r.IntN(len(schemes))]
		switch {
		case k.bit == authJWT:
			k.value = makeJWT(`{"alg":"HS256"}`, fmt.Sprintf(`{"sub":"u%d"}`, i%500), randAlnum(43))
		case k.bit == authBasic:
			k.value = base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "user%d:pw", i%700))
		case i%50 == 0:
			k.value = randAlnum(maxCachedCred + 1)
		default:
			k.value = randAlnum(8 + r.IntN(40))
		}
		keys = append(keys, k)
		if i%3 == 0 { // the same value under another scheme
			keys = append(keys, key{schemes[(i/3)%len(schemes)].bit, schemes[(i/3)%len(schemes)].name, k.value})
		}
	}
	cc := newCredCache()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rr := rand.New(rand.NewPCG(uint64(w), 1))
			for range 4 * len(keys) {
				k := keys[rr.IntN(len(keys))]
				if got, want := cc.credential(k.bit, k.name, k.value), newCredential(k.bit, k.name, k.value); got != want {
					t.Errorf("credential(%v, %q, %q) = %v, want %v", k.bit, k.name, k.value, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	// A value kept is a copy: changing the bytes it came from changes
	// nothing.
	orig := "kept-" + randAlnum(32)
	buf := []byte(orig)
	want := newCredential(authAPIKeyHeader, "apikey-header", orig)
	cc.credential(authAPIKeyHeader, "apikey-header", unsafe.String(&buf[0], len(buf)))
	copy(buf, strings.Repeat("x", len(buf)))
	for i := range cc.slots {
		if e := cc.slots[i].Load(); e != nil && e.cred == want && e.value == orig {
			return
		}
	}
	t.Error("the cached entry changed with the bytes of its value, or is missing")
}
