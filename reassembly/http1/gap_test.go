package http1

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// step is one event fed to a parser: bytes, or a gap of n bytes.
type step struct {
	data string
	gap  int
}

func runSteps(request bool, o Options, steps []step, close bool) ([]*Message, Stats) {
	c := &collector{}
	var p *Parser
	if request {
		p = NewRequestParser(c.opts(o))
	} else {
		p = NewResponseParser(c.opts(o))
	}
	for _, s := range steps {
		if s.gap > 0 {
			p.Gap(s.gap, t0)
		} else {
			p.Feed([]byte(s.data), t0)
		}
	}
	if close {
		p.Close(t0)
	}
	return c.msgs, p.Stats()
}

func TestGap(t *testing.T) {
	tests := []struct {
		name    string
		request bool
		steps   []step
		close   bool
		want    []string
		skipped uint64
	}{
		{
			name: "inside Content-Length body: skipped",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
				{gap: 4},
				{data: "hij"},
				{data: "HTTP/1.1 204 No Content\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=10 body="abc" [gap]`,
				`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
			},
		},
		{
			name: "ends exactly at the body end",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
				{gap: 7},
				{data: "HTTP/1.1 204 No Content\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=10 body="abc" [gap]`,
				`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
			},
		},
		{
			name: "past the body end: incomplete and resync",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"},
				{gap: 40},
				{data: "tail of something\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=3 body="abc" [gap|incomplete]`,
				`HTTP/1.1 404 Not Found h=1 bb=0 body=""`,
			},
			skipped: uint64(len("tail of something\r\n")),
		},
		{
			name: "inside a chunk: skipped",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nab"},
				{gap: 5},
				{data: "hij\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=10 body="ab" [gap]`,
				`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
			},
		},
		{
			name: "across chunk framing: incomplete and resync",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab"},
				{gap: 10},
				{data: "3\r\nxyz\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=2 body="ab" [gap|incomplete]`,
				`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
			},
			skipped: uint64(len("3\r\nxyz\r\n0\r\n\r\n")),
		},
		{
			name: "close-delimited body: skipped",
			steps: []step{
				{data: "HTTP/1.0 200 OK\r\n\r\nabc"},
				{gap: 100},
				{data: "xyz"},
			},
			close: true,
			want:  []string{`HTTP/1.0 200 OK h=0 bb=106 body="abc" [gap]`},
		},
		{
			name: "inside a head: partial message, resync",
			steps: []step{
				{data: "HTTP/1.1 200 OK\r\nServer: x\r\nCont"},
				{gap: 50},
				{data: "zzz\r\n\r\n{}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
			},
			want: []string{
				`HTTP/1.1 200 OK h=1 bb=0 body="" [gap|incomplete]`,
				`HTTP/1.1 200 OK h=1 bb=0 body=""`,
			},
			skipped: uint64(len("Cont") + len("zzz\r\n\r\n{}")),
		},
		{
			name:    "between requests: resync",
			request: true,
			steps: []step{
				{data: "GET /a HTTP/1.1\r\n\r\n"},
				{gap: 30},
				{data: "ength: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\nz"},
			},
			want: []string{
				`GET /a HTTP/1.1 h=0 bb=0 body=""`,
				`POST /b HTTP/1.1 h=1 bb=1 body="z"`,
			},
			skipped: uint64(len("ength: 3\r\n\r\nabc")),
		},
		{
			name:    "resync across Feeds",
			request: true,
			steps: []step{
				{gap: 30},
				{data: "junk junk GE"},
				{data: "T /split HTTP/1"},
				{data: ".1\r\n\r\n"},
			},
			want:    []string{`GET /split HTTP/1.1 h=0 bb=0 body=""`},
			skipped: uint64(len("junk junk ")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ms, st := runSteps(tc.request, Options{}, tc.steps, tc.close)
			if got := summaries(ms); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("messages:\n got %q\nwant %q", got, tc.want)
			}
			if st.ResyncSkippedBytes != tc.skipped {
				t.Errorf("ResyncSkippedBytes = %d, want %d", st.ResyncSkippedBytes, tc.skipped)
			}
			var gapBytes uint64
			for _, s := range tc.steps {
				gapBytes += uint64(s.gap)
			}
			if st.GapBytes != gapBytes {
				t.Errorf("GapBytes = %d, want %d", st.GapBytes, gapBytes)
			}
		})
	}
}

// TestBoundedBuffers: whatever is fed, the parser's own buffers stay within
// MaxHeaderBytes plus the resync window.
func TestBoundedBuffers(t *testing.T) {
	limit := defaultMaxHeader + resyncTarget + 2*resyncPiece + 64
	inputs := map[string][]byte{
		"random":          pseudoRandom(4 << 20),
		"no newline":      bytes.Repeat([]byte("GET /aaaaaaaaaaaaaaaa"), 200000),
		"status no eol":   bytes.Repeat([]byte("HTTP/1.1 200 "), 300000),
		"long targets":    bytes.Repeat([]byte("GET /"+strings.Repeat("a", 9000)+" HTTP/1.1\r\n"), 400),
		"endless headers": append([]byte("GET / HTTP/1.1\r\n"), bytes.Repeat([]byte("X: y\r\n"), 500000)...),
		"endless trailer": append([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"), bytes.Repeat([]byte("X: y\r\n"), 500000)...),
	}
	for name, in := range inputs {
		for _, request := range []bool{true, false} {
			p := newParser(Options{}, request)
			for _, seg := range segments(in, 65536) {
				p.Feed(seg, t0)
				if cap(p.buf) > limit || cap(p.pend) > limit || cap(p.pend2) > limit {
					t.Fatalf("%s (request %v): buffers grew to %d/%d/%d bytes", name, request, cap(p.buf), cap(p.pend), cap(p.pend2))
				}
			}
		}
	}
}
