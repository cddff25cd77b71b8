package reassembly

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/shadowtap/shadowtap/capture"
)

// seg describes one TCP segment of a test connection between
// 10.1.0.1:40000 (the side that opens it in these tests) and 10.1.0.2:8080.
type seg struct {
	fromB    bool   // sent by 10.1.0.2:8080
	seq, ack uint32 // raw numbers
	flags    string // any of "S", "F", "R"; ACK is always set except on a bare SYN
	data     string
	ms       int    // capture time offset
	cport    uint16 // the client's port when not 40000
}

func decodedSeg(t testing.TB, s seg) *capture.Decoded {
	t.Helper()
	cport := layers.TCPPort(40000)
	if s.cport != 0 {
		cport = layers.TCPPort(s.cport)
	}
	tcp := &layers.TCP{SrcPort: cport, DstPort: 8080, Seq: s.seq, Ack: s.ack, ACK: true, Window: 512, DataOffset: 5}
	if s.fromB {
		tcp.SrcPort, tcp.DstPort = 8080, cport
	}
	tcp.SYN = strings.Contains(s.flags, "S")
	tcp.FIN = strings.Contains(s.flags, "F")
	tcp.RST = strings.Contains(s.flags, "R")
	if tcp.SYN && !s.fromB {
		tcp.ACK = false
	}
	tcp.PSH = s.data != ""
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, tcp, gopacket.Payload(s.data)); err != nil {
		t.Fatal(err)
	}
	d := &capture.Decoded{Timestamp: time.Unix(1700000000, 0).Add(time.Duration(s.ms) * time.Millisecond), Length: 54 + len(s.data)}
	d.Key.Proto = capture.ProtoTCP
	a, b := [4]byte{10, 1, 0, 1}, [4]byte{10, 1, 0, 2}
	if s.fromB {
		a, b = b, a
	}
	d.Key.Src[10], d.Key.Src[11], d.Key.Dst[10], d.Key.Dst[11] = 0xff, 0xff, 0xff, 0xff
	copy(d.Key.Src[12:], a[:])
	copy(d.Key.Dst[12:], b[:])
	d.Key.SrcPort, d.Key.DstPort = uint16(tcp.SrcPort), uint16(tcp.DstPort)
	if err := d.TCP.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	d.Payload = d.TCP.Payload
	return d
}

const (
	req1  = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"                  // 28 bytes
	req2  = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"                  // 28 bytes
	resp1 = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"   // 43 bytes
	resp2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n" // 45 bytes
)

// TestTCPPath drives the shard with hand-built segments: the TCP cases
// (reordering, retransmission, no handshake, one side, loss) and the roles.
func TestTCPPath(t *testing.T) {
	// A: client seq from 100, server seq from 500.
	hs := []seg{{seq: 99, flags: "S"}, {fromB: true, seq: 499, ack: 100, flags: "S"}, {seq: 100, ack: 500}}
	tests := []struct {
		name string
		segs []seg
		want []string // "client METHOD target status [flags]"
		// gaps is the number of holes the stats must show.
		gaps uint64
	}{
		{"clean keep-alive", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: req1, ms: 1},
			seg{fromB: true, seq: 500, ack: 128, data: resp1, ms: 2},
			seg{seq: 128, ack: 543, data: req2, ms: 3},
			seg{fromB: true, seq: 543, ack: 156, data: resp2, ms: 4},
			seg{seq: 156, ack: 588, flags: "F", ms: 5},
			seg{fromB: true, seq: 588, ack: 157, flags: "F", ms: 6},
		), []string{"10.1.0.1:40000 GET /a 200", "10.1.0.1:40000 GET /b 404"}, 0},
		{"reordered and retransmitted segments", append(hs[:3:3],
			seg{seq: 110, ack: 500, data: req1[10:], ms: 1}, // second half first
			seg{seq: 100, ack: 500, data: req1[:10], ms: 2},
			seg{seq: 100, ack: 500, data: req1[:10], ms: 3}, // retransmission
			seg{fromB: true, seq: 520, ack: 128, data: resp1[20:], ms: 4},
			seg{fromB: true, seq: 500, ack: 128, data: resp1[:20], ms: 5},
			seg{fromB: true, seq: 500, ack: 128, data: resp1, ms: 6}, // overlapping retransmission
		), []string{"10.1.0.1:40000 GET /a 200"}, 0},
		{"no handshake, server seen first: roles by content", []seg{
			{fromB: true, seq: 9000, ack: 7000, data: "y\r\n\r\n", ms: 0}, // tail of an unseen response
			{seq: 7000, ack: 9005, data: req1, ms: 1},
			{fromB: true, seq: 9005, ack: 7028, data: resp1, ms: 2},
		}, []string{"10.1.0.1:40000 GET /a 200"}, 0},
		{"server port lower but client is 8080", []seg{
			{fromB: true, seq: 1, ack: 1, data: req1, ms: 0},
			{seq: 1, ack: 29, data: resp1, ms: 1},
		}, []string{"10.1.0.2:8080 GET /a 200"}, 0},
		{"one-sided: requests only", []seg{
			{seq: 1, ack: 1, data: req1, ms: 0},
			{seq: 29, ack: 1, data: req2, ms: 1},
		}, []string{"10.1.0.1:40000 GET /a 0 noresp", "10.1.0.1:40000 GET /b 0 noresp"}, 0},
		{"one-sided: responses only", []seg{
			{fromB: true, seq: 1, ack: 1, data: resp1, ms: 0},
			{fromB: true, seq: 44, ack: 1, data: resp2, ms: 1},
		}, []string{"10.1.0.1:40000   200 noreq", "10.1.0.1:40000   404 noreq"}, 0},
		{"loss in a body of known length", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: req1, ms: 1},
			seg{fromB: true, seq: 500, ack: 128, data: resp1[:40], ms: 2},
			seg{fromB: true, seq: 541, ack: 128, data: resp1[41:], ms: 3}, // one byte lost
			seg{seq: 128, ack: 543, data: req2, ms: 4},                    // ACK proves the loss
			seg{fromB: true, seq: 543, ack: 156, data: resp2, ms: 5},
		), []string{"10.1.0.1:40000 GET /a 200 respgap", "10.1.0.1:40000 GET /b 404"}, 1},
		{"a whole response lost: later pairs keep their order", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: req1, ms: 1},
			seg{fromB: true, seq: 500, ack: 128, data: resp1[:30], ms: 2}, // lost
			seg{fromB: true, seq: 530, ack: 128, data: resp1[30:], ms: 3},
			seg{seq: 128, ack: 543, data: req2, ms: 4},
			seg{fromB: true, seq: 543, ack: 156, data: resp2, ms: 5},
		)[:7:7], nil, 0}, // filled in below
		{"TLS on port 8080 is skipped", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", ms: 1},
			seg{fromB: true, seq: 500, ack: 111, data: "\x16\x03\x03\x00\x5d\x02\x00\x00", ms: 2},
			seg{seq: 111, ack: 508, data: "GET /not-parsed HTTP/1.1\r\n\r\n", ms: 3},
		), nil, 0},
	}
	// The whole-response-lost case: the first segment of resp1 never
	// reaches the capture.
	lost := tests[7]
	lost.segs = append(hs[:3:3],
		seg{seq: 100, ack: 500, data: req1, ms: 1},
		seg{fromB: true, seq: 530, ack: 128, data: resp1[30:], ms: 3},
		seg{seq: 128, ack: 543, data: req2, ms: 4},
		seg{fromB: true, seq: 543, ack: 156, data: resp2, ms: 5},
	)
	lost.want = []string{"10.1.0.1:40000 GET /a 0 noresp respgap", "10.1.0.1:40000 GET /b 404"}
	lost.gaps = 1
	tests[7] = lost

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{}.withDefaults()
			var got []string
			sh := newTestShard(&o, func(tx *Transaction) {
				r := fmt.Sprintf("%v %s %s %d", tx.Client, tx.Method, tx.Target, tx.Status)
				for _, f := range []struct {
					f    Flags
					name string
				}{{FlagNoRequest, "noreq"}, {FlagNoResponse, "noresp"}, {FlagRespGap, "respgap"}} {
					if tx.Flags&f.f != 0 {
						r += " " + f.name
					}
				}
				got = append(got, r)
			})
			for _, s := range tt.segs {
				sh.assemble(decodedSeg(t, s))
			}
			sh.finish()
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if sh.stats.Gaps != tt.gaps {
				t.Errorf("gaps %d, want %d", sh.stats.Gaps, tt.gaps)
			}
			if sh.live != 0 {
				t.Errorf("%d connections left open", sh.live)
			}
		})
	}
}

// TestExpiryFollowsCaptureTime: an idle connection is closed by the capture
// clock (its pending request comes out without response while the capture
// goes on), not by wall time and not only at the end.
func TestExpiryFollowsCaptureTime(t *testing.T) {
	o := Options{FlowTimeout: 10 * time.Second}.withDefaults()
	var got []*Transaction
	sh := newTestShard(&o, func(tx *Transaction) { got = append(got, tx) })
	sh.assemble(decodedSeg(t, seg{seq: 1, ack: 1, data: req1}))
	// Another connection keeps the capture clock going.
	for i := 1; i <= 30; i++ {
		sh.assemble(segment(t, i, time.Unix(1700000000, 0).Add(time.Duration(i)*time.Second), nil))
		if i < 10 && len(got) != 0 {
			t.Fatalf("closed after %ds of capture time, timeout 10s", i)
		}
	}
	if len(got) != 1 || got[0].Flags&FlagNoResponse == 0 {
		t.Fatalf("after 30s of capture time: %d transactions, want the expired request", len(got))
	}
	sh.finish()
}

// TestNonHTTPSkipped: after a connection is judged not HTTP, its later
// segments are refused by Accept and never buffered.
func TestNonHTTPSkipped(t *testing.T) {
	o := Options{}.withDefaults()
	sh := newTestShard(&o, func(*Transaction) { t.Error("transaction from TLS bytes") })
	// Seen from the handshake: judged on the first bytes. (A connection
	// picked up mid-stream is scanned for a start line up to probeLimit.)
	sh.assemble(decodedSeg(t, seg{seq: 0, flags: "S"}))
	sh.assemble(decodedSeg(t, seg{fromB: true, seq: 0, ack: 1, flags: "S"}))
	sh.assemble(decodedSeg(t, seg{seq: 1, ack: 1, data: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"}))
	sh.assemble(decodedSeg(t, seg{fromB: true, seq: 1, ack: 12, data: "\x16\x03\x03\x00\x5d\x02\x00\x00"}))
	if sh.stats.NonHTTPFlows != 1 {
		t.Fatalf("NonHTTPFlows %d, want 1", sh.stats.NonHTTPFlows)
	}
	skipped := sh.stats.SkippedBytes
	for i := 0; i < 100; i++ { // out of order: would be buffered if accepted
		sh.assemble(decodedSeg(t, seg{seq: uint32(100000 + 2000*i), ack: 9, data: strings.Repeat("x", 1400), ms: i}))
	}
	var used int
	if _, err := fmt.Sscanf(sh.asm.Dump(), "pageCache: used: %d:", &used); err != nil {
		t.Fatalf("reading the page count: %v", err)
	}
	if used != 0 {
		t.Errorf("%d pages buffered for a skipped connection", used)
	}
	if sh.stats.SkippedBytes != skipped {
		t.Errorf("skipped bytes grew from %d to %d: refused segments reached the connection", skipped, sh.stats.SkippedBytes)
	}
	sh.finish()
}

// TestAckProvesLoss: when the peer acknowledges bytes the capture never
// had, the data queued behind the hole is pushed on at once, not after
// GapTimeout of capture time.
func TestAckProvesLoss(t *testing.T) {
	for _, ack := range []bool{true, false} {
		o := Options{GapTimeout: time.Hour}.withDefaults()
		var got []string
		sh := newTestShard(&o, func(tx *Transaction) { got = append(got, fmt.Sprintf("%s %d", tx.Target, tx.Status)) })
		segs := []seg{
			{seq: 99, flags: "S"}, {fromB: true, seq: 499, ack: 100, flags: "S"}, {seq: 100, ack: 500},
			{seq: 100, ack: 500, data: req1, ms: 1},
			{fromB: true, seq: 500, ack: 128, data: resp1[:40], ms: 2},
			{fromB: true, seq: 541, ack: 128, data: resp1[41:], ms: 3}, // one byte lost
			{seq: 128, ack: 540, ms: 4},                                // the client's ACK stops at the hole
		}
		if ack {
			segs[len(segs)-1].ack = 543 // ... or covers it: the byte reached the client
		}
		for _, s := range segs {
			sh.assemble(decodedSeg(t, s))
		}
		if want := ack; (len(got) == 1) != want {
			t.Errorf("ack beyond the hole %v: %d transactions before the end, want %v", ack, len(got), want)
		}
		sh.finish()
		if len(got) != 1 || got[0] != "/a 200" {
			t.Errorf("ack beyond the hole %v: got %q", ack, got)
		}
	}
}
