package http1

import (
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	longTarget := "GET /" + strings.Repeat("a", 2000) + " HTTP/1.1\r\n"
	tests := []struct {
		name string
		in   string
		want Verdict
	}{
		{"empty", "", NeedMore},
		{"GET", "GET / HTTP/1.1\r\n", HTTPRequest},
		{"custom method", "CCM_POST /x HTTP/1.0\r\n", HTTPRequest},
		{"M-SEARCH", "M-SEARCH * HTTP/1.1\r\n", HTTPRequest},
		{"short prefix", "GE", NeedMore},
		{"method and space", "POST ", NeedMore},
		{"up to version", "POST /api/v1/x HTTP/1", NeedMore},
		{"version digit missing", "POST /api/v1/x HTTP/1.", HTTPRequest},
		{"version glued to target", "PUT /HTTP/1.1\r\n", HTTPRequest},
		{"no target", "OPTIONS HTTP/1.1\r\n", HTTPRequest},
		{"bare method line", "OPTIONS\r\nHost: x\r\n", NotHTTP},
		{"words", "Hello world\r\n", NotHTTP},
		{"upper-case words", "HELLO WORLD\r\n", NotHTTP},
		{"response", "HTTP/1.1 200 OK\r\n", HTTPResponse},
		{"response 1.0", "HTTP/1.0 404", HTTPResponse},
		{"response prefix", "HTTP/1", NeedMore},
		{"H alone", "H", NeedMore},
		{"HEAD request", "HEAD /x HTTP/1.1\r\n", HTTPRequest},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\n", HTTPRequest},
		{"only CRLFs", "\r\n\r\n\r\n\r\n\r\n", NotHTTP},
		{"TLS", "\x16\x03\x01\x02\x00", NotHTTP},
		{"SSH", "SSH-2.0-OpenSSH_9.6\r\n", NotHTTP},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", NotHTTP},
		{"HTTP/2", "HTTP/2 200", NotHTTP},
		{"redis inline", "GET key\r\n", NotHTTP},
		{"redis RESP", "*2\r\n$3\r\nGET\r\n", NotHTTP},
		{"lower-case method", "get / HTTP/1.1\r\n", NotHTTP},
		{"binary", "\x00\x01\x02\x03", NotHTTP},
		{"method too long", strings.Repeat("A", 21) + " / HTTP/1.1", NotHTTP},
		{"two spaces", "GET  / HTTP/1.1", NotHTTP},
		{"long target known method", longTarget, HTTPRequest},
		{"long target unknown method", "FOO /" + strings.Repeat("a", 2000), NotHTTP},
		{"long target waits below the cap", "FOO /" + strings.Repeat("a", 500), NeedMore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect([]byte(tc.in)); got != tc.want {
				t.Errorf("Detect(%.40q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestDetectNeverNeedsMoreForever: no input of DetectLimit bytes or more is
// undecided, and a decided verdict never changes as bytes are added.
func TestDetectNeverNeedsMoreForever(t *testing.T) {
	inputs := []string{
		"GET /" + strings.Repeat("x", 3000),
		"HTTP/1.1 200 OK\r\n" + strings.Repeat("x", 3000),
		strings.Repeat("\r\n", 1000),
		strings.Repeat("A", 3000),
		"POST /a HTTP/1.1\r\n",
	}
	for _, in := range inputs {
		prev := NeedMore
		for i := 0; i <= len(in); i++ {
			v := Detect([]byte(in[:i]))
			if prev != NeedMore && v != prev {
				t.Fatalf("%.20q: verdict changed from %v to %v at %d", in, prev, v, i)
			}
			if i >= DetectLimit && v == NeedMore {
				t.Fatalf("%.20q: NeedMore at %d bytes", in, i)
			}
			prev = v
		}
	}
}
