package reassembly

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/internal/cputime"
	"github.com/shadowtap/shadowtap/internal/mallocs"
)

// steady is in-order HTTP/1.1 keep-alive traffic on conns established
// connections, built once and replayed round after round through one shard
// with advancing sequence numbers and capture times. A round is one
// exchange per connection: the request (one segment), the response head
// and JSON body (two segments), the client's bare ACK.
type steady struct {
	sh    *testShard
	conns int
	pkts  []capture.Decoded // one round: 4 per connection
	adv   []uint32          // sequence advance of each packet's sender per round
	ts    time.Time
	txs   int
	// to, when set, receives the packets instead of sh.
	to func(*capture.Decoded)
}

var (
	steadyReq  = "GET /api/v2/users/42?fields=id,name HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: okhttp/4.12.0\r\nAccept: application/json\r\nAuthorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.abc\r\n\r\n"
	steadyBody = `{"items":[` + strings.Repeat(`{"id":42,"name":"user 42","email":"user42@example.com","active":true},`, 24) + `{}]}`
	steadyResp = fmt.Sprintf("HTTP/1.1 200 OK\r\nDate: Fri, 27 Nov 2026 00:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: %d\r\nCache-Control: no-store\r\n\r\n%s", len(steadyBody), steadyBody)
)

func steadySeg(t testing.TB, conn int, fromServer bool, flags string, payload string) capture.Decoded {
	t.Helper()
	cport, sport := layers.TCPPort(40000+conn), layers.TCPPort(8080)
	tcp := &layers.TCP{SrcPort: cport, DstPort: sport, ACK: true, Window: 512, DataOffset: 5, PSH: payload != ""}
	if fromServer {
		tcp.SrcPort, tcp.DstPort = sport, cport
	}
	tcp.SYN = strings.Contains(flags, "S")
	if tcp.SYN && !fromServer {
		tcp.ACK = false
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	var d capture.Decoded
	d.Key.Proto = capture.ProtoTCP
	a, b := [4]byte{10, 1, 0, 1}, [4]byte{10, 1, 0, 2}
	if fromServer {
		a, b = b, a
	}
	d.Key.Src[10], d.Key.Src[11], d.Key.Dst[10], d.Key.Dst[11] = 0xff, 0xff, 0xff, 0xff
	copy(d.Key.Src[12:], a[:])
	copy(d.Key.Dst[12:], b[:])
	d.Key.SrcPort, d.Key.DstPort = uint16(tcp.SrcPort), uint16(tcp.DstPort)
	d.Length = 40 + len(payload)
	if err := d.TCP.DecodeFromBytes(buf.Bytes(), gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	d.Payload = d.TCP.Payload
	return d
}

// steadyHandshake returns connection conn's SYN, SYN-ACK and ACK, with
// initial sequence numbers 1000 (client) and 5000 (server).
func steadyHandshake(t testing.TB, conn int) []capture.Decoded {
	syn := steadySeg(t, conn, false, "S", "")
	syn.TCP.Seq = 1000
	synack := steadySeg(t, conn, true, "S", "")
	synack.TCP.Seq, synack.TCP.Ack = 5000, 1001
	ack := steadySeg(t, conn, false, "", "")
	ack.TCP.Seq, ack.TCP.Ack = 1001, 5001
	return []capture.Decoded{syn, synack, ack}
}

// newSteady opens conns connections (handshake and one warm-up round) on a
// fresh shard whose sink counts transactions.
func newSteady(t testing.TB, conns int, opts Options) *steady {
	o := opts.withDefaults()
	s := &steady{conns: conns, ts: time.Unix(1700000000, 0)}
	s.sh = newTestShard(&o, func(*Transaction) { s.txs++ })
	// Initial sequence numbers: client 1000, server 5000 (after the SYNs,
	// 1001 and 5001).
	for c := 0; c < conns; c++ {
		for _, d := range steadyHandshake(t, c) {
			s.feed(&d)
		}
	}
	split := len(steadyResp) - len(steadyBody) + 1200
	for c := 0; c < conns; c++ {
		s.pkts = append(s.pkts,
			steadySeg(t, c, false, "", steadyReq),
			steadySeg(t, c, true, "", steadyResp[:split]),
			steadySeg(t, c, true, "", steadyResp[split:]),
			steadySeg(t, c, false, "", ""))
		// Sequence numbers of the first round.
		p := s.pkts[len(s.pkts)-4:]
		cseq, sseq := uint32(1001), uint32(5001)
		p[0].TCP.Seq, p[0].TCP.Ack = cseq, sseq
		p[1].TCP.Seq, p[1].TCP.Ack = sseq, cseq+uint32(len(steadyReq))
		p[2].TCP.Seq, p[2].TCP.Ack = sseq+uint32(split), cseq+uint32(len(steadyReq))
		p[3].TCP.Seq, p[3].TCP.Ack = cseq+uint32(len(steadyReq)), sseq+uint32(len(steadyResp))
	}
	s.round() // warm up: parsers, pools, buffers
	return s
}

func (s *steady) feed(d *capture.Decoded) {
	s.ts = s.ts.Add(100 * time.Microsecond)
	d.Timestamp = s.ts
	if s.to != nil {
		s.to(d)
		return
	}
	s.sh.assemble(d)
}

// round replays one exchange on every connection and advances the
// sequence numbers for the next.
func (s *steady) round() {
	cl, sl := uint32(len(steadyReq)), uint32(len(steadyResp))
	for i := range s.pkts {
		d := &s.pkts[i]
		s.feed(d)
		if i%4 == 0 || i%4 == 3 { // client's
			d.TCP.Seq += cl
			d.TCP.Ack += sl
		} else {
			d.TCP.Seq += sl
			d.TCP.Ack += cl
		}
	}
}

// TestSteadyStateAllocs pins the allocations of in-order HTTP/1 traffic on
// established connections through the shard path (assembler, connection
// state, parsers, body sample): the packets themselves allocate nothing;
// what remains is what each transaction hands its sink (the Transaction,
// the two heads' strings and header slices, the body sample), which the
// sink owns.
func TestSteadyStateAllocs(t *testing.T) {
	const conns = 64
	s := newSteady(t, conns, Options{})
	before := s.txs + conns // mallocsPerRun's warm-up run
	allocs := mallocs.PerRun(50, s.round)
	if got, want := s.txs-before, 3*50*conns; got != want {
		t.Fatalf("%d transactions in the measured rounds (3 × 50), want %d", got, want)
	}
	perTx := allocs / conns
	t.Logf("%.2f allocations per transaction (%.3f per packet)", perTx, allocs/float64(len(s.pkts)))
	// Transaction, body sample; the heads' strings and header slices are
	// carved from the parsers' chunks (a fraction of an allocation each).
	const budget = 2.2
	if perTx > budget+0.05 {
		t.Errorf("%.2f allocations per transaction, want at most %.2f (those the sink owns)", perTx, budget)
	}
}

// TestSteadyStatePacketAllocs pins zero allocations for the packets of
// established connections that complete no message: bare ACKs and body
// segments past the sample's cap — on the fast path, and through gopacket's
// assembler (Options.slowPath) where connections go after a hand-over.
func TestSteadyStatePacketAllocs(t *testing.T) {
	for _, slow := range []bool{false, true} {
		t.Run(fmt.Sprintf("slowPath=%v", slow), func(t *testing.T) { testSteadyStatePacketAllocs(t, slow) })
	}
}

func testSteadyStatePacketAllocs(t *testing.T, slow bool) {
	const conns = 16
	s := newSteady(t, conns, Options{slowPath: slow})
	// One response per connection with a body far larger than the sample:
	// its head, then body segments.
	var body, acks []capture.Decoded
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000000\r\n\r\n"
	seg := strings.Repeat("x", 1400)
	next := make([]uint32, conns)
	for c := 0; c < conns; c++ {
		req := s.pkts[4*c]
		req.Timestamp = s.ts
		s.feed(&req)
		h := s.pkts[4*c+1]
		h.TCP.Payload = []byte(head)
		h.Payload = h.TCP.Payload
		s.feed(&h)
		next[c] = h.TCP.Seq + uint32(len(head))
		d := steadySeg(t, c, true, "", seg)
		d.TCP.Seq, d.TCP.Ack = next[c], req.TCP.Seq+uint32(len(steadyReq))
		body = append(body, d)
		a := steadySeg(t, c, false, "", "")
		a.TCP.Seq, a.TCP.Ack = d.TCP.Ack, d.TCP.Seq
		acks = append(acks, a)
	}
	step := func() {
		for i := range body {
			s.feed(&body[i])
			body[i].TCP.Seq += uint32(len(seg))
			acks[i].TCP.Ack = body[i].TCP.Seq
			s.feed(&acks[i])
		}
	}
	for i := 0; i < 60; i++ { // past the 64 KiB sample
		step()
	}
	fast0 := s.sh.fastSegs
	allocs := mallocs.PerRun(200, step)
	if fast := s.sh.fastSegs - fast0; slow != (fast == 0) || s.sh.fastHandovers != 0 {
		t.Fatalf("%d segments on the fast path, %d hand-overs", fast, s.sh.fastHandovers)
	}
	t.Logf("%.3f allocations per round of %d packets", allocs, 2*len(body))
	if allocs != 0 {
		t.Errorf("%.3f allocations per round of %d body segments and ACKs, want 0", allocs, 2*len(body))
	}
}

// BenchmarkShardSteady measures the shard path on in-order keep-alive
// HTTP/1 traffic (see steady). One op is one round: 64 exchanges, 256
// packets; cpu-ns/packet (the thread's CPU time), ns/packet and
// allocs/packet are reported too. path=fast is the shard as Run drives it,
// path=gopacket with every segment through gopacket's assembler
// (Options.slowPath): their difference is what the fast path saves.
func BenchmarkShardSteady(b *testing.B) {
	for _, slow := range []bool{false, true} {
		name := "path=fast"
		if slow {
			name = "path=gopacket"
		}
		b.Run(name, func(b *testing.B) { benchShardSteady(b, slow) })
	}
}

func benchShardSteady(b *testing.B, slow bool) {
	const conns = 64
	s := newSteady(b, conns, Options{slowPath: slow})
	var bytes int64
	for i := range s.pkts {
		bytes += int64(len(s.pkts[i].Payload))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	cpu0 := cputime.Thread()
	for i := 0; i < b.N; i++ {
		s.round()
	}
	cpu := cputime.Thread() - cpu0
	b.StopTimer()
	runtime.ReadMemStats(&m1)
	pk := float64(b.N * len(s.pkts))
	b.ReportMetric(float64(cpu.Nanoseconds())/pk, "cpu-ns/packet")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/pk, "ns/packet")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/pk, "allocs/packet")
}

// TestIdleClose checks the periodic pass that the shard now runs only
// when a connection may be idle (flushDue): connections that stop are
// closed after FlowTimeout of capture time, not before, and by 1.25 ×
// FlowTimeout (idle connections are closed in batches) plus a pass
// interval, while a busy one stays open.
func TestIdleClose(t *testing.T) {
	const conns = 8
	s := newSteady(t, conns, Options{FlowTimeout: 10 * time.Second})
	if s.sh.live != conns || len(s.sh.streams) != conns {
		t.Fatalf("live %d, streams %d, want %d", s.sh.live, len(s.sh.streams), conns)
	}
	stop := s.ts
	busy := s.pkts[:4] // connection 0 goes on
	exchange := func() {
		for i := range busy {
			s.feed(&busy[i])
			if i == 0 || i == 3 {
				busy[i].TCP.Seq += uint32(len(steadyReq))
				busy[i].TCP.Ack += uint32(len(steadyResp))
			} else {
				busy[i].TCP.Seq += uint32(len(steadyResp))
				busy[i].TCP.Ack += uint32(len(steadyReq))
			}
		}
		s.ts = s.ts.Add(50 * time.Millisecond)
	}
	for s.ts.Sub(stop) < 9*time.Second {
		exchange()
	}
	if s.sh.live != conns {
		t.Fatalf("%d connections live after 9s idle, want %d (FlowTimeout 10s)", s.sh.live, conns)
	}
	for s.ts.Sub(stop) < 14*time.Second {
		exchange()
	}
	if s.sh.live != 1 || len(s.sh.streams) != 1 || s.sh.streams[0].idx != 0 {
		t.Fatalf("live %d, streams %d after 14s: want only the busy connection", s.sh.live, len(s.sh.streams))
	}
	if !s.sh.queuedUntil.IsZero() {
		t.Errorf("in-order traffic marked as queued")
	}
}
