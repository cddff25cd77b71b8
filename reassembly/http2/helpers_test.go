package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// event is one write of a conversation: bytes one direction sent at once.
type event struct {
	dir  int // 0 client, 1 server
	data []byte
}

// truth is what a stream really carried.
type truth struct {
	method, path, authority string
	status                  int
	req, resp, respTrailers []Header
	reqBody, respBody       int64
	grpcStatus              int
	grpcMessage             string
}

// convo writes an HTTP/2 conversation with x/net's Framer and HPACK
// encoder, recording each write as an event and each stream's truth.
type convo struct {
	t      testing.TB
	buf    [2]bytes.Buffer
	fr     [2]*http2.Framer
	hbuf   [2]bytes.Buffer
	enc    [2]*hpack.Encoder
	events []event
	truth  map[uint32]*truth
	// split cuts header blocks into CONTINUATION frames of this size
	// (0: one HEADERS frame); pad pads HEADERS and DATA frames.
	split int
	pad   uint8
}

func newConvo(t testing.TB, preface bool) *convo {
	cv := &convo{t: t, truth: map[uint32]*truth{}}
	for d := range cv.fr {
		cv.fr[d] = http2.NewFramer(&cv.buf[d], nil)
		cv.enc[d] = hpack.NewEncoder(&cv.hbuf[d])
	}
	if preface {
		cv.buf[0].WriteString(Preface)
		must(t, cv.fr[0].WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}))
		cv.flush(0)
		must(t, cv.fr[1].WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}))
		must(t, cv.fr[1].WriteSettingsAck())
		cv.flush(1)
		must(t, cv.fr[0].WriteSettingsAck())
		cv.flush(0)
	}
	return cv
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// flush records what direction d wrote since the last flush as an event.
func (cv *convo) flush(d int) {
	if cv.buf[d].Len() == 0 {
		return
	}
	cv.events = append(cv.events, event{d, bytes.Clone(cv.buf[d].Bytes())})
	cv.buf[d].Reset()
}

// block encodes fields with direction d's encoder.
func (cv *convo) block(d int, fields []Header) []byte {
	cv.hbuf[d].Reset()
	for _, f := range fields {
		must(cv.t, cv.enc[d].WriteField(hpack.HeaderField{Name: f.Name, Value: f.Value}))
	}
	return bytes.Clone(cv.hbuf[d].Bytes())
}

// headers writes a header block on stream id from d, split into
// CONTINUATION frames when cv.split is set.
func (cv *convo) headers(d int, id uint32, fields []Header, end bool) {
	b := cv.block(d, fields)
	first := b
	if cv.split > 0 && len(b) > cv.split {
		first = b[:cv.split]
	}
	b = b[len(first):]
	must(cv.t, cv.fr[d].WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(b) == 0, PadLength: cv.pad}))
	for len(b) > 0 {
		n := min(cv.split, len(b))
		must(cv.t, cv.fr[d].WriteContinuation(id, n == len(b), b[:n]))
		b = b[n:]
	}
}

// data writes body in DATA frames of at most 16384 bytes.
func (cv *convo) data(d int, id uint32, body []byte, end bool) {
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), 16384-int(cv.pad)-1)
		var err error
		if cv.pad > 0 {
			err = cv.fr[d].WriteDataPadded(id, end && n == len(body), body[:n], make([]byte, cv.pad))
		} else {
			err = cv.fr[d].WriteData(id, end && n == len(body), body[:n])
		}
		must(cv.t, err)
		body = body[n:]
	}
}

func hdrs(kv ...string) []Header {
	var out []Header
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, Header{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

// exchange writes a whole request and response on stream id.
func (cv *convo) exchange(id uint32, method, path string, reqH []Header, reqBody []byte, status int, respH []Header, respBody []byte) {
	tr := &truth{method: method, path: path, authority: "api.example.com", status: status, req: reqH, resp: respH,
		reqBody: int64(len(reqBody)), respBody: int64(len(respBody)), grpcStatus: -1}
	cv.truth[id] = tr
	pseudo := hdrs(":method", method, ":scheme", "http", ":authority", tr.authority, ":path", path)
	cv.headers(0, id, append(pseudo, reqH...), len(reqBody) == 0)
	if len(reqBody) > 0 {
		cv.data(0, id, reqBody, true)
	}
	cv.flush(0)
	cv.headers(1, id, append(hdrs(":status", strconv.Itoa(status)), respH...), len(respBody) == 0)
	if len(respBody) > 0 {
		cv.data(1, id, respBody, true)
	}
	cv.flush(1)
}

// grpcMsg frames payloads as gRPC length-prefixed messages.
func grpcMsg(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		n := len(p)
		b = append(b, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		b = append(b, p...)
	}
	return b
}

// collect runs events through a Conn, each event cut in pieces of size
// piece (0: whole), and returns the streams in emission order.
func collect(events []event, opts Options, piece int, setup func(*Conn)) ([]*Stream, *Conn) {
	var out []*Stream
	opts.OnStream = func(s *Stream) { out = append(out, s) }
	c := NewConn(opts)
	if setup != nil {
		setup(c)
	}
	ts := time.Unix(1700000000, 0)
	for _, ev := range events {
		ts = ts.Add(time.Millisecond)
		b := ev.data
		for len(b) > 0 {
			n := len(b)
			if piece > 0 {
				n = min(piece, n)
			}
			c.Feed(ev.dir, b[:n], ts)
			b = b[n:]
		}
	}
	c.Close(ts.Add(time.Millisecond))
	return out, c
}

// checkTruth fails when a stream shows a value its truth does not have:
// every pseudo field and status shown must be the real one, and the
// header fields shown an ordered subset of the real ones.
func checkTruth(t testing.TB, where string, streams []*Stream, tr map[uint32]*truth) {
	t.Helper()
	for _, s := range streams {
		w := tr[s.ID]
		if w == nil {
			t.Errorf("%s: stream %d does not exist", where, s.ID)
			continue
		}
		bad := func(what string, got, want any) {
			t.Errorf("%s: stream %d: %s %q, really %q", where, s.ID, what, fmt.Sprint(got), fmt.Sprint(want))
		}
		if s.Method != "" && s.Method != w.method {
			bad("method", s.Method, w.method)
		}
		if s.Path != "" && s.Path != w.path {
			bad("path", s.Path, w.path)
		}
		if s.Authority != "" && s.Authority != w.authority {
			bad("authority", s.Authority, w.authority)
		}
		if s.Status != 0 && s.Status != w.status {
			bad("status", s.Status, w.status)
		}
		if !subseq(s.ReqHeaders, w.req) {
			bad("request headers", s.ReqHeaders, w.req)
		}
		if !subseq(s.RespHeaders, w.resp) {
			bad("response headers", s.RespHeaders, w.resp)
		}
		if !subseq(s.RespTrailers, w.respTrailers) {
			bad("trailers", s.RespTrailers, w.respTrailers)
		}
		if s.GRPC != nil && s.GRPC.Status >= 0 && s.GRPC.Status != w.grpcStatus {
			bad("grpc-status", s.GRPC.Status, w.grpcStatus)
		}
		complete := s.Flags&(FlagHeadersMissing|FlagNoRequest|FlagNoResponse) == 0
		if complete && (!slices.Equal(s.ReqHeaders, w.req) || !slices.Equal(s.RespHeaders, w.resp)) {
			t.Errorf("%s: stream %d not flagged but headers differ: %v / %v", where, s.ID, s.ReqHeaders, s.RespHeaders)
		}
	}
}

// subseq reports whether a is an ordered subsequence of b.
func subseq(a, b []Header) bool {
	j := 0
	for _, h := range a {
		for j < len(b) && b[j] != h {
			j++
		}
		if j == len(b) {
			return false
		}
		j++
	}
	return true
}

// busyConvo writes n exchanges whose headers lean on the dynamic table:
// repeated and rotating values, fresh ids that evict old entries, and
// table size changes, so that an observer that lost the table would guess
// wrong values if it guessed at all.
func busyConvo(t testing.TB, seed uint64, n int) *convo {
	r := rand.New(rand.NewPCG(seed, seed^0x9e37))
	cv := newConvo(t, true)
	paths := []string{"/v1/customers", "/v1/orders/17", "/v1/products?sku=42", "/healthz", "/v1/customers/1001/orders"}
	cookies := []string{"session=alpha", "session=beta", "session=gamma"}
	for i := 0; i < n; i++ {
		id := uint32(2*i + 1)
		if i%7 == 3 {
			// The decoder side allows 4096; the encoders move within it.
			sz := []uint32{256, 1024, 4096, 0, 2048}[r.IntN(5)]
			cv.enc[0].SetMaxDynamicTableSize(sz)
			cv.enc[1].SetMaxDynamicTableSize(sz)
		}
		reqH := hdrs("user-agent", "shadowtap-test/1.0", "cookie", cookies[r.IntN(3)],
			"x-request-id", fmt.Sprintf("req-%d-%d", i, r.Uint32()), "accept", "application/json")
		respH := hdrs("content-type", "application/json", "x-trace", fmt.Sprintf("tr-%x", r.Uint64()), "server", "unit")
		var body []byte
		method := "GET"
		if r.IntN(3) == 0 {
			method = "POST"
			body = bytes.Repeat([]byte("x"), r.IntN(3000))
		}
		cv.exchange(id, method, paths[r.IntN(len(paths))], reqH, body, []int{200, 201, 404, 503}[r.IntN(4)], respH, bytes.Repeat([]byte("y"), r.IntN(20000)))
	}
	return cv
}
