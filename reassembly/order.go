package reassembly

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/shadowtap/shadowtap/capture"
)

// How Run stays deterministic whatever Options.Workers is.
//
// Flows are spread by a symmetric hash over shardCount shards, a number
// that does not depend on Workers; a worker owns some of them. A shard's
// work depends only on its own segments (in capture order) and on the
// passes run at fixed points of the capture (clock), so each shard does
// the same with one worker as with four.
//
// Every transaction comes out at an event: the assembly of the packet of
// global index i (evPacket; only that packet's shard takes part), the
// periodic pass after packet i (evTick; every shard), or the end of the
// capture (evEnd). Within a pass, transactions are put in the order of
// their connection's id (the index of its first packet: flow start, then
// capture order), each connection's in the order it produced them. The
// transactions of a run are sorted by (event, connection within a pass),
// which is the same sequence for any number of workers: one worker
// produces them in that order; several have their streams merged (merge).

// shardCount is the number of shards flows are spread over, whatever the
// number of workers (which it bounds). Each shard costs about 0.8 MiB
// (gopacket's connection pool is allocated 1024 connections at a time).
const shardCount = 8

// shardOf returns the shard of a flow (either direction).
func shardOf(k *capture.FlowKey) int {
	return int(symmetricHash(k) % shardCount)
}

// flushEvery is the capture time between two periodic passes (shard.tick).
const flushEvery = time.Second

// Event kinds (see event).
const (
	evPacket = iota
	evTick
)

// evEnd is the event of the passes at the end of the capture.
const evEnd = math.MaxUint64

// event orders the points at which transactions come out: the assembly of
// packet i before the pass after it, both before packet i+1.
func event(i uint64, kind uint64) uint64 { return i<<1 | kind }

// clock is a run's capture clock: the latest capture time of the TCP
// segments assembled so far. It is kept by the reader (one for all
// shards), so the periodic passes fall after the same packets whatever
// the sharding.
//
// last is the time of the last pass (or of the first segment): a pass is
// due once now reaches last + flushEvery, whose key is next (see
// stamp.plus; outOfRange: compare the times).
type clock struct {
	now, last stamp
	next      int64
}

// advance moves the clock to ts and reports whether a periodic pass is
// due (one each flushEvery of capture time).
func (c *clock) advance(ts time.Time) bool {
	s := stampOf(ts)
	return c.advanceTo(&s)
}

// advanceTo is advance with ts's stamp.
func (c *clock) advanceTo(ts *stamp) bool {
	if ts.after(&c.now) {
		c.now = *ts
	}
	if c.last.isZero() {
		c.last, c.next = *ts, ts.plus(flushEvery)
	}
	var due bool
	if c.next|c.now.ns >= 0 {
		due = c.now.ns >= c.next
	} else {
		due = !c.now.t.Before(c.last.t.Add(flushEvery))
	}
	if due {
		c.last, c.next = c.now, c.now.plus(flushEvery)
	}
	return due
}

// orderedTx is a transaction with its place in the run's order: its event
// and, within a pass, its connection's id.
type orderedTx struct {
	ev, conn uint64
	tx       *Transaction
}

// before reports whether a comes before b (of different workers).
func (a *orderedTx) before(b *orderedTx) bool {
	return a.ev < b.ev || a.ev == b.ev && a.conn < b.conn
}

// collector receives the transactions of the shards one goroutine runs.
// Outside passes they go on at once (a packet's shard is the only one at
// work); during a pass they are held and go on sorted by connection at its
// end. Each is handed to prepare (Options.Prepare) first, then with direct
// set (one worker) straight to the sink, otherwise appended to out for the
// merge. It is owned by one goroutine.
type collector struct {
	ev      uint64 // the current event
	passes  int    // depth of open passes
	held    []orderedTx
	prepare func(*Transaction)
	direct  func(*Transaction)
	out     []orderedTx
}

func (c *collector) put(conn uint64, tx *Transaction) {
	o := orderedTx{ev: c.ev, conn: conn, tx: tx}
	if c.passes > 0 {
		c.held = append(c.held, o)
		return
	}
	c.deliver(&o)
}

func (c *collector) deliver(o *orderedTx) {
	if c.prepare != nil {
		c.prepare(o.tx)
	}
	if c.direct != nil {
		c.direct(o.tx)
		return
	}
	c.out = append(c.out, *o)
}

func (c *collector) beginPass() { c.passes++ }

// endPass hands on what the pass produced, by connection id.
func (c *collector) endPass() {
	if c.passes--; c.passes > 0 {
		return
	}
	if len(c.held) > 1 {
		slices.SortStableFunc(c.held, func(a, b orderedTx) int { return cmp.Compare(a.conn, b.conn) })
	}
	for i := range c.held {
		c.deliver(&c.held[i])
		c.held[i] = orderedTx{}
	}
	c.held = c.held[:0]
}

// group is the shards one goroutine runs: all of them with one worker,
// those a worker owns otherwise. It is owned by that goroutine.
type group struct {
	// shards is indexed by shard number; nil where another group owns it.
	shards [shardCount]*shard
	owned  []*shard
	col    collector
	// now is the capture time of the latest periodic pass. A pass moves
	// a shard's clock (shard.now) to its time; that is done when the
	// shard next runs (syncClock) rather than at every pass.
	now stamp
	// A pass at a time not after wake has nothing to do in any shard
	// (nothing queued, no connection idle long enough: see flushDue),
	// nor does any pass while never is set; the group then skips it
	// without touching the shards (a week of capture has 604,800
	// passes, nearly all empty). It is recomputed after each pass that
	// runs and lowered (lowerWake) when a shard opens a connection or
	// queues a segment.
	wake  stamp
	never bool
}

// newGroup returns a group owning the shards of all for which own is true.
func newGroup(all []*shard, own func(int) bool) *group {
	g := &group{never: true}
	for i, sh := range all {
		if own(i) {
			g.shards[i] = sh
			g.owned = append(g.owned, sh)
			sh.col = &g.col
			sh.grp = g
			if !sh.wakeNever() {
				g.lowerWake(sh.wakeAt())
			}
		}
	}
	return g
}

// lowerWake makes sure a pass after time t runs.
func (g *group) lowerWake(t stamp) {
	if g.never || t.before(&g.wake) {
		g.wake, g.never = t, false
	}
}

// syncClock brings shard sh's clock up to the latest pass.
func (g *group) syncClock(sh *shard) {
	if g.now.after(&sh.now) {
		sh.now = g.now
	}
}

// assemble feeds the segment of global index idx to shard s.
func (g *group) assemble(s int, d *capture.Decoded, idx uint64) {
	ts := stampOf(d.Timestamp)
	g.assembleAt(s, d, idx, &ts)
}

// assembleAt is assemble with ts, the stamp of d.Timestamp.
func (g *group) assembleAt(s int, d *capture.Decoded, idx uint64, ts *stamp) {
	sh := g.shards[s]
	g.col.ev = event(idx, evPacket)
	sh.idx = idx
	g.syncClock(sh)
	sh.assembleAt(d, ts)
}

// tick runs the periodic pass after packet idx, at capture time now, on
// every shard.
func (g *group) tick(idx uint64, now stamp) {
	if now.after(&g.now) {
		g.now = now
	}
	if g.never || !now.after(&g.wake) || len(g.owned) == 0 {
		return
	}
	g.col.ev = event(idx, evTick)
	g.col.beginPass()
	c := passCutoffs(g.owned[0].opts, now)
	g.never = true
	for _, sh := range g.owned {
		g.syncClock(sh)
		sh.tick(&c)
		if !sh.wakeNever() {
			g.lowerWake(sh.wakeAt())
		}
	}
	g.col.endPass()
}

// finish closes every connection of every shard.
func (g *group) finish() {
	g.col.ev = evEnd
	g.col.beginPass()
	for _, sh := range g.owned {
		g.syncClock(sh)
		sh.finish()
	}
	g.col.endPass()
}

// addStats adds the counters of the group's shards to s.
func (g *group) addStats(s *Stats) {
	for _, sh := range g.owned {
		s.add(&sh.stats)
	}
}
