//go:build linux && amd64

package bpf

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The integration tests trace child processes (the sensor ignores its own):
// this test binary re-executed with SHADOWTAP_BPF_HELPER set plays an HTTP
// server, an HTTP client, a pipelining client or a flood sender.
func TestMain(m *testing.M) {
	if role := os.Getenv("SHADOWTAP_BPF_HELPER"); role != "" {
		if err := helper(role, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// bigBody is the 1 MiB response of /big: a counting pattern, so a
// misplaced byte is visible.
func bigBody() []byte {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func helper(role, arg string) error {
	switch role {
	case "server":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		big := bigBody()
		f, err := os.CreateTemp("", "shadowtap-bpf-file")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		f.Write(big[:200000])
		f.Close()
		mux := http.NewServeMux()
		mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, f.Name()) // body through sendfile(2)
		})
		mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(big)))
			w.Write(big)
		})
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/plain")
			if r.URL.Path == "/missing" {
				w.WriteHeader(404)
			}
			fmt.Fprintf(w, "%s %s %d\n", r.Method, r.URL.Path, n)
		})
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		go func() { io.Copy(io.Discard, os.Stdin); os.Remove(f.Name()); os.Exit(0) }()
		return http.Serve(ln, mux)
	case "client":
		// arg: base URL; one keep-alive connection, several requests.
		tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
		c := &http.Client{Transport: tr}
		for _, p := range []string{"/a", "/b?x=1", "/missing", "/big"} {
			resp, err := c.Get(arg + p)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		resp, err := c.Post(arg+"/upload", "application/octet-stream", strings.NewReader(strings.Repeat("z", 70000)))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		tr.CloseIdleConnections()
		return nil
	case "lateclient":
		// arg: base URL; one keep-alive connection: GET /warm, prints
		// "ready", waits for a line on stdin, then GET /a and /b?x=1 on
		// the same connection.
		tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
		c := &http.Client{Transport: tr}
		get := func(p string) error {
			resp, err := c.Get(arg + p)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		}
		if err := get("/warm"); err != nil {
			return err
		}
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
		for _, p := range []string{"/a", "/b?x=1"} {
			if err := get(p); err != nil {
				return err
			}
		}
		tr.CloseIdleConnections()
		return nil
	case "fileclient":
		tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
		c := &http.Client{Transport: tr}
		for _, p := range []string{"/file", "/a"} {
			resp, err := c.Get(arg + p)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		tr.CloseIdleConnections()
		return nil
	case "pipeline":
		// arg: host:port; three requests in one write, then the responses.
		conn, err := net.Dial("tcp", arg)
		if err != nil {
			return err
		}
		defer conn.Close()
		req := "GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, conn)
		return err
	case "sink":
		// A TCP server that reads everything, then acknowledges with one byte.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		n, _ := io.Copy(io.Discard, c)
		fmt.Println(n)
		c.Close()
		return nil
	case "flood":
		// arg: host:port,bytes[,first]; writes that many bytes in 64 KiB
		// writes, prints "sent", and closes when stdin closes. With first,
		// the first write is that many bytes, then a 200 ms pause (the sink
		// has read them before the rest comes).
		hp, ns, _ := strings.Cut(arg, ",")
		ns, fs, _ := strings.Cut(ns, ",")
		total, _ := strconv.Atoi(ns)
		conn, err := net.Dial("tcp", hp)
		if err != nil {
			return err
		}
		buf := make([]byte, 64<<10)
		for i := range buf {
			buf[i] = byte(i)
		}
		if first, _ := strconv.Atoi(fs); first > 0 && first <= min(total, len(buf)) {
			if _, err := conn.Write(buf[:first]); err != nil {
				return err
			}
			total -= first
			time.Sleep(200 * time.Millisecond)
		}
		for total > 0 {
			n := min(total, len(buf))
			if _, err := conn.Write(buf[:n]); err != nil {
				return err
			}
			total -= n
		}
		fmt.Println("sent")
		bufio.NewReader(os.Stdin).ReadString('\n')
		return conn.Close()
	}
	return fmt.Errorf("unknown role %q", role)
}
