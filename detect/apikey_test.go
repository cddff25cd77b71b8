package detect

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// apiKeySpec is an OpenAPI 3 document declaring an API key in each place
// under names the built-in lists do not know (cmd/shadowtap's end-to-end
// test reads the same file).
var apiKeySpec = func() string {
	b, err := os.ReadFile("testdata/apikey-spec.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func parsedSpec(t *testing.T, doc string) *Spec {
	t.Helper()
	s, err := parseSpecData([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpecAPIKeys(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []APIKey
	}{
		{"openapi 3: header, query, cookie", apiKeySpec,
			[]APIKey{{"cookie", "pref"}, {"header", "X-Partner-Ref"}, {"query", "partner_ref"}}},
		{"openapi 3: other scheme types and bad locations left out", `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
    basic: {type: http, scheme: basic}
    oauth: {type: oauth2, flows: {clientCredentials: {tokenUrl: "https://a.example/t", scopes: {}}}}
    oidc: {type: openIdConnect, openIdConnectUrl: "https://a.example/.well-known"}
    key: {type: apiKey, in: header, name: X-Tenant-Secret}
`, []APIKey{{"header", "X-Tenant-Secret"}}},
		{"openapi 3: duplicates once, referenced scheme resolved", `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
components:
  securitySchemes:
    a: {type: apiKey, in: query, name: sig_ref}
    b: {type: apiKey, in: query, name: sig_ref}
    c: {$ref: "#/components/securitySchemes/a"}
`, []APIKey{{"query", "sig_ref"}}},
		{"openapi 3.1", `openapi: 3.1.0
info: {title: t, version: "1"}
paths: {}
components:
  securitySchemes:
    k: {type: apiKey, in: cookie, name: tenant}
`, []APIKey{{"cookie", "tenant"}}},
		{"swagger 2: securityDefinitions", `swagger: "2.0"
info: {title: t, version: "1"}
host: api.example.com
paths: {}
securityDefinitions:
  hdr: {type: apiKey, in: header, name: X-Partner-Ref}
  qry: {type: apiKey, in: query, name: partner_ref}
  basic: {type: basic}
`, []APIKey{{"header", "X-Partner-Ref"}, {"query", "partner_ref"}}},
		{"no security schemes", `openapi: 3.0.3
info: {title: t, version: "1"}
paths: {}
`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parsedSpec(t, tc.doc).APIKeys; !slices.Equal(got, tc.want) {
				t.Errorf("APIKeys = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSpecAPIKeyQueryDocumented: an API-key query parameter is documented
// for every operation of its spec (it is the API's auth, like the built-in
// credential parameters).
func TestSpecAPIKeyQueryDocumented(t *testing.T) {
	s := parsedSpec(t, apiKeySpec)
	if len(s.Ops) != 1 || !slices.Equal(s.Ops[0].Query, []string{"lang", "partner_ref"}) {
		t.Fatalf("ops %+v", s.Ops)
	}
}

func TestNewKeyNames(t *testing.T) {
	spec := func(keys ...APIKey) *Spec { return &Spec{APIKeys: keys} }
	tests := []struct {
		name                string
		specs               []*Spec
		header, query, fold []string
		cookie              []string
		isNil               bool
	}{
		{"none", nil, nil, nil, nil, nil, true},
		{"built-in names only", []*Spec{spec(APIKey{"header", "x-api-key"}, APIKey{"query", "api_key"}, APIKey{"query", "Token"},
			APIKey{"cookie", "session"}, APIKey{"header", "Authorization"}, APIKey{"header", "cookie"})}, nil, nil, nil, nil, true},
		{"declared names", []*Spec{spec(APIKey{"header", "X-Partner-Ref"}, APIKey{"query", "partner_ref"}, APIKey{"cookie", "pref"})},
			[]string{"X-Partner-Ref"}, []string{"partner_ref"}, []string{"partner_ref"}, []string{"pref"}, false},
		{"headers once across specs, case aside", []*Spec{spec(APIKey{"header", "X-Partner-Ref"}), spec(APIKey{"header", "x-partner-ref"}, APIKey{"header", "X-Other"})},
			[]string{"X-Partner-Ref", "X-Other"}, nil, nil, nil, false},
		{"a credential parameter that is not an API key counts for auth", []*Spec{spec(APIKey{"query", "code"})},
			nil, []string{"code"}, nil, nil, false},
		{"query names keep their case, redaction folds it", []*Spec{spec(APIKey{"query", "PartnerRef"})},
			nil, []string{"PartnerRef"}, []string{"partnerref"}, nil, false},
		{"a bracketed query name also in its decoded form", []*Spec{spec(APIKey{"query", "auth_ref[v2]"})},
			nil, []string{"auth_ref", "auth_ref[v2]"}, []string{"auth_ref"}, nil, false},
	}
	keys := func(m map[string]struct{}) []string {
		out := []string{}
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeyNames(tc.specs)
			if tc.isNil {
				if k != nil {
					t.Fatalf("got %+v, want nil", k)
				}
				return
			}
			if k == nil {
				t.Fatal("got nil")
			}
			if !slices.Equal(k.header, tc.header) || !slices.Equal(keys(k.query), orEmpty(tc.query)) ||
				!slices.Equal(keys(k.queryFold), orEmpty(tc.fold)) || !slices.Equal(keys(k.cookie), orEmpty(tc.cookie)) {
				t.Errorf("got header %q query %q fold %q cookie %q", k.header, keys(k.query), keys(k.queryFold), keys(k.cookie))
			}
		})
	}
}

// TestAuthSpecKeys: names a spec declares carry credentials exactly as the
// built-in names do: schemes, principal, where the key was.
func TestAuthSpecKeys(t *testing.T) {
	keys := newKeyNames([]*Spec{parsedSpec(t, apiKeySpec)})
	tests := []struct {
		name      string
		target    string
		headers   []hdr
		want      []string // schemes with the spec's names
		principal string   // scheme of the principal, "" for none
		creds     []string // where the keys were
		without   []string // schemes without the spec's names
	}{
		{"declared header", "/v1/items/1", []hdr{{Name: "X-Partner-Ref", Value: "pk_1"}},
			[]string{"apikey-header"}, "apikey-header:", []string{"header:X-Partner-Ref"}, []string{"none"}},
		{"declared header, other case", "/v1/items/1", []hdr{{Name: "x-partner-ref", Value: "pk_1"}},
			[]string{"apikey-header"}, "apikey-header:", []string{"header:X-Partner-Ref"}, []string{"none"}},
		{"declared header, empty value", "/v1/items/1", []hdr{{Name: "X-Partner-Ref", Value: ""}},
			[]string{"none"}, "", nil, []string{"none"}},
		{"declared query parameter", "/v1/items/1?partner_ref=pk_2&lang=en", nil,
			[]string{"apikey-query"}, "apikey-query:", []string{"query:partner_ref"}, []string{"none"}},
		{"declared query parameter, percent-encoded name", "/v1/items/1?partner%5Fref=pk_2", nil,
			[]string{"apikey-query"}, "apikey-query:", []string{"query:partner%5Fref"}, []string{"none"}},
		{"query names are exact", "/v1/items/1?Partner_Ref=pk_2", nil,
			[]string{"none"}, "", nil, []string{"none"}},
		{"declared cookie", "/v1/items/1", []hdr{{Name: "Cookie", Value: "theme=dark; pref=pk_3"}},
			[]string{"cookie"}, "cookie:", []string{"cookie:pref"}, []string{"none"}},
		{"cookie names are exact", "/v1/items/1", []hdr{{Name: "Cookie", Value: "PREF=pk_3"}},
			[]string{"none"}, "", nil, []string{"none"}},
		{"built-in header first, declared one counted", "/v1/items/1", []hdr{{Name: "X-Partner-Ref", Value: "pk_1"}, {Name: "X-API-Key", Value: "k"}},
			[]string{"apikey-header"}, "apikey-header:", []string{"header:X-API-Key", "header:X-Partner-Ref"}, []string{"apikey-header"}},
		{"declared header before query and cookie", "/v1/items/1?partner_ref=q", []hdr{{Name: "Cookie", Value: "pref=c"}, {Name: "X-Partner-Ref", Value: "h"}},
			[]string{"apikey-header", "apikey-query", "cookie"}, "apikey-header:", []string{"header:X-Partner-Ref", "query:partner_ref", "cookie:pref"}, []string{"none"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &txT{Method: "GET", Target: tc.target, ReqHeaders: tc.headers}
			set, cred, names := authAndCreds(tr, parseQuery(tc.target), nil, nil, keys)
			if got := set.names(); !slices.Equal(got, tc.want) {
				t.Errorf("schemes %q, want %q", got, tc.want)
			}
			if tc.principal == "" && cred.fingerprint != "" || !strings.HasPrefix(cred.fingerprint, tc.principal) {
				t.Errorf("principal %q, want %q", cred.fingerprint, tc.principal)
			}
			var got []string
			for _, n := range names {
				got = append(got, n.String())
			}
			if !slices.Equal(got, tc.creds) {
				t.Errorf("credential names %q, want %q", got, tc.creds)
			}
			set, _, _ = authAndCreds(tr, parseQuery(tc.target), nil, nil, nil)
			if got := set.names(); !slices.Equal(got, tc.without) {
				t.Errorf("without the spec: schemes %q, want %q", got, tc.without)
			}
		})
	}
	// The principal is the key itself, wherever it was: a declared
	// header's key is one principal whatever the header's case.
	a, b := &txT{ReqHeaders: []hdr{{Name: "X-Partner-Ref", Value: "pk_1"}}}, &txT{ReqHeaders: []hdr{{Name: "x-partner-ref", Value: "pk_1"}}}
	_, ca, _ := authAndCreds(a, nil, nil, nil, keys)
	_, cb, _ := authAndCreds(b, nil, nil, nil, keys)
	if ca.fingerprint != Fingerprint("apikey-header", "pk_1") || ca != cb {
		t.Errorf("principals %+v and %+v, want %s", ca, cb, Fingerprint("apikey-header", "pk_1"))
	}
}

func TestRedactorSpecKeys(t *testing.T) {
	red := Redactor{newKeyNames([]*Spec{parsedSpec(t, apiKeySpec)})}
	tests := []struct{ name, in, want, zero string }{
		{"declared parameter", "/v1/items/1?partner_ref=pk_secret&lang=en", "/v1/items/1?partner_ref=REDACTED&lang=en", "/v1/items/1?partner_ref=pk_secret&lang=en"},
		{"declared parameter, any case", "/v1/items/1?PARTNER_REF=pk_secret", "/v1/items/1?PARTNER_REF=REDACTED", "/v1/items/1?PARTNER_REF=pk_secret"},
		{"declared parameter, encoded and bracketed", "/x?partner%5Fref=pk_secret&partner_ref[]=pk_secret", "/x?partner%5Fref=REDACTED&partner_ref[]=REDACTED", "/x?partner%5Fref=pk_secret&partner_ref[]=pk_secret"},
		{"declared parameter in a fragment", "/cb#partner_ref=pk_secret", "/cb#partner_ref=REDACTED", "/cb#partner_ref=pk_secret"},
		{"built-in names as before", "/x?api_key=pk_secret&q=1", "/x?api_key=REDACTED&q=1", "/x?api_key=REDACTED&q=1"},
		{"a header's or a cookie's name in the query is no key", "/x?pref=dark&X-Partner-Ref=1", "/x?pref=dark&X-Partner-Ref=1", "/x?pref=dark&X-Partner-Ref=1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := red.URI(tc.in); got != tc.want {
				t.Errorf("URI(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got, zero := (Redactor{}).URI(tc.in), RedactURI(tc.in); got != tc.zero || zero != tc.zero {
				t.Errorf("zero Redactor %q, RedactURI %q, want %q", got, zero, tc.zero)
			}
		})
	}
	e := mustEngine(t, Options{Specs: []*Spec{parsedSpec(t, apiKeySpec)}})
	if got := e.Redactor().URI("/v1/items/1?partner_ref=pk_secret"); got != "/v1/items/1?partner_ref=REDACTED" {
		t.Errorf("the engine's Redactor gives %q", got)
	}
	if mustEngine(t, Options{}).Redactor() != (Redactor{}) {
		t.Error("an engine without specs has a redactor other than the zero one")
	}
}

// TestEngineSpecKeys: through the engine, a declared key is the endpoint's
// auth, no undocumented query parameter, no secret exposure, and the
// credential of the caller's baselines.
func TestEngineSpecKeys(t *testing.T) {
	const stripe = "sk_live_51Hq8ZpK3vN7xW2mR9tL4cY6b" // a recognisable secret as the partner key
	run := func(specs []*Spec) Report {
		e := mustEngine(t, Options{Specs: specs})
		for i := 0; i < 20; i++ {
			a := tx(i, "GET", "api.partner.example", "/v1/items/7?partner_ref="+stripe+"&lang=en", 200)
			a.ReqHeaders = []hdr{{Name: "X-Partner-Ref", Value: stripe}}
			e.Observe(a)
		}
		return e.Report()
	}
	with := run([]*Spec{parsedSpec(t, apiKeySpec)})
	if len(with.Endpoints) != 1 || !slices.Equal(with.Endpoints[0].Auth, []string{"apikey-header", "apikey-query"}) {
		t.Fatalf("endpoints %+v", with.Endpoints)
	}
	for _, a := range with.Alerts {
		t.Errorf("alert with the spec: %s %s", a.Kind, a.Summary)
	}
	// Without the names the same traffic is unauthenticated and leaks:
	// the test sees a difference.
	other := parsedSpec(t, strings.Replace(apiKeySpec, "components:", "x-none:", 1))
	without := run([]*Spec{other})
	if len(without.Endpoints) != 1 || !slices.Equal(without.Endpoints[0].Auth, []string{"none"}) {
		t.Fatalf("endpoints without the names %+v", without.Endpoints)
	}
	kinds := map[string]bool{}
	for _, a := range without.Alerts {
		kinds[a.Kind] = true
	}
	if !kinds[KindSecretExposure] || !kinds[KindShadowEndpoint] {
		t.Errorf("without the names: alerts %v, want a secret exposure and an undocumented query parameter", kinds)
	}
}

// authBenchTxs are request shapes of common API traffic for
// BenchmarkAuthAndCreds.
func authBenchTxs() []*txT {
	common := []hdr{{Name: "Host", Value: "api.example.com"}, {Name: "User-Agent", Value: "okhttp/4.12.0"},
		{Name: "Accept", Value: "application/json"}, {Name: "Accept-Encoding", Value: "gzip"}}
	with := func(target string, hs ...hdr) *txT {
		return &txT{Method: "GET", Target: target, ReqHeaders: append(slices.Clone(common), hs...)}
	}
	return []*txT{
		with("/v1/orders?page=2&page_size=20", hdr{Name: "Authorization", Value: "Bearer abcdef0123456789abcdef"}),
		with("/v1/items/7", hdr{Name: "X-API-Key", Value: "k_0123456789"}),
		with("/v1/items/7?partner_ref=pk_2&lang=en"),
		with("/v1/me", hdr{Name: "Cookie", Value: "theme=dark; session=s_0123456789"}),
		with("/health"),
	}
}

// BenchmarkAuthAndCreds: the per-transaction cost of finding the auth
// schemes and the principal, without declared names (the path of every
// run without specs) and with a spec's.
func BenchmarkAuthAndCreds(b *testing.B) {
	spec, err := parseSpecData([]byte(apiKeySpec))
	if err != nil {
		b.Fatal(err)
	}
	txs := authBenchTxs()
	queries := make([][]queryParam, len(txs))
	for i, t := range txs {
		queries[i] = parseQuery(t.Target)
	}
	for _, bc := range []struct {
		name string
		keys *keyNames
	}{{"builtin", nil}, {"spec-names", newKeyNames([]*Spec{spec})}} {
		b.Run(bc.name, func(b *testing.B) {
			cc := newCredCache()
			var names []credName
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				k := i % len(txs)
				_, _, names = authAndCreds(txs[k], queries[k], names[:0], cc, bc.keys)
			}
		})
	}
}

// FuzzRedactorSpecKeys: with a query name a spec declares, no value of
// that parameter (any case, percent-encoded or bracketed) survives, and
// a target without that parameter is redacted as RedactURI does.
func FuzzRedactorSpecKeys(f *testing.F) {
	for _, s := range [][2]string{{"/x?partner_ref=abcd&q=1", "partner_ref"}, {"/x?Partner%5FRef[]=abcd", "partner_ref"},
		{"/cb#sig_v2=abcd&state=1", "sig_v2"}, {"/x?a=b&&c", "c"}, {"/x?%zz=1234", "%zz"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, target, name string) {
		red := Redactor{newKeyNames([]*Spec{{APIKeys: []APIKey{{"query", name}}}})}
		got := red.URI(target)
		rest, frag, _ := strings.Cut(target, "#")
		_, query, _ := strings.Cut(rest, "?")
		declared := false
		for _, list := range []string{query, frag} {
			for _, p := range strings.Split(list, "&") {
				n, value, ok := strings.Cut(p, "=")
				if !ok || paramKey(n) != paramKey(name) {
					continue
				}
				declared = true
				if len(value) >= 4 && !strings.Contains(Redacted, value) && strings.Contains(got, n+"="+value) {
					t.Fatalf("declared %s=%s survived: %q", n, value, got)
				}
			}
		}
		if base := RedactURI(target); !declared && got != base {
			t.Fatalf("without the declared parameter %q, want RedactURI's %q", got, base)
		}
	})
}

// TestExportSpecKeys: spec export shows a declared query key as the
// security scheme it is, not as a query parameter.
func TestExportSpecKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		specs []*Spec
		param bool // partner_ref listed as a query parameter
	}{{"with the spec", []*Spec{parsedSpec(t, apiKeySpec)}, false}, {"without", nil, true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, Options{Specs: tc.specs})
			for i := 0; i < 3; i++ {
				e.Observe(tx(i, "GET", "api.partner.example", "/v1/items/7?partner_ref=pk_secret&lang=en", 200))
			}
			doc := e.ExportSpec(ExportOptions{})
			paths := doc.Paths.InMatchingOrder()
			if len(paths) != 1 || !strings.HasPrefix(paths[0], "/v1/items/{") {
				t.Fatalf("paths %q", paths)
			}
			item := doc.Paths.Value(paths[0])
			if item.Get == nil {
				t.Fatalf("no GET %s", paths[0])
			}
			var params []string
			for _, p := range item.Get.Parameters {
				if p.Value.In == "query" {
					params = append(params, p.Value.Name)
				}
			}
			if got := slices.Contains(params, "partner_ref"); got != tc.param || !slices.Contains(params, "lang") {
				t.Errorf("query parameters %q", params)
			}
			if tc.param {
				return
			}
			ss := doc.Components.SecuritySchemes["queryKey_partner_ref"]
			if ss == nil || ss.Value.In != "query" || ss.Value.Name != "partner_ref" {
				t.Errorf("security schemes %v", doc.Components.SecuritySchemes)
			}
		})
	}
}
