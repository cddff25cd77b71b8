package reassembly

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/shadowtap/shadowtap/capture"
)

// Run reads src to its end, decodes and filters each packet, reassembles
// TCP and hands every HTTP transaction to sink.
//
// sink is called from one goroutine at a time (never concurrently): Run's
// own with one worker, a merging goroutine of Run's with Options.Workers >
// 1; every call has returned when Run returns. It receives the same
// transactions in the same order whatever Options.Workers is: in the order
// they were completed in the capture (the packet that completed them),
// those that a periodic pass or the end of the capture pushed out sorted
// by the start of their connection. The transactions of one connection
// come in request order (HTTP/2 ones behind a long stream: see the package
// documentation).
// Work on a transaction that needs no order belongs in Options.Prepare,
// which runs on the workers.
//
// A capture damaged part-way (truncated or corrupt record) is analysed up to
// the damage and the damage reported in Stats.Warnings; other read errors,
// and ctx's, are returned with the counters so far.
func Run(ctx context.Context, src capture.Source, opts Options, sink func(*Transaction)) (Stats, error) {
	o := opts.withDefaults()
	var st Stats
	dec := capture.NewDecoder(o.Decoder)
	shards := make([]*shard, shardCount)
	for i := range shards {
		shards[i] = newShard(&o, shardCount, nil)
	}
	var (
		one *group
		par *parallel
	)
	if o.Workers == 1 {
		one = newGroup(shards, func(int) bool { return true })
		one.col.direct, one.col.prepare = sink, o.Prepare
	} else {
		par = startParallel(&o, shards, sink)
	}
	counters := func(s *Stats) {
		if one != nil {
			one.addStats(s)
		} else {
			par.addStats(s)
		}
	}

	var (
		pkt    capture.Packet
		d      capture.Decoded
		clk    clock
		runErr error
		// first and last are the stamps of Stats.FirstTS and LastTS.
		first, last stamp
	)
	for n := 0; ; n++ {
		if n&1023 == 0 && ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		if o.Progress != nil && n%progressEvery == 0 && n > 0 {
			st.FirstTS, st.LastTS = first.t, last.t
			o.Progress(progress(&st, counters, dec))
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
		// LastTS (the latest time, from the zero Time up) is never
		// before FirstTS once that is set: a packet after LastTS (most
		// are) is not before FirstTS.
		ts := stampOf(pkt.Timestamp)
		if ts.after(&last) {
			last = ts
			if first.isZero() {
				first = ts
			}
		} else if first.isZero() || ts.before(&first) {
			first = ts
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
		idx, s := uint64(n), shardOf(&d.Key)
		// The decoder keeps the packet's capture time.
		tick := clk.advanceTo(&ts)
		if one != nil {
			one.assembleAt(s, &d, idx, &ts)
			if tick {
				one.tick(idx, clk.now)
			}
		} else {
			par.dispatch(s, &d, idx, &ts)
			if tick {
				par.tick(idx, clk.now)
			}
		}
	}
	st.FirstTS, st.LastTS = first.t, last.t
	if one != nil {
		one.finish()
	} else {
		par.stop()
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

// endpointHash is FNV-1a over the 16 bytes of the address and the port's
// low and high bytes.
func endpointHash(a *[16]byte, port uint16) uint32 {
	const prime = 16777619
	var h uint32
	if binary.LittleEndian.Uint64(a[:8]) == 0 && binary.LittleEndian.Uint32(a[8:12]) == 0xffff0000 {
		// An IPv4 address: the state after the 12 bytes of the prefix
		// is fnvV4Prefix.
		h = fnvV4Prefix
		h = (h ^ uint32(a[12])) * prime
		h = (h ^ uint32(a[13])) * prime
		h = (h ^ uint32(a[14])) * prime
		h = (h ^ uint32(a[15])) * prime
	} else {
		h = fnvOffset
		for _, b := range a {
			h = (h ^ uint32(b)) * prime
		}
	}
	h = (h ^ uint32(port&0xff)) * prime
	h = (h ^ uint32(port>>8)) * prime
	return h
}

// fnvOffset is FNV-1a's initial state; fnvV4Prefix its state after the
// 12 bytes that begin IPv4 addresses in a FlowKey (10 zeros, 0xff, 0xff),
// checked by TestEndpointHash.
const (
	fnvOffset   = 2166136261
	fnvV4Prefix = 0xb397038b
)
