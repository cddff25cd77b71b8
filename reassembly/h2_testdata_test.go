package reassembly

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var updateH2 = flag.Bool("update-h2", false, "rewrite the HTTP/2 captures in testdata/h2")

// h2w writes HTTP/2 frames for both sides of a synth connection.
type h2w struct {
	t    *testing.T
	c    *synth.Conn
	buf  [2]bytes.Buffer
	fr   [2]*http2.Framer
	hb   [2]bytes.Buffer
	enc  [2]*hpack.Encoder
	pad  uint8
	cont int // split header blocks into CONTINUATION frames of this size
}

func newH2W(t *testing.T, c *synth.Conn) *h2w {
	w := &h2w{t: t, c: c}
	for d := range w.fr {
		w.fr[d] = http2.NewFramer(&w.buf[d], nil)
		w.enc[d] = hpack.NewEncoder(&w.hb[d])
	}
	return w
}

// send writes what side d framed as one write, after dt.
func (w *h2w) send(d int, dt time.Duration) {
	w.c.Advance(dt)
	if err := w.c.Send(synth.Dir(d), w.buf[d].Bytes()); err != nil {
		w.t.Fatal(err)
	}
	w.buf[d].Reset()
}

func (w *h2w) preface() {
	w.buf[0].WriteString(http2.ClientPreface)
	w.fr[0].WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	w.send(0, 0)
	w.settings(1)
}

func (w *h2w) settings(server int) {
	w.fr[server].WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	w.fr[server].WriteSettingsAck()
	w.send(server, time.Millisecond)
	w.fr[1-server].WriteSettingsAck()
	w.send(1-server, time.Millisecond)
}

func (w *h2w) headers(d int, id uint32, end bool, kv ...string) {
	w.hb[d].Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		w.enc[d].WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	b := w.hb[d].Bytes()
	first := b
	if w.cont > 0 && len(b) > w.cont {
		first = b[:w.cont]
	}
	b = b[len(first):]
	w.fr[d].WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: end, EndHeaders: len(b) == 0, PadLength: w.pad})
	for len(b) > 0 {
		n := min(w.cont, len(b))
		w.fr[d].WriteContinuation(id, n == len(b), b[:n])
		b = b[n:]
	}
}

func (w *h2w) data(d int, id uint32, end bool, body []byte) {
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), 16000)
		if w.pad > 0 {
			w.fr[d].WriteDataPadded(id, end && n == len(body), body[:n], make([]byte, w.pad))
		} else {
			w.fr[d].WriteData(id, end && n == len(body), body[:n])
		}
		body = body[n:]
	}
}

// rest writes a REST exchange on stream id.
func (w *h2w) rest(id uint32, method, path string, reqBody []byte, status int, respBody []byte, extra ...string) {
	req := append([]string{":method", method, ":scheme", "http", ":authority", "api.example.com", ":path", path,
		"user-agent", "shadowtap-synth/1", "x-request-id", fmt.Sprintf("r-%d", id)}, extra...)
	if len(reqBody) > 0 {
		req = append(req, "content-type", "application/json")
	}
	w.headers(0, id, len(reqBody) == 0, req...)
	if len(reqBody) > 0 {
		w.data(0, id, true, reqBody)
	}
	w.send(0, time.Millisecond)
	w.headers(1, id, len(respBody) == 0, ":status", strconv.Itoa(status), "content-type", "application/json", "x-trace", fmt.Sprintf("t-%d", id))
	if len(respBody) > 0 {
		w.data(1, id, true, respBody)
	}
	w.send(1, 2*time.Millisecond)
}

func jsonBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"items":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%d,"name":"item %d","email":"user%d@example.com"}`, i, i, i)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	z, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	z.Write(b)
	z.Close()
	return out.Bytes()
}

// h2Capture is one of the repo's own HTTP/2 captures: how it is made, what
// it exercises, and the transactions a correct observer reports, sorted,
// as "protocol METHOD target status flags" (see h2Own).
type h2Capture struct {
	file, what string
	make       func(t *testing.T, c *synth.Conn)
	opts       synth.ConnOptions
	want       []string
}

var (
	h2Client = netip.MustParseAddrPort("192.0.2.10:50200")
	h2Server = netip.MustParseAddrPort("198.51.100.20:8080")
)

func h2Captures() []h2Capture {
	return []h2Capture{
		{file: "prior-knowledge.pcap", what: "h2c with prior knowledge: preface, three exchanges (a gzip JSON list, a POST, a 404) with header blocks split into CONTINUATION frames and padded HEADERS and DATA",
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				w.preface()
				w.cont, w.pad = 16, 5
				w.headers(0, 1, true, ":method", "GET", ":scheme", "http", ":authority", "api.example.com", ":path", "/v1/customers", "accept-encoding", "gzip")
				w.send(0, time.Millisecond)
				w.headers(1, 1, false, ":status", "200", "content-type", "application/json", "content-encoding", "gzip")
				w.data(1, 1, true, gzipped(jsonBody(400)))
				w.send(1, 3*time.Millisecond)
				w.rest(3, "POST", "/v1/customers", []byte(`{"name":"Ada"}`), 201, nil)
				w.rest(5, "GET", "/v1/customers/99999", nil, 404, []byte(`{"error":"not found"}`))
			},
			want: []string{"h2 GET /v1/customers 200 -", "h2 GET /v1/customers/99999 404 -", "h2 POST /v1/customers 201 -"}},
		{file: "server-first.pcap", what: "h2c with prior knowledge where the server's SETTINGS reach the wire before the client's preface",
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				w.fr[1].WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
				w.send(1, 0)
				w.buf[0].WriteString(http2.ClientPreface)
				w.fr[0].WriteSettings()
				w.fr[0].WriteSettingsAck()
				w.send(0, time.Millisecond)
				w.fr[1].WriteSettingsAck()
				w.send(1, time.Millisecond)
				w.rest(1, "GET", "/v1/orders/17", nil, 200, []byte(`{"id":17}`))
			},
			want: []string{"h2 GET /v1/orders/17 200 -"}},
		{file: "upgrade.pcap", what: "HTTP/1.1 Upgrade: h2c answered by 101: the upgraded request is stream 1, answered in HTTP/2 in the same segment as the 101; then stream 3",
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				c.Send(synth.ClientToServer, []byte("GET /v1/products?page=2 HTTP/1.1\r\nHost: api.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"))
				c.Advance(time.Millisecond)
				w.buf[1].WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
				w.fr[1].WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
				w.headers(1, 1, false, ":status", "200", "content-type", "application/json")
				w.data(1, 1, true, []byte(`{"page":2,"items":[]}`))
				w.send(1, 0)
				w.buf[0].WriteString(http2.ClientPreface)
				w.fr[0].WriteSettings()
				w.fr[0].WriteSettingsAck()
				w.send(0, time.Millisecond)
				w.rest(3, "DELETE", "/v1/products/5", nil, 204, nil)
			},
			want: []string{"h2 DELETE /v1/products/5 204 -", "h2 GET /v1/products?page=2 200 -"}},
		{file: "grpc.pcap", what: "gRPC over h2c: a bidirectional stream (3 messages each way, grpc-status 0 in trailers), a unary call failing with trailers-only grpc-status 5",
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				w.preface()
				call := []string{":method", "POST", ":scheme", "http", ":authority", "chat.internal:50051", ":path", "/chat.v1.Chat/Talk", "content-type", "application/grpc", "te", "trailers"}
				w.headers(0, 1, false, call...)
				w.data(0, 1, false, grpcFrame([]byte("hello")))
				w.send(0, time.Millisecond)
				w.headers(1, 1, false, ":status", "200", "content-type", "application/grpc")
				w.data(1, 1, false, grpcFrame([]byte("re:hello")))
				w.send(1, time.Millisecond)
				for _, m := range []string{"second", "third"} {
					w.data(0, 1, m == "third", grpcFrame([]byte(m)))
					w.send(0, time.Millisecond)
					w.data(1, 1, false, grpcFrame([]byte("re:"+m)))
					w.send(1, time.Millisecond)
				}
				w.headers(1, 1, true, "grpc-status", "0", "grpc-message", "")
				w.send(1, time.Millisecond)
				call[7] = "/chat.v1.Chat/Get"
				w.headers(0, 3, false, call...)
				w.data(0, 3, true, grpcFrame([]byte{0x08, 0x09}))
				w.send(0, time.Millisecond)
				w.headers(1, 3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "5", "grpc-message", "room not found")
				w.send(1, time.Millisecond)
			},
			want: []string{"grpc POST /chat.v1.Chat/Get 200 - grpc=5/1/0", "grpc POST /chat.v1.Chat/Talk 200 - grpc=0/3/3"}},
		{file: "gap.pcap", what: "a 40 KB response loses a segment inside a DATA frame (framing kept, flagged); later the request of stream 7 is lost with the client's HPACK state: its response comes out alone, the next request without the fields the lost block put in the table",
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				w.preface()
				body := jsonBody(700)
				w.headers(0, 1, true, ":method", "GET", ":scheme", "http", ":authority", "api.example.com", ":path", "/v1/big")
				w.send(0, time.Millisecond)
				w.headers(1, 1, false, ":status", "200", "content-type", "application/json")
				w.data(1, 1, true, body[:40000])
				c.Advance(time.Millisecond)
				c.Send(synth.ServerToClient, w.buf[1].Bytes()[:5000])
				c.LoseNext(1)
				c.Send(synth.ServerToClient, w.buf[1].Bytes()[5000:])
				w.buf[1].Reset()
				w.rest(3, "GET", "/v1/small", nil, 200, []byte(`{"ok":true}`))
				w.rest(5, "GET", "/v1/lost", nil, 200, body[:3000])
				c.LoseNext(1)
				w.rest(7, "GET", "/v1/after", nil, 200, body[:3000])
				w.rest(9, "GET", "/v1/after2", nil, 200, []byte(`{}`))
			},
			want: []string{"h2   200 NoRequest", "h2 GET /v1/after2 200 HeadersMissing", "h2 GET /v1/big 200 RespGap", "h2 GET /v1/lost 200 -", "h2 GET /v1/small 200 -"}},
		{file: "midstream.pcap", what: "a connection picked up mid-stream (no handshake, no preface): paths the HPACK tables hold from before the pickup are left out, never guessed; after both encoders empty their tables (size update 0) streams come out whole",
			opts: synth.ConnOptions{Impair: synth.Impairments{MidStream: true, SkipBytes: 200}},
			make: func(t *testing.T, c *synth.Conn) {
				w := newH2W(t, c)
				w.preface()
				for i := uint32(0); i < 10; i++ {
					if i == 7 {
						w.enc[0].SetMaxDynamicTableSize(0)
						w.enc[0].SetMaxDynamicTableSize(4096)
						w.enc[1].SetMaxDynamicTableSize(0)
						w.enc[1].SetMaxDynamicTableSize(4096)
					}
					w.rest(2*i+1, "GET", "/v1/customers/"+strconv.Itoa(int(1000+i%3)), nil, 200, jsonBody(2), "cookie", "session=abc")
				}
			},
			want: []string{"h2   200 NoRequest,HeadersMissing", "h2 GET  200 HeadersMissing", "h2 GET  200 HeadersMissing",
				"h2 GET /v1/customers/1000 200 -", "h2 GET /v1/customers/1001 200 -", "h2 GET /v1/customers/1002 200 -"}},
	}
}

// h2Own renders a transaction as "protocol METHOD target status flags".
func h2Own(tx *Transaction) string {
	fl := []string{}
	for _, f := range []struct {
		f Flags
		n string
	}{{FlagNoRequest, "NoRequest"}, {FlagNoResponse, "NoResponse"}, {FlagReqGap, "ReqGap"}, {FlagRespGap, "RespGap"},
		{FlagHeadersMissing, "HeadersMissing"}, {FlagReset, "Reset"}, {FlagIncomplete, "Incomplete"}, {FlagDecodeError, "DecodeError"}} {
		if tx.Flags&f.f != 0 {
			fl = append(fl, f.n)
		}
	}
	flags := "-"
	if len(fl) > 0 {
		flags = strings.Join(fl, ",")
	}
	s := fmt.Sprintf("%s %s %s %d %s", tx.Protocol, tx.Method, tx.Target, tx.Status, flags)
	if tx.GRPC != nil {
		s += fmt.Sprintf(" grpc=%d/%d/%d", tx.GRPC.Status, tx.GRPC.ReqMessages, tx.GRPC.RespMessages)
	}
	return s
}

// makeH2Capture plays one capture into memory.
func makeH2Capture(t *testing.T, hc h2Capture) []byte {
	var buf bytes.Buffer
	pw, err := synth.NewWriter(&buf, synth.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := hc.opts
	o.Client, o.Server, o.Seed = h2Client, h2Server, 7
	c, err := synth.NewConn(pw, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), o)
	if err != nil {
		t.Fatal(err)
	}
	hc.make(t, c)
	if err := c.Close(synth.ClientToServer); err != nil {
		t.Fatal(err)
	}
	if err := pw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestOwnH2Captures checks the repo's own HTTP/2 captures (testdata/h2),
// which the generator must reproduce byte for byte (-update-h2 rewrites
// them and their README).
func TestOwnH2Captures(t *testing.T) {
	dir := filepath.Join("testdata", "h2")
	var readme strings.Builder
	readme.WriteString("# HTTP/2 captures made by reassembly's tests\n\nGenerated by `go test ./reassembly -run TestOwnH2Captures -update-h2` (capture/synth\nconnections, x/net's Framer and HPACK encoder); without `-update-h2` the test regenerates them in\nmemory and fails unless these files are byte-identical. Ethernet, IPv4 192.0.2.10:50200 →\n198.51.100.20:8080. Transactions as `protocol METHOD target status flags [grpc=status/req msgs/resp msgs]`.\n\n| file | what | transactions |\n|---|---|---|\n")
	for _, hc := range h2Captures() {
		t.Run(hc.file, func(t *testing.T) {
			b := makeH2Capture(t, hc)
			path := filepath.Join(dir, hc.file)
			if *updateH2 {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			old, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-h2 to write it)", err)
			}
			if !bytes.Equal(old, b) {
				t.Errorf("%s differs from what the generator makes now (run with -update-h2 if the change is intended)", path)
			}
			txs, st := analyse(t, path, Options{})
			var got []string
			for _, tx := range txs {
				got = append(got, h2Own(tx))
			}
			slices.Sort(got)
			if !slices.Equal(got, hc.want) {
				t.Errorf("transactions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(hc.want, "\n"))
			}
			t.Logf("%+v", st.HTTP2)
		})
		readme.WriteString(fmt.Sprintf("| %s | %s | %s |\n", hc.file, hc.what, strings.Join(hc.want, "; ")))
	}
	if *updateH2 {
		writeH2Seeds(t)
		if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(readme.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
