package detect

import (
	"strings"
	"testing"
)

// FuzzTemplate sends random paths through Observe and Report. Each input
// line is a request-target; a line with '*' is expanded into 40 requests
// with distinct words in its place (so that positions get learnt and
// merged). Properties: no panic; only dot-segment paths are kept out; every reported path starts with "/" and
// has no query; no concrete numeric id (an all-digit segment) is left, and
// more generally every literal segment is one the rules call a word (the
// root's dated version and numbered versions after api/rest excepted); counts add up to the requests observed.
func FuzzTemplate(f *testing.F) {
	// More seeds live in testdata/fuzz/FuzzTemplate.
	f.Add("/users/*/orders/42\n/users/*/profile", uint8(0))
	f.Add("/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/*.json", uint8(3))
	f.Fuzz(func(t *testing.T, input string, maxNodes uint8) {
		e := mustEngine(t, Options{MaxTemplatesPerHost: 8 + int(maxNodes)})
		var sent uint64
		i := 0
		for _, line := range strings.Split(input, "\n") {
			if len(line) > 512 {
				line = line[:512]
			}
			variants := []string{line}
			if strings.Contains(line, "*") {
				variants = variants[:0]
				for k := range 40 {
					w := string([]byte{'w', byte('a' + k%26), byte('a' + k/26), 'x'})
					variants = append(variants, strings.ReplaceAll(line, "*", w))
				}
			}
			for _, p := range variants {
				i++
				sent++
				got := e.Observe(tx(i, "GET", "h", p, 200))
				if got == "" && hasDotSegment(splitPath(p)) {
					sent-- // kept out of the inventory, counted in a warning
					continue
				}
				if !strings.HasPrefix(got, "/") {
					t.Fatalf("Observe(%q) = %q", p, got)
				}
			}
		}
		var counted uint64
		for _, ep := range e.Report().Endpoints {
			counted += ep.Count
			if !strings.HasPrefix(ep.Path, "/") || strings.ContainsAny(ep.Path, "?#") {
				t.Fatalf("malformed path %q", ep.Path)
			}
			segs := strings.Split(ep.Path, "/")[1:]
			for j, seg := range segs {
				if j > 0 && len(seg) <= 2 && allDigits(seg) && apiRoots[strings.ToLower(segs[j-1])] {
					continue // a numbered API version (/rest/api/2)
				}
				if strings.ContainsAny(seg, "{}") {
					if !validParamSegment(seg) {
						t.Fatalf("malformed parameter %q in %q", seg, ep.Path)
					}
					continue
				}
				if allDigits(seg) {
					t.Fatalf("numeric id left in %q", ep.Path)
				}
				if c, _ := classify(seg); c != classLiteral && !(j == 0 && c == classDate) {
					t.Fatalf("segment %q (class %d) left literal in %q", seg, c, ep.Path)
				}
			}
		}
		if counted != sent {
			t.Fatalf("report counts %d requests, observed %d", counted, sent)
		}
	})
}

// TestBracesNeverLiteral: a concrete segment with braces must not be
// reported as if it were a template parameter.
func TestBracesNeverLiteral(t *testing.T) {
	e := mustEngine(t, Options{})
	for i, p := range []string{"/items/{id}", "/items/}{", "/x/{a}b/c"} {
		e.Observe(tx(i, "GET", "h", p, 200))
	}
	for _, ep := range e.Report().Endpoints {
		for _, seg := range strings.Split(ep.Path, "/")[1:] {
			if strings.ContainsAny(seg, "{}") && !validParamSegment(seg) {
				t.Errorf("literal braces reported in %q", ep.Path)
			}
		}
	}
}

// validParamSegment reports a rendered parameter: {name} and an optional
// literal suffix without braces.
func validParamSegment(seg string) bool {
	if !strings.HasPrefix(seg, "{") {
		return false
	}
	end := strings.IndexByte(seg, '}')
	if end < 2 || strings.ContainsAny(seg[end+1:], "{}") {
		return false
	}
	for _, c := range seg[1:end] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
