package reassembly

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/http1"
)

var (
	cli = netip.MustParseAddrPort("10.0.0.5:51234")
	srv = netip.MustParseAddrPort("10.0.0.1:80")
	t0  = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
)

func TestStreamConn(t *testing.T) {
	tests := []struct {
		name  string
		steps func(s *StreamConn)
		want  []string // "METHOD target status flags"
	}{
		{"keep-alive pair", func(s *StreamConn) {
			s.Client([]byte("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"), t0)
			s.Server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), t0.Add(time.Millisecond))
		}, []string{"GET /a 200", "GET /b 404"}},
		{"response before any request", func(s *StreamConn) {
			s.Server([]byte("HTTP/1.1 204 No Content\r\n\r\n"), t0)
		}, []string{" 204 norequest"}},
		{"request without response", func(s *StreamConn) {
			s.Client([]byte("POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), t0)
		}, []string{"POST /x 0 noresponse"}},
		{"gap in a body of known length", func(s *StreamConn) {
			s.Client([]byte("GET /a HTTP/1.1\r\n\r\n"), t0)
			s.Server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"), t0)
			s.Gap(false, 5, t0)
			s.Server([]byte("cde"), t0)
		}, []string{"GET /a 200 respgap"}},
		{"a lost response does not shift the pairs (HEAD framing kept)", func(s *StreamConn) {
			s.Client([]byte("GET /a HTTP/1.1\r\n\r\n"), t0)
			s.Gap(false, 60, t0.Add(1*time.Millisecond)) // the whole answer to /a
			s.Client([]byte("HEAD /b HTTP/1.1\r\n\r\n"), t0.Add(2*time.Millisecond))
			s.Server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"), t0.Add(3*time.Millisecond))
			s.Client([]byte("GET /c HTTP/1.1\r\n\r\n"), t0.Add(4*time.Millisecond))
			s.Server([]byte("HTTP/1.1 204 No Content\r\n\r\n"), t0.Add(5*time.Millisecond))
		}, []string{"GET /a 0 noresponse respgap", "HEAD /b 200", "GET /c 204"}},
		{"a lost response seen only after the next request", func(s *StreamConn) {
			ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
			s.Client([]byte("GET /0 HTTP/1.1\r\n\r\n"), ms(0))
			s.Server([]byte("HTTP/1.1 204 No Content\r\n\r\n"), ms(1))
			s.Client([]byte("GET /a HTTP/1.1\r\n\r\n"), ms(1000))
			// The answer to /a (at 1001 ms) never reaches the capture;
			// the client asks /b at 7000 ms; the hole shows when the
			// answer to /b comes.
			s.Client([]byte("GET /b HTTP/1.1\r\n\r\n"), ms(7000))
			s.Gap(false, 45, ms(7020))
			s.Server([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"), ms(7020))
		}, []string{"GET /0 204", "GET /a 0 noresponse respgap", "GET /b 404"}},
		{"pipelined before a hole: plain order", func(s *StreamConn) {
			s.Client([]byte("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"), t0)
			s.Server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"), t0.Add(time.Millisecond))
			s.Gap(false, 2, t0.Add(2*time.Millisecond))
			s.Server([]byte("HTTP/1.1 201 Created\r\n\r\n"), t0.Add(3*time.Millisecond))
		}, []string{"GET /a 200 respgap", "GET /b 201"}},
		{"not http", func(s *StreamConn) {
			s.Client([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), t0)
			s.Server([]byte("\x16\x03\x03\x00\x5d\x02\x00\x00"), t0)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			s := NewStreamConn(cli, srv, Options{}, func(tx *Transaction) {
				r := tx.Method + " " + tx.Target + " " + strconv.Itoa(tx.Status)
				if tx.Method == "" {
					r = " " + strconv.Itoa(tx.Status)
				}
				for _, f := range []struct {
					f    Flags
					name string
				}{{FlagNoRequest, "norequest"}, {FlagNoResponse, "noresponse"}, {FlagRespGap, "respgap"}} {
					if tx.Flags&f.f != 0 {
						r += " " + f.name
					}
				}
				if tx.Client != cli || tx.Server != srv {
					t.Errorf("endpoints %v→%v", tx.Client, tx.Server)
				}
				got = append(got, r)
			})
			tt.steps(s)
			s.Close(t0.Add(time.Second))
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzStreamConn feeds random bytes split at random points with random gaps:
// no panic, and every transaction is well formed.
func FuzzStreamConn(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), uint16(7), uint16(0))
	f.Add([]byte("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\n"), uint16(13), uint16(5))
	f.Add([]byte("\x16\x03\x01garbage\nGET / HTTP/1.0\r\n\r\n"), []byte("HTTP/1.0 200 OK\r\n\r\nbody until close"), uint16(3), uint16(2))
	f.Fuzz(func(t *testing.T, req, resp []byte, split, gap uint16) {
		const maxBody = 1024
		n := 0
		s := NewStreamConn(cli, srv, Options{HTTP: http1.Options{MaxBody: maxBody}}, func(tx *Transaction) {
			n++
			tx.DecodeBodies()
			if tx.ReqBodyBytes < 0 || tx.RespBodyBytes < 0 || len(tx.RespBody) > maxBody || len(tx.ReqBody) > maxBody {
				t.Fatalf("bad transaction %+v", tx)
			}
			if tx.Method == "" && tx.Status == 0 {
				t.Fatalf("transaction with neither request nor response: %+v", tx)
			}
		})
		// Interleave the two streams in chunks of 1..split%97+1 bytes;
		// the gap (when any) goes in after the first chunk of its side.
		chunk := int(split)%97 + 1
		gapDone := gap == 0
		for k := 0; len(req) > 0 || len(resp) > 0; k++ {
			a, b := min(chunk+k%3, len(req)), min(chunk+k%5, len(resp))
			s.Client(req[:a], t0)
			s.Server(resp[:b], t0.Add(time.Millisecond))
			req, resp = req[a:], resp[b:]
			if !gapDone {
				s.Gap(gap%2 == 0, int(gap), t0)
				gapDone = true
			}
		}
		s.Close(t0.Add(time.Second))
		st := s.Stats()
		if int(st.Transactions) != n {
			t.Fatalf("stats count %d transactions, sink saw %d", st.Transactions, n)
		}
	})
}
