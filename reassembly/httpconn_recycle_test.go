package reassembly

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

// recycleConns is a mix of connections seen from their first bytes, each
// as (client bytes, server bytes) written in pieces: keep-alive exchanges
// with identity, chunked and gzip bodies, a connection closed mid-body, a
// request without response, an upgrade, garbage, a head cut by the close.
func recycleConns() [][2][]string {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	body := func(i int) string {
		return fmt.Sprintf(`{"id":%d,"name":"user %d","tags":["%s"]}`, i, i, strings.Repeat("x", i%50))
	}
	req := func(i int) string {
		return fmt.Sprintf("GET /api/users/%d HTTP/1.1\r\nHost: api.example.com\r\nX-Req: %d\r\n\r\n", i, i)
	}
	var conns [][2][]string
	for i := 0; i < 40; i++ {
		b := body(i)
		var c, s []string
		switch i % 8 {
		case 0:
			c = []string{req(i), req(i + 1)}
			s = []string{fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(b), b),
				fmt.Sprintf("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nX-Trailer: %d\r\n\r\n", len(b), b, i)}
		case 1:
			g := gz(b)
			c = []string{req(i)}
			s = []string{fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(g)), g[:len(g)/2], g[len(g)/2:]}
		case 2: // closed mid-body
			c = []string{req(i)}
			s = []string{fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", 10*len(b), b)}
		case 3: // no response
			c = []string{fmt.Sprintf("POST /api/users HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s", len(b), b)}
		case 4: // upgrade
			c = []string{"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", "\x81\x05hello"}
			s = []string{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "\x81\x02hi"}
		case 5: // head cut by the close
			c = []string{req(i)}
			s = []string{"HTTP/1.1 200 OK\r\nContent-Type: text/pl"}
		case 6: // not HTTP
			c = []string{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}
			s = []string{"\x16\x03\x03\x00\x5a\x02"}
		case 7: // a long head (larger than the kept buffers), gzip chunked
			g := gz(strings.Repeat(b, 20))
			c = []string{fmt.Sprintf("GET /big/%d HTTP/1.1\r\nHost: a\r\nCookie: %s\r\n\r\n", i, strings.Repeat("c", 6000))}
			s = []string{fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(g), g)}
		}
		conns = append(conns, [2][]string{c, s})
	}
	return conns
}

// snapshot copies a transaction deeply, decoding its bodies first.
func snapshot(t *Transaction) Transaction {
	t.ReqBodySample()
	t.RespBodySample()
	c := *t
	c.ReqHeaders = append([]Header(nil), t.ReqHeaders...)
	c.RespHeaders = append([]Header(nil), t.RespHeaders...)
	c.ReqBody = bytes.Clone(t.ReqBody)
	c.RespBody = bytes.Clone(t.RespBody)
	for i := range c.ReqHeaders {
		c.ReqHeaders[i].Name = strings.Clone(c.ReqHeaders[i].Name)
		c.ReqHeaders[i].Value = strings.Clone(c.ReqHeaders[i].Value)
	}
	for i := range c.RespHeaders {
		c.RespHeaders[i].Name = strings.Clone(c.RespHeaders[i].Name)
		c.RespHeaders[i].Value = strings.Clone(c.RespHeaders[i].Value)
	}
	return c
}

// runConns runs conns through one env (shared) or a fresh env each (not
// shared) and returns the transactions handed on.
func runConns(conns [][2][]string, shared bool, read bool) (txs []*Transaction, snaps []Transaction) {
	var stats Stats
	var e *env
	newEnv := func() *env {
		x := &env{http: Options{}.withDefaults().HTTP, stats: &stats}
		x.http.Decoders = new(content.Pool)
		x.sink = func(t *Transaction) {
			txs = append(txs, t)
			if read {
				snaps = append(snaps, snapshot(t))
			}
		}
		return x
	}
	ts := time.Unix(1700000000, 0)
	for i, cs := range conns {
		if e == nil || !shared {
			e = newEnv()
		}
		ts = playConn(e, i, cs, ts)
	}
	return txs, snaps
}

// TestRecycledParsers: connections on one env reuse the parsers and
// queues of closed ones; every transaction is what a fresh env per
// connection hands on, and stays so after later connections ran (nothing
// recycled is reachable from a Transaction handed on).
func TestRecycledParsers(t *testing.T) {
	conns := recycleConns()
	want, _ := runConns(conns, false, false)
	got, snaps := runConns(conns, true, true)
	if len(got) != len(want) || len(got) < 40 {
		t.Fatalf("%d transactions, %d with fresh parsers", len(got), len(want))
	}
	for i := range got {
		g, w := snapshot(got[i]), snapshot(want[i])
		if !reflect.DeepEqual(g, w) {
			t.Errorf("transaction %d with recycled parsers:\n%+v\nwith fresh ones:\n%+v", i, g, w)
		}
		if !reflect.DeepEqual(g, snaps[i]) {
			t.Errorf("transaction %d changed after it was handed on:\n%+v\nwhen handed on:\n%+v", i, g, snaps[i])
		}
	}
}

// TestLazyBodiesConcurrent: transactions are read on another goroutine
// (as the engine does) while the shard goes on with recycled parsers and
// the shared decompressor pool; their bodies decode there to what the
// shard handed on. Run with -race.
func TestLazyBodiesConcurrent(t *testing.T) {
	conns := recycleConns()
	_, want := runConns(conns, false, true)
	ch := make(chan *Transaction, 4)
	done := make(chan []Transaction)
	go func() {
		var got []Transaction
		for tx := range ch {
			got = append(got, snapshot(tx))
		}
		done <- got
	}()
	var stats Stats
	e := &env{http: Options{}.withDefaults().HTTP, stats: &stats, sink: func(tx *Transaction) { ch <- tx }}
	e.http.Decoders = new(content.Pool)
	ts := time.Unix(1700000000, 0)
	for round := 0; round < 3; round++ {
		for i, cs := range conns {
			ts = playConn(e, i, cs, ts)
		}
	}
	close(ch)
	got := <-done
	if len(got) != 3*len(want) {
		t.Fatalf("%d transactions, want %d", len(got), 3*len(want))
	}
	for i := range got {
		w := want[i%len(want)]
		g := got[i]
		g.RequestTime, g.ResponseTime, g.EndTime, g.Client = w.RequestTime, w.ResponseTime, w.EndTime, w.Client
		if !reflect.DeepEqual(g, w) {
			t.Errorf("transaction %d read on another goroutine:\n%+v\nwant\n%+v", i, g, w)
		}
	}
	if stats.DeferredBodies == 0 {
		t.Errorf("no body deferred")
	}
}

// TestLazyBodyFlags: an encoded body is decoded only when read, and the
// flags about it are set then: a corrupt gzip body has FlagDecodeError, a
// large one FlagRespTruncated. A body never read is never decoded; an
// encoded image gets no sample.
func TestLazyBodyFlags(t *testing.T) {
	var big bytes.Buffer
	w := gzip.NewWriter(&big)
	w.Write(bytes.Repeat([]byte(`{"k":"v"},`), 20000))
	w.Close()
	resp := func(ctype, body string) string {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s", ctype, len(body), body)
	}
	conns := [][2][]string{
		{{"GET /a HTTP/1.1\r\nHost: a\r\n\r\n"}, {resp("application/json", "not gzip at all, really not")}},
		{{"GET /b HTTP/1.1\r\nHost: a\r\n\r\n"}, {resp("application/json", big.String())}},
		{{"GET /c HTTP/1.1\r\nHost: a\r\n\r\n"}, {resp("image/png", big.String())}},
	}
	txs, _ := runConns(conns, true, false)
	if len(txs) != 3 {
		t.Fatalf("%d transactions", len(txs))
	}
	for _, tx := range txs[:2] {
		if tx.RespBody != nil || tx.Flags != 0 || !tx.HasBodies() {
			t.Errorf("%s: decoded before it was read: %d bytes, flags %b, has bodies %v", tx.Target, len(tx.RespBody), tx.Flags, tx.HasBodies())
		}
	}
	if b := txs[0].RespBodySample(); b != nil || txs[0].Flags != FlagDecodeError {
		t.Errorf("corrupt gzip: sample %q, flags %b", b, txs[0].Flags)
	}
	if b := txs[1].RespBodySample(); len(b) != 64<<10 || txs[1].Flags != FlagRespTruncated {
		t.Errorf("large gzip: %d bytes, flags %b", len(b), txs[1].Flags)
	}
	if b := txs[2].RespBodySample(); b != nil || txs[2].HasBodies() || txs[2].Flags != 0 {
		t.Errorf("gzip image: sample of %d bytes, flags %b", len(b), txs[2].Flags)
	}
	txs[1].DropBodies()
	if txs[1].HasBodies() || txs[1].RespBodySample() != nil {
		t.Errorf("bodies left after DropBodies")
	}
}

// playConn runs connection i (client port 40000+i) from its first byte:
// cs[0] the client's writes, cs[1] the server's, interleaved, one
// millisecond apart from ts; it returns the time of the close.
func playConn(e *env, i int, cs [2][]string, ts time.Time) time.Time {
	var c httpConn
	c.init(e, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(40000+i)), netip.MustParseAddrPort("10.0.0.2:80"))
	c.fresh = [2]bool{true, true}
	for j := 0; j < max(len(cs[0]), len(cs[1])); j++ {
		for d := 0; d < 2; d++ {
			if j < len(cs[d]) {
				ts = ts.Add(time.Millisecond)
				c.data(d, []byte(cs[d][j]), ts)
			}
		}
	}
	c.close(ts)
	return ts
}
