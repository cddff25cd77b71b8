package reassembly

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"
)

// loCapture records the frames crossing the loopback interface through an
// AF_PACKET socket (each packet once: outgoing copies are skipped) into a
// pcap file.
type loCapture struct {
	fd   int
	w    *synth.Writer
	f    *os.File
	done chan struct{}
	stop chan struct{}
	n    int
	err  error
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startLoCapture(t *testing.T, path string) *loCapture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the live HTTP/2 test captures loopback through AF_PACKET, which needs root")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface named lo: %v", err)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		t.Skipf("AF_PACKET socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
		syscall.Close(fd)
		t.Fatalf("binding to lo: %v", err)
	}
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	tv := syscall.NsecToTimeval(int64(50 * time.Millisecond))
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWriter(f, synth.WriterOptions{SnapLen: 1 << 18, Nanosecond: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &loCapture{fd: fd, w: w, f: f, done: make(chan struct{}), stop: make(chan struct{})}
	go c.run()
	return c
}

func (c *loCapture) run() {
	defer close(c.done)
	buf := make([]byte, 1<<18)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := syscall.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if err == syscall.EAGAIN || err == syscall.EINTR {
				continue
			}
			c.err = err
			return
		}
		if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == 4 { // PACKET_OUTGOING
			continue
		}
		if err := c.w.WritePacket(time.Now(), buf[:n]); err != nil {
			c.err = err
			return
		}
		c.n++
	}
}

// finish lets the last packets arrive, stops and closes the capture.
func (c *loCapture) finish(t *testing.T) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	close(c.stop)
	<-c.done
	syscall.Close(c.fd)
	if c.err != nil {
		t.Fatalf("capturing: %v", c.err)
	}
	if err := c.w.Flush(); err != nil {
		t.Fatal(err)
	}
	c.f.Close()
}

// grpcFrame frames one gRPC message.
func grpcFrame(p []byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(p)))
	return append(b, p...)
}

// liveServer answers plain REST calls and gRPC-style calls over h2c (prior
// knowledge and Upgrade), and HTTP/1.1.
func liveServer() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":%q,"name":"widget"}`, r.PathValue("id"))
	})
	mux.HandleFunc("POST /v1/items", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", "/v1/items/77")
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("POST /pkg.Chat/Talk", func(w http.ResponseWriter, r *http.Request) {
		// Bidirectional streaming: one reply per request message, then
		// trailers.
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		var hdr [5]byte
		for {
			if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
				break
			}
			msg := make([]byte, binary.BigEndian.Uint32(hdr[1:]))
			if _, err := io.ReadFull(r.Body, msg); err != nil {
				break
			}
			w.Write(grpcFrame(append([]byte("re:"), msg...)))
			w.(http.Flusher).Flush()
		}
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	})
	mux.HandleFunc("POST /pkg.Chat/Fail", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
		w.Header().Set("Grpc-Status", "5")
		w.Header().Set("Grpc-Message", "item not found")
	})
	return h2c.NewHandler(mux, &http2.Server{})
}

// TestLiveH2C runs an h2c server and clients on loopback, captures the
// traffic through AF_PACKET and checks that every stream is found with its
// method, path, status and gRPC status.
func TestLiveH2C(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live-h2c.pcap")
	capt := startLoCapture(t, path)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: liveServer()}
	go srv.Serve(ln)
	addr := ln.Addr().String()
	base := "http://" + addr

	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, a string, _ *tls.Config) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, a)
	}}
	client := &http.Client{Transport: tr}
	do := func(req *http.Request) *http.Response {
		t.Helper()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var want []string
	// Plain requests, prior knowledge, on one connection.
	for _, id := range []string{"1", "2", "3"} {
		req, _ := http.NewRequest("GET", base+"/v1/items/"+id, nil)
		resp := do(req)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		want = append(want, "h2 GET /v1/items/"+id+" 200 -")
	}
	req, _ := http.NewRequest("POST", base+"/v1/items", strings.NewReader(`{"name":"widget"}`))
	req.Header.Set("Content-Type", "application/json")
	// Bodies are read to their end: a client closing a body early resets
	// the stream (RST_STREAM CANCEL), which the capture would show.
	resp := do(req)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want = append(want, "h2 POST /v1/items 201 -")
	req, _ = http.NewRequest("GET", base+"/nowhere", nil)
	resp = do(req)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want = append(want, "h2 GET /nowhere 404 -")

	// gRPC-style bidirectional streaming: each message answered before the
	// next is sent.
	pr, pw := io.Pipe()
	req, _ = http.NewRequest("POST", base+"/pkg.Chat/Talk", pr)
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	respc := make(chan *http.Response, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			pr.Close()
			close(respc)
			return
		}
		respc <- resp
	}()
	pw.Write(grpcFrame([]byte("hello")))
	resp = <-respc
	if resp == nil {
		t.FailNow()
	}
	br := bufio.NewReader(resp.Body)
	readMsg := func() []byte {
		var h [5]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("reading a reply: %v", err)
		}
		m := make([]byte, binary.BigEndian.Uint32(h[1:]))
		io.ReadFull(br, m)
		return m
	}
	for _, m := range []string{"second", "third"} {
		readMsg()
		pw.Write(grpcFrame([]byte(m)))
	}
	readMsg()
	pw.Close()
	io.Copy(io.Discard, br)
	resp.Body.Close()
	if resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("client saw trailers %v", resp.Trailer)
	}
	want = append(want, "grpc POST /pkg.Chat/Talk 200 0 3/3")
	req, _ = http.NewRequest("POST", base+"/pkg.Chat/Fail", bytes.NewReader(grpcFrame([]byte("id=9"))))
	req.Header.Set("Content-Type", "application/grpc")
	resp = do(req)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want = append(want, "grpc POST /pkg.Chat/Fail 200 5 1/0")
	tr.CloseIdleConnections()

	// HTTP/1.1 Upgrade: h2c; the upgraded request is stream 1.
	upgradeH2C(t, addr)
	want = append(want, "h2 GET /v1/items/upgraded 200 -")
	// And plain HTTP/1.1 on the same server.
	h1 := &http.Client{Transport: &http.Transport{}}
	resp, err = h1.Get(base + "/v1/items/h1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h1.CloseIdleConnections()
	want = append(want, " GET /v1/items/h1 200 -")

	srv.Close()
	capt.finish(t)
	t.Logf("captured %d packets", capt.n)

	port := ln.Addr().(*net.TCPAddr).Port
	filter, err := capture.ParseFilter("tcp port " + strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	txs, st := analyse(t, path, Options{Filter: filter})
	var got []string
	for _, tx := range txs {
		g := "-"
		if tx.GRPC != nil {
			g = fmt.Sprintf("%d %d/%d", tx.GRPC.Status, tx.GRPC.ReqMessages, tx.GRPC.RespMessages)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d %s", tx.Protocol, tx.Method, tx.Target, tx.Status, g))
		if tx.Flags != 0 {
			t.Errorf("%s %s: flags %b", tx.Method, tx.Target, tx.Flags)
		}
		if tx.Protocol != "" && tx.Host != addr {
			t.Errorf("%s %s: host %q, want %q", tx.Method, tx.Target, tx.Host, addr)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("transactions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st.HTTP2Flows < 2 || st.Gaps != 0 || st.HTTP2.TableLosses != 0 {
		t.Errorf("HTTP/2 flows %d, gaps %d, HTTP/2 stats %+v", st.HTTP2Flows, st.Gaps, st.HTTP2)
	}
}

// upgradeH2C makes one request over HTTP/1.1 with Upgrade: h2c and reads
// the answer on stream 1 after the 101, as a client following RFC 7540 §3.2.
func upgradeH2C(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /v1/items/upgraded HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, br)
	fr.WriteSettings()
	var mu sync.Mutex
	status := ""
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		mu.Lock()
		if f.Name == ":status" {
			status = f.Value
		}
		mu.Unlock()
	})
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames after the upgrade: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			dec.Write(f.HeaderBlockFragment())
		case *http2.DataFrame:
			if f.StreamEnded() {
				if status != "200" {
					t.Fatalf("upgraded request: status %q", status)
				}
				fr.WriteGoAway(0, http2.ErrCodeNo, nil)
				return
			}
		}
	}
}
