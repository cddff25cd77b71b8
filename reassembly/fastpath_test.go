package reassembly

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
)

// played is what a shard did with a sequence of segments: the rendered
// transactions in the sink's order, its counters, and how the fast path
// took part.
type played struct {
	out                 []string
	st                  Stats
	fastSegs, handovers uint64
}

// playShard runs the segments next yields through one shard (as Run does
// with one worker, all flows on the shard), with the fast path or
// without (slow).
func playShard(t testing.TB, opts Options, slow bool, next func(*capture.Decoded) bool) played {
	t.Helper()
	opts.slowPath = slow
	o := opts.withDefaults()
	var p played
	ts := newTestShard(&o, func(tx *Transaction) { p.out = append(p.out, render(tx)) })
	var d capture.Decoded
	for n := 0; next(&d); n++ {
		ts.assemble(&d)
		if !slow && (n < 64 || n%1024 == 0) {
			checkConns(t, ts.shard)
		}
	}
	ts.finish()
	if len(ts.conns) != 0 || ts.live != 0 {
		t.Errorf("after finish: %d connections in the table, %d live", len(ts.conns), ts.live)
	}
	p.st, p.fastSegs, p.handovers = ts.stats, ts.fastSegs, ts.fastHandovers
	return p
}

// checkConns checks that the shard's table holds exactly its live
// streams, under their keys.
func checkConns(t testing.TB, sh *shard) {
	t.Helper()
	if len(sh.conns) != len(sh.streams) || len(sh.streams) != sh.live {
		t.Fatalf("%d connections in the table, %d streams, %d live", len(sh.conns), len(sh.streams), sh.live)
	}
	for i, s := range sh.streams {
		if s.idx != i || s.done || sh.conns[connKeyOf(&s.key, s.ipv6)] != s {
			t.Fatalf("stream %d (idx %d, done %v) is not in the table under its key", i, s.idx, s.done)
		}
	}
}

// playFile plays the TCP segments of the capture at path.
func playFile(t *testing.T, path string, opts Options, slow bool) played {
	t.Helper()
	src, err := capture.OpenFiles(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer src.Close()
	dec := capture.NewDecoder(opts.Decoder)
	var pkt capture.Packet
	return playShard(t, opts, slow, func(d *capture.Decoded) bool {
		for {
			err := src.Next(&pkt)
			if errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrCorrupt) {
				return false
			}
			if err != nil {
				t.Fatalf("reading %s: %v", path, err)
			}
			if dec.Decode(&pkt, d) && d.Key.Proto == capture.ProtoTCP {
				return true
			}
		}
	})
}

// playSegs plays hand-built segments.
func playSegs(t testing.TB, opts Options, slow bool, segs []seg) played {
	t.Helper()
	i := 0
	return playShard(t, opts, slow, func(d *capture.Decoded) bool {
		if i == len(segs) {
			return false
		}
		*d = *decodedSeg(t, segs[i])
		i++
		return true
	})
}

// samePlayed reports how b (the fast path's) differs from a (gopacket's
// alone), or "".
func samePlayed(a, b played) string {
	if len(a.out) != len(b.out) {
		return fmt.Sprintf("%d transactions, gopacket alone %d:\n%s\ngopacket alone:\n%s",
			len(b.out), len(a.out), strings.Join(b.out, "\n"), strings.Join(a.out, "\n"))
	}
	for i := range a.out {
		if a.out[i] != b.out[i] {
			return fmt.Sprintf("transaction %d differs:\n%s\ngopacket alone:\n%s", i, b.out[i], a.out[i])
		}
	}
	if x, y := fmt.Sprintf("%+v", a.st), fmt.Sprintf("%+v", b.st); x != y {
		return fmt.Sprintf("stats differ:\n%s\ngopacket alone:\n%s", y, x)
	}
	return ""
}

// TestFastPathSameAsGopacket: with the fast path, a shard hands on exactly
// the transactions, in the same order, and the counters it does with every
// segment going through gopacket's assembler, on every capture of
// testdata, the shared ones and a simulated one with loss,
// retransmissions and reordering — with default bounds, flow timeouts
// short enough that most connections end idle, and bounds tight enough to
// evict connections and force gaps.
func TestFastPathSameAsGopacket(t *testing.T) {
	files := equivalenceCaptures(t, 7)
	optSets := []struct {
		name string
		opts Options
	}{
		{"default", Options{}},
		{"short timeouts", Options{FlowTimeout: 200 * time.Millisecond, GapTimeout: 100 * time.Millisecond}},
		{"tight bounds", Options{MaxConnections: 16, MaxBufferedPagesTotal: 512, MaxBufferedPagesPerConn: 4,
			GapTimeout: 50 * time.Millisecond, FlowTimeout: time.Hour}},
	}
	var fast, handovers uint64
	for _, f := range files {
		for _, oc := range optSets {
			t.Run(filepath.Base(f)+"/"+oc.name, func(t *testing.T) {
				slow := playFile(t, f, oc.opts, true)
				got := playFile(t, f, oc.opts, false)
				if diff := samePlayed(slow, got); diff != "" {
					t.Error(diff)
				}
				fast += got.fastSegs
				handovers += got.handovers
			})
		}
	}
	// The comparison must exercise both the fast path and hand-overs.
	if fast < 10000 || handovers < 100 {
		t.Errorf("the fast path took %d segments and handed %d connections over: want more of both", fast, handovers)
	}
	t.Logf("fast path: %d segments, %d connections handed over", fast, handovers)
}

// TestFastPathCases: hand-built connections whose segments leave the
// fast path (or stay on it) in every way it distinguishes give what
// gopacket's assembler alone gives.
func TestFastPathCases(t *testing.T) {
	// Client seq from 100, server seq from 500 (after the SYNs).
	hs := []seg{{seq: 99, flags: "S"}, {fromB: true, seq: 499, ack: 100, flags: "S", ms: 1}, {seq: 100, ack: 500, ms: 2}}
	ex := []seg{
		{seq: 100, ack: 500, data: req1, ms: 3},
		{fromB: true, seq: 500, ack: 128, data: resp1, ms: 4},
		{seq: 128, ack: 543, data: req2, ms: 5},
		{fromB: true, seq: 543, ack: 156, data: resp2, ms: 6},
	}
	conn := func(tail ...seg) []seg { return append(append(hs[:3:3], ex...), tail...) }
	tests := []struct {
		name string
		segs []seg
		// fastAll: no hand-over must happen.
		fastAll bool
	}{
		{"clean, FINs, last ACK", conn(seg{seq: 156, ack: 588, flags: "F", ms: 7}, seg{fromB: true, seq: 588, ack: 157, flags: "F", ms: 8}, seg{seq: 157, ack: 589, ms: 9}), true},
		{"server closes first", conn(seg{fromB: true, seq: 588, ack: 156, flags: "F", ms: 7}, seg{seq: 156, ack: 589, flags: "F", ms: 8}), true},
		{"FIN with data", append(hs[:3:3], seg{seq: 100, ack: 500, data: req1, flags: "F", ms: 3}, seg{fromB: true, seq: 500, ack: 129, data: resp1, flags: "F", ms: 4}), true},
		{"data on a half-closed connection, ACKs on the closed half", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: req1, flags: "F", ms: 3},
			seg{fromB: true, seq: 500, ack: 129, data: resp1[:20], ms: 4},
			seg{seq: 129, ack: 520, ms: 5},
			seg{fromB: true, seq: 520, ack: 129, data: resp1[20:], ms: 6},
			seg{seq: 129, ack: 543, ms: 7}), true},
		{"FIN retransmitted", conn(seg{seq: 156, ack: 588, flags: "F", ms: 7}, seg{seq: 156, ack: 588, flags: "F", ms: 8}, seg{fromB: true, seq: 588, ack: 157, flags: "F", ms: 9}), true},
		{"RST", conn(seg{seq: 156, ack: 588, flags: "R", ms: 7}, seg{fromB: true, seq: 588, ack: 156, data: "x", ms: 8}), true},
		{"RST out of window", conn(seg{seq: 1156, ack: 588, flags: "R", ms: 7}, seg{seq: 150, ack: 588, flags: "R", ms: 8}, seg{seq: 156, ack: 588, data: req1, ms: 9}), true},
		{"RST with data", conn(seg{fromB: true, seq: 588, ack: 156, flags: "R", data: "zz", ms: 7}), true},
		{"RST first", []seg{{seq: 5, flags: "R"}, {fromB: true, seq: 9, ack: 5, data: resp1, ms: 1}}, true},
		{"FIN first", []seg{{seq: 5, flags: "F"}, {fromB: true, seq: 9, ack: 6, data: resp1, ms: 1}, {seq: 6, ack: 52, ms: 2}}, true},
		{"SYN+FIN", []seg{{seq: 5, flags: "SF"}, {fromB: true, seq: 9, ack: 6, data: resp1, ms: 1}}, false},
		{"SYN+RST on a started half", append(hs[:3:3], seg{seq: 100, flags: "SR", ms: 3}, seg{seq: 100, ack: 500, data: req1, ms: 4}), false},
		{"SYN retransmitted", append([]seg{hs[0], hs[0]}, append(hs[1:3:3], ex...)...), false},
		{"SYN-ACK retransmitted", append([]seg{hs[0], hs[1], hs[1]}, append(hs[2:3:3], ex...)...), false},
		{"request retransmitted", conn(ex[2], seg{fromB: true, seq: 588, ack: 156, data: resp1, ms: 8}), false},
		{"overlapping retransmission", conn(seg{seq: 140, ack: 588, data: req2[12:] + req1, ms: 7}, seg{fromB: true, seq: 588, ack: 184, data: resp1, ms: 8}), false},
		{"segments swapped", append(hs[:3:3], seg{seq: 110, ack: 500, data: req1[10:], ms: 3}, seg{seq: 100, ack: 500, data: req1[:10], ms: 4}, ex[1]), false},
		{"a segment lost, the ACK proves it", append(hs[:3:3], ex[0],
			seg{fromB: true, seq: 500, ack: 128, data: resp1[:40], ms: 4},
			seg{fromB: true, seq: 541, ack: 128, data: resp1[41:], ms: 5},
			seg{seq: 128, ack: 543, data: req2, ms: 6},
			seg{fromB: true, seq: 543, ack: 156, data: resp2, ms: 7}), false},
		{"keep-alive probe", conn(seg{seq: 155, ack: 588, ms: 2000}, seg{seq: 155, ack: 588, data: "\n", ms: 3000}, seg{seq: 156, ack: 588, data: req1, ms: 4000}), false},
		{"ACK beyond the expected sequence", conn(seg{seq: 200, ack: 588, ms: 7}, seg{seq: 156, ack: 588, data: req1, ms: 8}), false},
		{"no handshake, server first", []seg{{fromB: true, seq: 9000, ack: 7000, data: "y\r\n\r\n"}, {seq: 7000, ack: 9005, data: req1, ms: 1}, {fromB: true, seq: 9005, ack: 7028, data: resp1, ms: 2}}, true},
		{"not HTTP, with a hole", append(hs[:3:3],
			seg{seq: 100, ack: 500, data: "\x16\x03\x01\x00\x05hello", ms: 3},
			seg{fromB: true, seq: 500, ack: 110, data: "\x16\x03\x03\x00\x02hi", ms: 4},
			seg{seq: 130, ack: 507, data: "more", ms: 5},
			seg{seq: 110, ack: 507, flags: "F", ms: 6},
			seg{fromB: true, seq: 507, ack: 111, flags: "F", ms: 7}), true},
		{"data beyond a hole on a closed half, then an ACK past it", append(hs[:3:3], ex[0],
			seg{seq: 128, ack: 500, flags: "F", ms: 4},
			seg{seq: 140, ack: 500, data: "late", ms: 5},
			seg{fromB: true, seq: 500, ack: 150, data: resp1, ms: 6},
			seg{fromB: true, seq: 543, ack: 150, flags: "F", ms: 7}), true},
		{"connection reused after both FINs", conn(seg{seq: 156, ack: 588, flags: "F", ms: 7}, seg{fromB: true, seq: 588, ack: 157, flags: "F", ms: 8},
			seg{seq: 3000, flags: "S", ms: 9}, seg{fromB: true, seq: 4000, ack: 3001, flags: "S", ms: 10},
			seg{seq: 3001, ack: 4001, data: req2, ms: 11}, seg{fromB: true, seq: 4001, ack: 3029, data: resp2, ms: 12}), true},
		{"idle close of a fast connection", conn(seg{seq: 156, ack: 588, data: req1, ms: 200000}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, opts := range []Options{{}, {FlowTimeout: 1500 * time.Millisecond}} {
				slow := playSegs(t, opts, true, tc.segs)
				got := playSegs(t, opts, false, tc.segs)
				if diff := samePlayed(slow, got); diff != "" {
					t.Errorf("flow timeout %v: %s", opts.FlowTimeout, diff)
				}
				if tc.fastAll && got.fastSegs == 0 {
					t.Errorf("the fast path took no segment")
				}
				if tc.fastAll && got.handovers != 0 {
					t.Errorf("%d hand-overs, want none", got.handovers)
				}
				if !tc.fastAll && got.handovers == 0 {
					t.Errorf("no hand-over: the case does not leave the fast path")
				}
			}
		})
	}
}

// impairedConn builds a connection (handshake, exchanges, FINs, last ACK)
// and impairs it as the bytes of ops say, three bytes an operation: drop,
// duplicate, swap with the next, split in two overlapping halves, set FIN,
// RST or SYN, shift the capture time of a segment or its sequence number.
func impairedConn(ops []byte) []seg {
	segs := []seg{{seq: 99, flags: "S"}, {fromB: true, seq: 499, ack: 100, flags: "S", ms: 1}, {seq: 100, ack: 500, ms: 2}}
	cseq, sseq := uint32(100), uint32(500)
	reqs := []string{req1, req2, "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"}
	resps := []string{resp1, resp2, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"}
	ms := 3
	for i := range reqs {
		segs = append(segs, seg{seq: cseq, ack: sseq, data: reqs[i], ms: ms})
		cseq += uint32(len(reqs[i]))
		segs = append(segs, seg{fromB: true, seq: sseq, ack: cseq, data: resps[i], ms: ms + 1})
		sseq += uint32(len(resps[i]))
		segs = append(segs, seg{seq: cseq, ack: sseq, ms: ms + 2})
		ms += 3
	}
	segs = append(segs,
		seg{seq: cseq, ack: sseq, flags: "F", ms: ms},
		seg{fromB: true, seq: sseq, ack: cseq + 1, flags: "F", ms: ms + 1},
		seg{seq: cseq + 1, ack: sseq + 1, ms: ms + 2})
	for ; len(ops) >= 3 && len(segs) > 0; ops = ops[3:] {
		i := int(ops[1]) % len(segs)
		arg := ops[2]
		switch ops[0] % 9 {
		case 0:
			segs = append(segs[:i], segs[i+1:]...)
		case 1:
			s := segs[i]
			s.ms += int(arg % 8)
			segs = append(segs[:i+1], append([]seg{s}, segs[i+1:]...)...)
		case 2:
			if i+1 < len(segs) {
				segs[i], segs[i+1] = segs[i+1], segs[i]
			}
		case 3:
			s := segs[i]
			if len(s.data) < 2 {
				continue
			}
			cut := 1 + int(arg)%(len(s.data)-1)
			back := min(int(arg/16), cut)
			a, b := s, s
			a.data = s.data[:cut]
			b.data, b.seq = s.data[cut-back:], s.seq+uint32(cut-back)
			segs = append(segs[:i], append([]seg{a, b}, segs[i+1:]...)...)
		case 4:
			segs[i].flags += "F"
		case 5:
			segs[i].flags += "R"
		case 6:
			segs[i].ms += int(arg) * 100
		case 7:
			segs[i].flags += "S"
		case 8:
			segs[i].seq += uint32(arg%16) - 8
		}
	}
	return segs
}

// TestFastPathImpaired: randomly impaired connections give the same with
// and without the fast path.
func TestFastPathImpaired(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var fast, handovers uint64
	for i := 0; i < 400; i++ {
		ops := make([]byte, 3*rng.IntN(5))
		for k := range ops {
			ops[k] = byte(rng.Uint32())
		}
		segs := impairedConn(ops)
		opts := Options{FlowTimeout: time.Duration(1+i%3) * 100 * time.Millisecond}
		slow := playSegs(t, opts, true, segs)
		got := playSegs(t, opts, false, segs)
		if diff := samePlayed(slow, got); diff != "" {
			t.Fatalf("ops %x: %s", ops, diff)
		}
		fast += got.fastSegs
		handovers += got.handovers
	}
	if handovers < 50 {
		t.Errorf("%d hand-overs in all: the impairments did not exercise them", handovers)
	}
	t.Logf("fast path: %d segments, %d connections handed over", fast, handovers)
}

// FuzzFastPath: a connection impaired as the input says gives the same
// with and without the fast path.
func FuzzFastPath(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 5, 0})
	f.Add([]byte{2, 3, 0, 3, 4, 0x31})
	f.Add([]byte{4, 6, 0, 1, 8, 2})
	f.Add([]byte{5, 9, 0, 6, 4, 30, 3, 7, 0x52})
	f.Add([]byte{7, 3, 0, 8, 5, 3})
	f.Add([]byte{16, 0, 0, 17, 7, 12, 8, 10, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 60 {
			return
		}
		segs := impairedConn(ops)
		flow := 100 * time.Millisecond
		if len(ops) > 0 {
			flow *= time.Duration(1 + ops[0]%4)
		}
		opts := Options{FlowTimeout: flow}
		slow := playSegs(t, opts, true, segs)
		got := playSegs(t, opts, false, segs)
		if diff := samePlayed(slow, got); diff != "" {
			t.Fatal(diff)
		}
	})
}

// TestConnKey: both directions of a flow share a key; flows that differ
// in an address, a port or the IP version do not.
func TestConnKey(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1000; i++ {
		var k capture.FlowKey
		binary.LittleEndian.PutUint64(k.Src[:], rng.Uint64())
		binary.LittleEndian.PutUint64(k.Src[8:], rng.Uint64())
		k.Dst = k.Src
		switch i % 3 {
		case 0:
			binary.LittleEndian.PutUint64(k.Dst[8:], rng.Uint64())
		case 1:
			binary.LittleEndian.PutUint64(k.Dst[:], rng.Uint64())
		}
		k.SrcPort, k.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		if i%5 == 0 {
			k.DstPort = k.SrcPort
		}
		r := k.Reverse()
		if connKeyOf(&k, false) != connKeyOf(&r, false) {
			t.Fatalf("%v and its reverse have different keys", k)
		}
		if connKeyOf(&k, false) == connKeyOf(&k, true) {
			t.Fatalf("%v: the same key for IPv4 and IPv6", k)
		}
		o := k
		o.SrcPort++
		if connKeyOf(&k, false) == connKeyOf(&o, false) {
			t.Fatalf("%v and %v share a key", k, o)
		}
		o = k
		o.Dst[3]++
		if connKeyOf(&k, false) == connKeyOf(&o, false) {
			t.Fatalf("%v and %v share a key", k, o)
		}
	}
}

// TestHandOverKeepsLastSeen: a connection handed over keeps the time it
// was last seen, also when the segment that hands it over was captured
// earlier (captures merged out of order): while another connection has
// data queued, the passes that walk gopacket's pool close connections by
// gopacket's own idea of that time.
func TestHandOverKeepsLastSeen(t *testing.T) {
	b := uint16(40001)
	segs := []seg{
		// A: opens, sends a request at 3s, then a retransmission of it
		// stamped 3ms hands it over.
		{seq: 99, flags: "S"}, {fromB: true, seq: 499, ack: 100, flags: "S", ms: 1}, {seq: 100, ack: 500, ms: 2},
		{seq: 100, ack: 500, data: req1, ms: 3000},
		{seq: 100, ack: 500, data: req1, ms: 3},
		// B: a request whose second half comes first (queued) at 3.4s.
		{cport: b, seq: 99, flags: "S", ms: 3300}, {cport: b, fromB: true, seq: 499, ack: 100, flags: "S", ms: 3301},
		{cport: b, seq: 110, ack: 500, data: req2[10:], ms: 3400},
		// The pass at 4.1s walks the pool (B has data queued): A, last
		// seen at 3s, must stay open (idle cut-off 2.6s).
		{cport: b, fromB: true, seq: 500, ack: 100, ms: 4100},
		{cport: b, seq: 100, ack: 500, data: req2[:10], ms: 4200},
		{cport: b, fromB: true, seq: 500, ack: 128, data: resp1, ms: 4300},
		{cport: b, seq: 128, ack: 543, ms: 6000},
	}
	opts := Options{FlowTimeout: 1500 * time.Millisecond, GapTimeout: time.Second}
	slow := playSegs(t, opts, true, segs)
	got := playSegs(t, opts, false, segs)
	if diff := samePlayed(slow, got); diff != "" {
		t.Error(diff)
	}
	if got.handovers != 2 {
		t.Errorf("%d hand-overs, want 2", got.handovers)
	}
	if len(slow.out) != 2 || !strings.Contains(slow.out[0], "/b") {
		t.Errorf("want B's transaction before A's, got:\n%s", strings.Join(slow.out, "\n"))
	}
}
