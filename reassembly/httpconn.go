package reassembly

import (
	"net/netip"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/http1"
	"github.com/shadowtap/shadowtap/reassembly/http2"
)

// Connection protocol states.
const (
	stProbe = iota // roles not known yet: first bytes are being classified
	stHTTP         // HTTP/1.x, parsers running
	stOther        // not HTTP: bytes are skipped
	stDone         // upgraded or tunnelled: later bytes are another protocol
	stH2           // HTTP/2 (prior knowledge, h2c upgrade or found mid-stream)
)

const (
	// probeLimit bounds the bytes scanned for a first start line on a
	// connection picked up mid-stream before it is judged not HTTP.
	probeLimit = 256 << 10
	// maxPending bounds requests awaiting their response on one connection
	// (a one-sided capture never answers any).
	maxPending = 64
	// h2ProbeLimit bounds the bytes kept per direction while looking for
	// HTTP/2 frames on a connection picked up mid-stream, and those a
	// server's first frames wait for the client's preface.
	h2ProbeLimit = 64 << 10
)

// env is what the connections of one shard share: options, the sink and
// the counters. It is owned by one goroutine.
type env struct {
	http  http1.Options // Handler is set per parser
	sink  func(*Transaction)
	stats *Stats
	// parsers and queues hold the HTTP/1 parsers and pending-request
	// queues of closed connections for the next ones (at most
	// maxFreeParsers and maxFreeQueues): a parser is about 1.3 KiB with
	// its head buffer, and short connections are common. Nothing in them
	// is reachable from a Transaction handed on (see http1.Message).
	parsers []*http1.Parser
	queues  [][]*Transaction
	// arena is where the shard's HTTP/1 parsers carve heads from.
	arena http1.Arena
	// txs is where HTTP/1 transactions come from (Options.Transactions;
	// nil: allocated).
	txs *TxPool
}

const (
	maxFreeParsers = 64
	maxFreeQueues  = 32
)

// parser returns a parser of the free list, or a new one, set up for a
// stream of requests (request) or responses with opts.
func (e *env) parser(opts http1.Options, request bool) *http1.Parser {
	n := len(e.parsers)
	if n == 0 {
		if request {
			return http1.NewRequestParser(opts)
		}
		return http1.NewResponseParser(opts)
	}
	p := e.parsers[n-1]
	e.parsers[n-1] = nil
	e.parsers = e.parsers[:n-1]
	if request {
		p.ResetRequest(opts)
	} else {
		p.ResetResponse(opts)
	}
	return p
}

// recycle takes back the parsers and the queue of a closed connection.
func (e *env) recycle(req, resp *http1.Parser, queue []*Transaction) {
	for _, p := range [2]*http1.Parser{req, resp} {
		if p != nil && len(e.parsers) < maxFreeParsers {
			e.parsers = append(e.parsers, p)
		}
	}
	if cap(queue) > 0 && cap(queue) <= maxPending && len(e.queues) < maxFreeQueues {
		clear(queue[:cap(queue)])
		e.queues = append(e.queues, queue[:0])
	}
}

// queue returns an empty pending-request queue of the free list, or nil.
func (e *env) queue() []*Transaction {
	n := len(e.queues)
	if n == 0 {
		return nil
	}
	q := e.queues[n-1]
	e.queues[n-1] = nil
	e.queues = e.queues[:n-1]
	return q
}

// httpConn turns the two byte streams of one connection into transactions.
// Direction 0 is the sender of the first packet (or byte) seen, 1 the other.
// It is not safe for concurrent use.
type httpConn struct {
	env   *env
	addr  [2]netip.AddrPort
	state uint8
	// client is the direction that carries requests, -1 while unknown.
	client int8
	// fresh[d] is true when direction d was seen from its first byte (SYN
	// seen, or a byte stream from its start); otherwise it is aligned on
	// its first start line before parsing.
	fresh [2]bool
	// align[d] is true while direction d still waits for its first start
	// line; buf[d] holds its bytes until then (bounded: see findStartLine).
	align [2]bool
	buf   [2][]byte
	// bufTS[d] is the capture time of buf[d]'s first byte.
	bufTS [2]time.Time
	// notHTTP[d] is true when direction d did not begin with a start line.
	notHTTP [2]bool
	// scanned counts bytes scanned without finding a start line.
	scanned   int
	req, resp *http1.Parser
	pending   []*Transaction
	// gapSeen[d] is set when direction d lost bytes since its last
	// response was paired; gapTS[d] is then the capture time of the last
	// bytes before the first such hole (zero when the hole began the
	// direction): see onResponse.
	gapSeen [2]bool
	gapTS   [2]time.Time
	// feedTS[d] is the capture time of direction d's latest bytes.
	feedTS [2]time.Time
	// carried is set once a byte was handed in.
	carried bool
	// h2 parses the connection once it is HTTP/2; h2buf[d] holds bytes of
	// direction d searched for HTTP/2 frames while the connection, picked
	// up mid-stream, is not classified (bounded by h2ProbeLimit).
	h2     *http2.Conn
	h2buf  [2][]byte
	h2find [2]http2.FrameFinder
	// h2start[d] is set while direction d of a connection that began with
	// the preface has sent nothing yet: its first bytes say whether it
	// too is seen from its start.
	h2start [2]bool
	// h2maybe[d] is set when direction d, seen from its first byte and
	// not HTTP/1, began with plausible HTTP/2 frame headers.
	h2maybe [2]bool
	// h2cReq is the pending request that asked for Upgrade: h2c; while it
	// is set, bytes are fed to the HTTP/1 parsers line by line so that
	// the HTTP/2 bytes after the 101 (or the client's preface) are found.
	h2cReq *Transaction
	// h2cPending: h2cReq is still in pending (not handed on). Only then
	// is it compared with pending[0]: a transaction handed on may come
	// back from Options.Transactions as another one.
	h2cPending bool
	// h2cPend holds client bytes from the preface on, sent before the
	// 101 was parsed (bounded by h2ProbeLimit).
	h2cPend []byte
}

func (c *httpConn) init(e *env, a0, a1 netip.AddrPort) {
	*c = httpConn{env: e, addr: [2]netip.AddrPort{a0, a1}, client: -1}
	c.align = [2]bool{true, true}
}

// setClient fixes the roles, with direction d carrying requests, and starts
// the parsers.
func (c *httpConn) setClient(d int) {
	c.client = int8(d)
	c.state = stHTTP
	c.h2buf, c.h2find = [2][]byte{}, [2]http2.FrameFinder{}
	opts := c.env.http
	// Bodies are decoded when a consumer reads them (Transaction.
	// ReqBodySample), and binary ones never.
	opts.DeferDecode, opts.SkipBinary = true, true
	// c is the parsers' Handler: no closure per connection.
	opts.Handler, opts.OnMessage, opts.RequestMethod = c, nil, nil
	opts.Arena = &c.env.arena
	c.req = c.env.parser(opts, true)
	c.resp = c.env.parser(opts, false)
	if c.pending == nil {
		c.pending = c.env.queue()
	}
}

func (c *httpConn) parser(d int) *http1.Parser {
	if d == int(c.client) {
		return c.req
	}
	return c.resp
}

// data hands the next bytes of direction d, captured at ts.
func (c *httpConn) data(d int, b []byte, ts time.Time) {
	switch c.state {
	case stOther, stDone:
		c.env.stats.SkippedBytes += uint64(len(b))
		return
	case stH2:
		c.feedH2(d, b, ts)
		return
	}
	c.carried = c.carried || len(b) > 0
	c.feedTS[d] = ts
	if !c.align[d] {
		c.feedHTTP(d, b, ts)
		return
	}
	if len(c.buf[d]) == 0 {
		c.bufTS[d] = ts
		if c.startsHTTP(d, b) {
			// What tryAlign would conclude at once, without copying b
			// into buf (and h2buf, which setClient drops).
			c.aligned(d, b, 0, http1.Detect(b), false)
			return
		}
	}
	if c.state == stProbe {
		c.h2buf[d] = append(c.h2buf[d], b...)
		if n := len(c.h2buf[d]); n > h2ProbeLimit {
			c.h2buf[d] = append(c.h2buf[d][:0], c.h2buf[d][n-h2ProbeLimit:]...)
			c.h2find[d].Shift(n - h2ProbeLimit)
		}
	}
	c.buf[d] = append(c.buf[d], b...)
	c.tryAlign(d, false)
}

// tryAlign looks for the first start line in buf[d]. final means no more
// bytes will come (close).
func (c *httpConn) tryAlign(d int, final bool) {
	b := c.buf[d]
	want := http1.NeedMore // either kind while roles are unknown
	if c.state == stHTTP {
		want = http1.HTTPResponse
		if d == int(c.client) {
			want = http1.HTTPRequest
		}
	}
	if c.state == stProbe && c.probeH2(d, b, final) {
		return
	}
	var off int
	var v http1.Verdict
	if c.fresh[d] {
		// A stream seen from its first byte must begin with a start line.
		v = http1.Detect(b)
		switch {
		case v == http1.NeedMore && !final:
			return
		case (v == http1.HTTPRequest || v == http1.HTTPResponse) && (want == http1.NeedMore || v == want):
			off = 0
		case c.state == stHTTP:
			// The other side is HTTP: the parser resynchronises and
			// counts the garbage.
			off, v = 0, want
		default:
			// Not HTTP from its first byte. Another protocol, unless the
			// other side proves HTTP (a malformed request still gets a
			// response) or a start line follows.
			c.notHTTP[d] = true
			c.fresh[d] = false
			c.h2maybe[d] = http2.StartsFrames(b)
			if c.notHTTP[1-d] {
				// Unless HTTP/2 frames (a sensor attached to a running
				// connection) are found or may still be.
				if c.state == stProbe && (c.findH2(d) || c.findH2(1-d)) {
					return
				}
				if c.state != stProbe || !c.h2maybe[0] && !c.h2maybe[1] {
					c.setOther(len(b))
					return
				}
			}
			off = -1
		}
	}
	if !c.fresh[d] {
		var keep int
		off, v, keep = findStartLine(b, want, final)
		if off < 0 && c.state == stProbe && c.findH2(d) {
			return
		}
		if off < 0 {
			// Remember only a tail that may still begin a start line.
			dropped := keep
			if final {
				dropped = len(b)
			}
			c.env.stats.SkippedBytes += uint64(dropped)
			c.scanned += dropped
			c.buf[d] = append(c.buf[d][:0], b[dropped:]...)
			if c.state == stProbe && c.scanned >= probeLimit {
				c.setOther(0)
			}
			return
		}
	}
	c.aligned(d, b, off, v, final)
}

// startsHTTP reports whether direction d, seen from its first byte and
// with nothing buffered yet, begins with b that tryAlign would take at once
// as a start line of the kind wanted (probeH2 declining it).
func (c *httpConn) startsHTTP(d int, b []byte) bool {
	if !c.fresh[d] || len(c.buf[d]) != 0 || len(c.h2buf[d]) != 0 {
		return false
	}
	want := http1.NeedMore
	switch c.state {
	case stProbe:
		if http2.DetectPreface(b) != http2.NotH2 || len(b) < h2ProbeLimit && !c.notHTTP[1-d] && http2.DetectServerStart(b) != http2.NotH2 {
			return false
		}
	case stHTTP:
		want = http1.HTTPResponse
		if d == int(c.client) {
			want = http1.HTTPRequest
		}
	default:
		return false
	}
	v := http1.Detect(b)
	return (v == http1.HTTPRequest || v == http1.HTTPResponse) && (want == http1.NeedMore || v == want)
}

// aligned starts parsing direction d at the start line found at b[off:]
// (verdict v), bytes held since bufTS[d].
func (c *httpConn) aligned(d int, b []byte, off int, v http1.Verdict, final bool) {
	c.env.stats.SkippedBytes += uint64(off)
	if c.state == stProbe {
		if v == http1.HTTPRequest {
			c.setClient(d)
		} else {
			c.setClient(1 - d)
		}
	}
	c.align[d] = false
	c.buf[d] = nil
	ts := c.bufTS[d]
	// The other direction may have bytes waiting for the roles.
	if o := 1 - d; c.align[o] && len(c.buf[o]) > 0 {
		c.tryAlign(o, final)
	}
	c.feedHTTP(d, b[off:], ts)
}

// setOther gives up on the connection: it is not HTTP/1.x.
func (c *httpConn) setOther(skipped int) {
	c.env.stats.SkippedBytes += uint64(skipped)
	c.env.stats.NonHTTPFlows++
	c.state = stOther
	c.buf = [2][]byte{}
	c.h2buf, c.h2find = [2][]byte{}, [2]http2.FrameFinder{}
}

// findStartLine returns the offset of the first line in b where a start line
// of the wanted kind (either kind for NeedMore) begins, with its verdict, or
// -1 when there is none yet; keep is the offset from which bytes must be
// kept because a start line may still begin there.
func findStartLine(b []byte, want http1.Verdict, final bool) (off int, v http1.Verdict, keep int) {
	for i := 0; i < len(b); {
		v := http1.Detect(b[i:])
		if v == http1.NeedMore && !final {
			return -1, v, i
		}
		if (v == http1.HTTPRequest || v == http1.HTTPResponse) && (want == http1.NeedMore || v == want) {
			return i, v, i
		}
		j := indexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return -1, http1.NotHTTP, len(b)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// gap reports n bytes lost from direction d.
func (c *httpConn) gap(d int, n int, ts time.Time) {
	c.env.stats.Gaps++
	c.env.stats.GapBytes += uint64(n)
	switch c.state {
	case stOther, stDone:
		return
	}
	if c.state == stH2 {
		c.h2.Gap(d, n, ts)
		return
	}
	c.h2buf[d] = c.h2buf[d][:0]
	c.h2find[d].Reset()
	if !c.gapSeen[d] {
		// The hole began after the direction's latest bytes.
		c.gapSeen[d], c.gapTS[d] = true, c.feedTS[d]
	}
	if c.align[d] {
		// Bytes before the hole cannot be joined to those after it.
		c.env.stats.SkippedBytes += uint64(len(c.buf[d]))
		c.buf[d] = c.buf[d][:0]
		c.fresh[d] = false
		return
	}
	c.parser(d).Gap(n, ts)
}

// close ends both directions at ts and hands on what is left.
func (c *httpConn) close(ts time.Time) {
	if c.h2 != nil {
		c.h2.Close(ts)
		st := c.h2.Stats()
		c.env.stats.HTTP2.Add(&st)
		c.env.stats.HTTP2Flows++
		c.env.stats.ParseErrors += st.FrameErrors + st.HPACKErrors
		c.env.stats.ResyncSkippedBytes += st.ResyncSkippedBytes
		c.env.stats.DecodeErrors += st.DecodeErrors
		c.h2 = nil
	}
	c.h2buf, c.h2find = [2][]byte{}, [2]http2.FrameFinder{}
	if c.state == stProbe || c.state == stHTTP {
		for d := 0; d < 2; d++ {
			if c.align[d] && len(c.buf[d]) > 0 {
				c.tryAlign(d, true)
			}
		}
	}
	if c.state == stProbe && c.carried {
		// No start line in either direction up to the end.
		c.env.stats.NonHTTPFlows++
	}
	if c.req != nil {
		c.req.Close(ts)
		c.resp.Close(ts)
		rs, ps := c.req.Stats(), c.resp.Stats()
		c.env.stats.ParseErrors += rs.ParseErrors + ps.ParseErrors
		c.env.stats.ResyncSkippedBytes += rs.ResyncSkippedBytes + ps.ResyncSkippedBytes
		c.env.stats.DecodeErrors += rs.DecodeErrors + ps.DecodeErrors
		c.env.stats.DeferredBodies += rs.DeferredBodies + ps.DeferredBodies
		c.env.stats.UndecodedBodies += rs.UndecodedBodies + ps.UndecodedBodies
		c.env.stats.HTTPFlows++
	}
	for _, t := range c.pending {
		t.Flags |= FlagNoResponse
		c.emit(t)
	}
	c.h2cPending = false
	c.env.recycle(c.req, c.resp, c.pending)
	c.pending = nil
	c.req, c.resp = nil, nil
	c.buf = [2][]byte{}
	c.state = stDone
}

// dropLost hands on, without response, the pending requests whose
// responses a hole in the response stream swallowed, for a response that
// began at start (see onResponse).
func (c *httpConn) dropLost(start time.Time) {
	if !c.gapSeen[1-c.client] {
		return
	}
	g := c.gapTS[1-c.client]
	for len(c.pending) >= 2 && !c.pending[1].RequestTime.Before(g) && !start.Before(c.pending[1].RequestTime) {
		t := c.popPending()
		t.Flags |= FlagNoResponse | FlagRespGap
		c.emit(t)
	}
}

// HTTPMessage takes a message from either parser (http1.Handler).
func (c *httpConn) HTTPMessage(m *http1.Message) {
	if m.Request {
		c.onRequest(m)
	} else {
		c.onResponse(m)
	}
}

// RequestMethod answers the response parser (http1.Handler).
func (c *httpConn) RequestMethod() string { return c.pendingMethod() }

// pendingMethod answers the response parser's RequestMethod: the method of
// the request the response being parsed answers. The response began about
// when its direction's latest bytes were captured.
func (c *httpConn) pendingMethod() string {
	c.dropLost(c.feedTS[1-c.client])
	if len(c.pending) > 0 {
		return c.pending[0].Method
	}
	return ""
}

func (c *httpConn) onRequest(m *http1.Message) {
	t := c.env.txs.get()
	*t = Transaction{
		Client:       c.addr[c.client],
		Server:       c.addr[1-c.client],
		RequestTime:  m.Start,
		EndTime:      m.End,
		Method:       m.Method,
		Target:       m.Target,
		Version:      m.Version,
		ReqHeaders:   m.Headers,
		ReqBodyBytes: m.BodyBytes,
		ReqBody:      m.Body,
		reqEnc:       m.Encoded,
		Flags:        msgFlags(m.Flags, FlagReqGap, FlagReqTruncated),
	}
	host, upgrade := hostUpgrade(m.Headers)
	t.Host = host
	if hasToken(upgrade, "h2c") {
		c.h2cReq, c.h2cPending = t, true
	}
	if len(c.pending) == maxPending {
		old := c.popPending()
		old.Flags |= FlagNoResponse
		c.emit(old)
	}
	c.pending = append(c.pending, t)
}

func (c *httpConn) onResponse(m *http1.Message) {
	if m.Status < 200 && !m.Upgrade {
		return // interim (100 Continue, 103 Early Hints): the final one pairs
	}
	// A hole in the responses may have swallowed whole responses; pairing
	// in order would then shift every later pair by one. When the request
	// after the oldest pending one was sent after the last response bytes
	// before the hole, and this response began after that request, the
	// answer to the oldest request was in the hole: it gets none. (A
	// client waiting for each answer sends the next request after it; a
	// pipelining client whose answer began before the hole keeps the
	// plain order.)
	c.dropLost(m.Start)
	c.gapSeen[1-c.client] = false
	if c.h2cReq != nil && m.Status >= 200 {
		c.h2cReq = nil // declined: HTTP/1.1 goes on
	}
	if m.Upgrade && m.Status == 101 && c.h2cReq != nil && c.h2cPending && len(c.pending) > 0 && c.pending[0] == c.h2cReq &&
		hasToken(lookup(m.Headers, "Upgrade"), "h2c") {
		c.upgradeH2(m)
		return
	}
	var t *Transaction
	if len(c.pending) > 0 {
		t = c.popPending()
	} else {
		t = c.env.txs.get()
		*t = Transaction{
			Client: c.addr[c.client],
			Server: c.addr[1-c.client],
			Flags:  FlagNoRequest,
		}
	}
	t.ResponseTime = m.Start
	if m.End.After(t.EndTime) {
		t.EndTime = m.End
	}
	t.Status = m.Status
	t.Reason = m.Reason
	if t.Version == "" {
		t.Version = m.Version
	}
	t.RespHeaders = m.Headers
	t.RespBodyBytes = m.BodyBytes
	t.RespBody, t.respEnc = m.Body, m.Encoded
	t.Flags |= msgFlags(m.Flags, FlagRespGap, FlagRespTruncated)
	if m.Upgrade {
		t.Flags |= FlagUpgraded
		c.req.Stop()
		c.state = stDone
		c.env.stats.Upgrades++
	}
	c.emit(t)
}

// hostUpgrade returns the values of the first Host and Upgrade fields of
// hs (lookup's, in one pass).
func hostUpgrade(hs []Header) (host, upgrade string) {
	var hostSeen, upSeen bool
	for i := range hs {
		h := &hs[i]
		switch len(h.Name) {
		case 4:
			if !hostSeen && (h.Name == "Host" || equalFold(h.Name, "Host")) {
				host, hostSeen = h.Value, true
			}
		case 7:
			if !upSeen && (h.Name == "Upgrade" || equalFold(h.Name, "Upgrade")) {
				upgrade, upSeen = h.Value, true
			}
		default:
			continue
		}
		if hostSeen && upSeen {
			break
		}
	}
	return host, upgrade
}

// popPending removes and returns the oldest pending request. The queue is
// shifted down in place (it holds at most maxPending) so that its backing
// array is reused: slicing it from the front would make the next append
// allocate once per request.
func (c *httpConn) popPending() *Transaction {
	t := c.pending[0]
	if t == c.h2cReq {
		c.h2cPending = false
	}
	n := copy(c.pending, c.pending[1:])
	c.pending[n] = nil
	c.pending = c.pending[:n]
	return t
}

// msgFlags maps a message's flags onto a transaction's.
func msgFlags(f http1.MsgFlags, gap, truncated Flags) Flags {
	var out Flags
	if f&(http1.MsgGap|http1.MsgIncomplete) != 0 {
		out |= gap
	}
	if f&http1.MsgTruncated != 0 {
		out |= truncated
	}
	if f&http1.MsgBadFraming != 0 {
		out |= FlagBadFraming
	}
	if f&http1.MsgDecodeError != 0 {
		out |= FlagDecodeError
	}
	return out
}

func (c *httpConn) emit(t *Transaction) {
	c.env.stats.Transactions++
	if t.Method != "" {
		c.env.stats.Requests++
	}
	if t.Status >= 200 {
		c.env.stats.Responses++
	}
	c.env.sink(t)
}

// How a connection became HTTP/2.
const (
	h2Preface = iota // the client's bytes began with the preface
	h2Upgrade        // HTTP/1.1 Upgrade: h2c answered by 101
	h2Mid            // frames found on a connection picked up mid-stream
)

// probeH2 looks at the first bytes of direction d of a connection not yet
// classified for the start of HTTP/2: the client preface (prior knowledge),
// or a server's first SETTINGS frame sent before the client's preface
// arrived (held back for it). It returns true when it took the bytes.
func (c *httpConn) probeH2(d int, b []byte, final bool) bool {
	switch http2.DetectPreface(b) {
	case http2.NeedMore:
		if !final && len(b) > 0 {
			return true
		}
	case http2.IsH2:
		c.startH2(d, h2Preface)
		return true
	}
	if c.fresh[d] && !final && len(b) < h2ProbeLimit && !c.notHTTP[1-d] && http2.DetectServerStart(b) != http2.NotH2 {
		return true
	}
	return false
}

// findH2 looks for HTTP/2 frames in the bytes direction d sent so far on a
// connection picked up mid-stream.
func (c *httpConn) findH2(d int) bool {
	b := c.h2buf[d]
	off, keep := c.h2find[d].Find(b, 0)
	if off < 0 {
		c.h2buf[d] = append(b[:0], b[keep:]...)
		c.h2find[d].Shift(keep)
		return false
	}
	if strings.HasPrefix(string(b[off:min(len(b), off+len(http2.Preface))]), http2.Preface) {
		c.client = int8(d)
	}
	c.startH2(int(c.client), h2Mid)
	return true
}

// startH2 hands the connection to an HTTP/2 observer; client is the
// direction carrying requests, -1 when it is to be learnt.
func (c *httpConn) startH2(client int, how int) {
	o := c.env.http
	c.h2 = http2.NewConn(http2.Options{MaxBody: o.MaxBody, MaxDecompress: o.MaxDecompress, Decoders: o.Decoders, OnStream: c.onStream})
	c.state = stH2
	if client >= 0 {
		c.client = int8(client)
		c.h2.SetClient(client)
	}
	bufs, probe := c.buf, c.h2buf
	c.buf, c.h2buf, c.h2find = [2][]byte{}, [2][]byte{}, [2]http2.FrameFinder{}
	c.align = [2]bool{}
	switch how {
	case h2Mid:
		for d := 0; d < 2; d++ {
			c.h2.Midstream(d)
			if len(probe[d]) > 0 {
				c.h2.Feed(d, probe[d], c.bufTS[d])
			}
		}
	case h2Preface:
		for d := 0; d < 2; d++ {
			switch {
			case d == client:
			case len(bufs[d]) == 0:
				c.h2start[d] = true // its first bytes decide
				continue
			case http2.DetectServerStart(bufs[d]) == http2.NotH2:
				c.h2.Midstream(d)
			}
			c.h2.Feed(d, bufs[d], c.bufTS[d])
		}
	}
}

// feedH2 hands bytes of direction d to the HTTP/2 observer.
func (c *httpConn) feedH2(d int, b []byte, ts time.Time) {
	if len(b) == 0 {
		return
	}
	c.carried = true
	c.feedTS[d] = ts
	if c.h2start[d] {
		// The server of a connection seen from the client's preface
		// begins with SETTINGS unless the capture missed its start.
		c.h2start[d] = false
		if http2.DetectServerStart(b) == http2.NotH2 {
			c.h2.Midstream(d)
		}
	}
	c.h2.Feed(d, b, ts)
}

// feedHTTP hands bytes to direction d's HTTP/1 parser. While a request
// asked for Upgrade: h2c, it feeds them line by line so that HTTP/2 bytes
// right after a 101 response (or the client's preface) go to HTTP/2.
func (c *httpConn) feedHTTP(d int, b []byte, ts time.Time) {
	if c.h2cReq == nil {
		c.parser(d).Feed(b, ts)
		return
	}
	client := d == int(c.client)
	for len(b) > 0 {
		if c.state == stH2 {
			c.feedH2(d, b, ts)
			return
		}
		if client && c.req.Stopped() {
			c.pendH2c(b)
			return
		}
		n := len(b)
		if i := indexByte(b, '\n'); i >= 0 {
			n = i + 1
		}
		c.parser(d).Feed(b[:n], ts)
		if client && c.state != stH2 && c.req.Stopped() {
			// The request parser stopped at the tunnel's first bytes.
			if j := strings.Index(string(b[:n]), "PRI * HTTP/2.0"); j >= 0 {
				c.pendH2c(b[j:])
			}
			return
		}
		b = b[n:]
	}
}

// pendH2c keeps client bytes sent after an h2c upgrade request until the
// 101 is parsed.
func (c *httpConn) pendH2c(b []byte) {
	if len(c.h2cPend)+len(b) > h2ProbeLimit {
		c.env.stats.SkippedBytes += uint64(len(b))
		return
	}
	c.h2cPend = append(c.h2cPend, b...)
}

// upgradeH2 switches the connection to HTTP/2 after the 101 answering an
// Upgrade: h2c request, which becomes stream 1.
func (c *httpConn) upgradeH2(m *http1.Message) {
	t := c.popPending()
	c.h2cReq = nil
	c.req.Stop()
	c.env.stats.Upgrades++
	client := int(c.client)
	c.startH2(client, h2Upgrade)
	t.ReqBodySample() // the stream takes a decoded sample and its flags
	req := &http2.Stream{
		Method:       t.Method,
		Path:         t.Target,
		Authority:    t.Host,
		ReqHeaders:   t.ReqHeaders,
		ReqBodyBytes: t.ReqBodyBytes,
		ReqBody:      t.ReqBody,
		ReqStart:     t.RequestTime,
	}
	if t.Flags&FlagReqGap != 0 {
		req.Flags |= http2.FlagReqGap
	}
	if t.Flags&FlagReqTruncated != 0 {
		req.Flags |= http2.FlagReqTruncated
	}
	c.h2.Upgrade(client, req)
	if len(c.h2cPend) > 0 {
		c.h2.Feed(client, c.h2cPend, c.feedTS[client])
		c.h2cPend = nil
	}
}

// onStream turns an HTTP/2 stream into a transaction.
func (c *httpConn) onStream(s *http2.Stream) {
	t := &Transaction{
		Client:        c.addr[s.Client],
		Server:        c.addr[1-s.Client],
		RequestTime:   s.ReqStart,
		ResponseTime:  s.RespStart,
		EndTime:       s.End,
		Method:        s.Method,
		Target:        s.Path,
		Host:          s.Authority,
		Version:       "HTTP/2",
		Status:        s.Status,
		ReqHeaders:    s.ReqHeaders,
		RespHeaders:   s.RespHeaders,
		ReqTrailers:   s.ReqTrailers,
		RespTrailers:  s.RespTrailers,
		ReqBodyBytes:  s.ReqBodyBytes,
		RespBodyBytes: s.RespBodyBytes,
		ReqBody:       s.ReqBody,
		RespBody:      s.RespBody,
		Protocol:      ProtoH2,
		StreamID:      s.ID,
		GRPC:          s.GRPC,
	}
	if t.Host == "" {
		t.Host = t.ReqHeader("Host")
	}
	if t.Method == "CONNECT" && t.Target == "" {
		t.Target = s.Authority
	}
	if s.GRPC != nil {
		t.Protocol = ProtoGRPC
	}
	if t.RequestTime.IsZero() && t.ResponseTime.IsZero() {
		t.RequestTime = s.End
	}
	for _, m := range h2Flags {
		if s.Flags&m.from != 0 {
			t.Flags |= m.to
		}
	}
	c.emit(t)
}

// h2Flags maps stream flags onto transaction flags.
var h2Flags = [...]struct {
	from http2.Flags
	to   Flags
}{
	{http2.FlagNoRequest, FlagNoRequest},
	{http2.FlagNoResponse, FlagNoResponse},
	{http2.FlagReqGap, FlagReqGap},
	{http2.FlagRespGap, FlagRespGap},
	{http2.FlagReqTruncated, FlagReqTruncated},
	{http2.FlagRespTruncated, FlagRespTruncated},
	{http2.FlagDecodeError, FlagDecodeError},
	{http2.FlagHeadersMissing, FlagHeadersMissing},
	{http2.FlagReset, FlagReset},
	{http2.FlagRefused, FlagReset | FlagNoResponse},
	{http2.FlagIncomplete, FlagIncomplete},
}

// hasToken reports whether the comma-separated list v holds tok
// (case-insensitive).
func hasToken(v, tok string) bool {
	for v != "" {
		var f string
		f, v, _ = strings.Cut(v, ",")
		if f = strings.TrimSpace(f); len(f) == len(tok) && equalFold(f, tok) {
			return true
		}
	}
	return false
}
