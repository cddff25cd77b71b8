package detect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"unique"

	"github.com/shadowtap/shadowtap/reassembly"
)

// fastPathInputs are header and host names for the fast paths' tests:
// common ones, odd cases and random mixes of letters that build the
// credential words, including non-ASCII letters that fold into ASCII
// (the Kelvin sign, the long s, dotted capital I).
func fastPathInputs() []string {
	in := []string{"", "Authorization", "AUTHORIZATION", "authorization", "Cookie", "Set-Cookie", "X-API-Key", "x-api-key",
		"Api-Key", "X-Api-Token", "X-Auth-Token", "Ocp-Apim-Subscription-Key", "User-Agent", "Accept", "Content-Type",
		"X-Request-Id", "X-Session-Id", "X-Client-Secret", "X-Jwt", "X-Signature", "X-Password", "X-Credentials",
		"Location", "Www-Authenticate", "X-Csrf-Token", "Keep-Alive", "Idempotency-Key", "Sec-WebSocket-Key",
		"X-Api-\u212aey", "X-\u017fession", "X-Api-Token ", "bad header", "Authorization\x00", strings.Repeat("x", 70) + "-token",
		strings.Repeat("X", 63) + "K", "x-tok", "token", "TOKEN", "x_auth_key", "\u0130d",
		"api.example.com", "API.example.com", "api.example.com:443", "api.example.com:80", "api.example.com:8080",
		"api.example.com.", "api.example.com.:443", " api.example.com ", "[::1]:443", "::1", "[::1]", "10.0.0.1:443",
		"10.0.0.1", "a:b:c", ":443", "host:", "h_st.example:0443", "xn--bcher-kva.example",
	}
	for k := range authHeaders {
		in = append(in, k, strings.ToLower(k), strings.ToUpper(k))
	}
	for _, k := range apiKeyHeaders {
		in = append(in, k, strings.ToLower(k), strings.ToUpper(k))
	}
	for k := range issuedHeaders {
		in = append(in, k, strings.ToLower(k), strings.ToUpper(k))
	}
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"t", "o", "k", "e", "n", "a", "u", "h", "j", "w", "s", "i", "c", "r", "d", "l", "p", "g", "T", "K", "S", "-", "_", ":", ".", "4", "\u212a", "\u017f", "\u0130", " "}
	for range 5000 {
		var b strings.Builder
		for range 1 + r.IntN(20) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		in = append(in, b.String())
	}
	return in
}

// TestFastPathsAgree: the allocation-free paths of header classification
// and host normalisation answer as the general ones do.
func TestFastPathsAgree(t *testing.T) {
	for _, s := range fastPathInputs() {
		if got, want := isAuthHeader(s), isAuthHeaderSlow(s); got != want {
			t.Errorf("isAuthHeader(%q) = %v, want %v", s, got, want)
		}
		if got, want := isIssuedHeader(s), issuedHeaders[textproto.CanonicalMIMEHeaderKey(s)]; got != want {
			t.Errorf("isIssuedHeader(%q) = %v, want %v", s, got, want)
		}
		if got, want := normalizeHost(s), normalizeHostFull(s); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", s, got, want)
		}
		if got, want := isSessionCookie(s), sessionCookieSlow(s); got != want {
			t.Errorf("isSessionCookie(%q) = %v, want %v", s, got, want)
		}
	}
	// headerClass's table of common names answers as the functions do.
	in := fastPathInputs()
	for _, k := range knownHeaders {
		if k.name != "" {
			in = append(in, k.name, strings.ToUpper(k.name), k.name+"-X", "X-"+k.name, k.name[:len(k.name)-1])
		}
	}
	for _, s := range in {
		c := headerClass(s)
		if got, want := c&hcAuth != 0, isAuthHeaderSlow(s); got != want {
			t.Errorf("headerClass(%q) auth = %v, want %v", s, got, want)
		}
		if got, want := c&hcIssued != 0, issuedHeaders[textproto.CanonicalMIMEHeaderKey(s)]; got != want {
			t.Errorf("headerClass(%q) issued = %v, want %v", s, got, want)
		}
		if got, want := c&hcKey != 0, isKeyHeader(s); got != want {
			t.Errorf("headerClass(%q) key = %v, want %v", s, got, want)
		}
		if got, want := c&hcAuthorization != 0, strings.EqualFold(s, "authorization") && isASCII(s); got != want {
			t.Errorf("headerClass(%q) authorization = %v, want %v", s, got, want)
		}
		if got, want := c&hcCookie != 0, strings.EqualFold(s, "cookie") && isASCII(s); got != want {
			t.Errorf("headerClass(%q) cookie = %v, want %v", s, got, want)
		}
		if got, want := c.apiKeyIndex(), apiKeyHeaderIndex(s); got != want {
			t.Errorf("headerClass(%q) api key index = %d, want %d", s, got, want)
		}
	}
	// isAuthHeaderName's switch names every auth header.
	for k := range authHeaders {
		if !isAuthHeaderName([]byte(strings.ToLower(k))) {
			t.Errorf("isAuthHeaderName misses %s", k)
		}
	}
	for _, k := range apiKeyHeaders {
		if !isAuthHeaderName([]byte(strings.ToLower(k))) {
			t.Errorf("isAuthHeaderName misses %s", k)
		}
	}
	// hasCredentialWord's switch knows every first letter.
	for _, w := range credentialWords {
		if !hasCredentialWord([]byte("x-" + w)) {
			t.Errorf("credential word %q not found", w)
		}
	}
}

func sessionCookieSlow(name string) bool {
	ln := strings.ToLower(name)
	for _, s := range sessionCookies {
		if strings.Contains(ln, s) {
			return true
		}
	}
	return false
}

// TestPrepareConcurrent: preparing transactions on several goroutines at
// once while one goroutine applies them gives the report Observe gives,
// and the reused Prepared values leave nothing behind (run with -race).
func TestPrepareConcurrent(t *testing.T) {
	spec, err := LoadSpec("testdata/bench-shop-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	traffic := append(shopTraffic(3000), goldenTransactions()...)
	want := mustEngine(t, Options{Specs: []*Spec{spec}})
	var wantPaths []string
	for _, x := range traffic {
		wantPaths = append(wantPaths, want.Observe(x))
	}

	e := mustEngine(t, Options{Specs: []*Spec{spec}})
	const workers = 4
	prepared := make([]*Prepared, len(traffic))
	ready := make([]chan struct{}, len(traffic))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	pool := sync.Pool{New: func() any { return new(Prepared) }}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(traffic); i += workers {
				p := pool.Get().(*Prepared)
				e.Prepare(traffic[i], p)
				prepared[i] = p
				close(ready[i])
			}
		})
	}
	for i, x := range traffic {
		<-ready[i]
		if got := e.ObservePrepared(x, prepared[i]); got != wantPaths[i] {
			t.Fatalf("transaction %d: template %q, want %q", i, got, wantPaths[i])
		}
		pool.Put(prepared[i])
	}
	wg.Wait()
	if got, w := reportJSON(t, e), reportJSON(t, want); got != w {
		t.Errorf("reports differ:\n%s\nwant\n%s", got, w)
	}
}

// TestObserveNoRequest: a response without its request is prepared into
// nothing and observed as nothing.
func TestObserveNoRequest(t *testing.T) {
	e := mustEngine(t, Options{})
	var p Prepared
	x := &reassembly.Transaction{Status: 200, Flags: reassembly.FlagNoRequest}
	e.Prepare(x, &p)
	if got := e.ObservePrepared(x, &p); got != "" || len(e.Report().Endpoints) != 0 {
		t.Errorf("template %q", got)
	}
}

// TestObservePreparedOtherEngine: a transaction prepared by an engine a
// reload replaced is prepared again by the one observing it (its options
// may differ: here whether X-Forwarded-For names the client).
func TestObservePreparedOtherEngine(t *testing.T) {
	old := mustEngine(t, Options{TrustXFF: true})
	e := mustEngine(t, Options{})
	want := mustEngine(t, Options{})
	for i := range 50 {
		x := tx(i, "GET", "api.example.com", "/v1/items/"+strings.Repeat("x", i%3+1), 200)
		x.ReqHeaders = []hdr{{Name: "X-Forwarded-For", Value: "203.0.113.7"}}
		var p Prepared
		old.Prepare(x, &p)
		e.ObservePrepared(x, &p)
		want.Observe(x)
	}
	if got, w := reportJSON(t, e), reportJSON(t, want); got != w {
		t.Errorf("report:\n%s\nwant\n%s", got, w)
	}
}

// TestQueryKindAndJWTAgree: queryKind's reordered tests and isJWT's
// stack decoding answer as the plain forms do.
func TestQueryKindAndJWTAgree(t *testing.T) {
	plainKind := func(v string) uint8 {
		switch {
		case v == "":
			return kindString
		case v == "true" || v == "false":
			return kindBool
		case allDigits(v) || v[0] == '-' && allDigits(v[1:]):
			return kindInt
		}
		if _, err := json.Number(v).Float64(); err == nil && strings.IndexFunc(v, func(r rune) bool {
			return r != '.' && r != '-' && r != 'e' && r != 'E' && r != '+' && (r < '0' || r > '9')
		}) < 0 {
			return kindNumber
		}
		return kindString
	}
	for _, v := range []string{"", "-", "+", "1", "-1", "1.5", "1e5", "1E+5", ".5", "5.", "--1", "1-", "e", "inf", "NaN", "0x10", "1_000", "abc", "1.2.3", "+1", "١"} {
		if got, want := queryKind(v), plainKind(v); got != want {
			t.Errorf("queryKind(%q) = %d, want %d", v, got, want)
		}
	}
	plainJWT := func(s string) bool {
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
	long := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"` + strings.Repeat("k", 400) + `"}`))
	for _, s := range []string{jwtTok, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln", long + ".eyJzdWIiOiI0MiJ9.c2ln", "eyJhbGciOiJIUzI1NiJ9==.x.y",
		"eyJhbGci+iJIUzI1NiJ9.x.y", "eyJhbGciOiJIUzI1NiJ\n.x.y", "abcdefghijkl.x.y", "short.x.y", "eyJhbGciOiJIUzI1NiJ9.x", "eyJhbGciOiJIUzI1NiJ9.x.y.z"} {
		if got, want := isJWT(s), plainJWT(s); got != want {
			t.Errorf("isJWT(%.40q) = %v, want %v", s, got, want)
		}
	}
}

// TestBodiesNotKept: nothing the engine keeps refers to a body sample once
// ObservePrepared returned (analyze gives samples back to the decoders'
// pool then, for later bodies to overwrite): an engine whose samples are
// overwritten after each transaction reports what one whose samples stay
// intact reports, schemas, personal data, secrets and exports included.
func TestBodiesNotKept(t *testing.T) {
	spec, err := LoadSpec("testdata/bench-shop-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	traffic := append(shopTraffic(3000), goldenTransactions()...)
	bodies := 0
	for _, x := range traffic {
		if len(x.RespBody) > 0 || len(x.ReqBody) > 0 {
			bodies++
		}
	}
	if bodies < len(traffic)/2 {
		t.Fatalf("%d of %d transactions with a body: the test needs bodies", bodies, len(traffic))
	}
	run := func(overwrite bool) *Engine {
		e := mustEngine(t, Options{Specs: []*Spec{spec}})
		var p Prepared
		for _, x := range traffic {
			y := *x
			y.ReqBody, y.RespBody = bytes.Clone(x.ReqBody), bytes.Clone(x.RespBody)
			e.Prepare(&y, &p)
			e.ObservePrepared(&y, &p)
			if overwrite {
				for _, b := range [][]byte{y.ReqBody, y.RespBody} {
					for i := range b {
						b[i] = '"' + byte(i%7)
					}
				}
			}
		}
		return e
	}
	want, got := run(false), run(true)
	if g, w := reportJSON(t, got), reportJSON(t, want); g != w {
		t.Errorf("reports differ once samples are overwritten:\n%s\nwant\n%s", g, w)
	}
	gs, err := json.Marshal(got.ExportSpec(ExportOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := json.Marshal(want.ExportSpec(ExportOptions{}))
	if string(gs) != string(ws) {
		t.Errorf("exported specs differ once samples are overwritten")
	}
}

// TestPreparedHostInterned: a reused Prepared gives every transaction its
// own host, interned (the handle unique.Make gives, its canonical string),
// whether or not the host is the one it interned last.
func TestPreparedHostInterned(t *testing.T) {
	e := mustEngine(t, Options{})
	var p Prepared
	for i, host := range []string{"a.example", "a.example", "b.example", "a.example", "b.example", "b.example", "c.example"} {
		// A copy of its own, so that a string kept from an earlier
		// transaction cannot pass for this one's.
		h := strings.Clone(host)
		x := tx(i, "GET", h, "/v1/items/1", 200)
		e.Prepare(x, &p)
		if p.host != host || p.view.hostH != unique.Make(host) || p.view.hostH.Value() != host {
			t.Fatalf("transaction %d: host %q, handle of %q, want %q", i, p.host, p.view.hostH.Value(), host)
		}
	}
}
