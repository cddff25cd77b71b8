package http1

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

// TestReset: a parser reset after a stream left in any state (mid-head,
// mid-body, resynchronising, stopped by an upgrade, closed) parses the
// next stream exactly as a new one does, counters included.
func TestReset(t *testing.T) {
	_, resp := apiStreams(12)
	req, _ := apiStreams(12)
	first := map[string]string{
		"mid-head":   "HTTP/1.1 200 OK\r\nContent-Type: text/pl",
		"mid-body":   "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1000\r\n\r\n" + string(gzipped("partial"))[:10],
		"mid-chunk":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
		"resync":     "garbage garbage garbage HTTP/1.",
		"upgrade":    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi",
		"closed":     "HTTP/1.1 204 No Content\r\n\r\n",
		"req-tunnel": "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\x16\x03\x01",
	}
	pool := new(content.Pool)
	for name, b := range first {
		for _, request := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/request=%v", name, request), func(t *testing.T) {
				stream := resp
				if request {
					stream = req
				}
				var fresh, reused collector
				var p *Parser
				if request {
					p = NewRequestParser(Options{Decoders: pool, OnMessage: func(*Message) {}})
				} else {
					p = NewResponseParser(Options{Decoders: pool, OnMessage: func(*Message) {}})
				}
				p.Feed([]byte(b), t0)
				if name == "closed" {
					p.Close(t0)
				}
				var q *Parser
				if request {
					p.ResetRequest(reused.opts(Options{Decoders: pool}))
					q = NewRequestParser(fresh.opts(Options{Decoders: pool}))
				} else {
					p.ResetResponse(reused.opts(Options{Decoders: pool}))
					q = NewResponseParser(fresh.opts(Options{Decoders: pool}))
				}
				for _, s := range segments(stream, 700) {
					p.Feed(s, t0)
					q.Feed(s, t0)
				}
				p.Close(t0)
				q.Close(t0)
				if len(fresh.msgs) != 12 {
					t.Fatalf("%d messages from a new parser, want 12", len(fresh.msgs))
				}
				if len(reused.msgs) != len(fresh.msgs) {
					t.Fatalf("%d messages after Reset, %d from a new parser", len(reused.msgs), len(fresh.msgs))
				}
				for i := range fresh.msgs {
					if g, w := summary(reused.msgs[i]), summary(fresh.msgs[i]); g != w {
						t.Errorf("message %d after Reset: %s\nfrom a new parser: %s", i, g, w)
					}
				}
				if g, w := p.Stats(), q.Stats(); !reflect.DeepEqual(g, w) {
					t.Errorf("stats after Reset %+v, new parser %+v", g, w)
				}
			})
		}
	}
}
