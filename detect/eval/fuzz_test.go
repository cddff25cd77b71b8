package eval

import (
	"strings"
	"testing"
)

// FuzzNormalizePath: normalising is idempotent, keeps every literal outside
// braces, and HasConcreteID never panics on what a report may hold.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/v1/customers/{id}", "/a/{x}-{y}.json", "/{", "/}{", "/v1/items/3f2b9c1e-8d4a-4f6b-9e2d-1a2b3c4d5e6f", "/x/{a{b}}c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n := NormalizePath(p)
		if NormalizePath(n) != n {
			t.Errorf("NormalizePath not idempotent on %q: %q then %q", p, n, NormalizePath(n))
		}
		if !strings.Contains(p, "{") && n != p {
			t.Errorf("NormalizePath(%q) = %q changed a path without parameters", p, n)
		}
		_ = HasConcreteID(p)
		_ = HasConcreteID(n)
	})
}
