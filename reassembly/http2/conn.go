package http2

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
	"golang.org/x/net/http2"
)

// Framing states of one direction.
const (
	stStart = iota // the first bytes: maybe the client preface
	stHead         // reading a frame header
	stFrame        // buffering a non-DATA frame
	stData         // DATA payload, handed on as it comes
	stSkip         // skipping an oversized frame
	stSync         // framing lost: looking for frame boundaries
)

// syncWindow bounds the bytes kept while looking for frame boundaries.
const syncWindow = 4 * (defaultMaxFrame + frameHeaderLen)

// recentClosed is how many closed stream ids are remembered so that late
// frames do not open them again.
const recentClosed = 32

// Streams are handed on in the order they were opened (request order),
// a finished stream waiting while one opened before it is still open —
// but not for ever: a long stream (a gRPC stream, a slow download) does not
// hold the ones behind it beyond holdStreams of them or holdTime of capture
// time (Stats.ReleasedEarly).
const (
	holdStreams = 64
	holdTime    = 5 * time.Second
)

// dirState follows the frames of one direction.
type dirState struct {
	st   uint8
	hdr  [frameHeaderLen]byte
	nh   int
	fbuf []byte // a non-DATA frame being buffered (header included)
	need int    // payload bytes to buffer (stFrame) or skip (stSkip)
	// DATA in progress: stream, data and padding left, pad length pending.
	dataSID    uint32
	dataLeft   int
	padLeft    int
	padPending bool
	dataEnd    bool
	sbuf       []byte // stStart: preface bytes; stSync: the search window
	finder     FrameFinder
	maxFrame   int // frame size bound for boundary search
	hdec       decoder
	// The header block in assembly (HEADERS or PUSH_PROMISE, then
	// CONTINUATION).
	blk     []byte
	blkOn   bool
	blkSID  uint32
	blkPush uint32
	blkEnd  bool
	rd      bytes.Reader
	fr      *http2.Framer
}

// side is what one direction of one stream showed.
type side struct {
	seen, headers, ended, gap, missing bool
	isReq, isResp                      bool // the headers carried request / response pseudo fields
	method, scheme, authority, path    string
	status                             int
	hdrs, trailers                     []Header
	bodyBytes                          int64
	start                              time.Time
	dec                                *content.Decoder
	sample                             []byte
	truncated, decodeErr               bool
	// gRPC message framing.
	grpc    bool
	mhdr    [5]byte
	mn      int
	mleft   int64
	mbroken bool
	msgs    int64
	msgByte int64
	maxMsg  int64
	// grpc-status / grpc-message (response side).
	gstatus    int
	gmsg       string
	hasGStatus bool
}

type stream struct {
	id      uint32
	seq     uint64
	opener  int8
	pushed  bool
	reset   bool
	refused bool
	code    uint32
	end     time.Time
	side    [2]side
}

// Conn observes one HTTP/2 connection: the frames of both directions, the
// HPACK state of each, and the streams they carry. Directions are numbered
// 0 and 1 by the caller; SetClient names the client's when known (it is
// otherwise learnt from the request and response pseudo-header fields).
// It is not safe for concurrent use.
type Conn struct {
	opts   Options
	client int8
	dir    [2]dirState
	ts     time.Time
	open   map[uint32]*stream
	seq    uint64
	closed [recentClosed]uint32
	nclose int
	fields []hfield
	free   []*content.Decoder
	stats  Stats
	done   bool
	// maxSID is the highest stream id opened.
	maxSID uint32
	// sampling counts the stream sides holding a body decoder.
	sampling int
	// held are finished streams waiting for one opened before them, in
	// the order they were opened.
	held []heldStream
}

// heldStream is a finished stream waiting to be handed on: its place in
// the opening order and when it finished (capture time).
type heldStream struct {
	seq uint64
	at  time.Time
	out *Stream
}

// NewConn returns a Conn whose streams go to opts.OnStream. Both directions
// start at a connection's beginning (the client's may begin with the
// preface); Midstream says otherwise.
func NewConn(opts Options) *Conn {
	o := opts.withDefaults()
	c := &Conn{opts: o, client: -1, open: map[uint32]*stream{}}
	for d := range c.dir {
		c.dir[d].hdec = newDecoder(o.MaxTable, o.MaxHeaderBlock*2)
		c.dir[d].maxFrame = defaultMaxFrame
	}
	return c
}

// SetClient names the direction that carries requests.
func (c *Conn) SetClient(d int) { c.client = int8(d) }

// Client returns the direction that carries requests, -1 while unknown.
func (c *Conn) Client() int { return int(c.client) }

// Midstream says direction d is picked up in the middle of a connection:
// its framing is searched for and its HPACK table is unknown.
func (c *Conn) Midstream(d int) {
	ds := &c.dir[d]
	ds.st = stSync
	ds.sbuf = ds.sbuf[:0]
	ds.finder.Reset()
	ds.hdec.lose()
	c.stats.TableLosses++
}

// Stats returns the counters.
func (c *Conn) Stats() Stats { return c.stats }

// Upgrade seeds stream 1 with the request of an HTTP/1.1 connection that
// switched to HTTP/2 (Upgrade: h2c): req's Method, Path, Authority,
// ReqHeaders, ReqBodyBytes, ReqBody, ReqStart and request flags are kept;
// client is the direction that sent it. The response comes on stream 1.
func (c *Conn) Upgrade(client int, req *Stream) {
	c.client = int8(client)
	st := c.stream(1, client)
	if st == nil {
		return
	}
	s := &st.side[client]
	s.seen, s.headers, s.ended, s.isReq = true, true, true, true
	s.method, s.path, s.authority = req.Method, req.Path, req.Authority
	s.hdrs, s.bodyBytes, s.sample, s.start = req.ReqHeaders, req.ReqBodyBytes, req.ReqBody, req.ReqStart
	s.gap = req.Flags&FlagReqGap != 0
	s.truncated = req.Flags&FlagReqTruncated != 0
	st.end = req.ReqStart
}

// Feed hands the next bytes of direction d, captured at ts. data is
// borrowed.
func (c *Conn) Feed(d int, data []byte, ts time.Time) {
	if c.done {
		return
	}
	c.ts = ts
	c.feed(d, data)
	if len(c.held) > 0 && ts.Sub(c.held[0].at) > holdTime {
		c.handOn(true)
	}
}

func (c *Conn) feed(d int, data []byte) {
	ds := &c.dir[d]
	for len(data) > 0 {
		switch ds.st {
		case stStart:
			k := min(len(Preface)-len(ds.sbuf), len(data))
			ds.sbuf = append(ds.sbuf, data[:k]...)
			data = data[k:]
			switch DetectPreface(ds.sbuf) {
			case NeedMore:
				continue
			case IsH2:
				ds.sbuf = ds.sbuf[:0]
				ds.st = stHead
			default:
				ds.st = stHead
				pending := ds.sbuf
				ds.sbuf = nil
				c.feed(d, pending)
			}
		case stHead:
			k := copy(ds.hdr[ds.nh:], data)
			ds.nh += k
			data = data[k:]
			if ds.nh == frameHeaderLen {
				ds.nh = 0
				c.frameHeader(d)
			}
		case stFrame:
			k := min(ds.need, len(data))
			ds.fbuf = append(ds.fbuf, data[:k]...)
			data = data[k:]
			ds.need -= k
			if ds.need == 0 {
				ds.st = stHead
				c.frame(d)
			}
		case stData:
			data = c.dataBytes(d, data)
		case stSkip:
			k := min(ds.need, len(data))
			data = data[k:]
			ds.need -= k
			if ds.need == 0 {
				ds.st = stHead
			}
		case stSync:
			if len(ds.sbuf) == 0 && c.wholeFrames(data, ds.maxFrame) {
				// The first bytes after a hole are whole frames of
				// streams this connection is using: writers send
				// frames whole, and a hole ends where a segment does.
				ds.st, ds.nh = stHead, 0
				continue
			}
			ds.sbuf = append(ds.sbuf, data...)
			data = nil
			off, keep := ds.finder.Find(ds.sbuf, ds.maxFrame)
			if off < 0 {
				if len(ds.sbuf)-keep > syncWindow {
					keep = len(ds.sbuf) - syncWindow
				}
				c.stats.ResyncSkippedBytes += uint64(keep)
				ds.sbuf = append(ds.sbuf[:0], ds.sbuf[keep:]...)
				ds.finder.Shift(keep)
				continue
			}
			c.stats.ResyncSkippedBytes += uint64(off)
			rest := ds.sbuf[off:]
			ds.sbuf = nil
			ds.st, ds.nh = stHead, 0
			if bytes.HasPrefix(rest, []byte(Preface)) {
				ds.st = stStart
			}
			c.feed(d, rest)
		}
	}
}

// wholeFrames reports whether b is one or more plausible frames ending
// exactly at its end, each on stream 0 (control frames) or on a stream id
// close to those the connection uses, which bytes found in the wrong place
// almost never are.
func (c *Conn) wholeFrames(b []byte, maxFrame int) bool {
	if c.maxSID == 0 || chain(b, maxFrame) == chainNo {
		return false
	}
	for p := 0; p < len(b); {
		if p+frameHeaderLen > len(b) || !validHeader(b[p:], maxFrame) {
			return false
		}
		sid := streamID(b[p:])
		if sid != 0 && c.open[sid] == nil && (sid > c.maxSID+200 || sid+200 < c.maxSID) {
			return false
		}
		p += frameHeaderLen + frameLen(b[p:])
		if p > len(b) {
			return false
		}
	}
	return true
}

// frameHeader acts on a complete frame header in ds.hdr.
func (c *Conn) frameHeader(d int) {
	ds := &c.dir[d]
	h := ds.hdr[:]
	n, typ, fl, sid := frameLen(h), h[3], h[4], streamID(h)&0x7fffffff
	c.stats.Frames++
	if ds.blkOn && typ != frameContinuation {
		// A header block cut short: what it inserted is unknown.
		c.loseBlock(d)
		c.stats.FrameErrors++
	}
	if typ == frameData {
		ds.dataSID, ds.dataLeft, ds.padLeft = sid, n, 0
		ds.padPending = fl&flagPadded != 0
		ds.dataEnd = fl&flagEndStream != 0
		if sid == 0 {
			c.stats.FrameErrors++
			ds.st, ds.need = stSkip, n
			if n == 0 {
				ds.st = stHead
			}
			return
		}
		if st := c.stream(sid, d); st != nil {
			st.side[d].seen = true
		}
		ds.st = stData
		if n == 0 {
			c.dataDone(d)
		}
		return
	}
	if n > c.opts.MaxHeaderBlock {
		c.stats.OversizedBlocks++
		switch typ {
		case frameHeaders, frameContinuation, framePushPromise:
			c.loseBlock(d)
			ds.hdec.lose()
			c.stats.TableLosses++
			if typ == frameHeaders {
				if st := c.stream(sid, d); st != nil {
					st.side[d].missing = true
				}
			}
		}
		ds.st, ds.need = stSkip, n
		return
	}
	ds.fbuf = append(ds.fbuf[:0], h...)
	ds.st, ds.need = stFrame, n
	if n == 0 {
		ds.st = stHead
		c.frame(d)
	}
}

// dataBytes consumes DATA payload bytes and returns what follows the frame.
func (c *Conn) dataBytes(d int, data []byte) []byte {
	ds := &c.dir[d]
	if ds.padPending {
		ds.padPending = false
		pad := int(data[0])
		data = data[1:]
		ds.dataLeft--
		if pad > ds.dataLeft {
			c.stats.FrameErrors++
			ds.padLeft, ds.dataLeft = ds.dataLeft, 0
		} else {
			ds.padLeft, ds.dataLeft = pad, ds.dataLeft-pad
		}
	}
	if ds.dataLeft > 0 && len(data) > 0 {
		k := min(ds.dataLeft, len(data))
		c.onData(d, data[:k])
		data = data[k:]
		ds.dataLeft -= k
	}
	if ds.dataLeft == 0 && ds.padLeft > 0 {
		k := min(ds.padLeft, len(data))
		data = data[k:]
		ds.padLeft -= k
	}
	if ds.dataLeft == 0 && ds.padLeft == 0 && !ds.padPending {
		c.dataDone(d)
	}
	return data
}

func (c *Conn) dataDone(d int) {
	ds := &c.dir[d]
	ds.st = stHead
	if ds.dataEnd {
		c.endSide(d, ds.dataSID)
	}
}

// frame acts on a complete non-DATA frame in ds.fbuf.
func (c *Conn) frame(d int) {
	ds := &c.dir[d]
	if ds.fr == nil {
		ds.fr = http2.NewFramer(nil, &ds.rd)
		ds.fr.AllowIllegalReads = true // order is checked here
	}
	typ := ds.fbuf[3]
	ds.rd.Reset(ds.fbuf)
	f, err := ds.fr.ReadFrame()
	if err != nil {
		c.stats.FrameErrors++
		if typ == frameHeaders || typ == frameContinuation || typ == framePushPromise {
			c.loseBlock(d)
			ds.hdec.lose()
			c.stats.TableLosses++
		}
		return
	}
	switch f := f.(type) {
	case *http2.HeadersFrame:
		c.startBlock(d, f.StreamID, 0, f.StreamEnded(), f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.PushPromiseFrame:
		c.startBlock(d, f.StreamID, f.PromiseID, false, f.HeaderBlockFragment(), f.HeadersEnded())
	case *http2.ContinuationFrame:
		if !ds.blkOn || f.StreamID != ds.blkSID {
			// Its HEADERS was not seen: the fields it carries are unknown.
			ds.hdec.lose()
			c.stats.TableLosses++
			return
		}
		if len(ds.blk)+len(f.HeaderBlockFragment()) > c.opts.MaxHeaderBlock {
			c.stats.OversizedBlocks++
			if st := c.stream(ds.blkSID, d); st != nil {
				st.side[d].missing = true
			}
			c.loseBlock(d)
			ds.hdec.lose()
			c.stats.TableLosses++
			return
		}
		ds.blk = append(ds.blk, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			c.finishBlock(d)
		}
	case *http2.RSTStreamFrame:
		c.stats.Resets++
		if st := c.open[f.StreamID]; st != nil {
			st.reset, st.code, st.end = true, uint32(f.ErrCode), c.ts
			c.emit(st)
		}
	case *http2.GoAwayFrame:
		c.stats.GoAways++
		c.goAway(d, f.LastStreamID)
	case *http2.SettingsFrame:
		if v, ok := f.Value(http2.SettingMaxFrameSize); ok && v >= defaultMaxFrame && v < 1<<24 {
			// The peer may now send frames this large.
			c.dir[1-d].maxFrame = int(v)
		}
	}
}

// loseBlock abandons the header block in assembly.
func (c *Conn) loseBlock(d int) {
	ds := &c.dir[d]
	if !ds.blkOn {
		return
	}
	ds.blkOn = false
	if st := c.open[ds.blkSID]; st != nil {
		st.side[d].missing = true
	}
	ds.hdec.lose()
	c.stats.TableLosses++
}

func (c *Conn) startBlock(d int, sid, push uint32, endStream bool, frag []byte, ended bool) {
	ds := &c.dir[d]
	ds.blkOn, ds.blkSID, ds.blkPush, ds.blkEnd = true, sid, push, endStream
	ds.blk = append(ds.blk[:0], frag...)
	if ended {
		c.finishBlock(d)
	}
}

// finishBlock decodes a complete header block and applies it to its stream.
func (c *Conn) finishBlock(d int) {
	ds := &c.dir[d]
	ds.blkOn = false
	all, unknown, err := ds.hdec.decode(c.fields[:0], ds.blk)
	c.fields = all[:0]
	fields := all[:0:0]
	if unknown == 0 {
		fields = all
	} else {
		for _, f := range all {
			if f.known {
				fields = append(fields, f)
			}
		}
	}
	if cap(ds.blk) > 64<<10 {
		ds.blk = nil
	}
	c.stats.HeaderBlocks++
	if err != nil {
		c.stats.HPACKErrors++
		c.stats.TableLosses++
	}
	if err != nil {
		// A malformed block (or framing found in the wrong place): none
		// of its fields is trusted.
		fields = fields[:0]
	}
	partial := unknown > 0 || err != nil
	if unknown > 0 {
		c.stats.PartialBlocks++
		c.stats.UnknownFields += uint64(unknown)
	}
	// Learn the roles from pseudo fields.
	for _, f := range fields {
		if c.client < 0 {
			switch f.name {
			case ":method", ":path", ":scheme":
				if ds.blkPush == 0 {
					c.client = int8(d)
				} else {
					c.client = int8(1 - d)
				}
			case ":status":
				c.client = int8(1 - d)
			}
		}
	}
	if ds.blkPush != 0 {
		// A promised request, written by the server for the client.
		st := c.stream(ds.blkPush, 1-d)
		if st == nil {
			return
		}
		st.pushed = true
		s := &st.side[1-d]
		s.seen, s.ended = true, true
		c.applyHeaders(st, s, fields, partial, false)
		return
	}
	st := c.stream(ds.blkSID, d)
	if st == nil {
		return
	}
	s := &st.side[d]
	s.seen = true
	if s.headers {
		// Trailers.
		s.trailers = c.keep(s.trailers[:0], fields, s)
		if partial {
			s.missing = true
		}
		c.grpcFields(s, fields)
	} else {
		c.applyHeaders(st, s, fields, partial, ds.blkEnd)
	}
	if ds.blkEnd {
		c.endSide(d, ds.blkSID)
	}
}

// applyHeaders records the first (non-interim) header block of a side.
func (c *Conn) applyHeaders(st *stream, s *side, fields []hfield, partial, noBody bool) {
	status := 0
	hasStatus := false
	for _, f := range fields {
		if f.name == ":status" {
			hasStatus = true
			status, _ = strconv.Atoi(f.value)
		}
	}
	if hasStatus && status >= 100 && status < 200 {
		return // interim: the final response follows
	}
	s.headers = true
	s.start = c.ts
	if partial {
		s.missing = true
	}
	s.hdrs = s.hdrs[:0]
	var ctype, cenc string
	for _, f := range fields {
		switch f.name {
		case ":method":
			s.method, s.isReq = f.value, true
		case ":scheme":
			s.scheme, s.isReq = f.value, true
		case ":authority":
			s.authority, s.isReq = f.value, true
		case ":path":
			s.path, s.isReq = f.value, true
		case ":status":
			s.status, s.isResp = status, true
		case "content-type":
			ctype = f.value
		case "content-encoding":
			cenc = f.value
		}
	}
	s.hdrs = c.keep(s.hdrs, fields, s)
	if strings.HasPrefix(ctype, "application/grpc") {
		s.grpc = true
	}
	c.grpcFields(s, fields) // trailers-only responses
	if noBody || c.opts.MaxBody < 0 || (partial && !s.grpc) {
		return // the content-encoding may be among the unknown fields
	}
	var codings []content.Coding
	if !s.grpc && cenc != "" {
		var err error
		if codings, err = content.ParseCodings(nil, cenc); err != nil {
			s.decodeErr = true
			return
		}
	}
	if s.dec == nil {
		if c.sampling >= c.opts.MaxSampled {
			c.stats.UnsampledBodies++
			return
		}
		c.sampling++
		if n := len(c.free); n > 0 {
			s.dec, c.free = c.free[n-1], c.free[:n-1]
		} else {
			s.dec = new(content.Decoder)
		}
	}
	if err := s.dec.Reset(codings, content.Options{MaxOutput: c.opts.MaxBody, MaxDecompress: c.opts.MaxDecompress, Pool: c.opts.Decoders}); err != nil {
		s.decodeErr = true
		c.release(s)
	}
}

// keep appends the regular fields of fields to dst within the header list
// bound.
func (c *Conn) keep(dst []Header, fields []hfield, s *side) []Header {
	size := 0
	for _, f := range fields {
		size += len(f.name) + len(f.value) + entryOverhead
		if size > c.opts.MaxHeaderListSize {
			c.stats.DroppedFields++
			s.missing = true
			continue
		}
		if len(f.name) > 0 && f.name[0] == ':' {
			continue
		}
		dst = append(dst, Header{Name: f.name, Value: f.value})
	}
	return dst
}

func (c *Conn) grpcFields(s *side, fields []hfield) {
	for _, f := range fields {
		switch f.name {
		case "grpc-status":
			if v, err := strconv.Atoi(f.value); err == nil {
				s.gstatus, s.hasGStatus = v, true
			}
		case "grpc-message":
			s.gmsg = f.value
		}
	}
}

func (c *Conn) release(s *side) {
	if s.dec != nil {
		c.free = append(c.free, s.dec)
		s.dec = nil
		c.sampling--
	}
}

// onData accounts for DATA payload bytes of the current DATA frame.
func (c *Conn) onData(d int, b []byte) {
	c.stats.BodyBytes += uint64(len(b))
	st := c.open[c.dir[d].dataSID]
	if st == nil {
		return
	}
	s := &st.side[d]
	st.end = c.ts
	s.bodyBytes += int64(len(b))
	if s.dec != nil && !s.dec.Done() {
		s.dec.Write(b)
	}
	if s.grpc && !s.mbroken {
		c.grpcMessages(s, b)
	}
}

// grpcMessages follows gRPC's length-prefixed message framing.
func (c *Conn) grpcMessages(s *side, b []byte) {
	for len(b) > 0 {
		if s.mleft > 0 {
			k := int64(len(b))
			if k > s.mleft {
				k = s.mleft
			}
			s.mleft -= k
			b = b[k:]
			continue
		}
		k := copy(s.mhdr[s.mn:], b)
		s.mn += k
		b = b[k:]
		if s.mn < 5 {
			return
		}
		s.mn = 0
		if s.mhdr[0] > 1 {
			s.mbroken = true // not gRPC framing
			return
		}
		n := int64(s.mhdr[1])<<24 | int64(s.mhdr[2])<<16 | int64(s.mhdr[3])<<8 | int64(s.mhdr[4])
		s.msgs++
		s.msgByte += n
		s.maxMsg = max(s.maxMsg, n)
		s.mleft = n
		c.stats.GRPCMessages++
	}
}

// endSide marks direction d of stream sid ended (END_STREAM).
func (c *Conn) endSide(d int, sid uint32) {
	st := c.open[sid]
	if st == nil {
		return
	}
	st.end = c.ts
	s := &st.side[d]
	s.seen, s.ended = true, true
	c.finishSample(s)
	o := &st.side[1-d]
	switch {
	case o.ended:
	case c.client >= 0 && d != int(c.client) && !o.seen:
		// The response ended and the request was never seen: it was
		// sent before the capture began.
	default:
		return
	}
	c.emit(st)
}

func (c *Conn) finishSample(s *side) {
	if s.dec == nil {
		return
	}
	sample, truncated, err := s.dec.Finish(!s.gap)
	if len(sample) > 0 {
		s.sample = sample
	}
	s.truncated = s.truncated || truncated
	s.decodeErr = s.decodeErr || err != nil
	c.release(s)
}

// goAway hands on, refused, the streams the receiver of a GOAWAY from d
// opened past lastID.
func (c *Conn) goAway(d int, lastID uint32) {
	if c.client < 0 {
		return
	}
	// Streams opened by the receiver (1-d): odd ids when it is the client.
	odd := uint32(0)
	if 1-d == int(c.client) {
		odd = 1
	}
	var refused []*stream
	for id, st := range c.open {
		if id > lastID && id&1 == odd {
			refused = append(refused, st)
		}
	}
	slices.SortFunc(refused, func(a, b *stream) int { return int(a.id) - int(b.id) })
	for _, st := range refused {
		st.refused = true
		c.emit(st)
	}
}

// stream returns the open stream sid, opening it (first frame from d) when
// new, or nil when it was closed recently.
func (c *Conn) stream(sid uint32, d int) *stream {
	if st := c.open[sid]; st != nil {
		return st
	}
	for i := 0; i < min(c.nclose, recentClosed); i++ {
		if c.closed[i] == sid {
			return nil
		}
	}
	if len(c.open) >= c.opts.MaxStreams {
		var old *stream
		for _, st := range c.open {
			if old == nil || st.seq < old.seq {
				old = st
			}
		}
		c.stats.EvictedStreams++
		c.emit(old)
	}
	c.seq++
	c.maxSID = max(c.maxSID, sid)
	st := &stream{id: sid, seq: c.seq, opener: int8(d), end: c.ts}
	st.side[0].gstatus, st.side[1].gstatus = -1, -1
	c.open[sid] = st
	return st
}

// Gap reports n bytes lost from direction d.
func (c *Conn) Gap(d int, n int, ts time.Time) {
	if c.done {
		return
	}
	c.ts = ts
	c.stats.Gaps++
	c.stats.GapBytes += uint64(n)
	ds := &c.dir[d]
	switch {
	case ds.st == stData && !ds.padPending && n <= ds.dataLeft+ds.padLeft:
		// Inside a DATA payload: the framing survives.
		lost := min(n, ds.dataLeft)
		if st := c.open[ds.dataSID]; st != nil {
			s := &st.side[d]
			s.gap, s.mbroken = true, true
			s.bodyBytes += int64(lost)
			c.finishSample(s)
		}
		ds.dataLeft -= lost
		ds.padLeft -= n - lost
		if ds.dataLeft == 0 && ds.padLeft == 0 {
			c.dataDone(d)
		}
		return
	case ds.st == stSkip && n < ds.need:
		ds.need -= n
		return
	case ds.st == stSync:
		ds.sbuf = ds.sbuf[:0] // bytes on both sides of a hole never join
		ds.finder.Reset()
		return
	}
	// Framing lost: frames, header blocks and END_STREAM flags may be in
	// the hole.
	c.stats.Resyncs++
	if ds.st == stData {
		if st := c.open[ds.dataSID]; st != nil {
			st.side[d].bodyBytes += int64(min(n, ds.dataLeft))
		}
	}
	ds.blkOn = false
	ds.hdec.lose()
	c.stats.TableLosses++
	for _, st := range c.open {
		s := &st.side[d]
		if !s.ended {
			s.gap, s.mbroken = true, true
			c.finishSample(s)
		}
	}
	ds.st, ds.nh, ds.sbuf = stSync, 0, ds.sbuf[:0]
	ds.finder.Reset()
}

// Close ends the connection: streams still open are handed on, incomplete.
func (c *Conn) Close(ts time.Time) {
	if c.done {
		return
	}
	c.ts = ts
	rest := make([]*stream, 0, len(c.open))
	for _, st := range c.open {
		rest = append(rest, st)
	}
	slices.SortFunc(rest, func(a, b *stream) int { return int(a.seq - b.seq) })
	for _, st := range rest {
		c.emit(st)
	}
	c.handOn(false)
	c.done = true
}

// emit hands a stream on and forgets it.
func (c *Conn) emit(st *stream) {
	delete(c.open, st.id)
	c.closed[c.nclose%recentClosed] = st.id
	c.nclose++
	cd := c.clientOf(st)
	rq, rp := &st.side[cd], &st.side[1-cd]
	c.finishSample(rq)
	c.finishSample(rp)
	if !rq.headers && !rp.headers && !st.pushed {
		// Neither side's headers: a stream begun before the capture (or
		// a gap) showing only DATA, or framing found in the wrong place.
		c.stats.HeaderlessStreams++
		return
	}
	out := &Stream{
		ID:            st.id,
		Client:        cd,
		Method:        rq.method,
		Scheme:        rq.scheme,
		Authority:     rq.authority,
		Path:          rq.path,
		Status:        rp.status,
		ReqHeaders:    rq.hdrs,
		RespHeaders:   rp.hdrs,
		ReqTrailers:   rq.trailers,
		RespTrailers:  rp.trailers,
		ReqBodyBytes:  rq.bodyBytes,
		RespBodyBytes: rp.bodyBytes,
		ReqBody:       rq.sample,
		RespBody:      rp.sample,
		ReqStart:      rq.start,
		RespStart:     rp.start,
		End:           st.end,
		ResetCode:     st.code,
	}
	if !rq.headers {
		out.Flags |= FlagNoRequest
		out.ReqStart = time.Time{}
	}
	if !rp.headers {
		out.Flags |= FlagNoResponse
	}
	if rq.gap {
		out.Flags |= FlagReqGap
	}
	if rp.gap {
		out.Flags |= FlagRespGap
	}
	if rq.truncated {
		out.Flags |= FlagReqTruncated
	}
	if rp.truncated {
		out.Flags |= FlagRespTruncated
	}
	if rq.truncated || rp.truncated {
		c.stats.TruncatedBodies++
	}
	if rq.decodeErr || rp.decodeErr {
		out.Flags |= FlagDecodeError
		c.stats.DecodeErrors++
	}
	if rq.missing || rp.missing {
		out.Flags |= FlagHeadersMissing
	}
	// NO_ERROR after a complete response only stops the request's upload
	// (RFC 9113 §8.1): not a reset of the exchange.
	if st.reset && !(st.code == 0 && rp.ended && rp.headers) {
		out.Flags |= FlagReset
	}
	if st.refused {
		out.Flags |= FlagRefused
	}
	if st.pushed {
		out.Flags |= FlagPushed
	}
	if !st.reset && !st.refused && (!rq.ended || !rp.ended) && !(rp.ended && !rq.seen) {
		out.Flags |= FlagIncomplete
	}
	if rq.grpc || rp.grpc {
		g := &GRPC{Status: -1, Message: rp.gmsg}
		if rp.hasGStatus {
			g.Status = rp.gstatus
		}
		g.ReqMessages, g.ReqMessageBytes, g.MaxReqMessage = rq.msgs, rq.msgByte, rq.maxMsg
		g.RespMessages, g.RespMessageBytes, g.MaxRespMessage = rp.msgs, rp.msgByte, rp.maxMsg
		out.GRPC = g
	}
	c.hold(st.seq, out)
}

// hold queues a finished stream in opening order and hands on what no
// open stream precedes any longer.
func (c *Conn) hold(seq uint64, out *Stream) {
	i := len(c.held)
	c.held = append(c.held, heldStream{})
	for i > 0 && c.held[i-1].seq > seq {
		c.held[i] = c.held[i-1]
		i--
	}
	c.held[i] = heldStream{seq: seq, at: c.ts, out: out}
	c.handOn(len(c.held) > holdStreams)
}

// handOn hands on the held streams opened before every stream still
// open; force hands on all of them (a long stream held them too long).
func (c *Conn) handOn(force bool) {
	first := ^uint64(0)
	for _, st := range c.open {
		first = min(first, st.seq)
	}
	n := 0
	for n < len(c.held) && (force || c.held[n].seq < first) {
		if c.held[n].seq > first {
			c.stats.ReleasedEarly++
		}
		c.stats.Streams++
		if c.opts.OnStream != nil {
			c.opts.OnStream(c.held[n].out)
		}
		c.held[n] = heldStream{}
		n++
	}
	if n > 0 {
		c.held = append(c.held[:0], c.held[n:]...)
	}
}

// clientOf returns the direction that carried st's request.
func (c *Conn) clientOf(st *stream) int {
	switch {
	case c.client >= 0:
		return int(c.client)
	case st.side[0].isReq || st.side[1].isResp:
		return 0
	case st.side[1].isReq || st.side[0].isResp:
		return 1
	case st.id&1 == 1:
		return int(st.opener) // client-initiated
	}
	return 1 - int(st.opener)
}
