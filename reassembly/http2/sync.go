package http2

import "bytes"

// Preface is the client connection preface (RFC 9113 §3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameHeaderLen is the size of a frame header.
const frameHeaderLen = 9

// Frame types (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// defaultMaxFrame is SETTINGS_MAX_FRAME_SIZE's initial value.
const defaultMaxFrame = 16384

// Verdict is what the first bytes of a stream say about HTTP/2.
type Verdict uint8

const (
	NeedMore Verdict = iota // not enough bytes to tell
	IsH2                    // HTTP/2
	NotH2                   // something else
)

// DetectPreface reports whether b, the first bytes a side sent, begin with
// the client connection preface.
func DetectPreface(b []byte) Verdict {
	n := min(len(b), len(Preface))
	if string(b[:n]) != Preface[:n] {
		return NotH2
	}
	if n < len(Preface) {
		return NeedMore
	}
	return IsH2
}

// DetectServerStart reports whether b, the first bytes a server sent,
// begin like an HTTP/2 server: a SETTINGS frame on stream 0 (a server may
// send it before it has read the client's preface).
func DetectServerStart(b []byte) Verdict {
	if len(b) < frameHeaderLen {
		// Compare what there is: 3 length bytes, then type 4, flags 0.
		if len(b) > 3 && b[3] != frameSettings || len(b) > 4 && b[4] != 0 {
			return NotH2
		}
		return NeedMore
	}
	if b[3] != frameSettings || b[4] != 0 || !validHeader(b, defaultMaxFrame) {
		return NotH2
	}
	return IsH2
}

func frameLen(h []byte) int { return int(h[0])<<16 | int(h[1])<<8 | int(h[2]) }

func streamID(h []byte) uint32 {
	return uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])
}

// validHeader is a strict plausibility check of a frame header, used to
// find frame boundaries in bytes whose framing is unknown: only the frame
// types of RFC 9113 with flags, stream and length as the spec allows them
// and as implementations send them.
func validHeader(h []byte, maxFrame int) bool {
	n, typ, fl := frameLen(h), h[3], h[4]
	if h[5]&0x80 != 0 || n > maxFrame {
		return false
	}
	sid := streamID(h)
	switch typ {
	case frameData:
		// An empty DATA frame only ever carries END_STREAM.
		return sid != 0 && fl&^(flagEndStream|flagPadded) == 0 && (n > 0 || fl == flagEndStream)
	case frameHeaders:
		return sid != 0 && n > 0 && fl&^(flagEndStream|flagEndHeaders|flagPadded|flagPriority) == 0
	case framePriority:
		return sid != 0 && n == 5 && fl == 0
	case frameRSTStream:
		return sid != 0 && n == 4 && fl == 0
	case frameSettings:
		return sid == 0 && fl&^flagAck == 0 && n%6 == 0 && (fl == 0 || n == 0)
	case framePushPromise:
		return sid != 0 && n >= 4 && fl&^(flagEndHeaders|flagPadded) == 0
	case framePing:
		return sid == 0 && n == 8 && fl&^flagAck == 0
	case frameGoAway:
		return sid == 0 && n >= 8 && fl == 0
	case frameWindowUpdate:
		return n == 4 && fl == 0
	case frameContinuation:
		return sid != 0 && n > 0 && fl&^flagEndHeaders == 0
	}
	return false
}

// chainFrames is how many consecutive plausible frame headers confirm a
// frame boundary (two when they end exactly where the bytes do, as frames
// written whole into segments do).
const chainFrames = 3

// FindFrames looks for a frame boundary in b, bytes of one direction whose
// framing is unknown (a connection picked up mid-stream, bytes after a
// gap). off is the first offset from which plausible frame headers chain
// (see validHeader) through chainFrames frames, or through at least two
// ending exactly at len(b); -1 when there is none yet, keep then being the
// first offset that more bytes may still confirm (len(b) when none can).
func FindFrames(b []byte, maxFrame int) (off, keep int) {
	var f FrameFinder
	return f.Find(b, maxFrame)
}

// maxPending bounds the undecided offsets a FrameFinder re-examines.
const maxPending = 64

// FrameFinder is FindFrames over a buffer that grows between calls: each
// offset is examined once, then again only while more bytes may still
// confirm it (at most maxPending such offsets are kept), so the work stays
// linear in the bytes searched. The zero value is ready.
type FrameFinder struct {
	pend []int // undecided offsets, ascending
	next int   // first offset not yet examined
}

// Find looks at b, the buffer of the previous call with bytes appended
// (see Shift for bytes dropped from its front), and returns as FindFrames.
func (f *FrameFinder) Find(b []byte, maxFrame int) (off, keep int) {
	if maxFrame <= 0 {
		maxFrame = defaultMaxFrame
	}
	f.next = min(f.next, len(b))
	// A preface means a connection's start: frames follow it.
	from := max(0, f.next-len(Preface)+1)
	if i := bytes.Index(b[from:], []byte(Preface)); i >= 0 {
		f.Reset()
		return from + i, from + i
	}
	pend := f.pend[:0]
	for _, i := range f.pend {
		switch chain(b[i:], maxFrame) {
		case chainYes:
			f.Reset()
			return i, i
		case chainMore:
			pend = append(pend, i)
		}
	}
	f.pend = pend
	for i := f.next; i < len(b); i++ {
		switch chain(b[i:], maxFrame) {
		case chainYes:
			f.Reset()
			return i, i
		case chainMore:
			if len(f.pend) < maxPending {
				f.pend = append(f.pend, i)
			}
		}
	}
	f.next = len(b)
	keep = len(b)
	if len(f.pend) > 0 {
		keep = f.pend[0]
	}
	return -1, keep
}

// Shift tells f that the caller dropped the first n bytes of its buffer.
func (f *FrameFinder) Shift(n int) {
	pend := f.pend[:0]
	for _, i := range f.pend {
		if i >= n {
			pend = append(pend, i-n)
		}
	}
	f.pend = pend
	f.next = max(0, f.next-n)
}

// Reset forgets everything examined.
func (f *FrameFinder) Reset() {
	f.pend, f.next = f.pend[:0], 0
}

// StartsFrames reports whether b begins with plausible frame headers (as
// far as it goes): bytes a sensor attached to a running HTTP/2 connection
// may see first.
func StartsFrames(b []byte) bool {
	return len(b) > 0 && chain(b, defaultMaxFrame) != chainNo
}

type chainResult uint8

const (
	chainNo chainResult = iota
	chainYes
	chainMore
)

// chain checks the frame headers chained from the start of b: each
// plausible, and a header block's CONTINUATION frames right after it on its
// stream.
func chain(b []byte, maxFrame int) chainResult {
	n, p := 0, 0
	var cont uint32 // stream whose header block goes on, 0 when none
	for {
		if p == len(b) && n >= 2 {
			return chainYes
		}
		if p+frameHeaderLen > len(b) {
			// A partial header must still be able to begin a valid one.
			if p < len(b) && !headerPrefixOK(b[p:], maxFrame) {
				return chainNo
			}
			return chainMore
		}
		h := b[p:]
		if !validHeader(h, maxFrame) {
			return chainNo
		}
		typ, sid := h[3], streamID(h)
		if (cont != 0) != (typ == frameContinuation) || cont != 0 && sid != cont {
			return chainNo
		}
		cont = 0
		if (typ == frameHeaders || typ == framePushPromise || typ == frameContinuation) && h[4]&flagEndHeaders == 0 {
			cont = sid
		}
		n++
		if n == chainFrames {
			return chainYes
		}
		p += frameHeaderLen + frameLen(b[p:])
		if p > len(b) {
			return chainMore
		}
	}
}

// headerPrefixOK checks the bytes of a partial frame header it can.
func headerPrefixOK(b []byte, maxFrame int) bool {
	if len(b) >= 3 && frameLen(b) > maxFrame {
		return false
	}
	if len(b) >= 4 && b[3] > frameContinuation {
		return false
	}
	if len(b) >= 6 && b[5]&0x80 != 0 {
		return false
	}
	return true
}
