package http2

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func gz(b []byte) []byte {
	var w bytes.Buffer
	z := gzip.NewWriter(&w)
	z.Write(b)
	z.Close()
	return w.Bytes()
}

// TestStreams covers the frame and stream handling on whole connections,
// fed whole and in pieces of 1 and 7 bytes (the result must not depend on
// the cuts).
func TestStreams(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T) *convo
		check func(t *testing.T, ss []*Stream)
	}{
		{"get and post", func(t *testing.T) *convo {
			cv := newConvo(t, true)
			cv.exchange(1, "GET", "/v1/customers/1000", hdrs("accept", "application/json"), nil, 200, hdrs("content-type", "application/json"), []byte(`{"id":1000}`))
			cv.exchange(3, "POST", "/v1/orders", hdrs("content-type", "application/json"), []byte(`{"sku":42}`), 201, hdrs("location", "/v1/orders/9"), nil)
			return cv
		}, func(t *testing.T, ss []*Stream) {
			want := []string{"1 GET /v1/customers/1000 200 0/11 {\"id\":1000}", "3 POST /v1/orders 201 10/0 "}
			got := lines(ss)
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		}},
		{"continuation and padding", func(t *testing.T) *convo {
			cv := newConvo(t, true)
			cv.split, cv.pad = 7, 9
			cv.exchange(1, "GET", "/tata", hdrs("namename", string(bytes.Repeat([]byte("value"), 40))), nil, 200, hdrs("date", "Tue, 19 Dec 2023 20:31:06 GMT"), []byte("Hello, world!"))
			return cv
		}, func(t *testing.T, ss []*Stream) {
			if got := lines(ss); !slices.Equal(got, []string{"1 GET /tata 200 0/13 Hello, world!"}) {
				t.Errorf("got %q", got)
			}
			if len(ss) == 1 && (len(ss[0].ReqHeaders) != 1 || len(ss[0].ReqHeaders[0].Value) != 200) {
				t.Errorf("headers %v", ss[0].ReqHeaders)
			}
		}},
		{"gzip body and interim 103", func(t *testing.T) *convo {
			cv := newConvo(t, true)
			cv.truth[1] = &truth{}
			cv.headers(0, 1, hdrs(":method", "GET", ":scheme", "https", ":authority", "a", ":path", "/x"), true)
			cv.flush(0)
			cv.headers(1, 1, hdrs(":status", "103", "link", "</s.css>"), false)
			cv.headers(1, 1, hdrs(":status", "200", "content-encoding", "gzip"), false)
			cv.data(1, 1, gz([]byte(`{"ok":true}`)), true)
			cv.flush(1)
			return cv
		}, func(t *testing.T, ss []*Stream) {
			if len(ss) != 1 || ss[0].Status != 200 || string(ss[0].RespBody) != `{"ok":true}` || ss[0].Flags != 0 {
				t.Errorf("got %+v", ss)
			}
		}},
		{"grpc bidirectional streaming with trailers", func(t *testing.T) *convo {
			cv := newConvo(t, true)
			ct := hdrs("content-type", "application/grpc", "te", "trailers")
			cv.headers(0, 1, append(hdrs(":method", "POST", ":scheme", "http", ":authority", "svc", ":path", "/pkg.Chat/Talk"), ct...), false)
			cv.data(0, 1, grpcMsg([]byte("hello")), false)
			cv.flush(0)
			cv.headers(1, 1, hdrs(":status", "200", "content-type", "application/grpc"), false)
			cv.data(1, 1, grpcMsg([]byte("hi"), []byte("there")), false)
			cv.flush(1)
			cv.data(0, 1, grpcMsg([]byte("a"), bytes.Repeat([]byte("b"), 70000)), true)
			cv.flush(0)
			cv.headers(1, 1, hdrs("grpc-status", "0", "grpc-message", ""), true)
			cv.flush(1)
			// A unary call failing with trailers-only.
			cv.headers(0, 3, append(hdrs(":method", "POST", ":scheme", "http", ":authority", "svc", ":path", "/pkg.Chat/Get"), ct...), false)
			cv.data(0, 3, grpcMsg([]byte("q")), true)
			cv.flush(0)
			cv.headers(1, 3, hdrs(":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "not found"), true)
			cv.flush(1)
			return cv
		}, func(t *testing.T, ss []*Stream) {
			if len(ss) != 2 || ss[0].GRPC == nil || ss[1].GRPC == nil {
				t.Fatalf("got %+v", ss)
			}
			g := ss[0].GRPC
			if g.Status != 0 || g.ReqMessages != 3 || g.RespMessages != 2 || g.ReqMessageBytes != 70006 || g.MaxReqMessage != 70000 || g.RespMessageBytes != 7 {
				t.Errorf("stream 1: %+v", g)
			}
			if ss[0].Path != "/pkg.Chat/Talk" || len(ss[0].RespTrailers) != 2 || ss[0].Flags&^FlagReqTruncated != 0 {
				t.Errorf("stream 1: %s trailers %v flags %b", ss[0].Path, ss[0].RespTrailers, ss[0].Flags)
			}
			if g := ss[1].GRPC; g.Status != 5 || g.Message != "not found" || g.ReqMessages != 1 || ss[1].Status != 200 {
				t.Errorf("stream 3: %+v", g)
			}
		}},
		{"reset, goaway and push", func(t *testing.T) *convo {
			cv := newConvo(t, true)
			req := hdrs(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/slow")
			cv.headers(0, 1, req, true)
			cv.headers(0, 3, req, true)
			cv.headers(0, 5, req, true)
			cv.flush(0)
			must(t, cv.fr[1].WritePushPromise(http2.PushPromiseParam{StreamID: 5, PromiseID: 2, EndHeaders: true,
				BlockFragment: cv.block(1, hdrs(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/pushed.css"))}))
			cv.headers(1, 2, hdrs(":status", "200"), false)
			cv.data(1, 2, []byte("body{}"), true)
			cv.headers(1, 5, hdrs(":status", "200"), true)
			cv.flush(1)
			must(t, cv.fr[0].WriteRSTStream(1, http2.ErrCodeCancel))
			cv.flush(0)
			must(t, cv.fr[1].WriteGoAway(1, http2.ErrCodeNo, nil))
			cv.flush(1)
			return cv
		}, func(t *testing.T, ss []*Stream) {
			got := map[uint32]Flags{}
			for _, s := range ss {
				got[s.ID] = s.Flags
			}
			want := map[uint32]Flags{
				2: FlagPushed,
				5: 0,
				1: FlagReset | FlagNoResponse,
				3: FlagRefused | FlagNoResponse,
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("flags %v, want %v", got, want)
			}
			for _, s := range ss {
				if s.ID == 2 && (s.Path != "/pushed.css" || s.Status != 200 || string(s.RespBody) != "body{}") {
					t.Errorf("pushed stream %+v", s)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cv := tt.build(t)
			var first []string
			for _, piece := range []int{0, 1, 7} {
				ss, c := collect(cv.events, Options{}, piece, func(c *Conn) { c.SetClient(0) })
				tt.check(t, ss)
				if st := c.Stats(); st.FrameErrors != 0 || st.HPACKErrors != 0 || st.TableLosses != 0 {
					t.Errorf("piece %d: stats %+v", piece, st)
				}
				l := lines(ss)
				if first == nil {
					first = l
				} else if !slices.Equal(first, l) {
					t.Errorf("piece %d: %q, whole: %q", piece, l, first)
				}
			}
			// Roles learnt from the pseudo fields give the same.
			ss, _ := collect(cv.events, Options{}, 0, nil)
			if l := lines(ss); !slices.Equal(first, l) {
				t.Errorf("roles learnt: %q, given: %q", l, first)
			}
		})
	}
}

func lines(ss []*Stream) []string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%d %s %s %d %d/%d %s", s.ID, s.Method, s.Path, s.Status, s.ReqBodyBytes, s.RespBodyBytes, s.RespBody))
	}
	return out
}

// TestMidstreamNeverWrong starts the observer at every write of a busy
// conversation (and inside writes): whatever it shows must be what was
// sent, and once the encoders' tables are provably known again (a size
// update emptied them) streams come out whole.
func TestMidstreamNeverWrong(t *testing.T) {
	cv := busyConvo(t, 1, 60)
	var whole, partial, streams int
	for e := range cv.events {
		for _, off := range []int{0, 1, len(cv.events[e].data) / 2} {
			evs := slices.Clone(cv.events[e:])
			evs[0].data = evs[0].data[off:]
			ss, c := collect(evs, Options{}, 0, func(c *Conn) { c.Midstream(0); c.Midstream(1) })
			checkTruth(t, fmt.Sprintf("from event %d+%d", e, off), ss, cv.truth)
			streams += len(ss)
			for _, s := range ss {
				if s.Flags&(FlagHeadersMissing|FlagNoRequest|FlagNoResponse) == 0 {
					whole++
				}
			}
			partial += int(c.Stats().PartialBlocks)
		}
	}
	t.Logf("%d pickups: %d streams, %d whole, %d partial header blocks", 3*len(cv.events), streams, whole, partial)
	if whole == 0 || partial == 0 {
		t.Errorf("the test does not exercise both cases: whole %d, partial %d", whole, partial)
	}
}

// TestGaps loses each write of a busy conversation in turn: nothing shown
// is wrong, and the streams the hole did not touch come out.
func TestGaps(t *testing.T) {
	cv := busyConvo(t, 2, 40)
	for e := range cv.events {
		var out []*Stream
		c := NewConn(Options{OnStream: func(s *Stream) { out = append(out, s) }})
		c.SetClient(0)
		ts := time.Unix(1700000000, 0)
		for i, ev := range cv.events {
			if i == e {
				c.Gap(ev.dir, len(ev.data), ts)
				continue
			}
			c.Feed(ev.dir, ev.data, ts)
		}
		c.Close(ts)
		checkTruth(t, fmt.Sprintf("event %d lost", e), out, cv.truth)
		if len(out) < len(cv.truth)-2 {
			t.Errorf("event %d lost: %d of %d streams", e, len(out), len(cv.truth))
		}
	}
}

// TestGapInsideData: a hole inside a DATA payload keeps the framing.
func TestGapInsideData(t *testing.T) {
	cv := newConvo(t, true)
	cv.exchange(1, "GET", "/big", nil, nil, 200, nil, bytes.Repeat([]byte("z"), 10000))
	cv.exchange(3, "GET", "/next", nil, nil, 200, nil, []byte("ok"))
	var out []*Stream
	c := NewConn(Options{OnStream: func(s *Stream) { out = append(out, s) }})
	ts := time.Unix(1, 0)
	for _, ev := range cv.events {
		b := ev.data
		if ev.dir == 1 && len(b) > 9000 {
			// Lose 4000 bytes in the middle of the DATA payload.
			c.Feed(1, b[:3000], ts)
			c.Gap(1, 4000, ts)
			b = b[7000:]
		}
		c.Feed(ev.dir, b, ts)
	}
	c.Close(ts)
	if got := lines(out); len(got) != 2 || out[0].RespBodyBytes != 10000 || out[0].Flags != FlagRespGap || out[1].Flags != 0 {
		t.Errorf("got %q flags %b %b", got, out[0].Flags, out[1].Flags)
	}
	if st := c.Stats(); st.Resyncs != 0 || st.TableLosses != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBounds: streams beyond MaxStreams and fields beyond
// MaxHeaderListSize are dropped and counted.
func TestBounds(t *testing.T) {
	cv := newConvo(t, true)
	for i := uint32(1); i < 40; i += 2 {
		cv.headers(0, i, hdrs(":method", "GET", ":scheme", "http", ":authority", "a", ":path", "/", "x-big", string(bytes.Repeat([]byte("v"), 300))), true)
	}
	cv.flush(0)
	ss, c := collect(cv.events, Options{MaxStreams: 4, MaxHeaderListSize: 200}, 0, nil)
	st := c.Stats()
	if len(ss) != 20 || st.EvictedStreams != 16 || st.DroppedFields != 20 {
		t.Errorf("%d streams, stats %+v", len(ss), st)
	}
	for _, s := range ss {
		if s.Flags&FlagHeadersMissing == 0 || s.Flags&FlagIncomplete == 0 || len(s.ReqHeaders) != 0 {
			t.Errorf("stream %d flags %b headers %v", s.ID, s.Flags, s.ReqHeaders)
		}
	}
}

// TestSampleBound: no more than MaxSampled stream sides sample at once.
func TestSampleBound(t *testing.T) {
	cv := newConvo(t, true)
	for i := uint32(1); i < 20; i += 2 {
		cv.headers(0, i, hdrs(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/up"), false)
		cv.data(0, i, []byte("part"), false)
	}
	for i := uint32(1); i < 20; i += 2 {
		cv.data(0, i, []byte("rest"), true)
		cv.headers(1, i, hdrs(":status", "204"), true)
	}
	cv.flush(0)
	cv.flush(1)
	ss, c := collect(cv.events, Options{MaxSampled: 4}, 0, func(c *Conn) { c.SetClient(0) })
	sampled := 0
	for _, s := range ss {
		if string(s.ReqBody) == "partrest" {
			sampled++
		}
	}
	if len(ss) != 10 || sampled != 4 || c.Stats().UnsampledBodies != 6 || c.sampling != 0 {
		t.Errorf("%d streams, %d sampled, stats %+v, sampling %d", len(ss), sampled, c.Stats(), c.sampling)
	}
}

// TestFrameFinder: the incremental finder, fed a buffer in pieces and
// trimmed as a caller does, finds the boundary the one-shot search finds
// in the same bytes.
func TestFrameFinder(t *testing.T) {
	cv := busyConvo(t, 5, 6)
	var stream []byte
	for _, ev := range cv.events {
		if ev.dir == 1 {
			stream = append(stream, ev.data...)
		}
	}
	for _, start := range []int{0, 1, 5, 17, 100, 1000, 5000} {
		for _, piece := range []int{1, 3, 64, 1500} {
			junk := append(bytes.Repeat([]byte{0x17, 0x03, 0x03, 0xff}, 50), stream[start:]...)
			var f FrameFinder
			var buf []byte
			dropped, found := 0, -1
			for off := 0; off < len(junk) && found < 0; off += piece {
				buf = append(buf, junk[off:min(off+piece, len(junk))]...)
				o, keep := f.Find(buf, 0)
				if o >= 0 {
					found = dropped + o
					break
				}
				buf = append(buf[:0], buf[keep:]...)
				f.Shift(keep)
				dropped += keep
			}
			want, _ := FindFrames(junk[:min(len(junk), found+4*(defaultMaxFrame+9))], 0)
			if found < 0 || found != want {
				t.Errorf("start %d piece %d: found %d, one-shot %d", start, piece, found, want)
			}
		}
	}
}

// TestOpeningOrder: streams are handed on in the order they were opened
// (request order) even when a later one finishes first, and a long stream
// holds the finished ones behind it for at most 5 s of capture time or 64
// streams (Stats.ReleasedEarly).
func TestOpeningOrder(t *testing.T) {
	req := func(cv *convo, id uint32, path string, end bool) {
		cv.truth[id] = &truth{}
		cv.headers(0, id, hdrs(":method", "GET", ":scheme", "http", ":authority", "a", ":path", path), end)
		cv.flush(0)
	}
	resp := func(cv *convo, id uint32, end bool) {
		cv.headers(1, id, hdrs(":status", "200"), end)
		cv.flush(1)
	}
	type step struct {
		after  time.Duration // capture time since the previous event
		events func(cv *convo)
	}
	tests := []struct {
		name  string
		steps []step
		want  []uint32
		early uint64
	}{
		{"later streams finish first", []step{
			{0, func(cv *convo) { req(cv, 1, "/a", true); req(cv, 3, "/b", true); req(cv, 5, "/c", true) }},
			{time.Millisecond, func(cv *convo) { resp(cv, 5, true); resp(cv, 3, true) }},
			{time.Millisecond, func(cv *convo) { resp(cv, 1, true) }},
		}, []uint32{1, 3, 5}, 0},
		{"a long stream holds for 5 s", []step{
			{0, func(cv *convo) {
				req(cv, 1, "/stream", true)
				resp(cv, 1, false)
				req(cv, 3, "/b", true)
				resp(cv, 3, true)
			}},
			{4 * time.Second, func(cv *convo) { cv.data(1, 1, []byte("tick"), false); cv.flush(1) }},
			{2 * time.Second, func(cv *convo) { cv.data(1, 1, []byte("tick"), false); cv.flush(1) }},
			{time.Second, func(cv *convo) { req(cv, 5, "/c", true); resp(cv, 5, true) }},
			{time.Second, func(cv *convo) { cv.data(1, 1, nil, true); cv.flush(1) }},
		}, []uint32{3, 1, 5}, 1},
		{"a long stream holds 64 streams", []step{
			{0, func(cv *convo) {
				req(cv, 1, "/stream", true)
				for id := uint32(3); id <= 131; id += 2 {
					req(cv, id, "/x", true)
					resp(cv, id, true)
				}
			}},
			{time.Millisecond, func(cv *convo) { resp(cv, 1, true) }},
		}, nil, 65},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cv := newConvo(t, true)
			var got []uint32
			c := NewConn(Options{OnStream: func(s *Stream) { got = append(got, s.ID) }})
			ts := time.Unix(1700000000, 0)
			for _, st := range tc.steps {
				ts = ts.Add(st.after)
				st.events(cv)
				for _, ev := range cv.events {
					c.Feed(ev.dir, ev.data, ts)
				}
				cv.events = nil
			}
			c.Close(ts.Add(time.Millisecond))
			want := tc.want
			if want == nil {
				// The 65 short streams, then the long one.
				for id := uint32(3); id <= 131; id += 2 {
					want = append(want, id)
				}
				want = append(want, 1)
			}
			if !slices.Equal(got, want) {
				t.Errorf("handed on %v, want %v", got, want)
			}
			if st := c.Stats(); st.ReleasedEarly != tc.early || st.Streams != uint64(len(want)) {
				t.Errorf("released early %d, streams %d; want %d, %d", st.ReleasedEarly, st.Streams, tc.early, len(want))
			}
		})
	}
}
