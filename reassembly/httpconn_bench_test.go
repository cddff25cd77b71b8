package reassembly

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/internal/mallocs"
	"github.com/shadowtap/shadowtap/reassembly/content"
)

// shortConnResp is a JSON response with Content-Length (identity) or, with
// gz, gzip-encoded.
func shortConnResp(gz bool) string {
	body := []byte(steadyBody)
	ce := ""
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(body)
		w.Close()
		body, ce = b.Bytes(), "Content-Encoding: gzip\r\n"
	}
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%s", ce, len(body), body)
}

// benchShortConns runs one op = one connection seen from its first bytes
// carrying one exchange, through the HTTP layer of a shard (httpConn, the
// parsers, the body sample): what each connection costs besides its
// Transaction. read says whether the sink reads the response body.
func benchShortConns(b *testing.B, gz, read bool) {
	req, resp := []byte(steadyReq), []byte(shortConnResp(gz))
	var stats Stats
	var got int
	e := env{http: Options{}.withDefaults().HTTP, stats: &stats}
	e.http.Decoders = new(content.Pool)
	e.sink = func(t *Transaction) {
		got++
		if read && len(t.RespBodySample()) != len(steadyBody) {
			b.Fatalf("response body %d bytes, want %d", len(t.RespBodySample()), len(steadyBody))
		}
	}
	a0 := netip.MustParseAddrPort("10.0.0.1:40000")
	a1 := netip.MustParseAddrPort("10.0.0.2:8080")
	ts := time.Unix(1700000000, 0)
	var c httpConn
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.init(&e, a0, a1)
		c.fresh = [2]bool{true, true}
		c.data(0, req, ts)
		c.data(1, resp[:len(resp)/2], ts)
		c.data(1, resp[len(resp)/2:], ts)
		c.close(ts)
	}
	b.StopTimer()
	if got != b.N {
		b.Fatalf("%d transactions, want %d", got, b.N)
	}
}

func BenchmarkShortConns(b *testing.B)           { benchShortConns(b, false, true) }
func BenchmarkShortConnsGzip(b *testing.B)       { benchShortConns(b, true, true) }
func BenchmarkShortConnsGzipNoRead(b *testing.B) { benchShortConns(b, true, false) }

// TestShortConnAllocs pins the allocations of a short connection through
// the HTTP layer (one exchange, then close): the two the Transaction owns
// (itself and the body sample; the heads' strings and header slices are
// carved from the parsers' chunks, a fraction of an allocation each); the
// parsers, their buffers and the pending queue come from the env's free
// lists, and the connection is its parsers' Handler (no callbacks). A gzip body never read
// costs its encoded input's buffer (taken from the Pool, which never gets
// it back) and its Encoded instead of the decoded sample, and no decoding.
func TestShortConnAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts vary under the race detector")
	}
	for _, tc := range []struct {
		name   string
		gz     bool
		budget float64
	}{
		{"identity", false, 2.2},
		{"gzip not read", true, 3.2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, resp := []byte(steadyReq), []byte(shortConnResp(tc.gz))
			var stats Stats
			n := 0
			e := env{http: Options{}.withDefaults().HTTP, stats: &stats, sink: func(*Transaction) { n++ }}
			e.http.Decoders = new(content.Pool)
			a0 := netip.MustParseAddrPort("10.0.0.1:40000")
			a1 := netip.MustParseAddrPort("10.0.0.2:8080")
			ts := time.Unix(1700000000, 0)
			var c httpConn
			allocs := mallocs.PerRun(200, func() {
				c.init(&e, a0, a1)
				c.fresh = [2]bool{true, true}
				c.data(0, req, ts)
				c.data(1, resp, ts)
				c.close(ts)
			})
			if n != 1+3*200 {
				t.Fatalf("%d transactions, want %d (mallocsPerRun: 1 + 3×200 runs)", n, 1+3*200)
			}
			t.Logf("%.2f allocations per connection", allocs)
			if allocs > tc.budget+0.05 {
				t.Errorf("%.2f allocations per connection, want at most %.2f", allocs, tc.budget)
			}
		})
	}
}
