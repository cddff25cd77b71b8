package reassembly

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/shadowtap/shadowtap/capture"
)

// segment builds a decoded TCP segment from client i to a server, carrying
// payload.
func segment(t testing.TB, i int, ts time.Time, payload []byte) *capture.Decoded {
	t.Helper()
	tcp := &layers.TCP{SrcPort: layers.TCPPort(1024 + i%60000), DstPort: 80, Seq: 1000, ACK: true, PSH: true, Window: 512, DataOffset: 5}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	d := &capture.Decoded{Timestamp: ts, Length: 40 + len(payload)}
	d.Key.Proto = capture.ProtoTCP
	d.Key.Src[10], d.Key.Src[11] = 0xff, 0xff
	d.Key.Dst[10], d.Key.Dst[11] = 0xff, 0xff
	binary.BigEndian.PutUint32(d.Key.Src[12:], 0x0a000000+uint32(i/60000))
	binary.BigEndian.PutUint32(d.Key.Dst[12:], 0xc0000201)
	d.Key.SrcPort, d.Key.DstPort = uint16(1024+i%60000), 80
	if err := d.TCP.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	d.Payload = d.TCP.Payload
	return d
}

// TestConnectionBound floods the assembler with connections that each send
// half a request and never finish: the live connections stay within the
// bound, the evictions are counted and the half requests still come out.
func TestConnectionBound(t *testing.T) {
	const flows, bound = 20000, 1000
	o := Options{MaxConnections: bound}.withDefaults()
	var txs int
	sh := newTestShard(&o, func(*Transaction) { txs++ })
	peak := 0
	for i := 0; i < flows; i++ {
		ts := time.Unix(1700000000, 0).Add(time.Duration(i) * 50 * time.Microsecond)
		sh.assemble(segment(t, i, ts, []byte("GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTT")))
		peak = max(peak, sh.live)
	}
	sh.finish()
	if peak > bound+bound/8+1 {
		t.Errorf("peak live connections %d, bound %d", peak, bound)
	}
	if sh.stats.EvictedFlows == 0 {
		t.Error("no eviction counted")
	}
	if txs != flows {
		t.Errorf("%d transactions, want one per flow (%d)", txs, flows)
	}
}

// TestBufferedPagesBound sends out-of-order data that never becomes
// contiguous: the assembler pushes it on with gaps instead of buffering.
func TestBufferedPagesBound(t *testing.T) {
	o := Options{MaxBufferedPagesPerConn: 8}.withDefaults()
	sh := newTestShard(&o, func(*Transaction) {})
	base := time.Unix(1700000000, 0)
	sh.assemble(segment(t, 1, base, []byte("GET /x HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n")))
	for k := 0; k < 200; k++ {
		d := segment(t, 1, base.Add(time.Duration(k)*time.Microsecond), make([]byte, 1400))
		d.TCP.Seq = 1000 + 100000 + uint32(k)*3000 // holes between every segment
		sh.assemble(d)
	}
	if sh.stats.Gaps == 0 {
		t.Error("no gap: out-of-order data was buffered without bound")
	}
	if sh.stats.BufferLimitGaps == 0 || sh.stats.BufferLimitGaps > sh.stats.Gaps {
		t.Errorf("%d buffer-limit gaps of %d gaps", sh.stats.BufferLimitGaps, sh.stats.Gaps)
	}
	if sh.queued > o.MaxBufferedPagesPerConn+1 {
		t.Errorf("%d pages estimated queued, bound %d", sh.queued, o.MaxBufferedPagesPerConn)
	}
	sh.finish()
}
