package reassembly

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	greassembly "github.com/gopacket/gopacket/reassembly"
	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/reassembly/content"
)

// shard owns one TCP assembler and the connections hashed to it. It is owned
// by one goroutine (a group's).
//
// What a shard does depends only on the segments it is given, in order,
// and on the passes (tick, finish) its group runs at given points of the
// capture: never on other shards. Its bounds (connections, buffered pages)
// and the packet counts that space its flushes are its own.
type shard struct {
	opts  *Options
	env   env
	stats Stats
	// col receives the transactions; emitConn is the id of the connection
	// gopacket is calling (see tcpStream.id).
	col      *collector
	emitConn uint64
	// idx is the global index of the packet being assembled.
	idx  uint64
	pool *greassembly.StreamPool
	asm  *greassembly.Assembler
	// maxConns is this shard's share of Options.MaxConnections.
	maxConns int
	live     int
	// streams are the live connections (tcpStream.idx is the index), for
	// the idle check that spares most periodic flush passes: see
	// flushDue. lastSeen[i] is the latest capture time of streams[i]'s
	// packets (gopacket's lastSeen of the connection), kept here rather
	// than in the stream so that the checks read one array. minLast is
	// at most the earliest of them (exact after a scan).
	streams  []*tcpStream
	lastSeen []stamp
	minLast  stamp
	// free holds ended streams for New to reuse (at most maxFreeStreams).
	free []*tcpStream
	// queuedUntil is the latest capture time of a segment queued beyond a
	// hole since the last pass that pushed on every page (zero: none). The
	// assembler's pages carry their segment's capture time (or an earlier
	// one) and a pass pushes on those before its cut-off, so while it is
	// zero no pass has pages to push on.
	queuedUntil time.Time
	cur         *capture.Decoded // the packet being assembled (for New)
	// ctxs is a slab of per-packet contexts: gopacket keeps the context of
	// a segment it queues (beyond a hole) with its pages and reads its
	// capture time when it delivers them, so such a packet needs its own.
	// ctxs[0] is the current packet's; it is given up (the slab advances)
	// only when the segment was queued (ctxKept), otherwise the next
	// packet reuses it. Slabs are replaced, not reused; a slab lives while
	// a buffered page points into it.
	ctxs    []pktContext
	ctxKept bool
	// now is the latest capture time of the shard's packets and of the
	// run's clock at the passes (tick) so far; ts is the capture time of
	// the packet being assembled.
	now, ts stamp
	// afterEvict is the live count after the last eviction pass.
	afterEvict int
	// ackFlushT, when set, asks for a flush of data queued before it (see
	// tcpStream.Accept); sinceAckFlush counts packets since the last one.
	ackFlushT     time.Time
	sinceAckFlush int
	// deferred is set when Accept held the current segment back for a
	// flush; retrying while it is assembled again.
	deferred, retrying bool
	// queued estimates the pages buffered by the assembler (sum of
	// tcpStream.queued).
	queued int
	// inOrder and inOrderDir name the connection and direction of the
	// segment being assembled when it came in order (it is handed on
	// without becoming a page).
	inOrder    *tcpStream
	inOrderDir int
	// closing is the connection closeIdle is ending (nil otherwise);
	// rst is the segment it hands the assembler for that, ctxIdle the
	// context it passes (zero capture time), idle its scratch list.
	closing *tcpStream
	rst     layers.TCP
	rstHdr  [20]byte
	ctxIdle pktContext
	idle    []*tcpStream
	// walkPool makes idle passes walk gopacket's pool as passes with
	// queued data do (FlushWithOptions), for tests that compare both;
	// idleClosed counts the connections closeIdle ended, idleWalks the
	// times it had to walk the pool after all.
	walkPool              bool
	idleClosed, idleWalks uint64
	// conns are the live connections by endpoints, both those the
	// assembler holds and those the fast path does (see fastpath.go);
	// slow sends every segment to the assembler (Options.slowPath).
	// adopting is the connection handOver is giving the assembler,
	// adoptStart whether the half it seeds starts, ctxSeed the context of
	// its segments; fastHandovers counts the connections handed over.
	conns         map[connKey]*tcpStream
	last          *tcpStream // the stream of the last segment (see segment)
	slow          bool
	adopting      *tcpStream
	adoptStart    bool
	ctxSeed       pktContext
	fastHandovers uint64
	// fastSegs counts the segments the fast path assembled.
	fastSegs uint64
	// fieldsOnly is set when the segments' TCP layers carry only the
	// fields the shard reads — ports, sequence and acknowledgement
	// numbers, FIN, SYN, RST, ACK and the payload — as a worker fills
	// them from its batch (parallel.go); asmTCP decodes a full layer for
	// the assembler into segTCP from segHdr.
	fieldsOnly bool
	segTCP     layers.TCP
	segHdr     [20]byte
	// grp is the group that runs the shard (nil before newGroup): its
	// wake time is lowered when a pass may have work (see group.wake).
	grp *group
}

// pktContext hands a packet's capture time to the gopacket assembler.
type pktContext struct{ ts time.Time }

func (c *pktContext) GetCaptureInfo() gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: c.ts}
}

// ctxSlab is the number of packet contexts allocated at once.
const ctxSlab = 64

// context returns the context for a packet captured at ts: the slab's
// current one, which no queued page refers to.
func (sh *shard) context(ts time.Time) *pktContext {
	if len(sh.ctxs) == 0 {
		sh.ctxs = make([]pktContext, ctxSlab)
	}
	c := &sh.ctxs[0]
	c.ts = ts
	return c
}

// releaseContext ends the current packet's use of its context: when
// gopacket queued the segment, the context now belongs to its pages and the
// next packet takes a fresh one.
func (sh *shard) releaseContext() {
	if sh.ctxKept {
		sh.ctxKept = false
		sh.ctxs = sh.ctxs[1:]
	}
}

// newShard returns one of n shards that share opts' bounds, handing its
// transactions to col.
func newShard(opts *Options, n int, col *collector) *shard {
	sh := &shard{opts: opts, col: col, conns: make(map[connKey]*tcpStream), slow: opts.slowPath}
	sh.env = env{http: opts.HTTP, sink: sh.emit, stats: &sh.stats, txs: opts.Transactions}
	if sh.env.http.Decoders == nil {
		sh.env.http.Decoders = new(content.Pool)
	}
	sh.pool = greassembly.NewStreamPool(sh)
	sh.asm = greassembly.NewAssembler(sh.pool)
	sh.asm.MaxBufferedPagesTotal = max(opts.MaxBufferedPagesTotal/n, 64)
	sh.asm.MaxBufferedPagesPerConnection = opts.MaxBufferedPagesPerConn
	sh.maxConns = max(opts.MaxConnections/n, 16)
	return sh
}

// emit hands a transaction of connection emitConn to the collector.
func (sh *shard) emit(tx *Transaction) { sh.col.put(sh.emitConn, tx) }

// New is called by the gopacket assembler for the first packet of a
// connection (the one in sh.cur), or for the first segment handOver gives
// it of a connection the fast path held (sh.adopting).
func (sh *shard) New(_, _ gopacket.Flow, _ *layers.TCP, _ greassembly.AssemblerContext) greassembly.Stream {
	if sh.adopting != nil {
		return sh.adopting
	}
	if sh.closing != nil {
		// closeIdle's segment found no connection (cannot happen: the
		// connection it ends is live): open none.
		return nil
	}
	s := sh.newStream(sh.cur)
	sh.conns[connKeyOf(&s.key, s.ipv6)] = s
	return s
}

// newStream opens the stream of a connection whose first packet is d (the
// packet of index sh.idx). The caller enters it in sh.conns.
func (sh *shard) newStream(d *capture.Decoded) *tcpStream {
	k := &d.Key
	var s *tcpStream
	if n := len(sh.free); n > 0 {
		s = sh.free[n-1]
		sh.free[n-1] = nil
		sh.free = sh.free[:n-1]
	} else {
		s = new(tcpStream)
	}
	*s = tcpStream{sh: sh, id: sh.idx, idx: len(sh.streams), key: *k, ipv6: d.IPv6,
		fnext: [2]greassembly.Sequence{noSeq, noSeq}}
	ts := stampOf(d.Timestamp)
	sh.streams = append(sh.streams, s)
	sh.lastSeen = append(sh.lastSeen, ts)
	if sh.minLast.isZero() || ts.before(&sh.minLast) {
		sh.minLast = ts
	}
	if sh.grp != nil {
		sh.grp.lowerWake(sh.wakeAt())
	}
	s.c.init(&sh.env,
		netip.AddrPortFrom(k.SrcAddr(), k.SrcPort),
		netip.AddrPortFrom(k.DstAddr(), k.DstPort))
	sh.live++
	return s
}

// netFlow returns the network flow of segment d, for gopacket.
func netFlow(d *capture.Decoded) gopacket.Flow {
	if d.IPv6 {
		return gopacket.NewFlow(layers.EndpointIPv6, d.Key.Src[:], d.Key.Dst[:])
	}
	return gopacket.NewFlow(layers.EndpointIPv4, d.Key.Src[12:], d.Key.Dst[12:])
}

// assemble feeds one decoded TCP segment, the packet of global index
// sh.idx.
func (sh *shard) assemble(d *capture.Decoded) {
	ts := stampOf(d.Timestamp)
	sh.assembleAt(d, &ts)
}

// assembleAt is assemble with the stamp of d.Timestamp, which the caller
// has at hand.
func (sh *shard) assembleAt(d *capture.Decoded, ts *stamp) {
	sh.ts = *ts
	if sh.ts.after(&sh.now) {
		sh.now = sh.ts
	}
	sh.cur = d
	ctx := sh.context(d.Timestamp)
	sh.segment(d, ctx)
	sh.inOrder = nil
	sh.sinceAckFlush++
	if sh.deferred {
		// The segment acknowledged data lost in the other direction and
		// was held back: push the other direction on first, so that
		// what was sent before this segment reaches the parsers before
		// it (a response must not overtake its request), then assemble
		// it again.
		sh.deferred = false
		sh.col.beginPass()
		sh.asm.FlushWithOptions(greassembly.FlushOptions{T: sh.ackFlushT})
		sh.col.endPass()
		sh.ackFlushT = time.Time{}
		sh.sinceAckFlush = 0
		sh.retrying = true
		sh.segment(d, ctx)
		sh.retrying, sh.inOrder = false, nil
	}
	sh.releaseContext()
	sh.cur = nil
	if !sh.ackFlushT.IsZero() && sh.sinceAckFlush >= sh.live/4 {
		// A connection's peer acknowledged data the capture never had:
		// push on what waits behind the hole now rather than after
		// GapTimeout. gopacket flushes by age only, so data queued
		// before the hole's successor is pushed on too; spacing the
		// passes by live/4 packets keeps their cost linear.
		sh.col.beginPass()
		sh.asm.FlushWithOptions(greassembly.FlushOptions{T: sh.ackFlushT})
		sh.col.endPass()
		sh.ackFlushT = time.Time{}
		sh.sinceAckFlush = 0
	}
	if sh.live > sh.maxConns && sh.live-sh.afterEvict >= sh.maxConns/8 {
		sh.col.beginPass()
		sh.evict()
		sh.col.endPass()
	}
}

// cutoffs are the capture times a periodic pass at now compares with,
// computed once for all the shards of a group (they share Options).
type cutoffs struct {
	now stamp
	// gap is now - GapTimeout: data queued before it is pushed on.
	gap time.Time
	// idle is now - FlowTimeout: connections last seen before it close.
	idle stamp
	// due is idle - FlowTimeout/4: a pass runs once a connection was
	// last seen before it (or data is queued).
	due stamp
}

func passCutoffs(o *Options, now stamp) cutoffs {
	idle := now.add(-o.FlowTimeout)
	return cutoffs{now: now, gap: now.t.Add(-o.GapTimeout), idle: idle, due: idle.add(-o.FlowTimeout / 4)}
}

// tick is the periodic pass at capture time c.now (the run's clock, see
// clock): it pushes on data stalled behind a hole for GapTimeout and
// closes connections idle for FlowTimeout. The caller brackets it with
// col.beginPass and col.endPass.
func (sh *shard) tick(c *cutoffs) {
	if c.now.after(&sh.now) {
		sh.now = c.now
	}
	// Idle connections are closed in batches: a pass is due once the
	// idlest has been idle a quarter of FlowTimeout longer than needed,
	// and closes every connection idle FlowTimeout. A pass walks the
	// shard's whole pool, so a pass per idle connection cost more than
	// the connections themselves in time-sparse captures.
	if sh.flushDue(&c.due) {
		t, tc := c.gap, &c.idle
		if sh.queuedUntil.IsZero() && !sh.walkPool {
			// No page is queued: the pass would only close idle
			// connections.
			sh.closeIdle(t, tc)
		} else {
			sh.asm.FlushWithOptions(greassembly.FlushOptions{T: t, TC: tc.t})
			sh.closeFast(tc, false)
		}
		sh.scanLast()
		if sh.queuedUntil.Before(t) {
			sh.queuedUntil = time.Time{}
		}
	}
}

// wakeNever reports whether no periodic pass has anything to do in the
// shard until it opens a connection or queues a segment.
func (sh *shard) wakeNever() bool {
	return sh.queuedUntil.IsZero() && len(sh.streams) == 0
}

// wakeAt returns a time such that a periodic pass at a time not after it
// has nothing to do in the shard (unless wakeNever): zero while a segment
// is queued; otherwise minLast (a lower bound of the connections' last
// seen times) plus 1.25 × FlowTimeout, the pass's idle cut-off c.due
// being its time minus as much (flushDue).
func (sh *shard) wakeAt() stamp {
	if !sh.queuedUntil.IsZero() {
		return stamp{}
	}
	f := sh.opts.FlowTimeout
	return sh.minLast.add(f + f/4)
}

// flushDue reports whether a periodic pass with idle cut-off tc would do
// anything: push on queued pages (possible while queuedUntil is set) or
// close a connection last seen before tc. The pass walks every connection
// of the assembler's pool (a map) and allocates, so while no segment waits
// behind a hole it runs only when a connection has become idle.
func (sh *shard) flushDue(tc *stamp) bool {
	if !sh.queuedUntil.IsZero() {
		return true
	}
	if len(sh.streams) == 0 {
		return false
	}
	if !sh.minLast.before(tc) {
		return false
	}
	sh.scanLast()
	return sh.minLast.before(tc)
}

// closeIdle closes the connections last seen before tc, as
// FlushWithOptions{T: t, TC: tc} does when the assembler holds no
// page (queuedUntil is zero): each half still open is closed, then the
// connection completes and leaves the pool. FlushWithOptions walks the
// pool's map, whose cost (mostly cache misses over its slots, 1024 or
// more) dwarfed the few connections a pass closes; closeIdle reaches them
// from sh.streams. For each half it hands the assembler a bare RST at the
// sequence number the half expects (Accept sets it): gopacket delivers
// that as an empty end of stream (ReassembledSG ignores it) and closes
// the half, as the pass does. The order in which a pass closes
// connections is free (gopacket's is the map's): the collector sorts
// what they emit by connection.
func (sh *shard) closeIdle(t time.Time, tc *stamp) {
	idle := sh.idle[:0]
	for i := range sh.lastSeen {
		if sh.lastSeen[i].before(tc) {
			idle = append(idle, sh.streams[i])
		}
	}
	for _, s := range idle {
		if s.fast {
			// The assembler does not hold it: end it as the pass would.
			s.ReassemblyComplete(nil)
			sh.idleClosed++
			continue
		}
		sh.closing = s
		for d := 0; d < 2 && !s.done; d++ {
			sh.resetHalf(s, d)
		}
		sh.closing = nil
		if !s.done {
			// The assembler did not end it (cannot happen): let the pass
			// find it.
			sh.idleWalks++
			sh.asm.FlushWithOptions(greassembly.FlushOptions{T: t, TC: tc.t})
			break
		}
		sh.idleClosed++
	}
	clear(idle)
	sh.idle = idle[:0]
}

// resetHalf hands the assembler a RST of connection s in direction d (0:
// the direction of its first packet).
func (sh *shard) resetHalf(s *tcpStream, d int) {
	sh.bareSegment(s, d, 0, 0x04, &sh.ctxIdle)
}

// bareSegment hands the assembler a segment without payload of connection
// s in direction d, with sequence number seq and TCP flags flags (byte 13
// of the header).
func (sh *shard) bareSegment(s *tcpStream, d int, seq uint32, flags byte, ctx *pktContext) {
	k := s.key
	if d == 1 {
		k = k.Reverse()
	}
	h := sh.rstHdr[:]
	clear(h)
	binary.BigEndian.PutUint16(h[0:], k.SrcPort)
	binary.BigEndian.PutUint16(h[2:], k.DstPort)
	binary.BigEndian.PutUint32(h[4:], seq)
	h[12] = 5 << 4 // data offset: 20 bytes
	h[13] = flags
	if err := sh.rst.DecodeFromBytes(h, gopacket.NilDecodeFeedback); err != nil {
		return // a fixed, valid header: cannot happen
	}
	var net gopacket.Flow
	if s.ipv6 {
		net = gopacket.NewFlow(layers.EndpointIPv6, k.Src[:], k.Dst[:])
	} else {
		net = gopacket.NewFlow(layers.EndpointIPv4, k.Src[12:], k.Dst[12:])
	}
	sh.asm.AssembleWithContext(net, &sh.rst, ctx)
}

// scanLast sets minLast exactly.
func (sh *shard) scanLast() {
	sh.minLast = stamp{}
	for i := range sh.lastSeen {
		if t := &sh.lastSeen[i]; sh.minLast.isZero() || t.before(&sh.minLast) {
			sh.minLast = *t
		}
	}
}

// evict closes the idlest connections until the shard is back under its
// bound, halving the idle time it tolerates each round.
// Each pass scans every connection, so passes are spaced by at least
// maxConns/8 new connections.
func (sh *shard) evict() {
	before := sh.live
	for idle := sh.opts.FlowTimeout / 2; sh.live > sh.maxConns*7/8; idle /= 2 {
		sh.asm.FlushCloseOlderThan(sh.now.t.Add(-idle))
		sh.closeFast(new(sh.now.add(-idle)), false)
		if idle == 0 {
			break
		}
	}
	sh.afterEvict = sh.live
	if n := before - sh.live; n > 0 {
		sh.stats.EvictedFlows += uint64(n)
	}
}

// finish closes every connection. The caller brackets it with
// col.beginPass and col.endPass.
func (sh *shard) finish() {
	sh.asm.FlushAll()
	sh.closeFast(&stamp{}, true)
}

// tcpStream adapts an httpConn to gopacket's reassembly.Stream.
type tcpStream struct {
	sh *shard
	// id is the global index of the connection's first packet: it names
	// the connection for the canonical order of a pass's transactions
	// (see collector).
	id uint64
	// idx is the stream's index in sh.streams and sh.lastSeen while it is
	// live.
	idx int
	// key is the flow key of the connection's first packet, ipv6 whether
	// it is IPv6 (for closeIdle).
	key  capture.FlowKey
	ipv6 bool
	c    httpConn
	seen [2]bool
	// counted is set once the connection carried a byte: only those
	// count as flows (bare ACKs after a close open no new flow).
	counted bool
	done    bool
	// next[d] estimates the next sequence number gopacket expects in
	// direction d (valid when nextOK[d]); hole[d] is the capture time of the
	// first segment queued beyond a hole in direction d, zero when none is
	// known. An acknowledgement from the peer beyond next[d] proves the
	// hole's bytes reached the receiver but not the capture: they are lost.
	next   [2]greassembly.Sequence
	nextOK [2]bool
	hole   [2]time.Time
	// queued[d] estimates the pages gopacket holds for direction d (added
	// when a segment lands beyond a hole, removed when delivered); a hole
	// pushed on while at a page bound counts as a buffer-limit gap.
	queued [2]int
	// qEnd[d] is the end of the highest data queued beyond the hole.
	qEnd [2]greassembly.Sequence
	// fast is set while the fast path holds the connection (it is not in
	// the assembler's pool); fnext[d] is then the sequence number the
	// assembler would expect next in direction d (noSeq: none yet). See
	// fastpath.go.
	// fclosed[d] is set once the fast path saw direction d end (FIN or
	// RST), as the assembler closes the half.
	fast    bool
	fnext   [2]greassembly.Sequence
	fclosed [2]bool
}

// pageBytes is the size of a gopacket reassembly page.
const pageBytes = 1900

func (s *tcpStream) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir greassembly.TCPFlowDirection, nextSeq greassembly.Sequence, start *bool, _ greassembly.AssemblerContext) bool {
	// The segment is the packet being assembled (sh.ts), whose stamp
	// is known.
	ts := &s.sh.ts
	if ci.Timestamp != ts.t {
		ts = new(stampOf(ci.Timestamp))
	}
	return s.accept(tcp, ts, dirIndex(dir), nextSeq, start)
}

// accept is Accept for a segment of direction d (0: the direction of the
// connection's first packet) captured at ts.
func (s *tcpStream) accept(tcp *layers.TCP, ts *stamp, d int, nextSeq greassembly.Sequence, start *bool) bool {
	if s.sh.adopting != nil {
		// handOver's segment: it starts the half where the fast path
		// expects its next byte (a half never seen stays unstarted).
		*start = s.sh.adoptStart
		return s == s.sh.adopting
	}
	if s.sh.closing != nil {
		// closeIdle's RST: put it where the half expects its next byte
		// (gopacket reads the sequence number after Accept), so that it
		// ends the half; a half never seen starts there.
		if s != s.sh.closing {
			return false
		}
		if nextSeq >= 0 {
			tcp.Seq = uint32(nextSeq)
		}
		*start = true
		return true
	}
	if s.done {
		return false // gone from the pool: cannot happen
	}
	if last := &s.sh.lastSeen[s.idx]; ts.after(last) {
		*last = *ts
	}
	if s.c.state == stOther || s.c.state == stDone {
		// Skip the bytes, but let FIN and RST through to end it early.
		return len(tcp.Payload) == 0
	}
	if !s.seen[d] {
		s.seen[d] = true
		s.c.fresh[d] = tcp.SYN
	}
	if s.track(tcp, ts.t, d, nextSeq) {
		return false // assembled again after a flush
	}
	// Connections already open when the capture began start anywhere.
	*start = true
	return true
}

// track follows the sequence numbers of direction d and the peer's
// acknowledgements, and asks the shard to flush when the peer acknowledged
// bytes lost by the capture.
//
// It returns true when the segment must be held back: it proves a loss in
// the other direction, whose queued data must reach the parsers first.
func (s *tcpStream) track(tcp *layers.TCP, ts time.Time, d int, nextSeq greassembly.Sequence) bool {
	seq := greassembly.Sequence(tcp.Seq)
	n := len(tcp.Payload)
	if tcp.SYN || tcp.FIN {
		n++
	}
	end := seq.Add(n)
	switch {
	case nextSeq < 0: // first segment: gopacket starts here (start is forced)
		s.next[d], s.nextOK[d] = end, true
	case nextSeq.Difference(seq) > 0: // beyond a hole: queued
		// gopacket keeps the packet's context with the queued pages.
		s.sh.ctxKept = true
		if ts.After(s.sh.queuedUntil) {
			s.sh.queuedUntil = ts
		}
		if g := s.sh.grp; g != nil {
			g.lowerWake(stamp{})
		}
		s.next[d], s.nextOK[d] = nextSeq, true
		// Count only bytes beyond those already queued (retransmissions
		// of queued data are trimmed by gopacket).
		if s.hole[d].IsZero() || s.qEnd[d].Difference(seq) > 0 {
			s.qEnd[d] = seq
		}
		if fresh := s.qEnd[d].Difference(end); fresh > 0 {
			p := (fresh + pageBytes - 1) / pageBytes
			s.queued[d] += p
			s.sh.queued += p
			s.qEnd[d] = end
		}
		if s.hole[d].IsZero() && len(tcp.Payload) > 0 {
			s.hole[d] = ts
		}
	default: // in order (or a retransmission)
		if len(tcp.Payload) > 0 || tcp.SYN || tcp.FIN || tcp.RST {
			s.sh.inOrder, s.sh.inOrderDir = s, d
		}
		if nextSeq.Difference(end) > 0 {
			s.next[d] = end
		} else {
			s.next[d] = nextSeq
		}
		s.nextOK[d] = true
		s.hole[d] = time.Time{}
	}
	o := 1 - d
	if !tcp.ACK || s.hole[o].IsZero() || !s.nextOK[o] {
		return false
	}
	if s.next[o].Difference(greassembly.Sequence(tcp.Ack)) > 0 {
		if t := s.hole[o].Add(1); t.After(s.sh.ackFlushT) {
			s.sh.ackFlushT = t
		}
		s.hole[o] = time.Time{}
		// Hold this segment back for the flush when one may run now
		// (see shard.assemble).
		if !s.sh.retrying && s.sh.sinceAckFlush >= s.sh.live/4 {
			s.sh.deferred = true
			return true
		}
	}
	return false
}

func (s *tcpStream) ReassembledSG(sg greassembly.ScatterGather, ac greassembly.AssemblerContext) {
	if s.sh.closing != nil || s.sh.adopting != nil {
		return // closeIdle's RST, handOver's FIN: no bytes, no pages
	}
	s.sh.emitConn = s.id
	dir, _, _, skip := sg.Info()
	length, _ := sg.Lengths()
	d := dirIndex(dir)
	ts := s.sh.now.t
	if ac != nil {
		ts = ac.GetCaptureInfo().Timestamp
	}
	if length > 0 {
		// The capture time of the first byte (for bytes after a hole,
		// close to when the lost ones passed).
		if ci := sg.CaptureInfo(0); !ci.Timestamp.IsZero() {
			ts = ci.Timestamp
		}
	}
	if skip > 0 {
		if s.queued[d] >= s.sh.asm.MaxBufferedPagesPerConnection || s.sh.queued >= s.sh.asm.MaxBufferedPagesTotal {
			s.sh.stats.BufferLimitGaps++
		}
		s.c.gap(d, skip, ts)
	}
	// Every chunk is a page from the queue except the segment being
	// assembled when it came in order.
	pages := sg.Stats().Chunks
	if s.sh.inOrder == s && s.sh.inOrderDir == d {
		pages--
		s.sh.inOrder = nil
	}
	if p := min(max(pages, 0), s.queued[d]); p > 0 {
		s.queued[d] -= p
		s.sh.queued -= p
	}
	if length > 0 {
		if !s.counted {
			s.counted = true
			s.sh.stats.Flows++
		}
		s.c.data(d, sg.Fetch(length), ts)
	}
}

func (s *tcpStream) ReassemblyComplete(greassembly.AssemblerContext) bool {
	if !s.done {
		s.done = true
		s.sh.emitConn = s.id
		// gopacket passes no context here; the shard's clock is the
		// latest capture time.
		ts := s.sh.now.t
		s.c.close(ts)
		sh := s.sh
		sh.live--
		st, lt := sh.streams, sh.lastSeen
		last := len(st) - 1
		st[s.idx], st[last].idx = st[last], s.idx
		lt[s.idx] = lt[last]
		st[last] = nil
		sh.streams, sh.lastSeen = st[:last], lt[:last]
		sh.queued -= s.queued[0] + s.queued[1]
		s.queued = [2]int{}
		delete(sh.conns, connKeyOf(&s.key, s.ipv6))
		s.fast = false
		// gopacket drops the stream when this returns (it is removed
		// from the pool): New may hand it out again.
		if len(sh.free) < maxFreeStreams {
			sh.free = append(sh.free, s)
		}
	}
	return true
}

// maxFreeStreams bounds the ended streams a shard keeps for reuse.
const maxFreeStreams = 256

// dirIndex maps gopacket's direction (false for the direction of the first
// packet seen) onto 0 and 1.
func dirIndex(dir greassembly.TCPFlowDirection) int {
	if dir == greassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}
