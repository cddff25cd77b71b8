package reassembly

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Bytes frames n REST exchanges and one gRPC call as the two ordered byte
// streams the eBPF sensor hands over (TLS plaintext or a plain socket), one
// write per element.
func h2Bytes(t testing.TB, n int) (writes [][2][]byte) {
	var buf [2]bytes.Buffer
	var hb [2]bytes.Buffer
	fr := [2]*http2.Framer{http2.NewFramer(&buf[0], nil), http2.NewFramer(&buf[1], nil)}
	enc := [2]*hpack.Encoder{hpack.NewEncoder(&hb[0]), hpack.NewEncoder(&hb[1])}
	block := func(d int, kv ...string) []byte {
		hb[d].Reset()
		for i := 0; i+1 < len(kv); i += 2 {
			enc[d].WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return bytes.Clone(hb[d].Bytes())
	}
	flush := func() {
		writes = append(writes, [2][]byte{bytes.Clone(buf[0].Bytes()), bytes.Clone(buf[1].Bytes())})
		buf[0].Reset()
		buf[1].Reset()
	}
	buf[0].WriteString(http2.ClientPreface)
	fr[0].WriteSettings()
	fr[1].WriteSettings()
	fr[1].WriteSettingsAck()
	flush()
	body := jsonBody(40)
	for i := 0; i < n; i++ {
		id := uint32(2*i + 1)
		fr[0].WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true,
			BlockFragment: block(0, ":method", "GET", ":scheme", "https", ":authority", "api.example.com", ":path", fmt.Sprintf("/v1/customers/%d", 1000+i%50),
				"authorization", "Bearer abc", "user-agent", "bench/1")})
		fr[1].WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
			BlockFragment: block(1, ":status", "200", "content-type", "application/json", "x-trace", fmt.Sprintf("t%d", i))})
		fr[1].WriteData(id, true, body)
		flush()
	}
	id := uint32(2*n + 1)
	fr[0].WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
		BlockFragment: block(0, ":method", "POST", ":scheme", "https", ":authority", "api.example.com", ":path", "/pkg.Svc/Stream", "content-type", "application/grpc")})
	fr[0].WriteData(id, true, append(grpcFrame([]byte("a")), grpcFrame([]byte("bb"))...))
	fr[1].WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, BlockFragment: block(1, ":status", "200", "content-type", "application/grpc")})
	fr[1].WriteData(id, false, grpcFrame([]byte("ccc")))
	fr[1].WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, EndStream: true, BlockFragment: block(1, "grpc-status", "0")})
	flush()
	return writes
}

// TestStreamConnH2 runs HTTP/2 through the eBPF sensor's entry: ordered
// byte streams with known roles, then the same with a hole in the server's
// stream.
func TestStreamConnH2(t *testing.T) {
	writes := h2Bytes(t, 20)
	run := func(lose int) ([]*Transaction, Stats) {
		var txs []*Transaction
		s := NewStreamConn(cli, srv, Options{}, func(tx *Transaction) { txs = append(txs, tx) })
		ts := time.Unix(1700000000, 0)
		for i, w := range writes {
			ts = ts.Add(time.Millisecond)
			s.Client(w[0], ts)
			if i == lose {
				s.Gap(false, len(w[1]), ts)
				continue
			}
			s.Server(w[1], ts)
		}
		s.Close(ts)
		return txs, s.Stats()
	}
	txs, st := run(-1)
	if len(txs) != 21 || st.HTTP2Flows != 1 {
		t.Fatalf("%d transactions, stats %+v", len(txs), st)
	}
	for i, tx := range txs[:20] {
		if tx.Protocol != ProtoH2 || tx.Method != "GET" || tx.Target != fmt.Sprintf("/v1/customers/%d", 1000+i%50) || tx.Status != 200 ||
			tx.Host != "api.example.com" || tx.ReqHeader("authorization") != "Bearer abc" || tx.Flags != 0 || tx.Client != cli || len(tx.RespBody) == 0 {
			t.Errorf("tx %d: %+v", i, tx)
		}
	}
	if g := txs[20]; g.Protocol != ProtoGRPC || g.GRPC == nil || g.GRPC.Status != 0 || g.GRPC.ReqMessages != 2 || g.GRPC.RespMessages != 1 {
		t.Errorf("grpc: %+v %+v", g, g.GRPC)
	}
	// The server's 6th write is lost: its response is missing, the
	// server's HPACK state is unknown, no value shown is wrong, and the
	// responses after it still pair.
	txs, _ = run(6)
	if len(txs) != 21 {
		t.Fatalf("with a hole: %d transactions", len(txs))
	}
	// The stream that lost its response ends with the connection.
	slices.SortFunc(txs, func(a, b *Transaction) int { return int(a.StreamID) - int(b.StreamID) })
	for i, tx := range txs[:20] {
		if tx.Method != "GET" || tx.Target != fmt.Sprintf("/v1/customers/%d", 1000+i%50) {
			t.Errorf("tx %d: request %s %s", i, tx.Method, tx.Target)
		}
		if ct := tx.RespHeader("content-type"); ct != "" && ct != "application/json" {
			t.Errorf("tx %d: content-type %q", i, ct)
		}
		if tr := tx.RespHeader("x-trace"); tr != "" && tr != fmt.Sprintf("t%d", i) {
			t.Errorf("tx %d: x-trace %q", i, tr)
		}
		switch {
		case i == 5 && (tx.Status != 0 || tx.Flags&FlagNoResponse == 0):
			t.Errorf("tx %d lost its response: status %d flags %b", i, tx.Status, tx.Flags)
		case i != 5 && tx.Status != 200:
			t.Errorf("tx %d: status %d flags %b", i, tx.Status, tx.Flags)
		}
	}
}

// TestStreamConnH2Midstream: a sensor attached to a connection already
// running (no preface) finds HTTP/2 from its frames; what it shows is right.
func TestStreamConnH2Midstream(t *testing.T) {
	writes := h2Bytes(t, 20)
	var txs []*Transaction
	s := NewStreamConn(cli, srv, Options{}, func(tx *Transaction) { txs = append(txs, tx) })
	ts := time.Unix(1700000000, 0)
	for _, w := range writes[8:] {
		s.Client(w[0], ts)
		s.Server(w[1], ts)
	}
	s.Close(ts)
	if st := s.Stats(); st.HTTP2Flows != 1 || len(txs) < 10 {
		t.Fatalf("%d transactions, stats %+v", len(txs), st)
	}
	whole := 0
	for _, tx := range txs {
		i := int(tx.StreamID-1) / 2
		if tx.Protocol == ProtoGRPC {
			continue
		}
		if tx.Method != "" && tx.Method != "GET" || tx.Target != "" && tx.Target != fmt.Sprintf("/v1/customers/%d", 1000+i%50) ||
			tx.Status != 0 && tx.Status != 200 || tx.Host != "" && tx.Host != "api.example.com" {
			t.Errorf("stream %d: %s %s %s %d", tx.StreamID, tx.Method, tx.Host, tx.Target, tx.Status)
		}
		if tr := tx.RespHeader("x-trace"); tr != "" && tr != fmt.Sprintf("t%d", i) {
			t.Errorf("stream %d: x-trace %q", tx.StreamID, tr)
		}
		if a := tx.ReqHeader("authorization"); a != "" && a != "Bearer abc" {
			t.Errorf("stream %d: authorization %q", tx.StreamID, a)
		}
		if tx.Flags&FlagHeadersMissing == 0 && tx.Target != "" {
			whole++
		}
	}
	t.Logf("%d transactions, %d whole", len(txs), whole)
}

// BenchmarkH2 measures the HTTP/2 path through Run on a generated capture
// of 2000 REST exchanges over one h2c connection (plus a gRPC call), with
// allocs/op.
func BenchmarkH2(b *testing.B) {
	path := filepath.Join(b.TempDir(), "h2-bench.pcap")
	var out bytes.Buffer
	pw, _ := synth.NewWriter(&out, synth.WriterOptions{})
	c, err := synth.NewConn(pw, time.Unix(1700000000, 0), synth.ConnOptions{Client: h2Client, Server: h2Server})
	if err != nil {
		b.Fatal(err)
	}
	for _, w := range h2Bytes(b, 2000) {
		c.Send(synth.ClientToServer, w[0])
		c.Advance(time.Millisecond)
		c.Send(synth.ServerToClient, w[1])
		c.Advance(time.Millisecond)
	}
	c.Close(synth.ClientToServer)
	pw.Flush()
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	benchRun(b, path, 1)
}

// TestH2BenchCapture checks the benchmark's input gives what it claims.
func TestH2BenchCapture(t *testing.T) {
	var txs atomic.Int64
	s := NewStreamConn(cli, srv, Options{}, func(tx *Transaction) {
		if tx.Status == 200 {
			txs.Add(1)
		}
	})
	for _, w := range h2Bytes(t, 100) {
		s.Client(w[0], time.Time{})
		s.Server(w[1], time.Time{})
	}
	s.Close(time.Time{})
	if txs.Load() != 101 {
		t.Fatalf("%d transactions", txs.Load())
	}
}

// FuzzStreamConnH2 runs mutated HTTP/2 byte streams, cut at a fuzzed size
// and with a fuzzed hole, through StreamConn: no panic, and the counters
// agree with what reached the sink.
func FuzzStreamConnH2(f *testing.F) {
	// The seeds are checked in under testdata/fuzz/FuzzStreamConnH2
	// (written by TestOwnH2Captures -update-h2 from h2Seeds).
	f.Fuzz(func(t *testing.T, cb, sb []byte, split, gapAt, gapLen uint16) {
		n := 0
		sc := NewStreamConn(cli, srv, Options{}, func(tx *Transaction) {
			n++
			if tx.Protocol != ProtoHTTP1 && tx.StreamID == 0 {
				t.Fatalf("HTTP/2 transaction without a stream id: %+v", tx)
			}
		})
		piece := int(split%512) + 1
		ts := time.Unix(0, 0)
		for off := 0; off < max(len(cb), len(sb)); off += piece {
			if off < len(cb) {
				sc.Client(cb[off:min(off+piece, len(cb))], ts)
			}
			if off < len(sb) {
				if gapLen > 0 && off <= int(gapAt) && int(gapAt) < off+piece {
					sc.Gap(false, int(gapLen), ts)
				}
				sc.Server(sb[off:min(off+piece, len(sb))], ts)
			}
		}
		sc.Close(ts)
		if st := sc.Stats(); st.Transactions != uint64(n) {
			t.Fatalf("stats count %d transactions, %d reached the sink", st.Transactions, n)
		}
	})
}

// h2Seeds are FuzzStreamConnH2's seeds: client bytes, server bytes, piece
// size, gap offset and length.
func h2Seeds(t testing.TB) [][5]any {
	var c, s []byte
	for _, w := range h2Bytes(t, 3) {
		c, s = append(c, w[0]...), append(s, w[1]...)
	}
	return [][5]any{
		{c, s, uint16(0), uint16(0), uint16(0)},
		{c, s, uint16(7), uint16(40), uint16(30)},
		{c[30:], s[20:], uint16(100), uint16(0), uint16(0)},
		{[]byte("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n" + http2.ClientPreface), []byte("HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"), uint16(5), uint16(0), uint16(0)},
	}
}

func writeH2Seeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzStreamConnH2")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, sd := range h2Seeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\nuint16(%d)\nuint16(%d)\nuint16(%d)\n", sd[0], sd[1], sd[2], sd[3], sd[4])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
