package synth

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"slices"
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
	// Compressor, if set, is reused for ContentEncoding (faster).
	Compressor *Compressor
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
	// Compressor, if set, is reused for ContentEncoding (faster).
	Compressor *Compressor
}

// Encode returns the request's head (through the blank line) and its framed
// body separately, as a client honouring Expect: 100-continue sends them.
func (r *Request) Encode() (head, body []byte, err error) {
	all, err := r.Append(nil)
	if err != nil {
		return nil, nil, err
	}
	i := bytes.Index(all, []byte("\r\n\r\n")) + 4
	return all[:i:i], all[i:], nil
}

// Bytes returns the whole encoded request.
func (r *Request) Bytes() ([]byte, error) { return r.Append(nil) }

// Append appends the whole encoded request to dst.
func (r *Request) Append(dst []byte) ([]byte, error) {
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
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, target...)
	dst = append(dst, ' ')
	dst = append(dst, proto...)
	dst = append(dst, "\r\n"...)
	if r.Host != "" {
		dst = appendHeader(dst, "Host", r.Host)
	}
	for _, h := range r.Header {
		dst = appendHeader(dst, h.Name, h.Value)
	}
	if r.ExpectContinue {
		dst = appendHeader(dst, "Expect", "100-continue")
	}
	hasBody := len(r.Body) > 0 || r.Chunked || method == "POST" || method == "PUT" || method == "PATCH"
	return appendBody(dst, r.Body, hasBody, r.Chunked, r.ChunkSize, r.ContentEncoding, r.Compressor)
}

// Encode returns the response's head and framed body.
func (r *Response) Encode() (head, body []byte, err error) {
	all, err := r.Append(nil)
	if err != nil {
		return nil, nil, err
	}
	i := bytes.Index(all, []byte("\r\n\r\n")) + 4
	return all[:i:i], all[i:], nil
}

// Bytes returns the whole encoded response.
func (r *Response) Bytes() ([]byte, error) { return r.Append(nil) }

// Append appends the whole encoded response to dst.
func (r *Response) Append(dst []byte) ([]byte, error) {
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
	dst = append(dst, proto...)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	for _, h := range r.Header {
		dst = appendHeader(dst, h.Name, h.Value)
	}
	if r.NoBody {
		return append(dst, "\r\n"...), nil
	}
	return appendBody(dst, r.Body, true, r.Chunked, r.ChunkSize, r.ContentEncoding, r.Compressor)
}

func appendHeader(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// appendBody appends the framing headers, the blank line and the framed
// body.
func appendBody(dst, body []byte, hasBody, chunked bool, chunkSize int, enc string, cz *Compressor) ([]byte, error) {
	if enc != "" {
		if cz == nil {
			cz = &Compressor{}
		}
		z, err := cz.Compress(enc, body)
		if err != nil {
			return nil, err
		}
		body = z
		dst = appendHeader(dst, "Content-Encoding", enc)
	}
	if chunked {
		dst = appendHeader(dst, "Transfer-Encoding", "chunked")
		dst = append(dst, "\r\n"...)
		return AppendChunked(dst, body, chunkSize), nil
	}
	if hasBody {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...), nil
}

// Chunk frames body with chunked transfer coding in chunks of size bytes
// (0 means 4096), ending with the zero chunk.
func Chunk(body []byte, size int) []byte { return AppendChunked(nil, body, size) }

// AppendChunked appends body framed as Chunk does to dst.
func AppendChunked(dst, body []byte, size int) []byte {
	if size <= 0 {
		size = 4096
	}
	dst = slices.Grow(dst, len(body)+len(body)/size*8+16)
	for len(body) > 0 {
		n := min(size, len(body))
		dst = strconv.AppendInt(dst, int64(n), 16)
		dst = append(dst, "\r\n"...)
		dst = append(dst, body[:n]...)
		dst = append(dst, "\r\n"...)
		body = body[n:]
	}
	return append(dst, "0\r\n\r\n"...)
}

// Compress encodes body with a content coding: "gzip" or "br". The output
// is deterministic (no timestamps).
func Compress(enc string, body []byte) ([]byte, error) {
	var c Compressor
	z, err := c.Compress(enc, body)
	return append([]byte(nil), z...), err
}

// Compressor compresses bodies reusing its encoders and buffer. It is not
// safe for concurrent use.
type Compressor struct {
	// GzipLevel is the compress/gzip level; 0 means gzip.BestSpeed
	// (gzip.HuffmanOnly is much faster and still valid gzip).
	GzipLevel int
	buf       bytes.Buffer
	gz        *gzip.Writer
	br        *brotli.Writer
}

// Compress is the package-level Compress; the result is valid until the
// next call.
func (c *Compressor) Compress(enc string, body []byte) ([]byte, error) {
	c.buf.Reset()
	switch enc {
	case "gzip":
		if c.gz == nil {
			lvl := c.GzipLevel
			if lvl == 0 {
				lvl = gzip.BestSpeed
			}
			var err error
			if c.gz, err = gzip.NewWriterLevel(&c.buf, lvl); err != nil {
				return nil, fmt.Errorf("gzip: %w", err)
			}
		} else {
			c.gz.Reset(&c.buf)
		}
		c.gz.Write(body)
		if err := c.gz.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case "br":
		if c.br == nil {
			c.br = brotli.NewWriterLevel(&c.buf, 4)
		} else {
			c.br.Reset(&c.buf)
		}
		c.br.Write(body)
		if err := c.br.Close(); err != nil {
			return nil, fmt.Errorf("brotli: %w", err)
		}
	default:
		return nil, fmt.Errorf("content encoding %q: %w", enc, ErrEncoding)
	}
	return c.buf.Bytes(), nil
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
