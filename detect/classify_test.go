package detect

import (
	"strings"
	"testing"
)

// classifyPlain is classify as it was before its shortcuts (every rule
// tried in turn): the reference they must agree with.
func classifyPlain(seg string) (segClass, string) {
	if seg == "" {
		return classLiteral, ""
	}
	for _, ext := range knownExts {
		if len(seg) > len(ext) && hasSuffixFold(seg, ext) {
			stem := seg[:len(seg)-len(ext)]
			if c := classifyWholePlain(stem); c != classLiteral {
				return c, seg[len(stem):]
			}
		}
	}
	if len(seg) > maxLiteralLen {
		return classToken, ""
	}
	return classifyWholePlain(seg), ""
}

func classifyWholePlain(s string) segClass {
	n := len(s)
	var digits, lower, upper, hexLetters, other, dashes, unders int
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z':
			lower++
			if c <= 'f' {
				hexLetters++
			}
		case c >= 'A' && c <= 'Z':
			upper++
			if c <= 'F' {
				hexLetters++
			}
		case c == '-':
			dashes++
		case c == '_':
			unders++
		default:
			other++
		}
	}
	switch {
	case strings.ContainsAny(s, "{}"):
		// Braces are not legal in a path (RFC 3986) and would read as a
		// template parameter if kept: such a segment is a value.
		return classToken
	case digits == n:
		return classInt
	case isVersion(s):
		return classLiteral
	case strings.IndexByte(s, '@') > 0 && strings.IndexByte(s[strings.IndexByte(s, '@'):], '.') > 0:
		return classEmail
	case strings.Contains(s, "%40"):
		return classEmail
	case n == 36 && dashes == 4 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' && digits+hexLetters == 32:
		return classUUID
	case isDate(s):
		return classDate
	case n >= 8 && digits > 0 && digits+hexLetters == n:
		return classHex // hashes, ObjectIds
	case isPrefixedID(s):
		return classPrefixedID
	case n >= 16 && other == 0 && digits > 0 && (lower > 0 || upper > 0):
		return classToken // base62/base64url ids, long random tokens
	case n >= 20 && other <= 2 && lower > 0 && upper > 0 && digits > 0:
		return classToken
	case isSlugNumber(s):
		return classMixed // coffee-83, my-post-2024
	case other == 0 && digitRun(s) >= 4 && lower+upper > 0 && lower+upper <= 12:
		return classMixed // SKU-00042, INV-2024-0001, order12345
	case n >= 4 && other == 0 && digits >= 2 && (lower+upper) > 0 && dashes+unders <= 2 && ((n >= 10 && digits >= 3) || alnumSwitches(s) >= 2):
		return classMixed
	}
	return classLiteral
}

// classifyCases are segments that reach each rule, and near misses.
var classifyCases = []string{
	"", "users", "v1", "V10", "v1.2", "12345", "0", "a@b.io", "ann%40mail.example.com", "@x.y", "x@", "{id}", "a}b",
	"123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-42661417400g", "2024-03-01", "2024-3-01",
	"5f2b8c9d", "deadbeef", "cus_9s8d7f6g", "ab_cdefgh", "mark_uncollectible", "aBcDeFgHiJkLmN_x", "x_Ab12Cd34",
	"dGhpcyBpcyBhIHRva2Vu1", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0", "coffee-83", "utf-8", "sha-256", "iso-8859-1",
	"SKU-00042", "INV-2024-0001", "order12345", "a1b2c3", "12ab34", "base64", "oauth2", "orders.json", "12345.JSON",
	"report.pdf", "x.json", ".json", "a.b", "photo.jpg", "5f2b8c9d.zip", "items.csv", "index.html", "v2beta1.json",
	"2024-03-01.txt", "cus_9s8d7f6g.xml", strings.Repeat("a", 65), strings.Repeat("7", 70) + ".json", "a-b-c", "%2e",
	"ñandú", "tab\there", "semi;colon", "k=v", "-12", "_x",
}

// TestClassifyShortcuts: classify agrees with the plain reference.
func TestClassifyShortcuts(t *testing.T) {
	for _, s := range classifyCases {
		gc, gs := classify(s)
		wc, ws := classifyPlain(s)
		if gc != wc || gs != ws {
			t.Errorf("classify(%q) = %v %q, the reference says %v %q", s, gc, gs, wc, ws)
		}
	}
}

// FuzzClassify: classify agrees with the plain reference on any segment.
func FuzzClassify(f *testing.F) {
	for _, s := range classifyCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		gc, gs := classify(s)
		wc, ws := classifyPlain(s)
		if gc != wc || gs != ws {
			t.Fatalf("classify(%q) = %v %q, the reference says %v %q", s, gc, gs, wc, ws)
		}
	})
}

// TestKnownExtsShape: classify looks for an extension only where a dot
// would start one of three or four characters.
func TestKnownExtsShape(t *testing.T) {
	for _, ext := range knownExts {
		if len(ext) != 4 && len(ext) != 5 || ext[0] != '.' {
			t.Errorf("extension %q: classify's shortcut expects a dot and three or four characters", ext)
		}
	}
}
