package capture

import (
	"bytes"
	"slices"
)

const (
	// maxDatagramBytes is the largest fragmentable part an IP datagram can
	// have (the 16-bit offset and length fields cap it).
	maxDatagramBytes = 65535
	// maxFragmentsPerDatagram bounds the pieces one datagram may come in;
	// more is an attack or a broken sender.
	maxFragmentsPerDatagram = 256
	// minFragmentBuffer is the first buffer size given to a datagram.
	minFragmentBuffer = 2048
)

// fragKey identifies the datagram a fragment belongs to: addresses and
// identification, plus the protocol for IPv4 (RFC 791).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

// fragRange is a half-open byte range [start, end) of a datagram.
type fragRange struct{ start, end int }

// datagram is one IP datagram being reassembled.
type datagram struct {
	key   fragKey
	first int64 // capture time of its first fragment, Unix ns (0: unknown)
	buf   []byte
	// have lists the byte ranges received: sorted, disjoint and
	// non-adjacent (touching ranges are merged).
	have     []fragRange
	total    int // length of the whole datagram; -1 until the last fragment
	proto    uint8
	hasProto bool
	pieces   int
}

// defragmenter reassembles IPv4 and IPv6 fragments within fixed bounds:
// total buffer bytes, datagrams in flight, pieces per datagram and a timeout
// counted in capture time. Overlapping fragments must agree byte for byte
// with what was already received; a datagram whose fragments disagree is
// discarded whole (RFC 5722 for IPv6, and the safe choice for IPv4 against
// overlap evasion).
type defragmenter struct {
	maxBytes     int
	maxDatagrams int
	timeout      int64
	stats        *DecoderStats

	table map[fragKey]*datagram
	held  int // bytes of buffer capacity owned by datagrams in the table or lent out
	// free keeps released datagrams for reuse; pooled is the capacity of
	// their buffers, kept within maxBytes/4.
	free   []*datagram
	pooled int
	// lent are completed datagrams whose buffer the caller may still read;
	// they come back at the next Decode.
	lent []*datagram

	now       int64 // latest capture time seen, Unix ns
	nextSweep int64
}

func (f *defragmenter) init(opts DecoderOptions, stats *DecoderStats) {
	f.maxBytes = opts.MaxFragmentBytes
	f.maxDatagrams = opts.MaxFragmentDatagrams
	f.timeout = int64(opts.FragmentTimeout)
	f.stats = stats
}

// tick advances the capture clock and expires datagrams past the timeout.
// Capture time never goes back: an earlier timestamp leaves it where it is.
func (f *defragmenter) tick(now int64) {
	if now > f.now {
		f.now = now
	}
	if len(f.table) == 0 || f.now < f.nextSweep {
		return
	}
	f.nextSweep = f.now + f.timeout/8
	for _, dg := range f.table {
		if dg.first != 0 && f.now-dg.first > f.timeout {
			f.drop(dg, 0)
		}
	}
}

// release takes back the buffers lent out by the previous Decode.
func (f *defragmenter) release() {
	for i, dg := range f.lent {
		f.recycle(dg)
		f.lent[i] = nil
	}
	f.lent = f.lent[:0]
}

// recycle returns a datagram that left the table to the free list.
func (f *defragmenter) recycle(dg *datagram) {
	f.held -= cap(dg.buf)
	if f.pooled+cap(dg.buf) > f.maxBytes/4 || len(f.free) >= f.maxDatagrams {
		dg.buf = nil
	}
	f.pooled += cap(dg.buf)
	f.free = append(f.free, dg)
}

// drop discards a datagram still in the table, counting its fragments (and
// extra more that arrived with it) as dropped.
func (f *defragmenter) drop(dg *datagram, extra int) {
	f.stats.FragmentsDropped += uint64(dg.pieces + extra)
	delete(f.table, dg.key)
	f.recycle(dg)
}

// evictOldest drops the datagram that started first, except keep. It
// reports false when there is none.
func (f *defragmenter) evictOldest(keep *datagram) bool {
	var old *datagram
	for _, dg := range f.table {
		if dg != keep && (old == nil || dg.first < old.first) {
			old = dg
		}
	}
	if old == nil {
		return false
	}
	f.drop(old, 0)
	return true
}

// get finds or starts the datagram for k.
func (f *defragmenter) get(k fragKey) *datagram {
	if dg := f.table[k]; dg != nil {
		return dg
	}
	if f.table == nil {
		f.table = make(map[fragKey]*datagram)
	}
	for len(f.table) >= f.maxDatagrams && f.evictOldest(nil) {
	}
	var dg *datagram
	if n := len(f.free); n > 0 {
		dg = f.free[n-1]
		f.free[n-1] = nil
		f.free = f.free[:n-1]
		f.pooled -= cap(dg.buf)
		f.held += cap(dg.buf)
	} else {
		dg = &datagram{}
	}
	dg.key, dg.first, dg.total, dg.hasProto, dg.pieces = k, f.now, -1, false, 0
	dg.buf, dg.have = dg.buf[:0], dg.have[:0]
	f.table[k] = dg
	if f.now != 0 && f.nextSweep == 0 {
		f.nextSweep = f.now + f.timeout/8
	}
	return dg
}

// grow makes room for end bytes in dg's buffer within the byte bound,
// evicting older datagrams if needed. It reports false when even that
// cannot make room.
func (f *defragmenter) grow(dg *datagram, end int) bool {
	if end <= cap(dg.buf) {
		if end > len(dg.buf) {
			dg.buf = dg.buf[:end]
		}
		return f.makeRoom(dg, 0)
	}
	n := max(end, min(max(minFragmentBuffer, 2*cap(dg.buf)), maxDatagramBytes))
	if f.held+f.pooled+n-cap(dg.buf) > f.maxBytes {
		n = end // tight on memory: no room to spare
	}
	extra := n - cap(dg.buf)
	if !f.makeRoom(dg, extra) {
		return false
	}
	buf := make([]byte, end, n)
	copy(buf, dg.buf)
	f.held += extra
	dg.buf = buf
	return true
}

// makeRoom brings the bytes held (and pooled) down so that extra more fit
// within maxBytes, first by freeing pooled buffers, then by evicting the
// oldest datagrams other than keep. It reports false when that is not
// enough.
func (f *defragmenter) makeRoom(keep *datagram, extra int) bool {
	for f.held+f.pooled+extra > f.maxBytes {
		if f.pooled > 0 {
			for _, dg := range f.free {
				dg.buf = nil
			}
			f.pooled = 0
			continue
		}
		if !f.evictOldest(keep) {
			return false
		}
	}
	return true
}

// add files the fragment data, which starts at byte offset of its datagram;
// more is the more-fragments flag. proto is the upper-layer protocol, known
// (hasProto) for IPv4 and for an IPv6 fragment at offset 0. When the
// fragment completes its datagram, add returns the whole fragmentable part
// and its protocol; the bytes stay valid until the next Decode.
func (f *defragmenter) add(k fragKey, offset int, more bool, data []byte, proto uint8, hasProto bool) ([]byte, uint8, bool) {
	end := offset + len(data)
	if end > maxDatagramBytes || (more && (len(data) == 0 || len(data)%8 != 0)) {
		f.stats.FragmentsDropped++ // malformed
		return nil, 0, false
	}
	dg := f.get(k)
	switch {
	case !more && dg.total >= 0 && dg.total != end,
		!more && len(dg.have) > 0 && dg.have[len(dg.have)-1].end > end,
		more && dg.total >= 0 && end > dg.total,
		dg.pieces >= maxFragmentsPerDatagram:
		f.drop(dg, 1) // inconsistent lengths or too many pieces
		return nil, 0, false
	}
	if !f.grow(dg, end) {
		f.drop(dg, 1)
		return nil, 0, false
	}
	// Bytes already held must agree with the new fragment's.
	i, _ := slices.BinarySearchFunc(dg.have, offset, func(r fragRange, off int) int {
		if r.end < off {
			return -1
		}
		if r.start > off {
			return 1
		}
		return 0
	})
	j := i
	for ; j < len(dg.have) && dg.have[j].start <= end; j++ {
		r := dg.have[j]
		lo, hi := max(r.start, offset), min(r.end, end)
		if lo < hi && !bytes.Equal(dg.buf[lo:hi], data[lo-offset:hi-offset]) {
			f.stats.FragmentOverlaps++
			f.drop(dg, 1)
			return nil, 0, false
		}
	}
	copy(dg.buf[offset:end], data)
	// Ranges i..j-1 overlap or touch [offset, end): merge them into one.
	merged := fragRange{offset, end}
	if i < j {
		merged.start = min(merged.start, dg.have[i].start)
		merged.end = max(merged.end, dg.have[j-1].end)
	}
	dg.have = slices.Replace(dg.have, i, j, merged)
	dg.pieces++
	if !more {
		dg.total = end
	}
	if hasProto && !dg.hasProto {
		dg.proto, dg.hasProto = proto, true
	}
	if dg.total < 0 || !dg.hasProto || len(dg.have) != 1 || dg.have[0] != (fragRange{0, dg.total}) {
		return nil, 0, false
	}
	delete(f.table, dg.key)
	f.lent = append(f.lent, dg)
	return dg.buf[:dg.total], dg.proto, true
}
