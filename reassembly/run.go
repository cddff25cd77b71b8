package reassembly

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/shadowtap/shadowtap/capture"
)

// Run reads src to its end, decodes and filters each packet, reassembles
// TCP and hands every HTTP transaction to sink. HTTP/1.x transactions of
// one connection reach sink in request order, HTTP/2 ones as their streams
// end. With Options.Workers > 1, sink is
// called from several goroutines at once and must be safe for that.
//
// A capture damaged part-way (truncated or corrupt record) is analysed up to
// the damage and the damage reported in Stats.Warnings; other read errors,
// and ctx's, are returned with the counters so far.
func Run(ctx context.Context, src capture.Source, opts Options, sink func(*Transaction)) (Stats, error) {
	o := opts.withDefaults()
	var st Stats
	dec := capture.NewDecoder(o.Decoder)
	shards := make([]*shard, o.Workers)
	for i := range shards {
		shards[i] = newShard(&o, sink)
	}
	var disp dispatcher
	if o.Workers > 1 {
		disp.start(shards)
	}

	var (
		pkt    capture.Packet
		d      capture.Decoded
		runErr error
	)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		if o.Progress != nil && n%progressEvery == 0 && n > 0 {
			o.Progress(progress(&st, shards, dec))
		}
		err := src.Next(&pkt)
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
			case errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrCorrupt):
				st.Warnings = append(st.Warnings, fmt.Sprintf("analysed up to the damage: %v", err))
			default:
				runErr = err
			}
			break
		}
		st.Packets++
		st.Bytes += uint64(pkt.WireLen)
		if st.FirstTS.IsZero() || pkt.Timestamp.Before(st.FirstTS) {
			st.FirstTS = pkt.Timestamp
		}
		if pkt.Timestamp.After(st.LastTS) {
			st.LastTS = pkt.Timestamp
		}
		if !dec.Decode(&pkt, &d) {
			continue
		}
		if o.Filter != nil && !o.Filter.Match(&d) {
			st.Filtered++
			continue
		}
		switch d.Key.Proto {
		case capture.ProtoTCP:
		case capture.ProtoUDP:
			st.UDP++
			continue
		default:
			st.OtherPackets++
			continue
		}
		if o.Workers == 1 {
			shards[0].assemble(&d)
		} else {
			disp.dispatch(&d)
		}
	}
	if o.Workers > 1 {
		disp.stop()
	} else {
		shards[0].finish()
	}
	for _, sh := range shards {
		st.add(&sh.stats)
	}
	st.Decoder = dec.Stats()
	if st.BufferLimitGaps > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d gaps forced by the reassembly buffer bounds (%d pages per connection, %d in all)", st.BufferLimitGaps, o.MaxBufferedPagesPerConn, o.MaxBufferedPagesTotal))
	}
	if st.EvictedFlows > 0 {
		st.Warnings = append(st.Warnings, fmt.Sprintf("%d connections closed early: more than %d open at once", st.EvictedFlows, o.MaxConnections))
	}
	if st.Warnings == nil {
		st.Warnings = []string{}
	}
	return st, runErr
}

// symmetricHash returns the same value for both directions of a flow.
func symmetricHash(k *capture.FlowKey) uint32 {
	return endpointHash(&k.Src, k.SrcPort) ^ endpointHash(&k.Dst, k.DstPort)
}

func endpointHash(a *[16]byte, port uint16) uint32 {
	h := uint32(2166136261)
	for _, b := range a {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(port&0xff)) * 16777619
	h = (h ^ uint32(port>>8)) * 16777619
	return h
}

// batchSize is the number of segments handed to a worker at once.
const batchSize = 256

// batch carries decoded segments to a worker. The segment bytes (TCP header
// and payload) are copied into arena, which the batch owns.
type batch struct {
	n      int
	ts     [batchSize]time.Time
	keys   [batchSize]capture.FlowKey
	ipv6   [batchSize]bool
	length [batchSize]int
	end    [batchSize]int // end of each segment in arena
	arena  []byte
}

// dispatcher shards decoded segments over worker goroutines.
type dispatcher struct {
	shards []*shard
	work   []chan *batch
	cur    []*batch
	free   chan *batch
	wg     sync.WaitGroup
}

func (p *dispatcher) start(shards []*shard) {
	p.shards = shards
	n := len(shards)
	p.work = make([]chan *batch, n)
	p.cur = make([]*batch, n)
	p.free = make(chan *batch, 4*n)
	for i := 0; i < 4*n; i++ {
		p.free <- &batch{arena: make([]byte, 0, 256<<10)}
	}
	for i := range shards {
		p.work[i] = make(chan *batch, 2)
		p.wg.Add(1)
		go p.worker(shards[i], p.work[i])
	}
}

func (p *dispatcher) dispatch(d *capture.Decoded) {
	i := int(symmetricHash(&d.Key) % uint32(len(p.shards)))
	b := p.cur[i]
	if b == nil {
		b = <-p.free
		p.cur[i] = b
	}
	k := b.n
	b.ts[k], b.keys[k], b.ipv6[k], b.length[k] = d.Timestamp, d.Key, d.IPv6, d.Length
	b.arena = append(b.arena, d.TCP.Contents...)
	b.arena = append(b.arena, d.TCP.Payload...)
	b.end[k] = len(b.arena)
	b.n++
	if b.n == batchSize || len(b.arena) >= cap(b.arena)-65536 {
		p.work[i] <- b
		p.cur[i] = nil
	}
}

func (p *dispatcher) worker(sh *shard, in <-chan *batch) {
	defer p.wg.Done()
	var d capture.Decoded
	for b := range in {
		start := 0
		for k := 0; k < b.n; k++ {
			d.Timestamp, d.Key, d.IPv6, d.Length = b.ts[k], b.keys[k], b.ipv6[k], b.length[k]
			d.Key.Proto = capture.ProtoTCP
			seg := b.arena[start:b.end[k]]
			start = b.end[k]
			if err := d.TCP.DecodeFromBytes(seg, gopacket.NilDecodeFeedback); err != nil {
				continue // it decoded once already; cannot happen
			}
			d.Payload = d.TCP.Payload
			sh.assemble(&d)
		}
		b.n, b.arena = 0, b.arena[:0]
		p.free <- b
		if sh.opts.Progress != nil {
			sh.pub.set(&sh.stats)
		}
	}
	sh.finish()
}

// stop hands on the partial batches, waits for the workers to finish.
func (p *dispatcher) stop() {
	for i, b := range p.cur {
		if b != nil && b.n > 0 {
			p.work[i] <- b
		}
		close(p.work[i])
	}
	p.wg.Wait()
}
