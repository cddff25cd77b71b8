package http1

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/internal/cputime"
	"github.com/shadowtap/shadowtap/internal/mallocs"
	"github.com/shadowtap/shadowtap/reassembly/content"
)

// apiStreams builds one keep-alive connection's worth of pipelined API
// traffic: n requests (GETs and JSON POSTs) and their responses (JSON with
// Content-Length, chunked JSON, 204s, some gzip).
func apiStreams(n int) (req, resp []byte) {
	var rq, rs bytes.Buffer
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"id":%d,"name":"user %d","email":"user%d@example.com","roles":["reader","writer"],"created":"2026-11-27T00:00:00Z","active":true}`, i, i, i)
		switch i % 4 {
		case 0, 1:
			fmt.Fprintf(&rq, "GET /api/v2/users/%d?fields=id,name,email HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: okhttp/4.12.0\r\nAccept: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc\r\nX-Request-Id: 7f3c%08d\r\n\r\n", i, i)
		case 2:
			fmt.Fprintf(&rq, "POST /api/v2/users HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: %d\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc\r\n\r\n%s", len(body), body)
		case 3:
			fmt.Fprintf(&rq, "DELETE /api/v2/users/%d HTTP/1.1\r\nHost: api.example.com\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc\r\n\r\n", i)
		}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&rs, "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: %d\r\nCache-Control: no-store\r\nX-Request-Id: 7f3c%08d\r\n\r\n%s", len(body), i, body)
		case 1:
			fmt.Fprintf(&rs, "HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%s", chunked(strings.Repeat(body, 8), 512))
		case 2:
			g := gzipped(body)
			fmt.Fprintf(&rs, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nLocation: /api/v2/users/%d\r\n\r\n%s", len(g), i, g)
		case 3:
			rs.WriteString("HTTP/1.1 204 No Content\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\n\r\n")
		}
	}
	return rq.Bytes(), rs.Bytes()
}

func benchStream(b *testing.B, request bool, stream []byte, msgs int, opts Options) {
	segs := segments(stream, 1460)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var got int
	cputime.PerOp(b, func() {
		o := opts
		inner := opts.OnMessage
		o.OnMessage = func(m *Message) {
			got++
			if inner != nil {
				inner(m)
			}
		}
		var p *Parser
		if request {
			p = NewRequestParser(o)
		} else {
			p = NewResponseParser(o)
		}
		for _, s := range segs {
			p.Feed(s, t0)
		}
		p.Close(t0)
	})
	b.StopTimer()
	if got != msgs*b.N {
		b.Fatalf("parsed %d messages, want %d", got, msgs*b.N)
	}
}

func segments(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

func BenchmarkRequests(b *testing.B) {
	req, _ := apiStreams(200)
	benchStream(b, true, req, 200, Options{})
}

func BenchmarkResponses(b *testing.B) {
	_, resp := apiStreams(200)
	benchStream(b, false, resp, 200, Options{})
}

func BenchmarkResponsesPooled(b *testing.B) {
	_, resp := apiStreams(200)
	benchStream(b, false, resp, 200, Options{Decoders: new(content.Pool)})
}

// BenchmarkPipeline parses both directions with the options the TCP layer
// uses (a shared Arena and Pool, deferred decoding, no binary samples),
// handing samples back to the Pool as a consumer done with them would.
func BenchmarkPipeline(b *testing.B) {
	req, resp := apiStreams(200)
	pool := new(content.Pool)
	var arena Arena
	opts := Options{Decoders: pool, DeferDecode: true, SkipBinary: true, Arena: &arena}
	for _, tc := range []struct {
		name    string
		request bool
		stream  []byte
	}{{"requests", true, req}, {"responses", false, resp}} {
		b.Run(tc.name, func(b *testing.B) {
			o := opts
			o.OnMessage = func(m *Message) {
				pool.PutSample(m.Body)
				if m.Encoded != nil {
					m.Encoded.Release()
				}
			}
			benchStream(b, tc.request, tc.stream, 200, o)
		})
	}
}

func BenchmarkResponsesNoBody(b *testing.B) {
	_, resp := apiStreams(200)
	benchStream(b, false, resp, 200, Options{MaxBody: -1})
}

// BenchmarkResyncGarbage: throughput of the resync scanner over bytes that
// hold no start line, and over bytes full of near-misses.
func BenchmarkResyncGarbage(b *testing.B) {
	for _, tc := range []struct {
		name    string
		request bool
		data    []byte
	}{
		{"random/request", true, pseudoRandom(1 << 20)},
		{"random/response", false, pseudoRandom(1 << 20)},
		{"near-misses/request", true, bytes.Repeat([]byte("GET /x HTTP/1.1 "), 1<<16)},
		{"near-misses/response", false, bytes.Repeat([]byte("HTTP/1.1 200 x"), 1<<16)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			segs := segments(tc.data, 1460)
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				p := newParser(Options{}, tc.request)
				for _, s := range segs {
					p.Feed(s, t0)
				}
				p.Close(t0)
			}
		})
	}
}

func pseudoRandom(n int) []byte {
	out := make([]byte, n)
	x := uint32(2463534242)
	for i := range out {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		out[i] = byte(x)
	}
	return out
}

// TestAllocsPerMessage pins the head parser's allocation budget: the
// head's strings and header slice, handed to the callee, are carved from
// the parser's chunks (one allocation of each every few dozen heads; the
// Message itself is the parser's, reused). Feeding a body adds the sample.
func TestAllocsPerMessage(t *testing.T) {
	req := []byte("GET /api/v2/users/42?fields=id HTTP/1.1\r\nHost: api.example.com\r\nAccept: application/json\r\nAuthorization: Bearer abc\r\n\r\n")
	n := 0
	p := NewRequestParser(Options{OnMessage: func(*Message) { n++ }})
	allocs := mallocs.PerRun(400, func() { p.Feed(req, t0) })
	if n < 400 {
		t.Fatalf("%d messages", n)
	}
	if allocs > 0.2 {
		t.Errorf("%.2f allocations per GET, want at most 0.2", allocs)
	}
	// Byte at a time costs the same.
	p = NewRequestParser(Options{OnMessage: func(*Message) {}})
	allocs = mallocs.PerRun(100, func() {
		for i := range req {
			p.Feed(req[i:i+1], t0)
		}
	})
	if allocs > 0.2 {
		t.Errorf("%.2f allocations per GET fed byte by byte, want at most 0.2", allocs)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"id\":42,\"a\"}")
	p = NewResponseParser(Options{OnMessage: func(*Message) {}})
	allocs = mallocs.PerRun(400, func() { p.Feed(resp, t0) })
	if allocs > 1.2 {
		t.Errorf("%.2f allocations per JSON response, want at most 1.2", allocs)
	}
}
