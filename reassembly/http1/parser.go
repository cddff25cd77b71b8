package http1

import (
	"bytes"
	"time"
	"unsafe"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

type state uint8

const (
	stHead        state = iota // accumulating a message head in buf
	stResync                   // scanning for the next plausible start line
	stBodyLen                  // Content-Length body, remaining bytes left
	stBodyEOF                  // close-delimited body
	stChunkSize                // chunk-size hex digits
	stChunkExt                 // after the size: whitespace / extensions up to LF
	stChunkSizeLF              // CR seen after the size, LF expected
	stChunkData                // chunk data, remaining bytes left
	stChunkDataCR              // CRLF expected after chunk data
	stChunkDataLF              // CR seen after chunk data, LF expected
	stTrailer                  // accumulating the trailer section in buf
	stStopped                  // upgraded, stopped or closed: bytes are ignored
)

const (
	defaultMaxBody   = 64 << 10
	defaultMaxHeader = 64 << 10
	// maxChunkLine bounds a chunk-size line (size, extensions, CRLF).
	maxChunkLine = 4 << 10
	// resyncPiece is how much input the resync scanner takes per step.
	resyncPiece = 32 << 10
	// resyncTarget is the longest request-target the resync scanner can
	// recognise: it keeps this much look-behind before each "HTTP/1." it
	// has yet to examine.
	resyncTarget = 8 << 10
	// headBufSize is the initial capacity of a parser's head buffer.
	headBufSize = 1024
	// maxMethod is the longest method token accepted in a request line.
	maxMethod = 32
	// maxFastLines is the most header lines wholeHead takes (a parser
	// keeps their offsets); longer heads go line by line.
	maxFastLines = 128
	// maxResyncMethod is the longest method token the resync scanner and
	// Detect accept (upper-case letters, '_' and '-').
	maxResyncMethod = 20
)

// Parser parses one direction of an HTTP/1.x connection. It is not safe for
// concurrent use.
//
// Memory per Parser is bounded by Options.MaxHeaderBytes (head and trailer
// buffer), about 40 KiB of resync look-behind, and, while a body is being
// sampled, Options.MaxBody plus the encoded input the content decoder buffers
// (2 × MaxBody + 4 KiB) and its decompressor state.
type Parser struct {
	parserState
	// dec and own are kept by ResetRequest and ResetResponse, which zero
	// the rest (parserState) without copying them.
	dec content.Decoder
	// own is where heads are carved from without Options.Arena.
	own Arena
}

// parserState is what a parser's stream sets; see Parser.
type parserState struct {
	opts    Options
	request bool
	st      state
	ts      time.Time // capture time of the bytes being parsed

	// buf holds the head or trailer section being accumulated, or the
	// resync window.
	buf       []byte
	lineStart int  // start of the current line in buf
	startDone bool // head: buf begins with a complete, valid start line
	start     time.Time
	rscan     int // resync: where the search for "HTTP/1." resumes in buf
	rmin      int // resync: candidates must start at or after this offset

	// pend holds bytes handed back by the resync scanner, to be parsed
	// before the rest of the input.
	pend, pend2 []byte
	pendOff     int
	tmp         [maxMethod + 16]byte // scratch for start-line prefix checks

	// msg is the message in progress (nil between messages); it points
	// to m, which the parser reuses for every message (see OnMessage).
	msg       *Message
	m         Message
	remaining int64 // bytes left in a Content-Length body or a chunk
	chunkLen  int   // bytes of the current chunk-size line
	chunkDig  int   // hex digits seen in the current chunk-size line
	sampling  bool  // body bytes go to dec
	// mayTunnel: the last request was CONNECT or asked for an upgrade;
	// non-HTTP bytes right after it are the tunnel, not garbage.
	mayTunnel bool
	codings   []content.Coding

	// Set by wholeHead for parseHead: the start line's split (see
	// splitRequestLine; [0] is the reason's start in a status line), the
	// offset of its LF and the ends of the header lines after it.
	splitOK  bool
	split    [4]int
	headEOL  int
	lineEnds []int32
	// Set by parseHead's fast path for headDone: when candOK, the
	// header fields framingField names are those at the indices
	// cand[:ncand], of the kinds kind[:ncand].
	candOK bool
	ncand  uint8
	cand   [8]uint8
	kind   [8]framing

	stats Stats
}

const (
	// strChunk and hdrChunk size the chunks message heads are carved
	// from: one allocation serves a dozen typical heads rather than two
	// per head. A head string or header list over a quarter of its chunk
	// gets its own allocation, so that a string kept long by a consumer
	// holds on to little more than itself.
	strChunk = 4 << 10
	hdrChunk = 128
)

// Arena is where parsers carve the strings and header lists of message
// heads from: chunks of strChunk bytes and hdrChunk fields, one allocation
// serving a dozen typical heads rather than two per head. What it handed
// out is never written again (a full chunk is replaced, not reused), so
// messages keep their parts however long. The parsers used by one
// goroutine may share one (Options.Arena): their heads then fill the same
// chunks in turn, rather than a partly filled chunk per parser. The zero
// Arena is ready to use; it is not safe for concurrent use.
type Arena struct {
	strs []byte
	hdrs []Header
}

func (p *Parser) arena() *Arena {
	if a := p.opts.Arena; a != nil {
		return a
	}
	return &p.own
}

// keepHead returns a string holding b's bytes, carved from the arena's
// string chunk. The chunk is shared by the strings of several messages,
// which is harmless: none of its written bytes change again.
func (p *Parser) keepHead(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > strChunk/4 {
		return string(b)
	}
	a := p.arena()
	if cap(a.strs)-len(a.strs) < len(b) {
		a.strs = make([]byte, 0, strChunk)
	}
	off := len(a.strs)
	a.strs = append(a.strs, b...)
	return unsafe.String(&a.strs[off], len(b))
}

// headers returns an empty header list with room for n fields, carved
// from the arena's header chunk; headersDone gives it back trimmed.
func (p *Parser) headers(n int) []Header {
	if n > hdrChunk/4 {
		return make([]Header, 0, n)
	}
	a := p.arena()
	if cap(a.hdrs)-len(a.hdrs) < n {
		a.hdrs = make([]Header, 0, hdrChunk)
	}
	l := len(a.hdrs)
	return a.hdrs[l : l : l+n]
}

// headersDone ends the use of hs, from headers: its fields are the
// message's (cap cut to its length, so that a consumer's append copies),
// nil when there are none.
func (p *Parser) headersDone(hs []Header) []Header {
	if len(hs) == 0 {
		return nil
	}
	a := p.arena()
	if l := len(a.hdrs); l < cap(a.hdrs) && &a.hdrs[l : l+1][0] == &hs[0] {
		a.hdrs = a.hdrs[:l+len(hs)]
	}
	return hs[:len(hs):len(hs)]
}

// NewRequestParser returns a parser for the client-to-server direction.
func NewRequestParser(opts Options) *Parser { return newParser(opts, true) }

// NewResponseParser returns a parser for the server-to-client direction.
func NewResponseParser(opts Options) *Parser { return newParser(opts, false) }

func newParser(opts Options, request bool) *Parser {
	return &Parser{parserState: parserState{opts: opts.resolved(), request: request}}
}

func (o Options) resolved() Options {
	if o.MaxBody == 0 {
		o.MaxBody = defaultMaxBody
	}
	if o.MaxDecompress <= 0 && o.MaxBody > 0 {
		o.MaxDecompress = 16 * o.MaxBody
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = defaultMaxHeader
	}
	return o
}

// ResetRequest makes p what NewRequestParser(opts) returns, for a new
// stream, keeping its small working buffers (and nothing else: no byte of
// the previous stream, no counter). A connection layer keeps the parsers
// of closed connections for its next ones instead of allocating two per
// connection. Messages emitted before share no memory that p writes again
// (see Message), so they are unaffected.
func (p *Parser) ResetRequest(opts Options) { p.reset(opts, true) }

// ResetResponse makes p what NewResponseParser(opts) returns, for a new
// stream (see ResetRequest).
func (p *Parser) ResetResponse(opts Options) { p.reset(opts, false) }

func (p *Parser) reset(opts Options, request bool) {
	// dec is Reset before each body (Finish left it empty); own keeps
	// carving where it was.
	buf, pend, pend2 := keepSmall(p.buf), keepSmall(p.pend), keepSmall(p.pend2)
	codings, lineEnds := p.codings[:0], p.lineEnds[:0]
	// Zeroed in place, then set: cheaper than building the new state
	// aside and copying it in.
	p.parserState = parserState{}
	ps := &p.parserState
	ps.opts, ps.request = opts.resolved(), request
	ps.buf, ps.pend, ps.pend2 = buf, pend, pend2
	ps.codings, ps.lineEnds = codings, lineEnds
}

// maxKeptBuf is the largest working buffer a parser keeps across streams
// (heads are rarely larger; a larger one is left to the collector).
const maxKeptBuf = 4 * headBufSize

// keepSmall returns b emptied when it is worth keeping across streams.
func keepSmall(b []byte) []byte {
	if cap(b) > maxKeptBuf {
		return nil
	}
	return b[:0]
}

// Stats returns the parser's counters.
func (p *Parser) Stats() Stats { return p.stats }

// Stopped reports whether the parser ignores further bytes (after an
// upgrade, a CONNECT tunnel, Stop or Close).
func (p *Parser) Stopped() bool { return p.st == stStopped }

// Stop makes the parser ignore all further bytes without emitting anything;
// a message in progress is dropped. The TCP layer calls it on the request
// parser when the response parser reports Message.Upgrade. A request parser
// also stops by itself when non-HTTP bytes follow a CONNECT request or a
// request carrying an Upgrade header (the tunnel it asked for), counting
// it in Stats.Upgrades instead of a parse error.
func (p *Parser) Stop() {
	p.st = stStopped
	p.msg = nil
	p.buf, p.pend, p.pend2 = nil, nil, nil
}

// Feed consumes the next bytes of the stream, captured at ts. data is
// borrowed: the parser copies what it keeps. Feed returns false once the
// parser has stopped (after an upgrade or CONNECT tunnel); further bytes are
// ignored.
func (p *Parser) Feed(data []byte, ts time.Time) bool {
	if p.st == stStopped {
		p.stats.IgnoredBytes += uint64(len(data))
		return false
	}
	p.ts = ts
	// Nothing handed back to parse again (the usual case): data alone.
	for len(p.pend) == 0 && len(data) > 0 {
		n, pb := p.step(data)
		if p.st == stStopped {
			p.stats.IgnoredBytes += uint64(len(data) - n)
			p.pend, p.pendOff = nil, 0
			return false
		}
		data = data[n:]
		if pb != nil {
			// Parse pb (a view of buf) before the rest of data, as
			// below.
			nb := append(p.pend2[:0], pb...)
			p.pend2 = p.pend[:0]
			p.pend, p.pendOff = nb, 0
			p.buf = p.buf[:0]
		}
	}
	for {
		var cur []byte
		fromPend := p.pendOff < len(p.pend)
		if fromPend {
			cur = p.pend[p.pendOff:]
		} else if len(data) > 0 {
			cur = data
		} else {
			return true
		}
		n, pb := p.step(cur)
		if p.st == stStopped {
			ignored := len(cur) - n
			if fromPend {
				ignored += len(data)
			}
			p.stats.IgnoredBytes += uint64(ignored)
			p.pend, p.pendOff = nil, 0
			return false
		}
		if fromPend {
			p.pendOff += n
		} else {
			data = data[n:]
		}
		if pb != nil {
			// Parse pb (a view of buf) before whatever input is left.
			nb := append(p.pend2[:0], pb...)
			nb = append(nb, p.pend[p.pendOff:]...)
			p.pend2 = p.pend[:0]
			p.pend, p.pendOff = nb, 0
			p.buf = p.buf[:0]
		}
		if p.pendOff == len(p.pend) && len(p.pend) > 0 {
			p.pend, p.pendOff = p.pend[:0], 0
		}
	}
}

// step parses a prefix of cur and returns its length. pb, when not nil, is
// a view of buf holding bytes to parse again before the rest of the input.
func (p *Parser) step(cur []byte) (n int, pb []byte) {
	switch p.st {
	case stHead:
		return p.stepHead(cur)
	case stResync:
		return p.stepResync(cur)
	case stBodyLen, stChunkData:
		k := len(cur)
		if int64(k) > p.remaining {
			k = int(p.remaining)
		}
		p.body(cur[:k])
		p.remaining -= int64(k)
		if p.remaining == 0 {
			if p.st == stBodyLen {
				p.finish(0)
			} else {
				p.st = stChunkDataCR
			}
		}
		return k, nil
	case stBodyEOF:
		p.body(cur)
		return len(cur), nil
	case stChunkSize, stChunkExt, stChunkSizeLF, stChunkDataCR, stChunkDataLF:
		return p.stepChunk(cur)
	case stTrailer:
		return p.stepTrailer(cur)
	}
	return len(cur), nil
}

// stepHead accumulates a message head line by line.
func (p *Parser) stepHead(cur []byte) (int, []byte) {
	if len(p.buf) == 0 {
		if n := p.wholeHead(cur); n > 0 {
			return n, nil
		}
	}
	i := 0
	for i < len(cur) {
		chunk := cur[i:]
		lineDone := false
		if j := bytes.IndexByte(chunk, '\n'); j >= 0 {
			chunk, lineDone = chunk[:j+1], true
		}
		if !p.startDone && len(p.buf) < maxMethod+16 && !p.prefixOKWith(chunk) {
			return p.notStartLine(i)
		}
		if len(p.buf)+len(chunk) > p.opts.MaxHeaderBytes {
			// Too long: emit what can be and drop the head's first
			// MaxHeaderBytes bytes; rescanning them could find the same
			// start line again.
			room := p.opts.MaxHeaderBytes - len(p.buf)
			p.stats.ParseErrors++
			p.stats.ResyncSkippedBytes += uint64(room)
			p.abandonHead(MsgBadFraming | MsgIncomplete)
			return i + room, p.enterResync(0)
		}
		if len(p.buf) == 0 {
			p.start = p.ts
			if cap(p.buf) == 0 {
				// Most heads fit: one allocation per parser rather
				// than a doubling series.
				p.buf = make([]byte, 0, headBufSize)
			}
		}
		p.buf = append(p.buf, chunk...)
		i += len(chunk)
		if !p.startDone {
			line := p.buf[p.lineStart:]
			if !lineDone {
				continue
			}
			if isEmptyLine(line) { // tolerated blank lines between messages
				p.buf = p.buf[:0]
				continue
			}
			if !p.startLineOK(trimEOL(line)) {
				return p.notStartLine(i)
			}
			p.startDone = true
			p.lineStart = len(p.buf)
			continue
		}
		if lineDone {
			if isEmptyLine(p.buf[p.lineStart:]) {
				p.headDone(p.buf)
				return i, nil
			}
			p.lineStart = len(p.buf)
		}
	}
	return i, nil
}

// wholeHead parses a head lying whole at the start of cur, as the
// line-by-line path would but without copying it into buf and scanning
// its lines once, and returns its length; it returns 0, having changed
// nothing, for anything else (a partial head, a blank line first, an
// invalid start line, a head over MaxHeaderBytes), which the line-by-line
// path then takes.
func (p *Parser) wholeHead(cur []byte) int {
	b := cur[:min(len(cur), p.opts.MaxHeaderBytes)]
	eol := bytes.IndexByte(b, '\n')
	if eol < 0 {
		return 0
	}
	first := b[:eol+1]
	if isEmptyLine(first) {
		return 0
	}
	// A first line that startPrefixOK rejects fails the split below too.
	line := trimEOL(first)
	if p.request {
		mEnd, tStart, tEnd, vStart, ok := splitRequestLine(line)
		if !ok {
			return 0
		}
		p.split = [4]int{mEnd, tStart, tEnd, vStart}
	} else {
		rStart, ok := splitStatusLine(line)
		if !ok {
			return 0
		}
		p.split[0] = rStart
	}
	p.headEOL = eol
	ends := p.lineEnds[:0]
	if ends == nil {
		ends = make([]int32, 0, 32)
	}
	for i := eol + 1; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			p.lineEnds = ends
			return 0
		}
		i += j + 1
		// An empty line: LF alone, or CR LF.
		if j == 0 || j == 1 && b[i-2] == '\r' {
			p.lineEnds = ends
			p.start = p.ts
			p.splitOK = true
			p.headDone(cur[:i])
			return i
		}
		if len(ends) == maxFastLines {
			p.lineEnds = ends
			return 0
		}
		ends = append(ends, int32(i))
	}
}

// notStartLine handles bytes where a start line should be, at offset i of
// the current step: after a CONNECT or Upgrade request they are the tunnel
// the client asked for (the parser stops); otherwise they are garbage, and
// the parser scans for the next start line after the first byte of this one.
func (p *Parser) notStartLine(i int) (int, []byte) {
	if p.mayTunnel {
		p.stats.Upgrades++
		p.stats.IgnoredBytes += uint64(len(p.buf))
		p.Stop()
		return i, nil
	}
	p.stats.ParseErrors++
	return i, p.enterResync(1)
}

func (p *Parser) startLineOK(line []byte) bool {
	if p.request {
		_, _, _, _, ok := splitRequestLine(line)
		return ok
	}
	_, ok := splitStatusLine(line)
	return ok
}

// startPrefixOK reports whether the beginning of an incomplete first line
// can still become a valid start line.
func (p *Parser) startPrefixOK(b []byte) bool {
	if len(b) == 0 || b[0] == '\n' {
		return true
	}
	if b[0] == '\r' {
		return len(b) == 1 || b[1] == '\n'
	}
	if p.request {
		for i, c := range b {
			if c == ' ' {
				return i > 0
			}
			if !isTchar(c) || i == maxMethod {
				return false
			}
		}
		return true
	}
	return statusPrefixOK(b)
}

// prefixOKWith checks the first bytes of buf followed by chunk with
// startPrefixOK.
func (p *Parser) prefixOKWith(chunk []byte) bool {
	n := maxMethod + 16 - len(p.buf)
	if len(chunk) > n {
		chunk = chunk[:n]
	}
	return p.startPrefixOK(append(append(p.tmp[:0], p.buf...), chunk...))
}

// statusPrefixOK reports whether b is consistent with the start of
// "HTTP/1.d DDD".
func statusPrefixOK(b []byte) bool {
	const lit = "HTTP/1."
	if len(b) >= 13 {
		return string(b[:7]) == lit && isDigit(b[7]) && b[8] == ' ' && isDigit(b[9]) && isDigit(b[10]) && isDigit(b[11]) &&
			(b[12] == ' ' || b[12] == '\r' || b[12] == '\n')
	}
	for i := 0; i < len(b) && i < 13; i++ {
		c := b[i]
		switch {
		case i < 7:
			if c != lit[i] {
				return false
			}
		case i == 7 || (i >= 9 && i <= 11):
			if c < '0' || c > '9' {
				return false
			}
		case i == 8:
			if c != ' ' {
				return false
			}
		case i == 12:
			if c != ' ' && c != '\r' && c != '\n' {
				return false
			}
		}
	}
	return true
}

// abandonHead emits the message whose head is in buf, if its start line is
// complete, with the complete header lines so far, and clears buf.
func (p *Parser) abandonHead(flags MsgFlags) {
	if p.startDone {
		// Complete lines belong to the message; a partial line is dropped.
		p.stats.ResyncSkippedBytes += uint64(len(p.buf) - p.lineStart)
		m := p.parseHead(p.buf[:p.lineStart])
		m.Flags |= flags
		p.msg = m
		p.finish(0)
	} else if len(p.buf) > 0 {
		p.stats.ResyncSkippedBytes += uint64(len(p.buf))
	}
	p.resetHead()
}

func (p *Parser) resetHead() {
	p.buf = p.buf[:0]
	p.lineStart = 0
	p.startDone = false
	if p.st != stStopped {
		p.st = stHead
	}
}

// headDone parses the complete head (in buf, or whole in the input) and
// decides the body framing.
func (p *Parser) headDone(head []byte) {
	m := p.parseHead(head)
	p.resetHead()
	p.msg = m
	p.remaining = 0
	if p.request {
		p.mayTunnel = m.Method == "CONNECT"
	}

	var (
		clVal   int64
		clSeen  bool
		clBad   bool
		teSeen  bool
		teChunk bool // the final transfer coding is chunked
		ceBuf   [4]string
		teBuf   [4]string
		ctype   string
	)
	ce, te := ceBuf[:0], teBuf[:0]
	hs := m.Headers
	// The fields framingField names: those parseHead listed, or all.
	n, cand := len(hs), p.cand[:p.ncand]
	if !p.candOK {
		cand = nil
	} else {
		n = len(cand)
	}
	p.candOK = false
	for j := 0; j < n; j++ {
		var h *Header
		var k framing
		if cand != nil {
			h, k = &hs[cand[j]], p.kind[j]
		} else {
			h = &hs[j]
			if k = framingField(h.Name); k == fieldOther {
				continue
			}
		}
		switch k {
		case fieldContentLength:
			v, ok := parseContentLength(h.Value)
			if !ok || (clSeen && v != clVal) {
				clBad = true
			}
			clVal, clSeen = v, true
		case fieldTransferEncoding:
			if v := trimOWS(h.Value); v == "" || asciiEqualFold(v, "identity") {
				continue // obsolete "identity" frames nothing
			}
			teSeen = true
			te = append(te, h.Value)
			teChunk = lastTokenIs(h.Value, "chunked")
		case fieldContentEncoding:
			ce = append(ce, h.Value)
		case fieldContentType:
			ctype = h.Value
		case fieldUpgrade:
			if p.request {
				p.mayTunnel = true
			}
		}
	}

	if !p.request {
		if m.Status < 200 {
			if m.Status == 101 {
				m.Upgrade = true
			}
			p.finish(0) // interim responses have no body
			return
		}
		method := ""
		if h := p.opts.Handler; h != nil {
			method = h.RequestMethod()
		} else if p.opts.RequestMethod != nil {
			method = p.opts.RequestMethod()
		}
		if method == "CONNECT" && m.Status < 300 {
			m.Upgrade = true
			p.finish(0)
			return
		}
		if method == "HEAD" || m.Status == 204 || m.Status == 304 {
			p.finish(0)
			return
		}
	}

	switch {
	case teSeen && teChunk:
		if clSeen {
			m.Flags |= MsgBadFraming // chunked wins over Content-Length
		}
		p.startBody(ce, te, ctype)
		p.st, p.chunkLen, p.chunkDig, p.remaining = stChunkSize, 0, 0, 0
	case teSeen && !p.request:
		// A response whose final transfer coding is not chunked is
		// delimited by the connection closing.
		if clSeen {
			m.Flags |= MsgBadFraming
		}
		p.startBody(ce, te, ctype)
		p.st = stBodyEOF
	case teSeen || clBad:
		// A request whose length cannot be determined, or an invalid
		// Content-Length: the rest of the stream is unframed.
		p.stats.ParseErrors++
		m.Flags |= MsgBadFraming
		p.finish(0)
		p.enterResync(0) // buf is empty: nothing to scan yet
	case clSeen:
		if clVal == 0 {
			p.finish(0)
			return
		}
		p.startBody(ce, nil, ctype)
		if p.sampling && len(p.codings) == 0 {
			p.dec.Grow(clVal)
		}
		p.st, p.remaining = stBodyLen, clVal
	case p.request:
		p.finish(0)
	default:
		p.startBody(ce, te, ctype)
		p.st = stBodyEOF
	}
}

// startBody prepares body sampling for the message in progress, whose
// Content-Type is ctype.
func (p *Parser) startBody(ce, te []string, ctype string) {
	p.sampling = false
	if p.opts.MaxBody < 0 {
		return
	}
	// encoded first: most bodies with codings are only chunked, which
	// it rules out sooner than binaryType reads the type.
	if p.opts.SkipBinary && len(ce)+len(te) > 0 && encoded(ce, te) && binaryType(ctype) {
		p.stats.UndecodedBodies++
		return
	}
	codings := p.codings[:0]
	var err error
	for _, v := range ce {
		var e error
		if codings, e = content.ParseCodings(codings, v); e != nil && err == nil {
			err = e
		}
	}
	for _, v := range te {
		var e error
		if codings, e = content.ParseCodings(codings, v); e != nil && err == nil {
			err = e
		}
	}
	p.codings = codings
	if err == nil {
		err = p.dec.Reset(codings, content.Options{MaxOutput: p.opts.MaxBody, MaxDecompress: p.opts.MaxDecompress, Pool: p.opts.Decoders, Defer: p.opts.DeferDecode})
	}
	if err != nil {
		p.msg.Flags |= MsgDecodeError
		return
	}
	p.sampling = true
}

// body accounts for body bytes of the message in progress.
func (p *Parser) body(b []byte) {
	p.msg.BodyBytes += int64(len(b))
	p.stats.BodyBytes += uint64(len(b))
	if p.sampling && !p.dec.Done() {
		p.dec.Write(b)
	}
}

// stopSample ends body sampling early (the body has a hole): the sample
// keeps what came before the hole.
func (p *Parser) stopSample() {
	if !p.sampling {
		return
	}
	p.sampling = false
	p.takeSample(p.msg, false)
}

func (p *Parser) takeSample(m *Message, complete bool) {
	if p.opts.DeferDecode {
		if e := p.dec.Defer(complete); e != nil {
			m.Encoded = e
			p.stats.DeferredBodies++
			return
		}
	}
	sample, truncated, err := p.dec.Finish(complete)
	if len(sample) > 0 {
		m.Body = sample
	}
	if truncated {
		m.Flags |= MsgTruncated
	}
	if err != nil {
		m.Flags |= MsgDecodeError
	}
}

// finish emits the message in progress with extra flags and prepares for
// the next one.
func (p *Parser) finish(flags MsgFlags) {
	m := p.msg
	p.msg = nil
	if m == nil {
		return
	}
	m.Flags |= flags
	if p.sampling {
		p.sampling = false
		if m.BodyBytes > 0 {
			p.takeSample(m, m.Flags&(MsgIncomplete|MsgGap) == 0)
		} else {
			p.dec.Finish(false)
		}
	}
	m.End = p.ts
	p.stats.Messages++
	if m.Flags&MsgIncomplete != 0 {
		p.stats.Incomplete++
	}
	if m.Flags&MsgBadFraming != 0 {
		p.stats.BadFraming++
	}
	if m.Flags&MsgTruncated != 0 {
		p.stats.TruncatedBodies++
	}
	if m.Flags&MsgDecodeError != 0 {
		p.stats.DecodeErrors++
	}
	if p.st != stStopped {
		p.st = stHead
	}
	if m.Upgrade {
		p.stats.Upgrades++
		p.st = stStopped
	}
	if h := p.opts.Handler; h != nil {
		h.HTTPMessage(m)
	} else if p.opts.OnMessage != nil {
		p.opts.OnMessage(m)
	}
}

// stepChunk parses chunk-size lines and the CRLF after chunk data.
func (p *Parser) stepChunk(cur []byte) (int, []byte) {
	for i := 0; i < len(cur); i++ {
		c := cur[i]
		switch p.st {
		case stChunkSize:
			p.chunkLen++
			switch {
			case hexVal(c) >= 0:
				if p.chunkDig == 15 {
					return p.badChunk(i)
				}
				p.remaining = p.remaining<<4 | int64(hexVal(c))
				p.chunkDig++
			case p.chunkDig == 0:
				return p.badChunk(i)
			case c == ';' || c == ' ' || c == '\t':
				p.st = stChunkExt
			case c == '\r':
				p.st = stChunkSizeLF
			case c == '\n':
				p.chunkSizeDone()
				return i + 1, nil
			default:
				return p.badChunk(i)
			}
		case stChunkExt:
			p.chunkLen++
			if p.chunkLen > maxChunkLine {
				return p.badChunk(i)
			}
			if c == '\n' {
				p.chunkSizeDone()
				return i + 1, nil
			}
		case stChunkSizeLF:
			if c != '\n' {
				return p.badChunk(i)
			}
			p.chunkSizeDone()
			return i + 1, nil
		case stChunkDataCR:
			switch c {
			case '\r':
				p.st = stChunkDataLF
			case '\n':
				p.st, p.chunkLen, p.chunkDig = stChunkSize, 0, 0
			default:
				return p.badChunk(i)
			}
		case stChunkDataLF:
			if c != '\n' {
				return p.badChunk(i)
			}
			p.st, p.chunkLen, p.chunkDig = stChunkSize, 0, 0
		default:
			return i, nil
		}
	}
	return len(cur), nil
}

// chunkSizeDone switches to chunk data or, after the last chunk, to the
// trailer section.
func (p *Parser) chunkSizeDone() {
	if p.remaining == 0 {
		p.st = stTrailer
		p.buf, p.lineStart = p.buf[:0], 0
		return
	}
	p.st = stChunkData
}

// badChunk ends the message at invalid chunk framing; the offending byte at
// cur[i] is the first byte the resync scanner examines.
func (p *Parser) badChunk(i int) (int, []byte) {
	p.stats.ParseErrors++
	p.finish(MsgBadFraming | MsgIncomplete)
	return i, p.enterResync(0)
}

// stepTrailer accumulates the trailer section line by line.
func (p *Parser) stepTrailer(cur []byte) (int, []byte) {
	i := 0
	for i < len(cur) {
		chunk := cur[i:]
		lineDone := false
		if j := bytes.IndexByte(chunk, '\n'); j >= 0 {
			chunk, lineDone = chunk[:j+1], true
		}
		if len(p.buf)+len(chunk) > p.opts.MaxHeaderBytes {
			p.stats.ParseErrors++
			p.buf = p.buf[:0]
			p.finish(MsgBadFraming | MsgIncomplete)
			return i, p.enterResync(0)
		}
		p.buf = append(p.buf, chunk...)
		i += len(chunk)
		if !lineDone {
			continue
		}
		line := p.buf[p.lineStart:]
		if isEmptyLine(line) {
			if p.lineStart > 0 {
				p.msg.Trailers = p.parseFields(p.keepHead(p.buf[:p.lineStart]), nil)
			}
			p.buf, p.lineStart = p.buf[:0], 0
			p.finish(0)
			return i, nil
		}
		if p.startLineOK(trimEOL(line)) {
			// No blank line after the last chunk: the next message began.
			if p.lineStart > 0 {
				p.msg.Trailers = p.parseFields(p.keepHead(p.buf[:p.lineStart]), nil)
			}
			p.finish(MsgBadFraming)
			pb := p.buf[p.lineStart:]
			p.lineStart = 0
			return i, pb
		}
		p.lineStart = len(p.buf)
	}
	return i, nil
}

// enterResync switches to scanning for the next start line. With from 0
// the window starts empty; otherwise it starts as buf (the rejected line so
// far) and a candidate must begin at least from bytes into it, so the
// rejected line is never taken again. A candidate already in the window is
// returned for parsing.
func (p *Parser) enterResync(from int) []byte {
	p.stats.Resyncs++
	if p.msg != nil {
		p.finish(MsgIncomplete)
	}
	if p.st == stStopped {
		return nil
	}
	p.st = stResync
	p.lineStart, p.startDone = 0, false
	if from == 0 {
		p.buf = p.buf[:0]
	}
	p.rscan, p.rmin = 0, from
	if len(p.buf) == 0 {
		return nil
	}
	return p.scanWindow()
}

// stepResync feeds a piece of cur to the resync window and scans it.
func (p *Parser) stepResync(cur []byte) (int, []byte) {
	n := len(cur)
	if n > resyncPiece {
		n = resyncPiece
	}
	p.buf = append(p.buf, cur[:n]...)
	return n, p.scanWindow()
}

// scanWindow looks for a plausible start line in the resync window. When it
// finds one at offset k it counts buf[:k] as skipped, switches to stHead and
// returns buf[k:]; otherwise it drops what can no longer matter.
func (p *Parser) scanWindow() []byte {
	b := p.buf
	for {
		j := bytes.Index(b[p.rscan:], httpSlash1)
		if j < 0 {
			break
		}
		h := p.rscan + j
		var k int
		var st scanResult
		if p.request {
			k, st = requestCandidate(b, h)
		} else {
			k, st = h, statusCandidate(b[h:])
		}
		if st == scanMore {
			p.rscan = h
			goto trim
		}
		if st == scanFound && k >= p.rmin {
			p.stats.ResyncSkippedBytes += uint64(k)
			p.st = stHead
			p.lineStart, p.startDone = 0, false
			return b[k:]
		}
		p.rscan = h + 1
	}
	// No "HTTP/1." in the window; a partial one may end it.
	if p.rscan < len(b)-len(httpSlash1)+1 {
		p.rscan = len(b) - len(httpSlash1) + 1
		if p.rscan < 0 {
			p.rscan = 0
		}
	}
trim:
	keep := p.rscan
	if p.request {
		keep -= resyncTarget + maxResyncMethod + 2
	}
	if keep > 0 && keep >= len(b)/2 {
		p.stats.ResyncSkippedBytes += uint64(keep)
		n := copy(p.buf, p.buf[keep:])
		p.buf = p.buf[:n]
		p.rscan -= keep
		p.rmin -= keep
		if p.rmin < 0 {
			p.rmin = 0
		}
	}
	return nil
}

var httpSlash1 = []byte("HTTP/1.")

type scanResult uint8

const (
	scanNo    scanResult = iota // not a start line here
	scanFound                   // a start line
	scanMore                    // cannot tell yet
)

// statusCandidate checks b, which begins with "HTTP/1.", for
// "HTTP/1.d DDD" followed by SP, CR or LF.
func statusCandidate(b []byte) scanResult {
	if len(b) < 13 {
		if statusPrefixOK(b) {
			return scanMore
		}
		return scanNo
	}
	if statusPrefixOK(b[:13]) {
		return scanFound
	}
	return scanNo
}

// requestCandidate checks whether the "HTTP/1." at b[h:] ends a request
// line "METHOD SP target SP HTTP/1.d CRLF" (or LF) and returns where the
// line starts. METHOD is 1 to 20 upper-case letters, '_' or '-'; a longer
// run ending in a well-known method is cut to that method (body bytes glued
// to a request line).
func requestCandidate(b []byte, h int) (int, scanResult) {
	if h < 4 || b[h-1] != ' ' {
		return 0, scanNo
	}
	switch e := h + 7; {
	case len(b) <= e:
		return 0, scanMore
	case b[e] < '0' || b[e] > '9':
		return 0, scanNo
	case len(b) <= e+1:
		return 0, scanMore
	case b[e+1] == '\n':
	case b[e+1] != '\r':
		return 0, scanNo
	case len(b) <= e+2:
		return 0, scanMore
	case b[e+2] != '\n':
		return 0, scanNo
	}
	t := h - 2 // last target byte
	lo := t - resyncTarget
	for t >= 0 && t > lo && b[t] != ' ' {
		if b[t] < 0x21 || b[t] == 0x7f {
			return 0, scanNo
		}
		t--
	}
	if t < 0 || b[t] != ' ' || t == h-2 {
		return 0, scanNo
	}
	m := t - 1
	for m >= 0 && t-1-m < maxResyncMethod+8 && isMethodByte(b[m]) {
		m--
	}
	tok := b[m+1 : t]
	if len(tok) == 0 {
		return 0, scanNo
	}
	if len(tok) > maxResyncMethod {
		if k := knownMethodSuffix(tok); k > 0 {
			return t - k, scanFound
		}
		return 0, scanNo
	}
	return m + 1, scanFound
}

var knownMethods = []string{
	"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT",
	"SEARCH", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PURGE",
}

// knownMethodSuffix returns the length of the longest well-known method
// that tok ends with, or 0.
func knownMethodSuffix(tok []byte) int {
	best := 0
	for _, m := range knownMethods {
		if len(m) > best && len(tok) >= len(m) && string(tok[len(tok)-len(m):]) == m {
			best = len(m)
		}
	}
	return best
}

func isKnownMethod(tok []byte) bool {
	for _, m := range knownMethods {
		if string(tok) == m {
			return true
		}
	}
	return false
}

// Gap reports that n bytes were lost from the stream at this point. Inside
// a body whose remaining length covers them they are skipped (MsgGap);
// otherwise the message in progress is emitted with MsgGap|MsgIncomplete
// and the parser resynchronises on the next start line.
func (p *Parser) Gap(n int, ts time.Time) {
	if n <= 0 || p.st == stStopped {
		return
	}
	p.ts = ts
	p.stats.Gaps++
	p.stats.GapBytes += uint64(n)
	switch p.st {
	case stBodyLen, stChunkData:
		if p.remaining >= int64(n) {
			p.msg.Flags |= MsgGap
			p.msg.BodyBytes += int64(n)
			p.stats.BodyBytes += uint64(n)
			p.stopSample()
			p.remaining -= int64(n)
			if p.remaining == 0 {
				if p.st == stBodyLen {
					p.finish(0)
				} else {
					p.st = stChunkDataCR
				}
			}
			return
		}
	case stBodyEOF:
		p.msg.Flags |= MsgGap
		p.msg.BodyBytes += int64(n)
		p.stats.BodyBytes += uint64(n)
		p.stopSample()
		return
	case stResync:
		// The window before the hole cannot join what follows it.
		p.stats.ResyncSkippedBytes += uint64(len(p.buf))
		p.buf = p.buf[:0]
		p.rscan, p.rmin = 0, 0
		return
	case stHead:
		if len(p.buf) == 0 {
			p.enterResync(0)
			return
		}
		if p.startDone {
			p.stats.ResyncSkippedBytes += uint64(len(p.buf) - p.lineStart)
			m := p.parseHead(p.buf[:p.lineStart])
			m.Flags |= MsgGap
			p.msg = m
		} else {
			p.stats.ResyncSkippedBytes += uint64(len(p.buf))
		}
		p.resetHead()
		p.enterResync(0)
		return
	}
	if p.msg != nil {
		p.msg.Flags |= MsgGap
	}
	p.enterResync(0)
}

// Close ends the stream at ts: a close-delimited body completes, a partial
// message is emitted with MsgIncomplete. The parser then ignores further
// bytes.
func (p *Parser) Close(ts time.Time) {
	if p.st == stStopped {
		return
	}
	p.ts = ts
	switch p.st {
	case stBodyEOF:
		p.finish(0)
	case stHead:
		p.abandonHead(MsgIncomplete)
	case stResync:
		p.stats.ResyncSkippedBytes += uint64(len(p.buf))
	default:
		p.finish(MsgIncomplete)
	}
	p.st = stStopped
	p.buf, p.pend, p.pend2 = keepSmall(p.buf), keepSmall(p.pend), keepSmall(p.pend2)
	p.pendOff = 0
}

// parseHead turns a head (start line, header lines, optionally the blank
// line) into the parser's Message (p.m, reused: see Options.OnMessage). All
// strings share one allocation, the header slice is another. After
// wholeHead (splitOK), the start line's split and the line ends are known.
func (p *Parser) parseHead(b []byte) *Message {
	s := p.keepHead(b)
	m := &p.m
	*m = Message{} // in place, then set: cheaper than a copy
	m.Request, m.Start = p.request, p.start
	p.candOK = false
	if p.splitOK {
		p.splitOK = false
		eol := p.headEOL
		line := s[:len(trimEOL(b[:eol]))]
		if p.request {
			sp := &p.split
			m.Method, m.Target, m.Version = line[:sp[0]], line[sp[1]:sp[2]], line[sp[3]:]
		} else {
			p.statusLine(m, line, p.split[0])
		}
		if len(p.lineEnds) > 0 {
			hs := p.headers(len(p.lineEnds))
			prev := eol + 1
			nc, all := 0, false
			for _, e := range p.lineEnds {
				line := s[prev : e-1]
				prev = int(e)
				if len(line) > 0 && line[len(line)-1] == '\r' {
					line = line[:len(line)-1]
				}
				// What addField does with the common line, a name
				// without trailing whitespace, a colon, a value.
				// (Lines whose name begins or ends with a control
				// byte go to addField too, which gives them the same
				// field.)
				c := indexByteStr(line, ':')
				if c <= 0 || line[0] <= ' ' || line[c-1] <= ' ' {
					hs = p.addField(hs, line)
					all = true
					continue
				}
				if f := line[0] | 0x20; c >= 7 && (f == 'c' || f == 't' || f == 'u') {
					if k := framingField(line[:c]); k != fieldOther {
						if nc < len(p.cand) {
							p.cand[nc], p.kind[nc] = uint8(len(hs)), k
						}
						nc++
					}
				}
				// Most values follow a single space and end without
				// whitespace: trimOWS's answer without its loops.
				v := line[c+1:]
				if len(v) > 1 && v[0] == ' ' && v[1] > ' ' && v[len(v)-1] > ' ' {
					v = v[1:]
				} else {
					v = trimOWS(v)
				}
				hs = append(hs, Header{Name: line[:c], Value: v})
			}
			p.candOK, p.ncand = !all && nc <= len(p.cand), uint8(min(nc, len(p.cand)))
			m.Headers = p.headersDone(hs)
		}
		return m
	}
	eol := indexByteStr(s, '\n')
	line := s
	rest := ""
	if eol >= 0 {
		line, rest = s[:eol], s[eol+1:]
	}
	lb := trimEOL(b[:len(line)])
	line = line[:len(lb)]
	if p.request {
		mEnd, tStart, tEnd, vStart, ok := splitRequestLine(lb)
		if ok {
			m.Method, m.Target, m.Version = line[:mEnd], line[tStart:tEnd], line[vStart:]
		}
	} else {
		rStart, ok := splitStatusLine(lb)
		if ok {
			p.statusLine(m, line, rStart)
		}
	}
	m.Headers = p.parseFields(rest, b[len(s)-len(rest):])
	return m
}

// statusLine fills m from a valid status line whose reason starts at
// rStart.
func (p *Parser) statusLine(m *Message, line string, rStart int) {
	m.Version = line[:8]
	m.Status = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if rStart < len(line) {
		m.Reason = line[rStart:]
	}
}

// parseFields parses header lines from s (b, when not nil, is the same
// bytes, used only to size the result).
func (p *Parser) parseFields(s string, b []byte) []Header {
	var n int
	if b != nil {
		n = bytes.Count(b, []byte{'\n'})
	} else {
		n = countByteStr(s, '\n')
	}
	if n == 0 {
		return nil
	}
	hs := p.headers(n)
	for s != "" {
		var line string
		if i := indexByteStr(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			line, s = s, ""
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if line == "" {
			break
		}
		hs = p.addField(hs, line)
	}
	return p.headersDone(hs)
}

// addField adds the header line (without its line ending, not empty) to
// hs: a field, or the continuation of the last one.
func (p *Parser) addField(hs []Header, line string) []Header {
	if line[0] == ' ' || line[0] == '\t' { // obs-fold
		if len(hs) > 0 {
			if v := trimOWS(line); v != "" {
				last := &hs[len(hs)-1]
				if last.Value == "" {
					last.Value = v
				} else {
					last.Value = last.Value + " " + v
				}
			}
		} else {
			p.stats.BadHeaderLines++
		}
		return hs
	}
	c := indexByteStr(line, ':')
	if c <= 0 {
		p.stats.BadHeaderLines++
		return hs
	}
	name := line[:c]
	for len(name) > 0 && (name[len(name)-1] == ' ' || name[len(name)-1] == '\t') {
		name = name[:len(name)-1]
	}
	return append(hs, Header{Name: name, Value: trimOWS(line[c+1:])})
}
