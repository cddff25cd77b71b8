package detect

import (
	"strings"
	"testing"
)

// FuzzTemplater feeds arbitrary request-targets through the splitter, the
// segment rules, the trie and RedactURI: no panic, templates are well formed
// (start with "/", balanced braces, no query), the same target maps to the
// same template twice in a row, and credential values never survive
// redaction.
func FuzzTemplater(f *testing.F) {
	for _, s := range []string{"/", "", "/users/42", "/v1/customers/cus_NffrFeUfNV2Hib?expand=x", "/a//b/", "*",
		"http://h/x?key=abc", "/orders/12.json", "/%40/%zz", "/{id}/}{", "/a?token=t&x", "/x?=&&=", "/u/a@b.co/"} {
		f.Add(s, "GET")
	}
	f.Fuzz(func(t *testing.T, target, method string) {
		e := mustEngine(t, Options{MaxTemplatesPerHost: 50})
		for i, p := range strings.Split(target, "\n") {
			got := e.Observe(tx(i, method, "h", p, 200))
			if method == "" {
				continue
			}
			if hasDotSegment(splitPath(p)) {
				if got != "" {
					t.Fatalf("dot-segment probe %q got template %q", p, got)
				}
				continue
			}
			if !strings.HasPrefix(got, "/") || strings.Contains(got, "?") {
				t.Fatalf("template %q for %q", got, p)
			}
			if again := e.Observe(tx(i, method, "h", p, 200)); again != got {
				t.Fatalf("unstable: %q then %q for %q", got, again, p)
			}
			red := RedactURI(p)
			if _, q, ok := strings.Cut(red, "?"); ok {
				for _, kv := range strings.Split(q, "&") {
					k, v, _ := strings.Cut(kv, "=")
					if credentialParams[strings.ToLower(k)] && v != "" && v != Redacted {
						t.Fatalf("credential %q survived in %q", kv, red)
					}
				}
			}
		}
		rep := e.Report()
		for _, ep := range rep.Endpoints {
			if ep.Count == 0 {
				t.Fatalf("empty endpoint %+v", ep)
			}
		}
	})
}
