package http1

import "time"

// Parser parses one direction of an HTTP/1.x connection. It is not safe for
// concurrent use.
type Parser struct {
	opts    Options
	request bool
}

// NewRequestParser returns a parser for the client-to-server direction.
func NewRequestParser(opts Options) *Parser { return &Parser{opts: opts, request: true} }

// NewResponseParser returns a parser for the server-to-client direction.
func NewResponseParser(opts Options) *Parser { return &Parser{opts: opts} }

// Feed consumes the next bytes of the stream, captured at ts. data is
// borrowed: the parser copies what it keeps. Feed returns false once the
// parser has stopped (after an upgrade or CONNECT tunnel); further bytes are
// ignored.
func (p *Parser) Feed(data []byte, ts time.Time) bool { panic("http1: Feed not implemented yet") }

// Gap reports that n bytes were lost from the stream at this point.
func (p *Parser) Gap(n int, ts time.Time) { panic("http1: Gap not implemented yet") }

// Close ends the stream at ts: a close-delimited body completes, a partial
// message is emitted with MsgIncomplete.
func (p *Parser) Close(ts time.Time) { panic("http1: Close not implemented yet") }

// Detect classifies the first bytes of a stream.
func Detect(b []byte) Verdict { panic("http1: Detect not implemented yet") }
