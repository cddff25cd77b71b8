package http1

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

type parseCase struct {
	name    string
	request bool
	opts    Options
	methods []string // RequestMethod answers (responses)
	input   string
	close   bool // call Close after feeding
	want    []string
	alive   bool // Feed's last result
	check   func(t *testing.T, ms []*Message, st Stats)
}

const jsonBody = `{"id":42,"name":"Ada Lovelace","email":"ada@example.com","tags":["a","b","c"],"active":true}`

var parseCases = []parseCase{
	{
		name: "simple GET", request: true, alive: true,
		input: "GET /api/v1/users?id=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n",
		want:  []string{`GET /api/v1/users?id=1 HTTP/1.1 h=2 bb=0 body=""`},
	},
	{
		name: "pipelined keep-alive GETs", request: true, alive: true,
		input: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nDELETE /c/1 HTTP/1.1\r\nHost: x\r\n\r\n",
		want: []string{
			`GET /a HTTP/1.1 h=1 bb=0 body=""`,
			`GET /b HTTP/1.1 h=1 bb=0 body=""`,
			`DELETE /c/1 HTTP/1.1 h=1 bb=0 body=""`,
		},
	},
	{
		name: "POST with Content-Length then GET", request: true, alive: true,
		input: "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
			fmt.Sprint(len(jsonBody)) + "\r\n\r\n" + jsonBody + "GET /users/42 HTTP/1.1\r\nHost: x\r\n\r\n",
		want: []string{
			fmt.Sprintf(`POST /users HTTP/1.1 h=3 bb=%d body=%q`, len(jsonBody), jsonBody),
			`GET /users/42 HTTP/1.1 h=1 bb=0 body=""`,
		},
	},
	{
		name: "chunked with extensions and trailers", request: true, alive: true,
		input: "PUT /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;name=val;x=\"q\"\r\nhello\r\n6 ; ext\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n" +
			"GET /next HTTP/1.1\r\n\r\n",
		want: []string{
			`PUT /f HTTP/1.1 h=1 bb=11 body="hello world" tr=2`,
			`GET /next HTTP/1.1 h=0 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if got := ms[0].Trailers; len(got) != 2 || got[0] != (Header{"X-Checksum", "abc"}) {
				t.Errorf("trailers = %+v", got)
			}
		},
	},
	{
		name: "custom methods and HTTP/1.0", request: true, alive: true,
		input: "CCM_POST /ccm HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiM-SEARCH * HTTP/1.1\r\nMAN: \"ssdp:discover\"\r\n\r\nGET / HTTP/1.0\r\n\r\n",
		want: []string{
			`CCM_POST /ccm HTTP/1.1 h=1 bb=2 body="hi"`,
			`M-SEARCH * HTTP/1.1 h=1 bb=0 body=""`,
			`GET / HTTP/1.0 h=0 bb=0 body=""`,
		},
	},
	{
		name: "malformed request lines servers still answer", request: true, alive: true,
		input: "GET / HTTP/1.\r\n\r\nOPTIONS HTTP/1.1\r\n\r\nPUT /HTTP/1.1\r\n\r\nGET /a b HTTP/1.1\r\n\r\nOPTIONS\r\n\r\nGET/ HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
		want: []string{
			`GET / HTTP/1. h=0 bb=0 body=""`,
			`OPTIONS  HTTP/1.1 h=0 bb=0 body=""`,
			`PUT / HTTP/1.1 h=0 bb=0 body=""`,
			`GET /a b HTTP/1.1 h=0 bb=0 body=""`,
			`GET / HTTP/1.1 h=0 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 1 || st.ResyncSkippedBytes != uint64(len("OPTIONS\r\n\r\nGET/ HTTP/1.1\r\n\r\n")) {
				t.Errorf("stats %+v: want one resync over both bad lines", st)
			}
		},
	},
	{
		name: "CONNECT then tunnel bytes stops quietly", request: true, alive: false,
		input: "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n\x16\x03\x01\x02\x00\x01\x00\x01\xfcGET / HTTP/1.1\r\n\r\n",
		want:  []string{`CONNECT api.example.com:443 HTTP/1.1 h=1 bb=0 body=""`},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 0 || st.Upgrades != 1 || st.IgnoredBytes != 27 {
				t.Errorf("stats %+v: want no parse error, 1 upgrade, 27 ignored bytes", st)
			}
		},
	},
	{
		name: "CONNECT refused then another request", request: true, alive: true,
		input: "CONNECT a:443 HTTP/1.1\r\n\r\nCONNECT a:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n",
		want: []string{
			`CONNECT a:443 HTTP/1.1 h=0 bb=0 body=""`,
			`CONNECT a:443 HTTP/1.1 h=1 bb=0 body=""`,
		},
	},
	{
		name: "h2c upgrade request then preface", request: true, alive: false,
		input: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		want:  []string{`GET / HTTP/1.1 h=4 bb=0 body=""`},
	},
	{
		name: "Transfer-Encoding identity is ignored", alive: true,
		input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n",
		want: []string{
			`HTTP/1.1 200 OK h=2 bb=2 body="ok"`,
			`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
		},
	},
	{
		name: "bare LF line endings", request: true, alive: true,
		input: "POST /x HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\nGET /y HTTP/1.1\nHost: a\n\n",
		want: []string{
			`POST /x HTTP/1.1 h=2 bb=3 body="abc"`,
			`GET /y HTTP/1.1 h=1 bb=0 body=""`,
		},
	},
	{
		name: "headers as sent with obs-fold", request: true, alive: true,
		input: "GET / HTTP/1.1\r\nhost: a\r\nX-CUSTOM:  v1 \r\nX-Folded: first\r\n  second\r\n\tthird\r\nbroken line\r\nEmpty:\r\n\r\n",
		want:  []string{`GET / HTTP/1.1 h=4 bb=0 body=""`},
		check: func(t *testing.T, ms []*Message, st Stats) {
			want := []Header{{"host", "a"}, {"X-CUSTOM", "v1"}, {"X-Folded", "first second third"}, {"Empty", ""}}
			if !reflect.DeepEqual(ms[0].Headers, want) {
				t.Errorf("headers = %q, want %q", ms[0].Headers, want)
			}
			if st.BadHeaderLines != 1 {
				t.Errorf("BadHeaderLines = %d, want 1", st.BadHeaderLines)
			}
		},
	},
	{
		name: "leading and stray blank lines", request: true, alive: true,
		input: "\r\n\r\nPOST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\nGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=1 bb=1 body="x"`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 0 {
				t.Errorf("ParseErrors = %d", st.ParseErrors)
			}
		},
	},
	{
		// Same shape as zeek_261-te_cl_desync.pcap: the smuggled GET
		// inside the Content-Length body is a request of its own.
		name: "TE chunked and Content-Length: chunked wins", request: true, alive: true,
		input: "POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n",
		want: []string{
			`POST /search HTTP/1.1 h=3 bb=0 body="" [badframing]`,
			`GET /admin HTTP/1.1 h=1 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.BadFraming != 1 {
				t.Errorf("BadFraming = %d", st.BadFraming)
			}
		},
	},
	{
		name: "garbage before a request", request: true, alive: true,
		input: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbageGET /ok HTTP/1.1\r\nHost: x\r\n\r\n",
		want:  []string{`GET /ok HTTP/1.1 h=1 bb=0 body=""`},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 1 || st.ResyncSkippedBytes != 18 || st.Resyncs != 1 {
				t.Errorf("stats = %+v, want 1 parse error, 18 skipped, 1 resync", st)
			}
		},
	},
	{
		name: "bad chunk size resyncs", request: true, alive: true,
		input: "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nsome junk\r\nGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=1 bb=3 body="abc" [badframing|incomplete]`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 1 || st.ResyncSkippedBytes != uint64(len("zz\r\nsome junk\r\n")) {
				t.Errorf("stats = %+v", st)
			}
		},
	},
	{
		name: "chunk data not followed by CRLF", request: true, alive: true,
		input: "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=1 bb=3 body="abc" [badframing|incomplete]`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
	},
	{
		name: "head over MaxHeaderBytes", request: true, alive: true, opts: Options{MaxHeaderBytes: 64},
		input: "GET /big HTTP/1.1\r\nX-A: " + strings.Repeat("a", 100) + "\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n",
		want: []string{
			`GET /big HTTP/1.1 h=0 bb=0 body="" [badframing|incomplete]`,
			`GET /small HTTP/1.1 h=1 bb=0 body=""`,
		},
	},
	{
		name: "invalid Content-Length", request: true, alive: true,
		input: "POST /a HTTP/1.1\r\nContent-Length: 12abc\r\n\r\nbodybytesGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=1 bb=0 body="" [badframing]`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
	},
	{
		name: "conflicting Content-Lengths", request: true, alive: true,
		input: "POST /a HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcdGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=2 bb=0 body="" [badframing]`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
	},
	{
		name: "request Transfer-Encoding not chunked", request: true, alive: true,
		input: "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxxxxGET /b HTTP/1.1\r\n\r\n",
		want: []string{
			`POST /a HTTP/1.1 h=1 bb=0 body="" [badframing]`,
			`GET /b HTTP/1.1 h=0 bb=0 body=""`,
		},
	},
	{
		name: "request body glued to garbage then request", request: true, alive: true,
		input: "garbage line\r\nmore}GET /x?q=1 HTTP/1.1\r\n\r\n",
		want:  []string{`GET /x?q=1 HTTP/1.1 h=0 bb=0 body=""`},
	},
	{
		name: "incomplete request at close", request: true, close: true,
		input: "POST /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
		want:  []string{`POST /a HTTP/1.1 h=1 bb=3 body="abc" [incomplete]`},
	},
	{
		name: "partial head at close", request: true, close: true,
		input: "GET /a HTTP/1.1\r\nHost: x\r\nAcc",
		want:  []string{`GET /a HTTP/1.1 h=1 bb=0 body="" [incomplete]`},
	},

	// Responses.
	{
		name: "200 with Content-Length and pipelined 404", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(jsonBody)) + "\r\n\r\n" + jsonBody +
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		want: []string{
			fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(jsonBody), jsonBody),
			`HTTP/1.1 404 Not Found h=1 bb=0 body=""`,
		},
	},
	{
		name: "chunked JSON", alive: true,
		input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(jsonBody, 17),
		want:  []string{fmt.Sprintf(`HTTP/1.1 200 OK h=1 bb=%d body=%q`, len(jsonBody), jsonBody)},
	},
	{
		name: "close-delimited body completed by Close", close: true,
		input: "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall the rest\r\nHTTP/1.1 is text here",
		want:  []string{`HTTP/1.0 200 OK h=1 bb=35 body="all the rest\r\nHTTP/1.1 is text here"`},
	},
	{
		name: "HEAD response has no body", alive: true, methods: []string{"HEAD", "GET"},
		input: "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		want: []string{
			`HTTP/1.1 200 OK h=1 bb=0 body=""`,
			`HTTP/1.1 200 OK h=1 bb=2 body="ok"`,
		},
	},
	{
		name: "204 and 304 have no body", alive: true,
		input: "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\nHTTP/1.1 200\r\nContent-Length: 1\r\n\r\nz",
		want: []string{
			`HTTP/1.1 204 No Content h=1 bb=0 body=""`,
			`HTTP/1.1 304 Not Modified h=1 bb=0 body=""`,
			`HTTP/1.1 200  h=1 bb=1 body="z"`,
		},
	},
	{
		name: "100-continue then final response", alive: true, methods: []string{"POST"},
		input: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
		want: []string{
			`HTTP/1.1 100 Continue h=0 bb=0 body=""`,
			`HTTP/1.1 201 Created h=1 bb=2 body="{}"`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.Messages != 2 {
				t.Errorf("Messages = %d", st.Messages)
			}
		},
	},
	{
		name: "101 Switching Protocols stops the parser", alive: false,
		input: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello\x81\x05HTTP/1.1 200 OK\r\n\r\n",
		want:  []string{`HTTP/1.1 101 Switching Protocols h=2 bb=0 body="" upgrade`},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.Upgrades != 1 || st.IgnoredBytes == 0 {
				t.Errorf("stats = %+v", st)
			}
		},
	},
	{
		name: "2xx to CONNECT stops the parser", alive: false, methods: []string{"CONNECT"},
		input: "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x10",
		want:  []string{`HTTP/1.1 200 Connection established h=0 bb=0 body="" upgrade`},
	},
	{
		name: "407 to CONNECT keeps parsing", alive: false, methods: []string{"CONNECT", "CONNECT"},
		input: "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 3\r\n\r\nno!HTTP/1.1 200 OK\r\n\r\n",
		want: []string{
			`HTTP/1.1 407 Proxy Authentication Required h=1 bb=3 body="no!"`,
			`HTTP/1.1 200 OK h=0 bb=0 body="" upgrade`,
		},
	},
	{
		name: "gzip JSON", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + fmt.Sprint(len(gzipped(jsonBody))) + "\r\n\r\n" + gzipped(jsonBody),
		want:  []string{fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(gzipped(jsonBody)), jsonBody)},
	},
	{
		name: "x-gzip chunked", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(gzipped(jsonBody), 10),
		want:  []string{fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(gzipped(jsonBody)), jsonBody)},
	},
	{
		name: "deflate zlib and raw", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: " + fmt.Sprint(len(zlibbed(jsonBody))) + "\r\n\r\n" + zlibbed(jsonBody) +
			"HTTP/1.1 200 OK\r\nContent-Encoding: Deflate\r\nContent-Length: " + fmt.Sprint(len(rawDeflated(jsonBody))) + "\r\n\r\n" + rawDeflated(jsonBody),
		want: []string{
			fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(zlibbed(jsonBody)), jsonBody),
			fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(rawDeflated(jsonBody)), jsonBody),
		},
	},
	{
		name: "br chunked", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(brotlied(jsonBody), 7),
		want:  []string{fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q`, len(brotlied(jsonBody)), jsonBody)},
	},
	{
		name: "stacked gzip, br", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Encoding: identity, br\r\nContent-Length: " +
			fmt.Sprint(len(brotlied(gzipped(jsonBody)))) + "\r\n\r\n" + brotlied(gzipped(jsonBody)),
		want: []string{fmt.Sprintf(`HTTP/1.1 200 OK h=3 bb=%d body=%q`, len(brotlied(gzipped(jsonBody))), jsonBody)},
	},
	{
		name: "sample capped at MaxBody", alive: true, opts: Options{MaxBody: 10},
		input: "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(jsonBody)) + "\r\n\r\n" + jsonBody +
			"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + fmt.Sprint(len(gzipped(jsonBody))) + "\r\n\r\n" + gzipped(jsonBody),
		want: []string{
			fmt.Sprintf(`HTTP/1.1 200 OK h=1 bb=%d body=%q [trunc]`, len(jsonBody), jsonBody[:10]),
			fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q [trunc]`, len(gzipped(jsonBody)), jsonBody[:10]),
		},
	},
	{
		name: "decompression limit", alive: true, opts: Options{MaxBody: 1000, MaxDecompress: 50},
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + fmt.Sprint(len(gzipped(jsonBody))) + "\r\n\r\n" + gzipped(jsonBody),
		want:  []string{fmt.Sprintf(`HTTP/1.1 200 OK h=2 bb=%d body=%q [decerr]`, len(gzipped(jsonBody)), jsonBody[:50])},
	},
	{
		name: "negative MaxBody keeps no body", alive: true, opts: Options{MaxBody: -1},
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnotgz",
		want:  []string{`HTTP/1.1 200 OK h=2 bb=5 body=""`},
	},
	{
		name: "unsupported and corrupt encodings", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: 5\r\n\r\nzzzzz" +
			"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nnotgz",
		want: []string{
			`HTTP/1.1 200 OK h=2 bb=5 body="" [decerr]`,
			`HTTP/1.1 200 OK h=2 bb=5 body="" [decerr]`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.DecodeErrors != 2 {
				t.Errorf("DecodeErrors = %d", st.DecodeErrors)
			}
		},
	},
	{
		name: "last chunk without blank line before next response", alive: true,
		input: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nHTTP/1.1 204 No Content\r\n\r\n",
		want: []string{
			`HTTP/1.1 200 OK h=1 bb=2 body="ab" [badframing]`,
			`HTTP/1.1 204 No Content h=0 bb=0 body=""`,
		},
	},
	{
		name: "garbage between responses", alive: true,
		input: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA BYTES\r\n\r\nHTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
		want: []string{
			`HTTP/1.1 200 OK h=1 bb=2 body="ok"`,
			`HTTP/1.1 500 Oops h=1 bb=0 body=""`,
		},
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ParseErrors != 1 || st.ResyncSkippedBytes != uint64(len("EXTRA BYTES\r\n\r\n")) {
				t.Errorf("stats = %+v", st)
			}
		},
	},
	{
		name: "not a response at all", close: true,
		input: "SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x01\x0c\x0a\x14HTTP/1.",
		want:  nil,
		check: func(t *testing.T, ms []*Message, st Stats) {
			if st.ResyncSkippedBytes != 34 {
				t.Errorf("skipped = %d, want 34", st.ResyncSkippedBytes)
			}
		},
	},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			ms, st, alive := run(tc.request, tc.opts, tc.methods, [][]byte{[]byte(tc.input)}, tc.close)
			if got := summaries(ms); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Fatalf("messages:\n got %q\nwant %q", got, tc.want)
			}
			if alive != tc.alive && !tc.close {
				t.Errorf("Feed returned %v, want %v", alive, tc.alive)
			}
			if st.Messages != uint64(len(tc.want)) {
				t.Errorf("Stats.Messages = %d, want %d", st.Messages, len(tc.want))
			}
			if tc.check != nil {
				tc.check(t, ms, st)
			}
		})
	}
}

// TestParseEverySplit feeds each case split in two at every byte, and one
// byte at a time: the messages and counters must not depend on how the
// stream was cut.
func TestParseEverySplit(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.input)
			ref, refSt, _ := run(tc.request, tc.opts, tc.methods, [][]byte{in}, tc.close)
			want := summaries(ref)
			for i := 0; i <= len(in); i++ {
				ms, st, _ := run(tc.request, tc.opts, tc.methods, [][]byte{in[:i], in[i:]}, tc.close)
				if got := summaries(ms); !reflect.DeepEqual(got, want) {
					t.Fatalf("split at %d:\n got %q\nwant %q", i, got, want)
				}
				if st != refSt {
					t.Fatalf("split at %d: stats\n got %+v\nwant %+v", i, st, refSt)
				}
			}
			pieces := make([][]byte, len(in))
			for i := range in {
				pieces[i] = in[i : i+1]
			}
			ms, st, _ := run(tc.request, tc.opts, tc.methods, pieces, tc.close)
			if got := summaries(ms); !reflect.DeepEqual(got, want) {
				t.Fatalf("byte at a time:\n got %q\nwant %q", got, want)
			}
			if st != refSt {
				t.Fatalf("byte at a time: stats\n got %+v\nwant %+v", st, refSt)
			}
		})
	}
}

func TestTimes(t *testing.T) {
	var ms []*Message
	p := NewResponseParser(Options{OnMessage: func(m *Message) { mm := *m; ms = append(ms, &mm) }})
	t1, t2, t3 := t0.Add(1), t0.Add(2), t0.Add(3)
	p.Feed([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"), t1)
	p.Feed([]byte("cdHTTP/1.1 204 No Content\r"), t2)
	p.Feed([]byte("\n\r\n"), t3)
	if len(ms) != 2 {
		t.Fatalf("%d messages", len(ms))
	}
	if !ms[0].Start.Equal(t1) || !ms[0].End.Equal(t2) || !ms[1].Start.Equal(t2) || !ms[1].End.Equal(t3) {
		t.Errorf("times: first %v..%v, second %v..%v", ms[0].Start, ms[0].End, ms[1].Start, ms[1].End)
	}
}
