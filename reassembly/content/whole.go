package content

import (
	"bytes"
	"encoding/binary"
)

// A body with one gzip layer whose encoded bytes are all in memory is
// decoded, in builds with the libdeflate tag and cgo (libdeflate.go), by
// libdeflate in one call per gzip member, straight into the sample: about
// twice as fast as the streaming decompressor on API bodies, which reads
// its input a byte at a time through an io.ByteReader. libdeflate only
// decodes whole buffers, so it is used only where its answer is the
// streaming path's: every member decoded cleanly (DEFLATE data, CRC-32 and
// size checked) and the whole output within the sample (MaxOutput) and
// the decompression limit (MaxDecompress). Anything else — a cut or
// corrupt stream, bytes after the last member, a header with fields other
// than a file name, a body whose trailer announces more than the sample
// takes, a larger output — leaves the body to the streaming path from the
// start, which decodes the prefix that fits in the sample and reports
// what is wrong, so the sample, truncated and err are the streaming
// path's.
//
// One known difference remains, on invalid streams only: libdeflate is
// more lenient than klauspost/compress (and zlib) about codes RFC 1951
// reserves — it decodes literal/length symbols 286 and 287 as length 258
// and distance symbols 30 and 31 like 29, accepts dynamic headers
// declaring up to 288/32 codes and code-length runs past their end, a
// distance from an empty distance code, and the unused codeword of a
// one-symbol code. A stream using them whose trailer
// matches libdeflate's reading of it (a single flipped bit can turn a
// fixed-code length 258 into symbol 287) is decoded whole here where the
// streaming path stops with ErrCorrupt. TestWholeGzipLenient pins it.

// wholeResult is what one libdeflate call gave.
type wholeResult uint8

const (
	wholeOK     wholeResult = iota // the member was decoded
	wholeNoRoom                    // its output did not fit
	wholeBad                       // anything else: not decoded
)

// gzipMinMember is the size of the smallest gzip member: a 10-byte
// header, at least one byte of DEFLATE data and the 8-byte trailer (the
// smallest libdeflate accepts is 18 bytes).
const gzipMinMember = 18

// gunzipWhole decodes d.in, one gzip layer written whole, into d.out with
// libdeflate, setting what attempt would have set, and reports whether it
// did; when it did not, nothing but d.out's capacity has changed.
func (d *Decoder) gunzipWhole() bool {
	if !haveLibdeflate || d.opts.streamOnly || d.full || d.nlayer != 1 || d.codings[0] != Gzip {
		return false
	}
	in := d.in
	if len(in) < gzipMinMember {
		return false
	}
	// With one layer, the streaming path ends cleanly only when all the
	// output fits in both limits; beyond, it cuts the sample or stops at
	// ErrLimit without decoding the rest, which libdeflate cannot do.
	limit := min(d.opts.MaxOutput, d.opts.MaxDecompress)
	// The last member's stated size (modulo 2^32, so a larger value is
	// a larger output): the whole output of a single member.
	size := int(binary.LittleEndian.Uint32(in[len(in)-4:]))
	if size > limit {
		return false
	}
	z := d.opts.Pool.getGunzipper()
	if z == nil {
		return false
	}
	out := d.out[:0]
	if cap(out) < max(size, 1) {
		out = make([]byte, 0, max(size, 1024))
	}
	ok := true
	for len(in) > 0 {
		if !plainGzipHeader(in) {
			ok = false
			break
		}
		room := min(cap(out), limit)
		used, n, r := z.member(in, out[len(out):room])
		if r == wholeNoRoom && room < limit {
			// More members than the last one's size told, or a
			// trailer that lies: once more with all the room there is.
			nb := make([]byte, len(out), limit)
			copy(nb, out)
			out = nb
			used, n, r = z.member(in, out[len(out):limit])
		}
		if r != wholeOK {
			ok = false
			break
		}
		out = out[:len(out)+n]
		in = in[used:]
	}
	d.opts.Pool.putGunzipper(z)
	if !ok {
		d.out = out[:0] // the streaming path decodes into it
		return false
	}
	d.out = out
	d.produced = len(out)
	d.ended, d.done = true, true
	return true
}

// plainGzipHeader reports whether in starts with a gzip member header
// that the streaming decompressor and libdeflate read the same way: no
// flags, or only a file name (klauspost/compress reads at most 512 bytes
// of it, its zero byte included). Extra fields and comments are rare in
// HTTP bodies and header CRCs are checked by the streaming path only:
// those bodies take the streaming path.
func plainGzipHeader(in []byte) bool {
	if len(in) < gzipMinMember || in[0] != 0x1f || in[1] != 0x8b || in[2] != 8 {
		return false
	}
	switch in[3] {
	case 0:
		return true
	case 1 << 3: // FNAME
		return bytes.IndexByte(in[10:min(len(in), 10+512)], 0) >= 0
	}
	return false
}
