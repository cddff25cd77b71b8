package reassembly

import (
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/shadowtap/shadowtap/capture"
)

// batchSize is the number of segments handed to a worker at once.
const batchSize = 256

// syncEvery is the number of packets after which every worker is handed a
// batch, if only an empty one, so that its watermark advances and the
// merge holds the transactions of at most a few such spans.
const syncEvery = 2048

// batch carries decoded segments to a worker: for each a fixed-size
// record (segRec) of what the worker's shards read, and its payload, copied
// into arena, which the batch owns. The worker does not decode the TCP
// header again, and reads one record (64 bytes, one cache line, written by
// the reader's core) per segment instead of seven arrays and the header
// bytes.
type batch struct {
	// segs comes first: a batch is a large allocation, which starts on a
	// page, so each record fills one cache line.
	segs [batchSize]segRec
	n    int
	// base is the global index of the first segment's packet; segRec.idx
	// is relative to it.
	base  uint64
	arena []byte
	// odd holds the capture times a record cannot carry as a stamp key
	// (see recOddTime).
	odd []time.Time
	// through is the global index of the last packet read when the batch
	// was handed over: the worker has had all its segments up to it.
	through uint64
	// ticks are the periodic passes to run among the segments, in order.
	ticks []tickAt
}

// segRec is one segment of a batch: the packet's flow and global index
// (base + idx), its shard, the TCP fields the shards read (see
// shard.fieldsOnly) and its capture time; its payload ends at arena[end].
//
// The capture time is sec and nsec, its Unix time, from which the worker
// makes the time and its stamp again (recStamp) when that gives the very
// same time.Time (see recTime: a time.Unix time of 1970 to 2106, as every
// capture source makes them); any other time is kept in batch.odd, sec
// being its index there, and flags has recOddTime.
type segRec struct {
	key       capture.FlowKey
	shard     uint8
	flags     uint8 // tcpFIN, tcpSYN, tcpRST, tcpACK as in the header; recOddTime, recIPv6
	seq, ack  uint32
	end       uint32
	idx       uint32
	sec, nsec uint32
}

// TCP flags (byte 13 of the header) and segRec.flags' own bits.
const (
	tcpFIN     = 0x01
	tcpSYN     = 0x02
	tcpRST     = 0x04
	tcpACK     = 0x10
	recOddTime = 0x40
	recIPv6    = 0x80
)

// recTime returns the Unix time of t as a record carries it, and whether
// recStamp makes t of it again, the very same time.Time: a time from
// time.Unix (in time.Local, without a monotonic reading) between 1970 and
// 2106.
func recTime(t time.Time) (sec, nsec uint32, ok bool) {
	s, n := t.Unix(), t.Nanosecond()
	return uint32(s), uint32(n), uint64(s) < 1<<32 && t == time.Unix(s, int64(n))
}

// recStamp returns the stamp of time.Unix(sec, nsec) (nsec < 1e9): such a
// time has a key.
func recStamp(sec, nsec uint32) stamp {
	s, n := int64(sec), int64(nsec)
	return stamp{t: time.Unix(s, n), ns: s*1e9 + n + keyBias}
}

// tcpFlags packs t's FIN, SYN, RST and ACK as they stand in the header.
func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	if t.FIN {
		f |= tcpFIN
	}
	if t.SYN {
		f |= tcpSYN
	}
	if t.RST {
		f |= tcpRST
	}
	if t.ACK {
		f |= tcpACK
	}
	return f
}

// tickAt asks for the periodic pass after packet idx, at capture time ts,
// once the batch's first pos segments are assembled.
type tickAt struct {
	pos int
	idx uint64
	ts  stamp
}

// result carries a worker's transactions of one batch, in the run's order
// (see order.go), to the merge. mark is the worker's watermark: it has
// handed on every transaction of the events up to mark.
type result struct {
	worker int
	txs    []orderedTx
	mark   uint64
}

// parallel runs the shards on Options.Workers goroutines (shard i on
// worker i % Workers): one reader (Run's goroutine) dispatches segments in
// batches, each worker runs its group, and a merging goroutine hands the
// transactions to the sink in the run's order, as soon as every worker's
// watermark has passed them.
type parallel struct {
	opts   *Options
	groups []*group
	// owner[s] is the worker of shard s (s % workers).
	owner   [shardCount]uint8
	pubs    []published
	work    []chan *batch
	cur     []*batch
	free    chan *batch
	results chan *result
	resFree chan *result
	// since counts the packets dispatched since every worker was last
	// handed a batch.
	since int
	// last is the global index of the last packet dispatched.
	last uint64
	wg   sync.WaitGroup
	done chan struct{} // closed when the merge has returned
	// maxHeld is the most transactions the merge held at once (read
	// after done).
	maxHeld int
}

func startParallel(o *Options, shards []*shard, sink func(*Transaction)) *parallel {
	n := min(o.Workers, len(shards))
	p := &parallel{
		opts:    o,
		groups:  make([]*group, n),
		pubs:    make([]published, n),
		work:    make([]chan *batch, n),
		cur:     make([]*batch, n),
		free:    make(chan *batch, 4*n),
		results: make(chan *result, 2*n),
		resFree: make(chan *result, 2*n),
		done:    make(chan struct{}),
	}
	for s := range p.owner {
		p.owner[s] = uint8(s % n)
	}
	for i := 0; i < 4*n; i++ {
		p.free <- &batch{arena: make([]byte, 0, 256<<10)}
	}
	for i := 0; i < 2*n; i++ {
		p.resFree <- &result{}
	}
	for _, sh := range shards {
		sh.fieldsOnly = true
	}
	for w := range p.groups {
		p.groups[w] = newGroup(shards, func(s int) bool { return s%n == w })
		p.groups[w].col.prepare = o.Prepare
		p.work[w] = make(chan *batch, 2)
		p.wg.Add(1)
		go p.worker(w)
	}
	go p.merge(sink)
	return p
}

// worker runs group w on the batches it is handed, then closes its
// connections when the reader is done.
func (p *parallel) worker(w int) {
	defer p.wg.Done()
	g := p.groups[w]
	var (
		d  capture.Decoded
		ts stamp
	)
	d.Key.Proto = capture.ProtoTCP
	for b := range p.work[w] {
		r := <-p.resFree
		g.col.out = r.txs[:0]
		start, next, tickPos := 0, 0, -1
		if len(b.ticks) > 0 {
			tickPos = b.ticks[0].pos
		}
		for k := 0; k < b.n; k++ {
			for tickPos == k {
				g.tick(b.ticks[next].idx, b.ticks[next].ts)
				if next++; next < len(b.ticks) {
					tickPos = b.ticks[next].pos
				} else {
					tickPos = -1
				}
			}
			rec := &b.segs[k]
			if rec.flags&recOddTime == 0 {
				ts = recStamp(rec.sec, rec.nsec)
			} else {
				ts = stampOf(b.odd[rec.sec])
			}
			d.Timestamp, d.Key, d.IPv6 = ts.t, rec.key, rec.flags&recIPv6 != 0
			t := &d.TCP
			t.SrcPort, t.DstPort = layers.TCPPort(rec.key.SrcPort), layers.TCPPort(rec.key.DstPort)
			t.Seq, t.Ack = rec.seq, rec.ack
			f := rec.flags
			t.FIN, t.SYN, t.RST, t.ACK = f&tcpFIN != 0, f&tcpSYN != 0, f&tcpRST != 0, f&tcpACK != 0
			t.Payload = b.arena[start:rec.end:rec.end]
			d.Payload = t.Payload
			start = int(rec.end)
			g.assembleAt(int(rec.shard), &d, b.base+uint64(rec.idx), &ts)
		}
		r.mark = event(b.through, evPacket)
		for ; next < len(b.ticks); next++ {
			g.tick(b.ticks[next].idx, b.ticks[next].ts)
			if b.ticks[next].idx == b.through {
				r.mark = event(b.through, evTick)
			}
		}
		clear(b.odd)
		b.n, b.arena, b.ticks, b.odd = 0, b.arena[:0], b.ticks[:0], b.odd[:0]
		p.free <- b
		r.worker, r.txs = w, g.col.out
		g.col.out = nil
		p.results <- r
		if p.opts.Progress != nil {
			var s Stats
			g.addStats(&s)
			p.pubs[w].set(&s)
		}
	}
	r := <-p.resFree
	g.col.out = r.txs[:0]
	g.finish()
	r.worker, r.txs, r.mark = w, g.col.out, evEnd
	g.col.out = nil
	p.results <- r
}

// dispatch hands the segment of global index idx, of shard s, to its
// worker; ts is the stamp of its capture time.
func (p *parallel) dispatch(s int, d *capture.Decoded, idx uint64, ts *stamp) {
	w := int(p.owner[s])
	p.last = idx
	b := p.cur[w]
	if b == nil {
		b = <-p.free
		p.cur[w] = b
	}
	k := b.n
	if k == 0 {
		b.base = idx
	}
	t := &d.TCP
	f := tcpFlags(t)
	if d.IPv6 {
		f |= recIPv6
	}
	b.arena = append(b.arena, t.Payload...)
	rec := &b.segs[k]
	sec, nsec, ok := recTime(ts.t)
	if !ok {
		f |= recOddTime
		sec = uint32(len(b.odd))
		b.odd = append(b.odd, ts.t)
	}
	rec.sec, rec.nsec = sec, nsec
	rec.key, rec.shard, rec.flags = d.Key, uint8(s), f
	rec.seq, rec.ack, rec.end, rec.idx = t.Seq, t.Ack, uint32(len(b.arena)), uint32(idx-b.base)
	b.n++
	if b.n == batchSize || len(b.arena) >= cap(b.arena)-65536 {
		p.send(w, idx)
	}
	if p.since++; p.since >= syncEvery {
		p.sync(idx)
	}
}

// tick asks every worker for the periodic pass after packet idx (the last
// dispatched), at capture time now.
func (p *parallel) tick(idx uint64, now stamp) {
	for w, b := range p.cur {
		if b == nil {
			b = <-p.free
			p.cur[w] = b
		}
		b.ticks = append(b.ticks, tickAt{pos: b.n, idx: idx, ts: now})
	}
}

// send hands worker w its current batch (an empty one if none), through
// packet idx.
func (p *parallel) send(w int, idx uint64) {
	b := p.cur[w]
	if b == nil {
		b = <-p.free
	}
	p.cur[w] = nil
	b.through = idx
	p.work[w] <- b
}

// sync hands every worker a batch through packet idx.
func (p *parallel) sync(idx uint64) {
	p.since = 0
	for w := range p.cur {
		p.send(w, idx)
	}
}

// stop hands on the partial batches, waits for the workers to finish and
// the merge to hand on the last transactions.
func (p *parallel) stop() {
	for w, b := range p.cur {
		if b != nil && (b.n > 0 || len(b.ticks) > 0) {
			b.through = p.last
			p.work[w] <- b
		}
		close(p.work[w])
	}
	p.wg.Wait()
	close(p.results)
	<-p.done
}

// addStats adds the counters the workers published to s.
func (p *parallel) addStats(s *Stats) {
	for w := range p.pubs {
		c := p.pubs[w].get()
		s.add(&c)
	}
}

// merge hands the workers' transactions to sink in the run's order. Each
// worker's results come in that order; a transaction goes on once every
// worker's watermark has reached its event, the earliest of the workers'
// next ones first.
func (p *parallel) merge(sink func(*Transaction)) {
	defer close(p.done)
	n := len(p.groups)
	queue := make([][]orderedTx, n)
	head := make([]int, n)
	marks := make([]uint64, n)
	for r := range p.results {
		w := r.worker
		queue[w] = append(queue[w], r.txs...)
		marks[w] = r.mark
		held := 0
		for i, q := range queue {
			held += len(q) - head[i]
		}
		p.maxHeld = max(p.maxHeld, held)
		clear(r.txs)
		r.txs = r.txs[:0]
		p.resFree <- r
		low := marks[0]
		for _, m := range marks[1:] {
			low = min(low, m)
		}
		for {
			best := -1
			for i := range queue {
				if head[i] == len(queue[i]) {
					continue
				}
				t := &queue[i][head[i]]
				if t.ev <= low && (best < 0 || t.before(&queue[best][head[best]])) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			q := queue[best]
			sink(q[head[best]].tx)
			q[head[best]] = orderedTx{}
			head[best]++
			if head[best] == len(q) {
				queue[best], head[best] = q[:0], 0
			}
		}
		for i, q := range queue {
			if h := head[i]; h >= 1024 && h > len(q)/2 {
				queue[i] = q[:copy(q, q[h:])]
				head[i] = 0
			}
		}
	}
}
