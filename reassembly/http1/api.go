package http1

import (
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
)

// Header is one header field as it appeared on the wire.
type Header struct {
	Name, Value string
}

// MsgFlags describe defects seen in one message.
type MsgFlags uint16

const (
	MsgGap         MsgFlags = 1 << iota // bytes of this message were lost in capture
	MsgTruncated                        // body sample capped at Options.MaxBody
	MsgBadFraming                       // conflicting/invalid framing; parser resynchronised
	MsgDecodeError                      // Content-Encoding could not be decoded or exceeded the limit
	MsgIncomplete                       // the stream ended (or gapped) before the message did
)

// Message is one parsed HTTP/1.x request or response. The *Message passed
// to OnMessage is the parser's and is valid only during the call (the
// parser reuses it for the next message); its strings and slices (Headers,
// Trailers, Body) belong to the callee: they share no memory with the bytes
// passed to Feed, and no memory that the parser or anyone else writes
// again, so the callee keeps them without copying. (The strings and header
// lists of several messages are carved from shared chunks, to spare two
// allocations per head; Headers and Trailers have no room past their
// length, so appending to them copies.)
type Message struct {
	Request bool
	// Request line.
	Method, Target string
	// Status line.
	Status int
	Reason string
	// Version is "HTTP/1.1" or "HTTP/1.0" as sent.
	Version string
	Headers []Header
	// Trailers are the fields of a chunked body's trailer section, as sent.
	Trailers []Header
	// BodyBytes counts body bytes after removing chunked framing, before
	// content decoding.
	BodyBytes int64
	// Body is the decoded body sample, at most Options.MaxBody bytes.
	Body []byte
	// Encoded, with Options.DeferDecode, holds instead of Body the
	// encoded sample of a body with a Content-Encoding (or a transfer
	// coding other than chunked): Encoded.Decode gives the sample, and
	// says whether it is truncated or failed to decode (MsgTruncated and
	// MsgDecodeError are then not set on the message). It is the callee's.
	Encoded *content.Encoded
	// Start is the capture time of the first byte, End that of the last.
	Start, End time.Time
	Flags      MsgFlags
	// Upgrade is set on a 101 response and on a 2xx response to CONNECT:
	// the bytes after it are another protocol and the parser has stopped.
	Upgrade bool
}

// Options configure a Parser. The zero value works.
type Options struct {
	// MaxBody caps the decoded body sample kept per message; 0 means 64 KiB,
	// negative means keep no body.
	MaxBody int
	// MaxDecompress bounds the bytes produced by content decoding per message
	// (decompression-bomb guard); 0 means 16 × MaxBody.
	MaxDecompress int
	// MaxHeaderBytes bounds a message head; 0 means 64 KiB. Longer heads are
	// a framing error.
	MaxHeaderBytes int
	// RequestMethod is consulted by a response parser when it has parsed a
	// response head: it returns the method of the request this response
	// answers ("" when unknown). HEAD and CONNECT change response framing.
	// It is called exactly once per final (status ≥ 200) response and never
	// for interim 1xx responses (which have no body whatever the method).
	RequestMethod func() string
	// Decoders, when not nil, recycles decompressors between bodies; share
	// one among the parsers of a worker. nil means a decompressor is
	// allocated for each compressed body that is sampled.
	Decoders *content.Pool
	// DeferDecode leaves encoded bodies undecoded: the sample is handed
	// on encoded (Message.Encoded) for the consumer to decode if and when
	// it looks at it; Stats.DeferredBodies counts them.
	DeferDecode bool
	// SkipBinary takes no sample of encoded bodies of binary media types
	// (image/, audio/, video/, font/, application/octet-stream, archives
	// and other compressed formats), which no inspection reads: they are
	// not decoded (Stats.UndecodedBodies counts them). Identity bodies are
	// sampled whatever their type.
	SkipBinary bool
	// Arena, when not nil, is where the parser carves heads from (see
	// Arena), shared with the other parsers of the goroutine; nil means
	// the parser's own.
	Arena *Arena
	// Handler, when not nil, takes the place of OnMessage and
	// RequestMethod, which are then not called: one value serving
	// several parsers spares a closure per parser.
	Handler Handler
	// OnMessage receives every complete (or abandoned, with MsgIncomplete)
	// message, interim 1xx responses included. The *Message is reused by
	// the parser after the call returns; its fields' contents are the
	// callee's (see Message).
	OnMessage func(*Message)
}

// Handler receives a parser's messages (as Options.OnMessage does) and
// answers its questions about the request a response answers (as
// Options.RequestMethod does). A parser calls it from Feed, Gap and Close,
// on the caller's goroutine.
type Handler interface {
	HTTPMessage(m *Message)
	RequestMethod() string
}

// Verdict is what the first bytes of a stream say about its protocol.
type Verdict uint8

const (
	NeedMore     Verdict = iota // not enough bytes to tell
	HTTPRequest                 // starts with an HTTP/1.x request line
	HTTPResponse                // starts with an HTTP/1.x status line
	NotHTTP                     // something else (TLS, SSH, Redis, ...)
)

// Stats count what a Parser saw and what it dropped. All counters only grow.
type Stats struct {
	// Messages counts messages handed to OnMessage (1xx and incomplete ones
	// included).
	Messages uint64
	// Incomplete counts messages emitted with MsgIncomplete.
	Incomplete uint64
	// ParseErrors counts framing and syntax errors: garbage where a start
	// line should be, heads or trailers over MaxHeaderBytes, invalid
	// Content-Length, bad chunk framing, a request Transfer-Encoding not
	// ending in chunked.
	ParseErrors uint64
	// BadFraming counts messages flagged MsgBadFraming (Transfer-Encoding
	// together with Content-Length included, although parsing continues).
	BadFraming uint64
	// BadHeaderLines counts header lines without a colon (skipped).
	BadHeaderLines uint64
	// Resyncs counts how often the parser began scanning for the next
	// plausible start line (after a parse error or a gap it could not skip).
	Resyncs uint64
	// ResyncSkippedBytes counts stream bytes discarded while resynchronising
	// (and unparsable bytes left when the stream closed).
	ResyncSkippedBytes uint64
	// Gaps and GapBytes count Gap calls and the bytes they reported lost.
	Gaps, GapBytes uint64
	// BodyBytes counts body bytes after removing chunked framing, lost
	// bytes inside bodies included.
	BodyBytes uint64
	// TruncatedBodies counts messages flagged MsgTruncated.
	TruncatedBodies uint64
	// DecodeErrors counts messages flagged MsgDecodeError.
	DecodeErrors uint64
	// DeferredBodies counts body samples handed on encoded
	// (Options.DeferDecode): their truncation and decoding errors are
	// known when they are decoded, and not counted in TruncatedBodies and
	// DecodeErrors. UndecodedBodies counts encoded bodies of binary media
	// types left without a sample (Options.SkipBinary).
	DeferredBodies, UndecodedBodies uint64
	// Upgrades counts 101 responses and 2xx answers to CONNECT after which
	// the parser stopped.
	Upgrades uint64
	// IgnoredBytes counts bytes fed after the parser stopped.
	IgnoredBytes uint64
}

// String returns the verdict's name.
func (v Verdict) String() string {
	switch v {
	case NeedMore:
		return "need-more"
	case HTTPRequest:
		return "http-request"
	case HTTPResponse:
		return "http-response"
	case NotHTTP:
		return "not-http"
	}
	return "verdict(?)"
}
