package http1

import (
	"bytes"
	"math/rand"
	"testing"
)

// splitRequestLineRef is splitRequestLine's version rule stated plainly:
// the last "HTTP/1." after the method, followed by at most one digit.
func splitRequestLineRef(line []byte) (mEnd, tStart, tEnd, vStart int, ok bool) {
	n := len(line)
	for mEnd < n && line[mEnd] != ' ' {
		if !isTchar(line[mEnd]) || mEnd == maxMethod {
			return 0, 0, 0, 0, false
		}
		mEnd++
	}
	if mEnd == 0 || mEnd == n {
		return 0, 0, 0, 0, false
	}
	tStart = mEnd
	for tStart < n && line[tStart] == ' ' {
		tStart++
	}
	vStart = bytes.LastIndex(line[tStart:], httpSlash1)
	if vStart < 0 {
		return 0, 0, 0, 0, false
	}
	vStart += tStart
	if v := line[vStart:]; len(v) > 8 || len(v) == 8 && (v[7] < '0' || v[7] > '9') {
		return 0, 0, 0, 0, false
	}
	tEnd = vStart
	for tEnd > tStart && line[tEnd-1] == ' ' {
		tEnd--
	}
	for _, c := range line[tStart:tEnd] {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return 0, 0, 0, 0, false
		}
	}
	return mEnd, tStart, tEnd, vStart, true
}

// statusPrefixOKRef checks "HTTP/1.d DDD" followed by SP, CR or LF byte
// by byte.
func statusPrefixOKRef(b []byte) bool {
	const lit = "HTTP/1."
	for i := 0; i < len(b) && i < 13; i++ {
		c := b[i]
		switch {
		case i < 7:
			if c != lit[i] {
				return false
			}
		case i == 7 || (i >= 9 && i <= 11):
			if c < '0' || c > '9' {
				return false
			}
		case i == 8:
			if c != ' ' {
				return false
			}
		case i == 12:
			if c != ' ' && c != '\r' && c != '\n' {
				return false
			}
		}
	}
	return true
}

// TestStartLineRules: splitRequestLine and statusPrefixOK agree with their
// plain statements on lines built from start-line pieces.
func TestStartLineRules(t *testing.T) {
	pieces := []string{"GET", " ", "/", "HTTP/1.", "HTTP/1.1", "1", "x", "\t", "\x7f", "HTTP/", "200", "\r", "\n", "OK", "H", "."}
	r := rand.New(rand.NewSource(3))
	var reqs, stats int
	for i := 0; i < 200000; i++ {
		var b []byte
		for k := r.Intn(7); k >= 0; k-- {
			b = append(b, pieces[r.Intn(len(pieces))]...)
		}
		m1, t1, e1, v1, ok1 := splitRequestLine(b)
		m2, t2, e2, v2, ok2 := splitRequestLineRef(b)
		if ok1 != ok2 || m1 != m2 || t1 != t2 || e1 != e2 || v1 != v2 {
			t.Fatalf("splitRequestLine(%q) = %d %d %d %d %v, want %d %d %d %d %v", b, m1, t1, e1, v1, ok1, m2, t2, e2, v2, ok2)
		}
		if statusPrefixOK(b) != statusPrefixOKRef(b) {
			t.Fatalf("statusPrefixOK(%q) = %v", b, statusPrefixOK(b))
		}
		if ok2 {
			reqs++
		}
		if len(b) >= 13 && statusPrefixOKRef(b) {
			stats++
		}
	}
	if reqs < 100 || stats < 10 {
		t.Fatalf("only %d request lines and %d status lines among the cases", reqs, stats)
	}
}

// TestContentLengthRule: parseContentLength agrees with its plain
// statement on values built from digits, separators and odd bytes.
func TestContentLengthRule(t *testing.T) {
	pieces := []string{"0", "1", "9", "10", "123456789", "999999999", ",", ", ", " ", "\t", "a", "+", "-", "/", ":"}
	r := rand.New(rand.NewSource(5))
	var ok int
	for i := 0; i < 200000; i++ {
		var b []byte
		for k := r.Intn(6); k >= 0; k-- {
			b = append(b, pieces[r.Intn(len(pieces))]...)
		}
		n1, ok1 := parseContentLength(string(b))
		n2, ok2 := parseContentLengthList(string(b))
		if n1 != n2 || ok1 != ok2 {
			t.Fatalf("parseContentLength(%q) = %d %v, want %d %v", b, n1, ok1, n2, ok2)
		}
		if ok2 {
			ok++
		}
	}
	if ok < 1000 {
		t.Fatalf("only %d valid values among the cases", ok)
	}
}
