package capture

import "io"

// window is a read buffer that hands out slices of itself: peek returns
// bytes still inside the buffer, so a reader built on it decodes records in
// place without copying them. A slice returned by peek stays valid until the
// next peek, Read or ReadByte call (consume only records how far to advance).
//
// The buffer starts at windowSize and grows to the largest record peeked,
// which callers bound, so it never holds more than one record plus one read.
type window struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unconsumed byte in buf
	end  int   // end of valid data in buf
	base int64 // stream offset of buf[0]
	skip int64 // bytes consumed beyond end, discarded on the next fill
	err  error // sticky error from r
}

const windowSize = 128 << 10

func newWindow(r io.Reader) *window {
	return &window{r: r, buf: make([]byte, windowSize)}
}

// offset returns the stream offset of the next unconsumed byte.
func (w *window) offset() int64 { return w.base + int64(w.pos) + w.skip }

// consume advances past n bytes. Bytes beyond the buffered data are skipped
// lazily by the next fill, so slices already handed out stay intact.
func (w *window) consume(n int64) {
	if avail := int64(w.end - w.pos); n > avail {
		w.skip += n - avail
		n = avail
	}
	w.pos += int(n)
}

// skipNow consumes n bytes at once, reading past the buffered ones, which
// invalidates every slice handed out. It reports whether the stream held
// them all; if not, the error is in w.err.
func (w *window) skipNow(n int64) bool {
	w.consume(n)
	return w.skip == 0 || w.discard()
}

// peek returns the next n bytes without consuming them. When the stream
// ends first it returns what there is with io.EOF if that is nothing and
// io.ErrUnexpectedEOF otherwise; other read errors are returned as they are.
func (w *window) peek(n int) ([]byte, error) {
	if w.end-w.pos >= n {
		return w.buf[w.pos : w.pos+n], nil
	}
	return w.fill(n)
}

// buffered returns what peek(n) returns when the n bytes are in the buffer
// already, and false otherwise. It is inlined, peek is not: the record
// readers try it first, which saves a call for nearly every record.
func (w *window) buffered(n int) ([]byte, bool) {
	if w.end-w.pos >= n {
		return w.buf[w.pos : w.pos+n], true
	}
	return nil, false
}

func (w *window) fill(n int) ([]byte, error) {
	if w.skip > 0 && !w.discard() {
		if w.err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, w.err
	}
	if n > len(w.buf)-w.pos {
		rest := w.end - w.pos
		if n > len(w.buf) {
			size := len(w.buf)
			for size < n {
				size *= 2
			}
			nb := make([]byte, size)
			copy(nb, w.buf[w.pos:w.end])
			w.buf = nb
		} else {
			copy(w.buf, w.buf[w.pos:w.end])
		}
		w.base += int64(w.pos)
		w.pos, w.end = 0, rest
	}
	for empty := 0; w.end-w.pos < n && w.err == nil; {
		m, err := w.r.Read(w.buf[w.end:])
		w.end += m
		if err != nil {
			w.err = err
		} else if m == 0 {
			if empty++; empty > 100 {
				w.err = io.ErrNoProgress
			}
		}
	}
	if w.end-w.pos >= n {
		return w.buf[w.pos : w.pos+n], nil
	}
	return w.buf[w.pos:w.end], w.shortErr(w.end - w.pos)
}

// shortErr is the error for a peek that found only avail bytes.
func (w *window) shortErr(avail int) error {
	if w.err == io.EOF {
		if avail == 0 {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return w.err
}

// discard drops w.skip bytes past the buffered data. It reports whether all
// of them could be read.
func (w *window) discard() bool {
	w.base += int64(w.end)
	w.pos, w.end = 0, 0
	for w.skip > 0 && w.err == nil {
		b := w.buf
		if int64(len(b)) > w.skip {
			b = b[:w.skip]
		}
		m, err := w.r.Read(b)
		w.skip -= int64(m)
		w.base += int64(m)
		if err != nil {
			w.err = err
		}
	}
	if w.skip > 0 {
		// The stream ended inside the skipped bytes: count them as read so
		// offsets stay where the record said the data would end.
		w.base += w.skip
		w.skip = 0
		return false
	}
	return true
}

// Read implements io.Reader so that a decompressor can read from the window
// after the format has been sniffed.
func (w *window) Read(p []byte) (int, error) {
	if w.pos == w.end {
		if _, err := w.fill(1); err != nil && w.pos == w.end {
			return 0, err
		}
	}
	n := copy(p, w.buf[w.pos:w.end])
	w.pos += n
	return n, nil
}

// ReadByte implements io.ByteReader, which keeps compress/gzip from adding
// a buffer of its own.
func (w *window) ReadByte() (byte, error) {
	if w.pos == w.end {
		if _, err := w.fill(1); err != nil && w.pos == w.end {
			return 0, err
		}
	}
	c := w.buf[w.pos]
	w.pos++
	return c, nil
}
