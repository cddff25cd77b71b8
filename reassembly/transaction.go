package reassembly

import (
	"net/netip"
	"sync"
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
	"github.com/shadowtap/shadowtap/reassembly/http1"
	"github.com/shadowtap/shadowtap/reassembly/http2"
)

// Protocols carried in Transaction.Protocol.
const (
	ProtoHTTP1 = ""     // HTTP/1.x
	ProtoH2    = "h2"   // HTTP/2
	ProtoGRPC  = "grpc" // gRPC over HTTP/2
)

// Flags describe what the observer could not see or did not trust.
type Flags uint32

const (
	// FlagNoRequest: a response was seen without its request.
	FlagNoRequest Flags = 1 << iota
	// FlagNoResponse: the request had no response before the connection ended.
	FlagNoResponse
	// FlagReqGap / FlagRespGap: bytes of the message were lost in capture.
	FlagReqGap
	FlagRespGap
	// FlagReqTruncated / FlagRespTruncated: the body sample was capped.
	FlagReqTruncated
	FlagRespTruncated
	// FlagBadFraming: conflicting or invalid framing (e.g. Transfer-Encoding
	// and Content-Length together, bad chunk size).
	FlagBadFraming
	// FlagUpgraded: the connection switched protocol (101) or became a
	// CONNECT tunnel after this transaction; later bytes were not parsed.
	FlagUpgraded
	// FlagDecodeError: the body's Content-Encoding could not be decoded (or
	// exceeded the decompression limit).
	FlagDecodeError
	// FlagHeadersMissing (HTTP/2): some header fields are left out because
	// they referred to HPACK table entries never seen (a gap, a connection
	// picked up mid-stream) or exceeded the header list bound. The fields
	// present are exactly as sent; a missing pseudo field leaves Method,
	// Target, Host or Status empty.
	FlagHeadersMissing
	// FlagReset (HTTP/2): the stream was reset (RST_STREAM), or refused by
	// a GOAWAY (then with FlagNoResponse).
	FlagReset
	// FlagIncomplete (HTTP/2): the connection ended, or the stream was
	// evicted by the per-connection stream bound, before both sides
	// finished it.
	FlagIncomplete
)

// Header is one header field as it appeared on the wire.
type Header = http1.Header

// GRPC is the gRPC outcome and message counts of an HTTP/2 stream whose
// content-type is application/grpc: grpc-status (-1 when not seen) and
// grpc-message from the trailers, length-prefixed messages counted and
// sized per direction.
type GRPC = http2.GRPC

// Process identifies the local process behind a transaction seen by eBPF.
type Process struct {
	PID  uint32
	Comm string
}

// Transaction is one HTTP exchange: a request and its response, either of
// which may be missing. A Transaction handed to a sink belongs to the sink.
type Transaction struct {
	// Client and Server are the connection's endpoints.
	Client, Server netip.AddrPort
	// RequestTime is the capture time of the request's first byte,
	// ResponseTime that of the response's first byte (zero when absent),
	// EndTime that of the last byte of the exchange.
	RequestTime, ResponseTime, EndTime time.Time

	Method  string // empty when the request was not seen
	Target  string // request-target as sent
	Host    string // Host header (or :authority), as sent
	Version string // "HTTP/1.1", "HTTP/1.0", "HTTP/2"
	Status  int    // 0 when no response was seen
	Reason  string

	ReqHeaders, RespHeaders []Header

	// ReqBodyBytes and RespBodyBytes count message body bytes after removing
	// chunked framing, before content decoding.
	ReqBodyBytes, RespBodyBytes int64
	// ReqBody and RespBody hold a sample of the decoded body, capped by
	// configuration (FlagReqTruncated / FlagRespTruncated when capped).
	// Read them through ReqBodySample and RespBodySample: the sample of a
	// body with a Content-Encoding is decoded on first access, and is nil
	// here until then (FlagReqTruncated, FlagRespTruncated and
	// FlagDecodeError about it are set then too). An encoded body of a
	// binary media type (images, audio, video, fonts, octet-stream,
	// archives) gets no sample (Stats.UndecodedBodies).
	ReqBody, RespBody []byte
	// reqEnc and respEnc are the encoded samples not decoded yet.
	reqEnc, respEnc *content.Encoded

	Protocol string // ProtoHTTP1, ProtoH2, ProtoGRPC
	Flags    Flags

	// HTTP/2 only: the stream identifier, the trailer fields, and for
	// gRPC the status and message counts (nil otherwise).
	StreamID                  uint32
	ReqTrailers, RespTrailers []Header
	GRPC                      *GRPC

	// Set by the eBPF sensor only. The transactions of one connection
	// share one Process: read it, do not change it.
	Process   *Process
	Container string
	TLS       bool

	// Prepared is the consumer's: Options.Prepare may set it on the
	// goroutine that completed the transaction, for the sink to use.
	// Reassembly never reads or writes it.
	Prepared any
}

// TxPool holds Transactions a sink is done with, for reassembly to hand
// out again (Options.Transactions): a transaction's struct then comes back
// while its memory is likely still cached, rather than as fresh memory
// that the allocator clears and the collector later sweeps. Only the
// struct is reused; what its fields referred to (heads, header lists,
// bodies) is left to the collector. The zero TxPool is ready to use; it is
// safe for concurrent use.
type TxPool struct{ p sync.Pool }

// Put gives back t, which nothing may read or hold afterwards. It clears
// t, so that the pool keeps nothing t referred to alive.
func (p *TxPool) Put(t *Transaction) {
	if p == nil || t == nil {
		return
	}
	*t = Transaction{}
	p.p.Put(t)
}

// get returns a cleared Transaction: one given back, or a new one.
func (p *TxPool) get() *Transaction {
	if p != nil {
		if t, ok := p.p.Get().(*Transaction); ok {
			return t
		}
	}
	return new(Transaction)
}

// ReqHeader returns the first request header with the given name
// (case-insensitive), or "".
func (t *Transaction) ReqHeader(name string) string { return lookup(t.ReqHeaders, name) }

// RespHeader returns the first response header with the given name
// (case-insensitive), or "".
func (t *Transaction) RespHeader(name string) string { return lookup(t.RespHeaders, name) }

func lookup(hs []Header, name string) string {
	for _, h := range hs {
		// Names mostly come as asked for: an exact match spares the
		// byte-by-byte comparison.
		if len(h.Name) == len(name) && (h.Name == name || equalFold(h.Name, name)) {
			return h.Value
		}
	}
	return ""
}

func equalFold(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x|0x20 >= 'a' && x|0x20 <= 'z' {
			x |= 0x20
			y |= 0x20
		}
		if x != y {
			return false
		}
	}
	return true
}

// ReqBodySample returns the request body sample (ReqBody), decoding it on
// first use when it was handed on encoded; the flags about it
// (FlagReqTruncated, FlagDecodeError) are final once it returned. The
// first call is not safe for concurrent use (it sets ReqBody and Flags);
// later ones only read.
func (t *Transaction) ReqBodySample() []byte {
	if e := t.reqEnc; e != nil {
		t.reqEnc = nil
		t.ReqBody = t.decode(e, FlagReqTruncated)
	}
	return t.ReqBody
}

// RespBodySample returns the response body sample (RespBody), decoding it
// on first use like ReqBodySample (FlagRespTruncated, FlagDecodeError).
func (t *Transaction) RespBodySample() []byte {
	if e := t.respEnc; e != nil {
		t.respEnc = nil
		t.RespBody = t.decode(e, FlagRespTruncated)
	}
	return t.RespBody
}

// DecodeBodies decodes the body samples not decoded yet, settling every
// flag about them.
func (t *Transaction) DecodeBodies() {
	t.ReqBodySample()
	t.RespBodySample()
}

func (t *Transaction) decode(e *content.Encoded, truncated Flags) []byte {
	sample, trunc, err := e.Decode()
	e.Release() // the Transaction held the only reference
	if trunc {
		t.Flags |= truncated
	}
	if err != nil {
		t.Flags |= FlagDecodeError
	}
	if len(sample) == 0 {
		return nil
	}
	return sample
}

// HasBodies reports whether the transaction holds a body sample, decoded
// or not.
func (t *Transaction) HasBodies() bool {
	return t.ReqBody != nil || t.RespBody != nil || t.reqEnc != nil || t.respEnc != nil
}

// DropBodies forgets the body samples, decoded or not (to shed memory).
func (t *Transaction) DropBodies() {
	t.ReqBody, t.RespBody, t.reqEnc, t.respEnc = nil, nil, nil, nil
}
