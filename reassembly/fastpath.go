package reassembly

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	greassembly "github.com/gopacket/gopacket/reassembly"
	"github.com/shadowtap/shadowtap/capture"
)

// The fast path: connections whose segments all arrive in order.
//
// gopacket's assembler looks each segment's connection up in a map keyed
// by two gopacket.Flows (112 bytes, hashed and compared, twice for the
// direction that did not open the connection), then walks its queues. In
// the captures shadowtap analyses nearly every segment is simply the next
// one of its direction. The shard keeps its own table of live connections
// (conns, one lookup for either direction) and holds a new connection
// itself (tcpStream.fast) for as long as each segment is one the assembler
// would hand on at once without queueing anything: the first of its
// direction (a SYN or, the start being forced by Accept, any other), one
// at exactly the sequence number expected next (FIN and RST included: they
// close the half, and the second close ends the connection), or one the
// assembler drops after calling Accept (on a closed half, a RST out of
// place, bytes of a connection that is not parsed). For those, fastSegment
// does what the assembler would do — the same calls of Accept, the payload
// handed on as ReassembledSG would, the same closes — and tracks the
// sequence number the assembler would expect next (tcpStream.fnext) and
// the halves it would have closed (fclosed).
//
// The first segment that is anything else (a retransmission or overlap, a
// segment beyond a hole, a SYN on a started half, SYN with FIN or RST)
// hands the connection over for good (handOver): the assembler is given,
// for each half that started, an empty segment at the sequence number
// expected next (a FIN just before it for a closed half), stamped with the
// time the connection was last seen. The first creates the connection in
// its pool oriented as the first packet was (New returns the stream), and
// each starts its half there (Accept forces the start, ReassembledSG
// ignores the FIN), as if it had seen every segment. Then the segment
// itself goes to the assembler, and every later one.
//
// A connection the fast path holds has nothing queued, so the passes that
// close idle connections (tick, evict, finish) end it as the assembler
// ends such a connection, closing both halves, which completes it
// (closeFast). Options.slowPath turns the fast path off, for the tests
// that compare both (fastpath_test.go).

// noSeq is the sequence number of a half that has not started (gopacket's
// invalidSequence).
const noSeq greassembly.Sequence = -1

// connKey names a connection whichever way a segment travels: its two
// endpoints in a fixed order.
type connKey struct {
	a, b   [16]byte
	pa, pb uint16
	ipv6   bool
}

// connKeyOf returns the connection key of flow k.
func connKeyOf(k *capture.FlowKey, ipv6 bool) connKey {
	if endpointLess(&k.Dst, k.DstPort, &k.Src, k.SrcPort) {
		return connKey{a: k.Dst, b: k.Src, pa: k.DstPort, pb: k.SrcPort, ipv6: ipv6}
	}
	return connKey{a: k.Src, b: k.Dst, pa: k.SrcPort, pb: k.DstPort, ipv6: ipv6}
}

// endpointLess orders endpoints (any total order does).
func endpointLess(a *[16]byte, pa uint16, b *[16]byte, pb uint16) bool {
	if x, y := binary.BigEndian.Uint64(a[8:]), binary.BigEndian.Uint64(b[8:]); x != y {
		return x < y
	}
	if pa != pb {
		return pa < pb
	}
	return binary.BigEndian.Uint64(a[:8]) < binary.BigEndian.Uint64(b[:8])
}

// sameConn reports whether flows a and b are the same connection (either
// direction).
func sameConn(a, b *capture.FlowKey) bool {
	if a.SrcPort == b.SrcPort && a.DstPort == b.DstPort && a.Src == b.Src && a.Dst == b.Dst {
		return true
	}
	return a.SrcPort == b.DstPort && a.DstPort == b.SrcPort && a.Src == b.Dst && a.Dst == b.Src
}

// segment hands segment d (its context ctx) to its connection: through
// the fast path when it can, to the assembler otherwise.
func (sh *shard) segment(d *capture.Decoded, ctx *pktContext) {
	if sh.slow {
		sh.asm.AssembleWithContext(netFlow(d), sh.asmTCP(d), ctx)
		return
	}
	// Segments of a connection often come in runs: try the last one's
	// first (a stream ended since may have been reused for another
	// connection, or not yet).
	s := sh.last
	if s == nil || s.done || s.ipv6 != d.IPv6 || !sameConn(&s.key, &d.Key) {
		k := connKeyOf(&d.Key, d.IPv6)
		s = sh.conns[k]
		if s == nil {
			s = sh.newStream(d)
			s.fast = true
			sh.conns[k] = s
		}
		sh.last = s
	}
	if s.fast {
		if sh.fastSegment(s, d) {
			return
		}
		sh.handOver(s)
	}
	sh.asm.AssembleWithContext(netFlow(d), sh.asmTCP(d), ctx)
}

// asmTCP returns the TCP layer of segment d for the assembler: d.TCP, or
// when the shard is given only the fields it reads (fieldsOnly), a layer
// decoded from a header made of them (the assembler needs the ports as the
// decoder sets them, for its transport flow).
func (sh *shard) asmTCP(d *capture.Decoded) *layers.TCP {
	t := &d.TCP
	if !sh.fieldsOnly {
		return t
	}
	h := sh.segHdr[:]
	clear(h)
	binary.BigEndian.PutUint16(h[0:], uint16(t.SrcPort))
	binary.BigEndian.PutUint16(h[2:], uint16(t.DstPort))
	binary.BigEndian.PutUint32(h[4:], t.Seq)
	binary.BigEndian.PutUint32(h[8:], t.Ack)
	h[12] = 5 << 4 // data offset: 20 bytes
	h[13] = tcpFlags(t)
	if err := sh.segTCP.DecodeFromBytes(h, gopacket.NilDecodeFeedback); err != nil {
		return t // a valid header: cannot happen
	}
	sh.segTCP.Payload = t.Payload
	return &sh.segTCP
}

// fastSegment assembles d, of connection s which the fast path holds, as
// the assembler would, and reports true; or does nothing and reports false
// when d is not a segment the fast path takes.
func (sh *shard) fastSegment(s *tcpStream, d *capture.Decoded) bool {
	t := &d.TCP
	dir := 1
	if d.Key.SrcPort == s.key.SrcPort && d.Key.Src == s.key.Src {
		dir = 0
	}
	next := s.fnext[dir]
	seq := greassembly.Sequence(t.Seq)
	// onlyAccept: the assembler calls Accept and drops the segment
	// whatever Accept says: Accept drops bytes of a connection that is
	// not parsed before looking at their flags or sequence number; the
	// assembler drops a segment on a closed half, and a RST not at the
	// sequence number expected.
	onlyAccept := (s.c.state == stOther || s.c.state == stDone) && len(t.Payload) > 0 ||
		s.fclosed[dir] ||
		t.RST && !t.SYN && next != noSeq && seq != next
	if !onlyAccept && (next != noSeq && (t.SYN || seq != next) || t.SYN && (t.FIN || t.RST)) {
		return false
	}
	sh.fastSegs++
	start := next == noSeq && t.SYN
	// What Accept does, d being the packet being assembled (sh.ts).
	ok := s.accept(t, &sh.ts, dir, next, &start)
	sh.inOrder = nil
	if !ok || onlyAccept {
		return true
	}
	if next == noSeq {
		// Accept forces the start of the half here (past the SYN).
		if t.SYN {
			seq = seq.Add(1)
		}
		s.fnext[dir] = seq
	}
	n := len(t.Payload)
	if n == 0 && !t.SYN && !t.FIN && !t.RST {
		return true
	}
	// What ReassembledSG does with one chunk, in order, no skip.
	sh.emitConn = s.id
	if n > 0 {
		if !s.counted {
			s.counted = true
			sh.stats.Flows++
		}
		s.c.data(dir, t.Payload, d.Timestamp)
	}
	s.fnext[dir] = seq.Add(n)
	if t.FIN || t.RST {
		// The end of the half (a FIN takes a sequence number); with
		// the other half closed, the end of the connection.
		if t.FIN {
			s.fnext[dir] = s.fnext[dir].Add(1)
		}
		s.fclosed[dir] = true
		if s.fclosed[1-dir] {
			s.ReassemblyComplete(nil)
		}
	}
	return true
}

// handOver gives the assembler connection s, which the fast path held, as
// it would hold it had it seen every segment: see the top of the file.
func (sh *shard) handOver(s *tcpStream) {
	s.fast = false
	sh.fastHandovers++
	sh.adopting = s
	// The assembler orients a connection as its first segment; its last
	// seen time is that of the connection's latest segment.
	sh.ctxSeed.ts = sh.lastSeen[s.idx].t
	for d := 0; d < 2; d++ {
		next := s.fnext[d]
		switch {
		case s.fclosed[d]:
			// A FIN ending where the half ended closes it there.
			sh.adoptStart = true
			sh.bareSegment(s, d, uint32(next.Add(-1)), 0x01, &sh.ctxSeed)
		case next != noSeq:
			sh.adoptStart = true
			sh.bareSegment(s, d, uint32(next), 0, &sh.ctxSeed)
		case d == 0:
			// It must open the connection, but not start the half.
			sh.adoptStart = false
			sh.bareSegment(s, d, 0, 0, &sh.ctxSeed)
		}
		// A half never seen is started by its first segment.
	}
	sh.adopting = nil
}

// closeFast ends the connections the fast path holds: all of them, or
// those last seen before tc, as a pass of the assembler closes a
// connection with nothing queued and no half closed (both halves close,
// then the connection completes).
func (sh *shard) closeFast(tc *stamp, all bool) {
	idle := sh.idle[:0]
	for i, s := range sh.streams {
		if s.fast && (all || sh.lastSeen[i].before(tc)) {
			idle = append(idle, s)
		}
	}
	for _, s := range idle {
		s.ReassemblyComplete(nil)
	}
	clear(idle)
	sh.idle = idle[:0]
}
