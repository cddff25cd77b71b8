package synth

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/andybalholm/brotli"
)

// ErrEncoding is returned for a content coding synth cannot produce.
var ErrEncoding = errors.New("unsupported content encoding")

// Header is one header field, kept in order.
type Header struct {
	Name, Value string
}

// Request is an HTTP/1.1 request to encode. Content-Length (or
// Transfer-Encoding: chunked), Content-Encoding and Expect are added from
// the fields; Header holds the rest in order.
type Request struct {
	Method string // "" means GET
	Target string // request-target; "" means "/"
	Proto  string // "" means HTTP/1.1
	Host   string // Host header, first after the request line; "" omits it
	Header []Header
	Body   []byte
	// Chunked sends the body with chunked transfer coding in chunks of
	// ChunkSize bytes (0 means 4096).
	Chunked   bool
	ChunkSize int
	// ContentEncoding compresses Body ("gzip", "br") before framing.
	ContentEncoding string
	// ExpectContinue adds "Expect: 100-continue".
	ExpectContinue bool
}

// Response is an HTTP/1.1 response to encode; see Request for the framing
// fields.
type Response struct {
	Status          int    // 0 means 200
	Reason          string // "" means the standard text
	Proto           string // "" means HTTP/1.1
	Header          []Header
	Body            []byte
	Chunked         bool
	ChunkSize       int
	ContentEncoding string
	// NoBody omits Content-Length as well as the body (1xx, 204, 304, or a
	// response to HEAD where the caller adds Content-Length itself).
	NoBody bool
}

// Encode returns the request's head (through the blank line) and its framed
// body separately, as a client honouring Expect: 100-continue sends them.
func (r *Request) Encode() (head, body []byte, err error) {
	method, target, proto := r.Method, r.Target, r.Proto
	if method == "" {
		method = "GET"
	}
	if target == "" {
		target = "/"
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	head = append(head, method...)
	head = append(head, ' ')
	head = append(head, target...)
	head = append(head, ' ')
	head = append(head, proto...)
	head = append(head, "\r\n"...)
	if r.Host != "" {
		head = appendHeader(head, "Host", r.Host)
	}
	for _, h := range r.Header {
		head = appendHeader(head, h.Name, h.Value)
	}
	if r.ExpectContinue {
		head = appendHeader(head, "Expect", "100-continue")
	}
	hasBody := len(r.Body) > 0 || r.Chunked || method == "POST" || method == "PUT" || method == "PATCH"
	head, body, err = frameBody(head, r.Body, hasBody, r.Chunked, r.ChunkSize, r.ContentEncoding)
	return head, body, err
}

// Bytes returns the whole encoded request.
func (r *Request) Bytes() ([]byte, error) {
	h, b, err := r.Encode()
	return append(h, b...), err
}

// Encode returns the response's head and framed body.
func (r *Response) Encode() (head, body []byte, err error) {
	status, proto := r.Status, r.Proto
	if status == 0 {
		status = 200
	}
	if proto == "" {
		proto = "HTTP/1.1"
	}
	reason := r.Reason
	if reason == "" {
		reason = http.StatusText(status)
	}
	head = append(head, proto...)
	head = append(head, ' ')
	head = strconv.AppendInt(head, int64(status), 10)
	head = append(head, ' ')
	head = append(head, reason...)
	head = append(head, "\r\n"...)
	for _, h := range r.Header {
		head = appendHeader(head, h.Name, h.Value)
	}
	if r.NoBody {
		return append(head, "\r\n"...), nil, nil
	}
	return frameBody(head, r.Body, true, r.Chunked, r.ChunkSize, r.ContentEncoding)
}

// Bytes returns the whole encoded response.
func (r *Response) Bytes() ([]byte, error) {
	h, b, err := r.Encode()
	return append(h, b...), err
}

func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// frameBody adds the framing headers and the blank line to head and returns
// the framed body.
func frameBody(head, body []byte, hasBody, chunked bool, chunkSize int, enc string) ([]byte, []byte, error) {
	if enc != "" {
		z, err := Compress(enc, body)
		if err != nil {
			return nil, nil, err
		}
		body = z
		head = appendHeader(head, "Content-Encoding", enc)
	}
	if chunked {
		head = appendHeader(head, "Transfer-Encoding", "chunked")
		head = append(head, "\r\n"...)
		return head, Chunk(body, chunkSize), nil
	}
	if hasBody {
		head = append(head, "Content-Length: "...)
		head = strconv.AppendInt(head, int64(len(body)), 10)
		head = append(head, "\r\n"...)
	}
	head = append(head, "\r\n"...)
	return head, append([]byte(nil), body...), nil
}

// Chunk frames body with chunked transfer coding in chunks of size bytes
// (0 means 4096), ending with the zero chunk.
func Chunk(body []byte, size int) []byte {
	if size <= 0 {
		size = 4096
	}
	out := make([]byte, 0, len(body)+len(body)/size*8+16)
	for len(body) > 0 {
		n := min(size, len(body))
		out = strconv.AppendInt(out, int64(n), 16)
		out = append(out, "\r\n"...)
		out = append(out, body[:n]...)
		out = append(out, "\r\n"...)
		body = body[n:]
	}
	return append(out, "0\r\n\r\n"...)
}

// Compress encodes body with a content coding: "gzip" or "br". The output
// is deterministic (no timestamps).
func Compress(enc string, body []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch enc {
	case "gzip":
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case "br":
		bw := brotli.NewWriterLevel(&buf, 4)
		bw.Write(body)
		if err := bw.Close(); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
	default:
		return nil, fmt.Errorf("content encoding %q: %w", enc, ErrEncoding)
	}
	return buf.Bytes(), nil
}

// Exchange plays one request/response on the connection: the request from
// the client, serverTime of processing, then the response.
func (c *Conn) Exchange(req, resp []byte, serverTime time.Duration) error {
	if err := c.Send(ClientToServer, req); err != nil {
		return err
	}
	c.Advance(c.o.RTT/2 + serverTime)
	if err := c.Send(ServerToClient, resp); err != nil {
		return err
	}
	c.Advance(c.o.RTT / 2)
	return c.err
}

// Pipeline sends every request back to back in one write, then the
// responses in order, serverTime apart.
func (c *Conn) Pipeline(reqs, resps [][]byte, serverTime time.Duration) error {
	if err := c.Send(ClientToServer, bytes.Join(reqs, nil)); err != nil {
		return err
	}
	for _, r := range resps {
		c.Advance(c.o.RTT/2 + serverTime)
		if err := c.Send(ServerToClient, r); err != nil {
			return err
		}
	}
	c.Advance(c.o.RTT / 2)
	return c.err
}

// Continue plays an Expect: 100-continue exchange: the request head, the
// server's "100 Continue", the body, then the final response.
func (c *Conn) Continue(head, body, resp []byte, serverTime time.Duration) error {
	if err := c.Send(ClientToServer, head); err != nil {
		return err
	}
	c.Advance(c.o.RTT / 2)
	if err := c.Send(ServerToClient, []byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
		return err
	}
	c.Advance(c.o.RTT / 2)
	if err := c.Send(ClientToServer, body); err != nil {
		return err
	}
	return c.Exchange(nil, resp, serverTime)
}
