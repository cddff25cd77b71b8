package content

import "encoding/binary"

// Encoded is the encoded input of one body, kept by Decoder.Defer for
// decoding later (or never): a consumer that does not look at the body
// does not pay for decompressing it. Decode gives exactly what Finish
// would have given at the time Defer was called.
//
// Decode may be called from any goroutine (the Pool is safe for concurrent
// use), but not concurrently on one Encoded. Release, once it is no longer
// needed, hands its buffer back to the Pool.
type Encoded struct {
	in       []byte // the encoded input, owned
	pooled   bool   // in is an array of opts.Pool's, to give back
	copied   bool   // in is a copy from opts.Pool's samples, to give back
	box      []byte // in, emptied, for the Pool at Release: no new box
	codings  [MaxLayers]Coding
	nlayer   uint8
	full     bool // the input reached MaxInput
	complete bool // the whole body was written
	opts     Options
}

// Len returns the number of encoded bytes kept.
func (e *Encoded) Len() int { return len(e.in) }

// Defer ends the body like Finish but without decoding it: it returns the
// encoded input buffered so far for Encoded.Decode (the Pool's buffer
// holding it goes with it, back to the Pool at Encoded.Release, when it is
// not much larger than the input; a copy otherwise), or nil when there is
// nothing to defer (an
// identity body, no input, input already decoded, or an error already
// known such as an unsupported coding) — Finish then ends the body as
// usual. complete is Finish's.
func (d *Decoder) Defer(complete bool) *Encoded {
	if d.nlayer == 0 || d.decoded || d.err != nil || len(d.in) == 0 {
		return nil
	}
	e := &Encoded{
		codings:  d.codings,
		nlayer:   uint8(d.nlayer),
		full:     d.full,
		complete: complete,
		opts:     d.opts,
	}
	e.opts.Defer = false
	if d.opts.Pool != nil && d.inBox != nil && cap(d.in) <= 2*len(d.in)+1024 {
		// The array is the Encoded's until Release gives it back, in
		// the Encoded's own box; the Decoder's box is dropped, and the
		// Pool lends the next body another.
		e.in, e.pooled = d.in, true
		d.in, d.inBox = nil, nil
	} else {
		// A copy of the Pool's too, for Release to give back.
		e.in = append(d.opts.Pool.getSample(len(d.in)), d.in...)
		e.copied = true
	}
	d.done = true
	d.release()
	return e
}

// Decode decodes the body: the sample, at most MaxOutput bytes, which
// belongs to the caller (who may give it back with Pool.PutSample), with
// Finish's truncated and err.
func (e *Encoded) Decode() (sample []byte, truncated bool, err error) {
	d := e.opts.Pool.getDecoder()
	d.Reset(e.codings[:e.nlayer], e.opts) // cannot fail: Defer checked the codings
	d.in, d.full = e.in, e.full
	if n, ok := e.gzipSize(); ok && n < d.opts.MaxOutput {
		// A single gzip member states its decoded size: one buffer of
		// that size (of a Pool's size class), which is the sample,
		// instead of a working buffer and a copy (a wrong size only
		// costs a reallocation).
		d.out = e.opts.Pool.getSample(n + 1)
	}
	sample, truncated, err = d.Finish(e.complete)
	d.in = nil
	e.opts.Pool.putDecoder(d)
	return sample, truncated, err
}

// Release ends the use of e: the buffer holding its input goes back to the
// Pool that lent it. e must not be used after (Len is then 0 and Decode
// gives an empty sample). Without Release the buffer is left to the
// garbage collector.
func (e *Encoded) Release() {
	if e.pooled {
		e.box, e.pooled = e.in[:0], false
		e.opts.Pool.putBuf(&e.box, true)
	} else if e.copied {
		e.copied = false
		e.opts.Pool.PutSample(e.in)
	}
	e.in = nil
}

// gzipSize returns the decoded size a gzip body's trailer states (ISIZE,
// modulo 2^32), when the body is one gzip layer written whole.
func (e *Encoded) gzipSize() (int, bool) {
	if e.nlayer != 1 || e.codings[0] != Gzip || e.full || !e.complete || len(e.in) < 18 {
		return 0, false
	}
	return int(binary.LittleEndian.Uint32(e.in[len(e.in)-4:])), true
}
