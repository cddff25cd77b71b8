package http1

import (
	"fmt"
	"strings"
	"testing"
)

// TestHeadChunks: the strings and header lists carved from a parser's
// shared chunks stay as parsed while later messages (whole heads, heads
// split across Feeds, trailers, large heads with their own allocation, and
// a new stream after Reset) are parsed, and a consumer appending to a
// message's Headers does not clobber the next message's.
func TestHeadChunks(t *testing.T) {
	var stream strings.Builder
	want := make([]string, 0, 120)
	for i := 0; i < 60; i++ {
		extra := ""
		if i%7 == 3 { // over a quarter of a chunk: its own allocation
			extra = "X-Big: " + strings.Repeat("b", strChunk/3) + "\r\n"
		}
		fmt.Fprintf(&stream, "GET /r/%d HTTP/1.1\r\nHost: h%d\r\nX-N: %d\r\n%s\r\n", i, i, i, extra)
		want = append(want, fmt.Sprintf("GET /r/%d h%d %d", i, i, i))
	}
	var msgs []*Message
	opts := Options{OnMessage: func(m *Message) {
		mm := *m
		// A consumer may append to what it owns.
		mm.Headers = append(mm.Headers, Header{Name: "X-Added", Value: "z"})
		msgs = append(msgs, &mm)
	}}
	p := NewRequestParser(opts)
	b := []byte(stream.String())
	for _, seg := range segments(b, 97) { // heads split across Feeds too
		p.Feed(seg, t0)
	}
	p.Close(t0)
	p.ResetRequest(opts)
	p.Feed(b, t0) // whole heads, after Reset
	p.Close(t0)
	if len(msgs) != 120 {
		t.Fatalf("%d messages, want 120", len(msgs))
	}
	for i, m := range msgs {
		w := want[i%60]
		if len(m.Headers) < 3 {
			t.Fatalf("message %d: %d headers", i, len(m.Headers))
		}
		got := fmt.Sprintf("%s %s %s %s", m.Method, m.Target, m.Headers[0].Value, m.Headers[1].Value)
		if got != w {
			t.Errorf("message %d: %q, want %q", i, got, w)
		}
		if last := m.Headers[len(m.Headers)-1]; last.Name != "X-Added" {
			t.Errorf("message %d: last header %+v, want the consumer's", i, last)
		}
	}
}

// TestTrailerChunks: trailers come from the chunks too and stay intact.
func TestTrailerChunks(t *testing.T) {
	var stream strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&stream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: t%d\r\n\r\n", i)
	}
	var c collector
	p := NewResponseParser(c.opts(Options{}))
	p.Feed([]byte(stream.String()), t0)
	p.Close(t0)
	if len(c.msgs) != 40 {
		t.Fatalf("%d messages, want 40", len(c.msgs))
	}
	for i, m := range c.msgs {
		if len(m.Trailers) != 1 || m.Trailers[0].Value != fmt.Sprintf("t%d", i) || m.Headers[0].Value != "chunked" {
			t.Errorf("message %d: headers %+v trailers %+v", i, m.Headers, m.Trailers)
		}
	}
}

// TestSharedArena: a request and a response parser sharing an Arena, fed
// in turn, hand out heads that stay as parsed.
func TestSharedArena(t *testing.T) {
	var arena Arena
	var reqs, resps collector
	rq := NewRequestParser(reqs.opts(Options{Arena: &arena}))
	rs := NewResponseParser(resps.opts(Options{Arena: &arena}))
	for i := 0; i < 200; i++ {
		rq.Feed([]byte(fmt.Sprintf("GET /r/%d HTTP/1.1\r\nHost: h%d\r\n\r\n", i, i)), t0)
		rs.Feed([]byte(fmt.Sprintf("HTTP/1.1 200 OK%d\r\nX-N: %d\r\nContent-Length: 0\r\n\r\n", i, i)), t0)
	}
	if len(reqs.msgs) != 200 || len(resps.msgs) != 200 {
		t.Fatalf("%d requests, %d responses, want 200 each", len(reqs.msgs), len(resps.msgs))
	}
	for i := range reqs.msgs {
		q, r := reqs.msgs[i], resps.msgs[i]
		if q.Target != fmt.Sprintf("/r/%d", i) || q.Headers[0].Value != fmt.Sprintf("h%d", i) {
			t.Errorf("request %d: %s %+v", i, q.Target, q.Headers)
		}
		if r.Reason != fmt.Sprintf("OK%d", i) || r.Headers[0].Value != fmt.Sprint(i) || len(r.Headers) != 2 {
			t.Errorf("response %d: %s %+v", i, r.Reason, r.Headers)
		}
	}
}
