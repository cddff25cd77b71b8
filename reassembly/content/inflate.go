package content

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// inflater decodes a gzip body held whole in memory straight into the
// sample buffer: the bits are read eight bytes at a time from the input
// slice, the window is the sample itself, and the Huffman tables hold
// whole symbols. It is the Decoder's fast path for its most common case
// (one gzip layer), about twice as fast as the streaming decompressor on
// API bodies, and it decides nothing on its own: it reports success only
// for a stream that the streaming path would decode to the same bytes
// without error — every member ending cleanly (CRC and size checked) or
// the sample filling up — and gives up on anything else (corrupt or
// truncated input, unusual headers), leaving the streaming path to decode
// the body from the start and say what is wrong with it. It must
// therefore never accept a stream that path rejects before the sample is
// full: its checks mirror klauspost/compress/flate's (complete codes, or
// the single one-bit code that decoder also accepts; distances within the
// member's output; lengths and distances of defined codes only).
//
// An inflater is about 8 KiB plus its subtables; Pool recycles them.
type inflater struct {
	in   []byte
	pos  int    // next input byte to load into bits
	bits uint64 // input bits not consumed yet, low bit first
	nb   uint   // how many of bits are valid

	out    []byte // the sample buffer, whole capacity; written up to o
	o      int
	wstart int // where the current member's output (its window) starts
	limit  int // the output reaching this many bytes fills the sample

	// The current block's tables: primary tables of 1<<lbits and
	// 1<<dbits entries, subtables of 1<<lsw and 1<<dsw entries.
	lt, dt                 *[1 << litTableBits]uint32
	lsub, dsub             []uint32
	lbits, dbits, lsw, dsw uint

	lit, dist       [1 << litTableBits]uint32 // a dynamic block's tables
	litSub, distSub []uint32
	clen            [1 << 7]uint32
	lens            [maxLit + maxDist]uint8
}

const (
	litTableBits  = 10 // primary table index bits (at most) for literals/lengths
	distTableBits = 8  // for distances
	maxLit        = 286
	maxDist       = 30
	maxMatch      = 258

	// Table entries: value<<16 | flags<<8 | code length. A zero entry
	// (code length 0) is a code the tree does not define.
	fLit  = 0x80 // a literal byte
	fSub  = 0x40 // a link to a subtable at value
	fEOB  = 0x20 // end of block
	fBad  = 0x10 // a symbol the format does not define (286, 287; distance 30, 31)
	fMask = 0x0f // length and distance symbols: extra bits

	// fastSlack is the output room the fast loop needs beyond its
	// position: a whole match plus the over-write of word copies.
	fastSlack = maxMatch + 8
)

type infResult uint8

const (
	infFallback infResult = iota // not decoded: the streaming path decides
	infEnded                     // every member ended cleanly
	infFull                      // the output reached the limit
)

// litEntry and distEntry give each symbol's entry without its code
// length; clenEntry those of the code-length alphabet.
var (
	litEntry, distEntry, clenEntry = symbolEntries()
	fixedLit, fixedDist            = fixedTables()
)

func symbolEntries() (lit [288]uint32, dist [32]uint32, clen [19]uint32) {
	for i := 0; i < 256; i++ {
		lit[i] = uint32(i)<<16 | fLit<<8
	}
	lit[256] = fEOB << 8
	base, extra := 3, 0
	for s := 257; s < 285; s++ {
		if s >= 265 && (s-261)%4 == 0 {
			extra++
		}
		lit[s] = uint32(base)<<16 | uint32(extra)<<8
		base += 1 << extra
	}
	lit[285] = maxMatch << 16
	lit[286], lit[287] = fBad<<8, fBad<<8
	base, extra = 1, 0
	for s := 0; s < 30; s++ {
		if s >= 4 && s%2 == 0 {
			extra++
		}
		dist[s] = uint32(base)<<16 | uint32(extra)<<8
		base += 1 << extra
	}
	dist[30], dist[31] = fBad<<8, fBad<<8
	for i := range clen {
		clen[i] = uint32(i) << 16
	}
	return
}

// fixedTables builds the tables of RFC 1951's fixed codes (read only).
func fixedTables() (lit, dist [1 << litTableBits]uint32) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	if _, _, _, ok := buildTable(lit[:], nil, lens[:], litEntry[:], 9); !ok {
		panic("content: fixed literal code")
	}
	for i := range 32 {
		lens[i] = 5
	}
	if _, _, _, ok := buildTable(dist[:], nil, lens[:32], distEntry[:], 5); !ok {
		panic("content: fixed distance code")
	}
	return
}

// buildTable fills a decoding table for the canonical code of lengths
// (symbol i has code length lengths[i], 0 = unused), entries from ent: a
// primary table t of 1<<tb entries, tb = min(maxTB, longest code), and
// for longer codes subtables of 1<<sw entries (sw = longest - tb), kept
// in sub (reused) and linked from t. It accepts what
// klauspost/compress/flate accepts: a complete code, the single one-bit
// code, or no code at all (entries of undefined codes are zero).
func buildTable(t []uint32, sub []uint32, lengths []uint8, ent []uint32, maxTB uint) (tb, sw uint, _ []uint32, ok bool) {
	var count [16]int
	minL, maxL := 0, 0
	for _, n := range lengths {
		if n == 0 {
			continue
		}
		if minL == 0 || int(n) < minL {
			minL = int(n)
		}
		maxL = max(maxL, int(n))
		count[n&15]++
	}
	if maxL == 0 {
		t[0], t[1] = 0, 0
		return 1, 0, sub, true
	}
	var next [16]int
	code := 0
	for i := minL; i <= maxL; i++ {
		code <<= 1
		next[i] = code
		code += count[i]
	}
	complete := code == 1<<maxL
	if !complete && !(code == 1 && maxL == 1) {
		return 0, 0, sub, false
	}
	tb = min(maxTB, uint(maxL))
	size := 1 << tb
	if !complete {
		clear(t[:size])
	}
	sub = sub[:0]
	if uint(maxL) > tb {
		// Links for the prefixes of the codes longer than tb: canonical
		// codes give them the last slots of the primary table.
		sw = uint(maxL) - tb
		first := next[tb+1] >> 1
		for j := first; j < size; j++ {
			r := bits.Reverse16(uint16(j)) >> (16 - tb)
			t[r] = uint32(len(sub))<<16 | fSub<<8
			sub = append(sub, make([]uint32, 1<<sw)...)
		}
	}
	for s, n := range lengths {
		if n == 0 {
			continue
		}
		c := next[n]
		next[n]++
		r := int(bits.Reverse16(uint16(c)) >> (16 - n))
		e := ent[s] | uint32(n)
		if uint(n) <= tb {
			for i := r; i < size; i += 1 << n {
				t[i] = e
			}
			continue
		}
		base := int(t[r&(size-1)] >> 16)
		st := sub[base : base+1<<sw]
		for i := r >> tb; i < len(st); i += 1 << (uint(n) - tb) {
			st[i] = e
		}
	}
	return tb, sw, sub, true
}

// gunzip decodes the gzip members in in into out (whose whole capacity
// is usable; the output grows geometrically up to limit), with Decoder's
// rule that the sample is full when it reaches limit bytes. It returns the
// output and the outcome: infFallback leaves out's contents undefined.
func (z *inflater) gunzip(in, out []byte, limit int) ([]byte, infResult) {
	// The tables need no reset: a block's are built before use.
	z.in, z.pos, z.bits, z.nb = in, 0, 0, 0
	z.out, z.o, z.wstart, z.limit = out[:cap(out)], len(out), len(out), limit
	defer func() { z.in = nil }()
	for {
		// A member header without optional fields (as servers send):
		// ID1 ID2 CM=8 FLG=0 MTIME(4) XFL OS.
		if len(in)-z.pos < 10 || in[z.pos] != 0x1f || in[z.pos+1] != 0x8b || in[z.pos+2] != 8 || in[z.pos+3] != 0 {
			return nil, infFallback
		}
		z.pos += 10
		z.bits, z.nb, z.wstart = 0, 0, z.o
		switch r := z.inflate(); r {
		case infFull:
			// The streaming decoder reads up to 25 bits ahead of a
			// symbol, and fails where they are missing: a sample
			// filled within the last bytes of (cut) input is its to
			// judge. (A whole member ends with an 8-byte trailer.)
			if (len(in)-z.pos)*8+int(z.nb) < 64 {
				return nil, infFallback
			}
			return z.out[:z.o], infFull
		case infFallback:
			return nil, r
		}
		// The trailer: CRC-32 and size of the member's output.
		z.pos -= int(z.nb >> 3)
		if len(in)-z.pos < 8 {
			return nil, infFallback
		}
		m := z.out[z.wstart:z.o]
		if binary.LittleEndian.Uint32(in[z.pos:]) != crc32.ChecksumIEEE(m) || binary.LittleEndian.Uint32(in[z.pos+4:]) != uint32(len(m)) {
			return nil, infFallback
		}
		z.pos += 8
		if z.pos == len(in) {
			return z.out[:z.o], infEnded
		}
	}
}

// inflate decodes one DEFLATE stream from z.pos: infEnded after its final
// block (z.pos and z.nb then say where it ended), infFull when the output
// reached the limit.
func (z *inflater) inflate() infResult {
	for final := false; !final; {
		if !z.need(3) {
			return infFallback
		}
		final = z.bits&1 != 0
		typ := z.bits >> 1 & 3
		z.drop(3)
		var r infResult
		switch typ {
		case 0:
			r = z.stored()
		case 1:
			z.lt, z.lbits, z.lsw, z.lsub = &fixedLit, 9, 0, nil
			z.dt, z.dbits, z.dsw, z.dsub = &fixedDist, 5, 0, nil
			r = z.huffman()
		case 2:
			if !z.dynamic() {
				return infFallback
			}
			r = z.huffman()
		default:
			return infFallback
		}
		if r != infEnded {
			return r
		}
	}
	return infEnded
}

// need makes sure n (≤ 56) bits are in z.bits, loading bytes one at a
// time; it returns false when the input ends first.
func (z *inflater) need(n uint) bool {
	for z.nb < n {
		if z.pos >= len(z.in) {
			return false
		}
		z.bits |= uint64(z.in[z.pos]) << z.nb
		z.pos++
		z.nb += 8
	}
	return true
}

func (z *inflater) drop(n uint) {
	z.bits >>= n
	z.nb -= n
}

// stored copies a stored block.
func (z *inflater) stored() infResult {
	z.drop(z.nb & 7)
	z.pos -= int(z.nb >> 3)
	z.bits, z.nb = 0, 0
	if len(z.in)-z.pos < 4 {
		return infFallback
	}
	n := int(binary.LittleEndian.Uint16(z.in[z.pos:]))
	if binary.LittleEndian.Uint16(z.in[z.pos+2:]) != ^uint16(n) {
		return infFallback
	}
	z.pos += 4
	if len(z.in)-z.pos < n {
		return infFallback
	}
	full := false
	if z.o+n >= z.limit {
		n, full = z.limit-z.o, true
	}
	z.room(n)
	copy(z.out[z.o:], z.in[z.pos:z.pos+n])
	z.o += n
	z.pos += n
	if full {
		return infFull
	}
	return infEnded
}

// room makes sure n more bytes fit in z.out (n ≤ limit - o).
func (z *inflater) room(n int) {
	if z.o+n <= len(z.out) {
		return
	}
	c := min(max(2*len(z.out), 1024, z.o+n), z.limit)
	nb := make([]byte, c)
	copy(nb, z.out[:z.o])
	z.out = nb
}

var clenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads a dynamic block's code definitions and builds its tables.
func (z *inflater) dynamic() bool {
	if !z.need(14) {
		return false
	}
	nlit := int(z.bits&0x1f) + 257
	ndist := int(z.bits>>5&0x1f) + 1
	nclen := int(z.bits>>10&0xf) + 4
	z.drop(14)
	if nlit > maxLit || ndist > maxDist {
		return false
	}
	var cl [19]uint8
	for i := 0; i < nclen; i++ {
		if !z.need(3) {
			return false
		}
		cl[clenOrder[i]] = uint8(z.bits & 7)
		z.drop(3)
	}
	cb, _, _, ok := buildTable(z.clen[:], nil, cl[:], clenEntry[:], 7)
	if !ok {
		return false
	}
	lens := z.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		z.need(7)
		e := z.clen[z.bits&(1<<cb-1)]
		n := uint(e & 0xff)
		if n == 0 || n > z.nb {
			return false
		}
		z.drop(n)
		sym := e >> 16
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var v uint8
		switch sym {
		case 16:
			if i == 0 || !z.need(2) {
				return false
			}
			rep, v = 3+int(z.bits&3), lens[i-1]
			z.drop(2)
		case 17:
			if !z.need(3) {
				return false
			}
			rep = 3 + int(z.bits&7)
			z.drop(3)
		default:
			if !z.need(7) {
				return false
			}
			rep = 11 + int(z.bits&0x7f)
			z.drop(7)
		}
		if i+rep > len(lens) {
			return false
		}
		for ; rep > 0; rep-- {
			lens[i] = v
			i++
		}
	}
	z.lbits, z.lsw, z.litSub, ok = buildTable(z.lit[:], z.litSub, lens[:nlit], litEntry[:], litTableBits)
	if !ok {
		return false
	}
	z.dbits, z.dsw, z.distSub, ok = buildTable(z.dist[:], z.distSub, lens[nlit:], distEntry[:], distTableBits)
	if !ok {
		return false
	}
	z.lt, z.lsub, z.dt, z.dsub = &z.lit, z.litSub, &z.dist, z.distSub
	return true
}

// sym decodes one symbol with table t (tb primary bits, subtables of sw
// bits in sub), checking what the fast loop takes for granted: it returns
// a zero entry for an undefined code or input ending too soon.
func (z *inflater) sym(t *[1 << litTableBits]uint32, tb, sw uint, sub []uint32) uint32 {
	z.need(15)
	e := t[z.bits&(1<<tb-1)]
	if e&(fSub<<8) != 0 {
		e = sub[uint64(e>>16)+z.bits>>tb&(1<<sw-1)]
	}
	n := uint(e & 0xff)
	if n == 0 || n > z.nb {
		return 0
	}
	z.drop(n)
	return e
}

// slowSym decodes one symbol of a compressed block with every check,
// where the fast loop cannot: near the end of the input or of the output
// buffer, and at the end of a block. done is set with the block's
// outcome (infEnded at its end).
func (z *inflater) slowSym() (r infResult, done bool) {
	e := z.sym(z.lt, z.lbits, z.lsw, z.lsub)
	switch {
	case e == 0 || e&(fBad<<8) != 0:
		return infFallback, true
	case e&(fLit<<8) != 0:
		z.room(1)
		z.out[z.o] = byte(e >> 16)
		z.o++
		if z.o == z.limit {
			return infFull, true
		}
		return 0, false
	case e&(fEOB<<8) != 0:
		return infEnded, true
	}
	x := uint(e >> 8 & fMask)
	if !z.need(x) {
		return infFallback, true
	}
	length := int(e>>16) + int(z.bits&(1<<x-1))
	z.drop(x)
	d := z.sym(z.dt, z.dbits, z.dsw, z.dsub)
	if d == 0 || d&(fBad<<8) != 0 {
		return infFallback, true
	}
	x = uint(d >> 8 & fMask)
	if !z.need(x) {
		return infFallback, true
	}
	dist := int(d>>16) + int(z.bits&(1<<x-1))
	z.drop(x)
	if dist > z.o-z.wstart {
		return infFallback, true
	}
	if z.copyTail(dist, length) {
		return infFull, true
	}
	return 0, false
}

// huffman decodes a compressed block with z's current tables. Its fast
// loop decodes whole symbols with one refill of the bit buffer each (at
// least 56 bits: a length code, a distance code and their extra bits
// take at most 48) and copies matches eight bytes at a time, while eight
// input bytes remain and the output stays below the limit and within the
// buffer; slowSym takes the other symbols, copyTail the other matches.
func (z *inflater) huffman() infResult {
	in := z.in
	inEnd := len(in) - 8
	lt, dt, lsub, dsub := z.lt, z.dt, z.lsub, z.dsub
	lmask, dmask := uint64(1)<<z.lbits-1, uint64(1)<<z.dbits-1
	lb, db := z.lbits, z.dbits
	lswm, dswm := uint64(1)<<z.lsw-1, uint64(1)<<z.dsw-1
outer:
	for {
		out := z.out
		// Literals are written below olim, which stays below the limit.
		olim := min(len(out), z.limit-1)
		b, nb, pos, o, wstart := z.bits, z.nb, z.pos, z.o, z.wstart
	fast:
		for pos <= inEnd && o < olim-2 {
			b |= binary.LittleEndian.Uint64(in[pos:]) << (nb & 63)
			pos += int((63 - nb) >> 3)
			nb |= 56
			e := lt[b&lmask]
			if e&(fSub<<8) != 0 {
				e = lsub[uint64(e>>16)+b>>lb&lswm]
			}
			n := uint(e & 0xff)
			if e&(fLit<<8) != 0 {
				// Up to three literals per refill (15 bits each at most).
				b >>= n & 63
				nb -= n
				out[o] = byte(e >> 16)
				o++
				e = lt[b&lmask]
				if e&(fSub<<8) != 0 {
					e = lsub[uint64(e>>16)+b>>lb&lswm]
				}
				if e&(fLit<<8) == 0 {
					continue
				}
				n = uint(e & 0xff)
				b >>= n & 63
				nb -= n
				out[o] = byte(e >> 16)
				o++
				e = lt[b&lmask]
				if e&(fSub<<8) != 0 {
					e = lsub[uint64(e>>16)+b>>lb&lswm]
				}
				if e&(fLit<<8) == 0 {
					continue
				}
				n = uint(e & 0xff)
				b >>= n & 63
				nb -= n
				out[o] = byte(e >> 16)
				o++
				continue
			}
			if n == 0 || e&((fEOB|fBad)<<8) != 0 {
				break fast // slowSym decides
			}
			b >>= n & 63
			nb -= n
			x := uint(e >> 8 & fMask)
			length := int(e>>16) + int(b&(1<<(x&63)-1))
			b >>= x & 63
			nb -= x
			d := dt[b&dmask]
			if d&(fSub<<8) != 0 {
				d = dsub[uint64(d>>16)+b>>db&dswm]
			}
			n = uint(d & 0xff)
			if n == 0 || d&(fBad<<8) != 0 {
				return infFallback
			}
			b >>= n & 63
			nb -= n
			x = uint(d >> 8 & fMask)
			dist := int(d>>16) + int(b&(1<<(x&63)-1))
			b >>= x & 63
			nb -= x
			if dist > o-wstart {
				return infFallback
			}
			if o+length+8 > len(out) || o+length >= z.limit {
				z.bits, z.nb, z.pos, z.o = b, nb, pos, o
				if z.copyTail(dist, length) {
					return infFull
				}
				continue outer // the buffer may have grown
			}
			switch {
			case dist >= 8:
				// Whole words, forwards: each reads bytes written
				// before it; the last may write up to 7 bytes past
				// the match, which later output overwrites.
				for i := 0; i < length; i += 8 {
					binary.LittleEndian.PutUint64(out[o+i:], binary.LittleEndian.Uint64(out[o-dist+i:]))
				}
			case dist == 1:
				c := out[o-1]
				s := out[o : o+length]
				for i := range s {
					s[i] = c
				}
			default:
				for i := 0; i < length; i++ {
					out[o+i] = out[o-dist+i]
				}
			}
			o += length
			continue
		}
		z.bits, z.nb, z.pos, z.o = b, nb, pos, o
		if r, done := z.slowSym(); done {
			return r
		}
	}
}

// copyTail copies a match that may reach the limit or the end of the
// buffer; it reports whether the output reached the limit.
func (z *inflater) copyTail(dist, length int) bool {
	full := false
	if z.o+length >= z.limit {
		length, full = z.limit-z.o, true
	}
	z.room(length)
	out := z.out
	for i := 0; i < length; i++ {
		out[z.o+i] = out[z.o-dist+i]
	}
	z.o += length
	return full
}
