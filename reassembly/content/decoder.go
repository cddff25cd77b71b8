package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
)

// Options bound a Decoder. The zero value works.
type Options struct {
	// MaxOutput caps the decoded sample; 0 means 64 KiB. Reaching it is not
	// an error: the sample is marked truncated and decoding stops.
	MaxOutput int
	// MaxDecompress bounds the bytes produced by all layers of one body
	// together (decompression-bomb guard); going past it is ErrLimit.
	// 0 means 16 × MaxOutput.
	MaxDecompress int
	// MaxInput bounds the encoded bytes buffered per body; 0 means
	// 2 × MaxOutput + 4 KiB. Input beyond it is dropped (counted by
	// Dropped) and the sample is marked truncated.
	MaxInput int
	// Pool, when not nil, supplies and takes back decompressors.
	Pool *Pool
	// Defer, when set, makes Write keep buffering encoded input up to
	// MaxInput without decoding it: the body is decoded by Finish, or
	// later, off the caller's path, by the Encoded that Defer returns.
	Defer bool

	// streamOnly leaves out the libdeflate path (whole.go), for tests
	// and benchmarks comparing the two.
	streamOnly bool
}

func (o Options) resolved() Options {
	if o.MaxOutput <= 0 {
		o.MaxOutput = 64 << 10
	}
	if o.MaxDecompress <= 0 {
		o.MaxDecompress = 16 * o.MaxOutput
	}
	if o.MaxInput <= 0 {
		o.MaxInput = 2*o.MaxOutput + 4096
	}
	return o
}

// Decoder turns an encoded body, written in pieces of any size, into a
// decoded sample of at most Options.MaxOutput bytes. It buffers encoded
// input up to Options.MaxInput and decodes it once, when the buffer is full
// or at Finish: decoding stops as soon as the sample is full, the stream
// has ended, or an error occurred, so the work per body is bounded by
// MaxOutput whatever the input. (Decoding from the start whenever the
// buffer doubled, as before, stopped buffering sooner on very compressible
// bodies but decoded most bodies about twice, and took a gzip member ending
// at a piece boundary for the end of the body.) No goroutines; memory is bounded by
// MaxInput + MaxOutput + the decompressors' own state (a brotli window may
// reach 16 MiB while decoding). The input buffer and the sample being
// decoded are working buffers, lent by Options.Pool for one body when it is
// set; the sample Finish returns is then a copy in a buffer of the Pool's
// size classes, which the consumer may give back (Pool.PutSample), or of
// the right size without a Pool (an identity body announced by Grow is
// written into its sample directly). Builds with the libdeflate tag decode
// a gzip body held whole with libdeflate where that gives the same result
// (whole.go).
//
// The zero Decoder is ready for Reset. A Decoder is not safe for concurrent
// use.
type Decoder struct {
	decState
	// src and lays are the decompressors' input and state, set only
	// while the buffered input is decoded (decoded): Finish empties
	// them, Reset only when a body was decoded without Finish. Zeroing
	// them for every body cost more than the rest of Reset.
	src  bytes.Reader
	lays [MaxLayers]layer
}

// decState is what Reset zeroes for every body.
type decState struct {
	opts    Options
	codings [MaxLayers]Coding
	nlayer  int

	// in is the encoded input buffered so far. It is a working buffer:
	// *inBox's array, lent by Options.Pool for one body (kept by the
	// Decoder when there is no Pool).
	in      []byte
	inBox   *[]byte
	dropped int64 // encoded bytes not buffered (past MaxInput or after Done)

	// out is the decoded sample (MaxOutput+1 bytes at most while
	// decoding). While outScratch is set it is a working buffer like in
	// (*outBox's array), and Finish hands on a copy; otherwise
	// (after Grow) it is the sample itself, handed on as is.
	out        []byte
	outBox     *[]byte
	outScratch bool
	produced   int  // bytes produced by all layers in the current attempt
	done       bool // no further input can change the result
	full       bool // the input reached MaxInput (later input was dropped)
	decoded    bool // the buffered input was decoded
	ended      bool // the encoded stream ended cleanly
	truncated  bool // output reached MaxOutput
	err        error
}

type layer struct {
	gz *gzip.Reader
	fl io.ReadCloser
	zl io.ReadCloser
	br *brotli.Reader
	cr countReader
	pr prefixReader
}

// Reset prepares d for a new body encoded with codings, listed in the order
// they were applied (as ParseCodings returns them). An empty list means
// identity: the input is copied. More than MaxLayers codings is
// ErrUnsupported; the Decoder then reports that error from Finish.
func (d *Decoder) Reset(codings []Coding, opts Options) error {
	d.release()
	if d.decoded {
		// Decoded without Finish: drop the decompressors' state.
		d.src.Reset(nil)
		d.lays = [MaxLayers]layer{}
	}
	inBox, outBox := d.inBox, d.outBox
	// Zeroed in place, then set: cheaper than building the new state
	// aside and copying it in.
	d.decState = decState{}
	d.opts = opts.resolved()
	if d.opts.Pool == nil {
		// Buffers kept without a Pool stay; with one, the Pool lends
		// them now.
		d.inBox, d.outBox = inBox, outBox
	}
	for _, c := range codings {
		if c == Identity {
			continue
		}
		if d.nlayer == MaxLayers {
			d.err = fmt.Errorf("%d stacked codings: %w", len(codings), ErrUnsupported)
			d.done = true
			return d.err
		}
		d.codings[d.nlayer] = c
		d.nlayer++
	}
	return nil
}

// Write buffers encoded bytes. It never fails: bytes arriving after Done or
// past MaxInput are dropped and counted. Decoding errors surface in Err and
// Finish.
func (d *Decoder) Write(p []byte) (int, error) {
	if d.done {
		d.dropped += int64(len(p))
		return len(p), nil
	}
	if d.nlayer == 0 { // identity: the sample is the input
		if d.out == nil {
			d.out, d.outScratch = d.borrow(&d.outBox), true
		}
		room := d.opts.MaxOutput - len(d.out)
		if len(p) > room {
			d.out = append(d.out, p[:room]...)
			d.dropped += int64(len(p) - room)
			d.truncated, d.done = true, true
			return len(p), nil
		}
		d.out = append(d.out, p...)
		return len(p), nil
	}
	if d.in == nil {
		d.in = d.borrow(&d.inBox)
	}
	room := d.opts.MaxInput - len(d.in)
	q := p
	if len(q) > room {
		q = q[:room]
		d.dropped += int64(len(p) - room)
	}
	d.in = append(d.in, q...)
	if len(d.in) >= d.opts.MaxInput {
		d.full, d.done = true, true // nothing more can be buffered
		if !d.opts.Defer {
			d.decode(false)
		}
	}
	return len(p), nil
}

// decode decodes the buffered input once. complete says whether the whole
// body was written (see Finish).
func (d *Decoder) decode(complete bool) {
	if d.nlayer == 0 || d.decoded || d.err != nil {
		return
	}
	d.decoded = true
	if d.full {
		// Input past MaxInput was dropped: a stream that does not end
		// within it is a truncated sample, not an error.
		d.attempt(false)
		if !d.ended && d.err == nil {
			d.truncated = true
		}
		return
	}
	d.attempt(true)
	if !d.ended && !d.truncated && d.err == nil && complete {
		d.err = fmt.Errorf("decoding %s: %w", d.describe(), ErrTruncated)
	}
}

// Grow reserves room in an identity sample for a body of n bytes (capped at
// MaxOutput), saving the reallocations of a growing sample.
func (d *Decoder) Grow(n int64) {
	if d.nlayer != 0 || d.done {
		return
	}
	if m := int64(d.opts.MaxOutput); n > m {
		n = m
	}
	if int(n) > cap(d.out)-len(d.out) || d.outScratch {
		nb := d.opts.Pool.getSample(len(d.out) + int(n))[:len(d.out)]
		copy(nb, d.out)
		if d.outScratch {
			d.giveBack(&d.outBox, d.out)
			d.outScratch = false
		}
		d.out = nb
	}
}

// borrow returns the working buffer held in *box (taking one from the Pool,
// or making one, first), emptied. Appending grows it.
func (d *Decoder) borrow(box **[]byte) []byte {
	if *box == nil {
		*box = d.opts.Pool.getBuf(0, box == &d.inBox)
	}
	return (**box)[:0]
}

// giveBack ends the use of a working buffer, which b (its bytes, possibly
// grown by append) may now live in: the Pool takes it back; without a Pool
// the Decoder keeps it unless it is large.
func (d *Decoder) giveBack(box **[]byte, b []byte) {
	if *box == nil {
		return
	}
	if cap(b) > cap(**box) {
		**box = b[:0]
	}
	if d.opts.Pool != nil {
		d.opts.Pool.putBuf(*box, box == &d.inBox)
		*box = nil
	} else if cap(**box) > 64<<10 {
		*box = nil // do not keep large buffers across bodies
	}
}

// release gives the working buffers back (after Finish, or when a body is
// abandoned without it).
func (d *Decoder) release() {
	// Most calls find nothing to give back (Reset after Finish): the
	// boxes are tested here, without a call.
	in := d.in
	d.in = nil
	if d.inBox != nil {
		d.giveBack(&d.inBox, in)
	}
	if d.outScratch {
		out := d.out
		d.out, d.outScratch = nil, false
		d.giveBack(&d.outBox, out)
	} else if d.outBox != nil {
		d.giveBack(&d.outBox, nil)
	}
}

// Done reports whether further input is useless: the sample is full, the
// encoded stream ended, the input buffer is full, or decoding failed.
func (d *Decoder) Done() bool { return d.done }

// Err returns the decoding error seen so far, if any.
func (d *Decoder) Err() error { return d.err }

// Dropped returns how many encoded bytes were written but not kept.
func (d *Decoder) Dropped() int64 { return d.dropped }

// Finish decodes what was buffered and returns the sample, which from then
// on belongs to the caller (the Decoder forgets it). complete says whether
// the whole body was written: an encoded stream that stops early is then
// ErrTruncated, otherwise a partial sample without error. truncated is set
// when the sample was capped at MaxOutput or input was dropped at MaxInput.
// err wraps ErrUnsupported, ErrLimit, ErrCorrupt or ErrTruncated; the sample
// decoded before the error is still returned.
func (d *Decoder) Finish(complete bool) (sample []byte, truncated bool, err error) {
	d.decode(complete)
	d.done = true
	sample, truncated, err = d.out, d.truncated, d.err
	if d.outScratch {
		// The working buffer stays; the caller gets the bytes.
		sample = nil
		if len(d.out) > 0 {
			sample = append(d.opts.Pool.getSample(len(d.out)), d.out...)
		}
	} else {
		d.out = nil
	}
	d.release()
	if d.decoded {
		// Only decoding (attempt) sets them, and only the layers in
		// use.
		d.src.Reset(nil)
		for i := 0; i < d.nlayer; i++ {
			d.opts.Pool.put(&d.lays[i])
			d.lays[i] = layer{} // decompressor state is large: do not keep it
		}
	}
	return sample, truncated, err
}

func (d *Decoder) describe() string {
	s := ""
	for i := 0; i < d.nlayer; i++ {
		if i > 0 {
			s += ", "
		}
		s += d.codings[i].String()
	}
	return s
}

// attempt decodes d.in from the start. final says no more input will come.
func (d *Decoder) attempt(final bool) {
	d.produced = 0
	if d.out == nil {
		d.out, d.outScratch = d.borrow(&d.outBox), true
	}
	d.out = d.out[:0]
	if d.gunzipWhole() {
		return
	}
	d.src.Reset(d.in)
	var r io.Reader = &d.src
	var err error
	for i := d.nlayer - 1; i >= 0 && err == nil; i-- {
		r, err = d.open(i, r)
	}
	if err == nil {
		err = d.readAll(r)
	}
	switch {
	case err == nil: // sample full
		d.truncated, d.done = true, true
	case err == io.EOF:
		d.ended, d.done = true, true
	case errors.Is(err, ErrLimit):
		if len(d.out) > d.opts.MaxDecompress {
			d.out = d.out[:d.opts.MaxDecompress]
		}
		d.err = fmt.Errorf("decoding %s: %w", d.describe(), err)
		d.done = true
	case (err == io.ErrUnexpectedEOF || errors.Is(err, io.EOF)) && d.src.Len() == 0:
		// ran out of input: wait for more (or, if final, Finish decides)
	default:
		d.err = fmt.Errorf("decoding %s: %w: %v", d.describe(), ErrCorrupt, err)
		d.done = true
	}
	_ = final
}

// readAll reads r into d.out until MaxOutput+1 bytes (returns nil), EOF or
// an error. The buffer grows geometrically, never past MaxOutput+1.
func (d *Decoder) readAll(r io.Reader) error {
	limit := d.opts.MaxOutput + 1
	for {
		if len(d.out) == cap(d.out) {
			n := 2 * cap(d.out)
			if n < 1024 {
				n = 1024
			}
			if n > limit {
				n = limit
			}
			nb := make([]byte, len(d.out), n)
			copy(nb, d.out)
			d.out = nb
		}
		n, err := r.Read(d.out[len(d.out):cap(d.out)])
		d.out = d.out[:len(d.out)+n]
		if len(d.out) >= limit {
			d.out = d.out[:d.opts.MaxOutput]
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrNoProgress
		}
	}
}

// open returns a reader decoding layer i from r, counting what it produces.
func (d *Decoder) open(i int, r io.Reader) (io.Reader, error) {
	l := &d.lays[i]
	var dec io.Reader
	switch d.codings[i] {
	case Gzip:
		if l.gz == nil {
			l.gz = d.opts.Pool.getGzip()
		}
		if l.gz == nil {
			gz, err := gzip.NewReader(r)
			if err != nil {
				return nil, err
			}
			l.gz = gz
		} else if err := l.gz.Reset(r); err != nil {
			return nil, err
		}
		dec = l.gz
	case Deflate:
		// zlib header: CM=8, CINFO≤7, and the 16-bit header a multiple of 31.
		var hdr [2]byte
		n, err := io.ReadFull(r, hdr[:])
		if err != nil {
			if n == 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		l.pr = prefixReader{b: hdr, n: 2, r: r}
		if hdr[0]&0x0f == 8 && hdr[0]>>4 <= 7 && (uint16(hdr[0])<<8|uint16(hdr[1]))%31 == 0 {
			if l.zl == nil {
				l.zl = d.opts.Pool.getZlib()
			}
			if l.zl == nil {
				zl, err := zlib.NewReader(&l.pr)
				if err != nil {
					return nil, err
				}
				l.zl = zl
			} else if err := l.zl.(zlib.Resetter).Reset(&l.pr, nil); err != nil {
				return nil, err
			}
			dec = l.zl
		} else {
			if l.fl == nil {
				l.fl = d.opts.Pool.getFlate()
			}
			if l.fl == nil {
				l.fl = flate.NewReader(&l.pr)
			} else if err := l.fl.(flate.Resetter).Reset(&l.pr, nil); err != nil {
				return nil, err
			}
			dec = l.fl
		}
	case Brotli:
		if l.br == nil {
			l.br = brotli.NewReader(r)
		} else {
			_ = l.br.Reset(r)
		}
		dec = l.br
	default:
		return nil, fmt.Errorf("coding %v: %w", d.codings[i], ErrUnsupported)
	}
	l.cr = countReader{r: dec, d: d}
	return &l.cr, nil
}

// countReader adds what it reads to the Decoder's production counter and
// fails with ErrLimit past MaxDecompress.
type countReader struct {
	r io.Reader
	d *Decoder
}

func (c *countReader) Read(p []byte) (int, error) {
	// Stacked codings share the counter, so an inner layer may already
	// have spent the room of an outer one.
	room := c.d.opts.MaxDecompress - c.d.produced + 1
	if room <= 0 {
		return 0, ErrLimit
	}
	if len(p) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.d.produced += n
	if c.d.produced > c.d.opts.MaxDecompress {
		return n, ErrLimit
	}
	return n, err
}

// prefixReader yields up to two peeked bytes, then r.
type prefixReader struct {
	b [2]byte
	i int
	n int
	r io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.i < p.n {
		k := copy(b, p.b[p.i:p.n])
		p.i += k
		return k, nil
	}
	return p.r.Read(b)
}
