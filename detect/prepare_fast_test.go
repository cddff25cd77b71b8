package detect

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

// TestHasDotSegmentFold: hasDotSegment, which lower-cases only short
// ASCII segments starting with '.' or '%', answers as strings.ToLower of
// every segment would, non-ASCII look-alikes included.
func TestHasDotSegmentFold(t *testing.T) {
	dot := func(s string) bool {
		switch strings.ToLower(s) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return true
		}
		return false
	}
	segs := []string{"", ".", "..", "...", "%2e", "%2E", "%2E%2e", ".%2E", "%2E.", "%2e%2e%2e", "a", "%2f", "%2K",
		"\u212a", ".\u212a", "%2\u0130", "%2e\xff", ".\xc0", "%2e%2E", "v1", "users", "%2e%2e.", "..%2e"}
	for _, s := range segs {
		if got, want := hasDotSegment([]string{"x", s}), dot(s); got != want {
			t.Errorf("hasDotSegment(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestStandardNamesFit: every standardNames key fits isSlugNumber's
// stack buffer, so a longer prefix cannot name a standard.
func TestStandardNamesFit(t *testing.T) {
	for k := range standardNames {
		if len(k) > maxStandardName || k != strings.ToLower(k) {
			t.Errorf("standardNames key %q: longer than %d or not lower case", k, maxStandardName)
		}
	}
	for _, tc := range []struct {
		s    string
		want bool
	}{{"coffee-83", true}, {"UTF-8", false}, {"Iso-8859-1", false}, {"windows-1252", false}, {"WINDOWSX-1", true}, {"sha-256", false}, {"summer-sale-2", true}} {
		if got := isSlugNumber(tc.s); got != tc.want {
			t.Errorf("isSlugNumber(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// TestRespMediaType: the common types' shortcut returns what mediaType
// returns.
func TestRespMediaType(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON", " application/json",
		"application/json ;x", "text/html;charset=UTF-8", "text/plain", "application/xml", "application/octet-stream", "image/png",
		"application/problem+json", "text/plain ", "nonsense"} {
		if got, want := respMediaType(ct), mediaType(ct); got != want {
			t.Errorf("respMediaType(%q) = %q, want %q", ct, got, want)
		}
	}
}

// TestReqClassesReused: authAndCreds given the classes the secret scan
// kept answers as it does computing them, and Prepare leaves them for the
// transaction's headers.
func TestReqClassesReused(t *testing.T) {
	e, err := NewEngine(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var p Prepared
	for _, tc := range corpusForClasses() {
		e.Prepare(tc, &p)
		if len(p.reqClasses) != len(tc.ReqHeaders) {
			t.Fatalf("%d classes for %d headers", len(p.reqClasses), len(tc.ReqHeaders))
		}
		q := parseQuery(tc.Target)
		s1, c1, n1 := authAndCreds(tc, q, nil, nil, nil)
		s2, c2, n2 := authAndCredsClassed(tc, p.reqClasses, q, nil, nil, nil)
		if s1 != s2 || c1 != c2 || len(n1) != len(n2) {
			t.Errorf("%s: classed auth %v %v %v, want %v %v %v", tc.Target, s2, c2, n2, s1, c1, n1)
		}
	}
}

// corpusForClasses are requests with the headers authAndCreds reads, in
// several cases and orders, and without any.
func corpusForClasses() []*reassembly.Transaction {
	var out []*reassembly.Transaction
	for i, hs := range [][]hdr{
		nil,
		{{Name: "Authorization", Value: "Bearer " + jwtTok}, {Name: "User-Agent", Value: "curl/8.5.0 (x86_64-pc-linux-gnu)"}},
		{{Name: "authorization", Value: "Basic YWxpY2U6c2VjcmV0"}, {Name: "cookie", Value: "sid=abcdef0123456789; theme=dark"}},
		{{Name: "X-API-Key", Value: "k-0123456789abcdef"}, {Name: "x-api-key", Value: "second"}, {Name: "X-Acme-Token", Value: "tok-0123456789"}},
		{{Name: "Cookie", Value: "session=0123456789abcdef0123"}, {Name: "Authorization", Value: "Token abc def"}, {Name: "Ocp-Apim-Subscription-Key", Value: "0123456789abcdef"}},
		{{Name: "X-Library-Key", Value: "lib-key-0123456789"}, {Name: "Accept", Value: "application/json, text/plain, */*"}},
	} {
		t := tx(i, "GET", "api.example", "/v1/items/42?api_key=abcdef0123456789&q=x", 200)
		t.ReqHeaders = hs
		out = append(out, t)
	}
	return out
}

// TestUpperMethod: the common methods' shortcut returns what the
// upper-casing returns.
func TestUpperMethod(t *testing.T) {
	for _, m := range []string{"GET", "get", "Post", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "héad", strings.Repeat("x", 40)} {
		if got, want := upperMethod(m), strings.ToUpper(truncate(m, 32)); got != want {
			t.Errorf("upperMethod(%q) = %q, want %q", m, got, want)
		}
	}
}

// TestKeyValueString: keyValue finds the end of a string value as the
// byte-by-byte reading does, with and without escapes, at and around its
// 256-byte bound, and cut short.
func TestKeyValueString(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	alphabet := []byte(`ab"\ `)
	for k := range 20000 {
		n := r.IntN(300)
		if r.IntN(4) == 0 {
			n = 250 + r.IntN(12)
		}
		v := make([]byte, n)
		for i := range v {
			if k >= 100 && r.IntN(8) == 0 { // the first ones plain
				v[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				v[i] = 'x'
			}
		}
		b := append([]byte(`{"phone": "`), v...)
		if r.IntN(2) == 0 {
			b = append(b, '"', '}')
		}
		end := len(`{"phone"`)
		s, e, kind := keyValue(b, end)
		ws, we, wkind := stringValue(b, len(`{"phone": "`))
		if s != ws || e != we || kind != wkind {
			t.Fatalf("keyValue(%q) = %d, %d, %q; want %d, %d, %q", b, s, e, kind, ws, we, wkind)
		}
	}
}

// TestEmailFileExtensions: names ending in a file extension are not
// addresses, in lower case; other endings and upper case still are.
func TestEmailFileExtensions(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{{"icon@2x.png", false}, {"a@b.jpeg", false}, {"x@y.avif", false}, {"ann@mail.example", true}, {"bo@x.io", true},
		{"c@d.PNG", true}, {"e@f.pngs", true}, {"g@h.js", false}, {"i@j.jsx", true}} {
		fs := theScanner.scan([]byte(" "+tc.s+" "), scanPersonal, nil)
		if got := len(fs) == 1 && fs[0].typ == dtEmail; got != tc.want {
			t.Errorf("%s: e-mail %v, want %v (%v)", tc.s, got, tc.want, fs)
		}
	}
}
