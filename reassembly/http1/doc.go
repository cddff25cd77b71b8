// Package http1 parses HTTP/1.0 and HTTP/1.1 messages incrementally, as an
// observer: it records what was sent rather than normalising it, and it can
// resynchronise after a gap in the byte stream.
//
// A Parser follows one direction of one connection. Bytes may be fed in
// pieces cut anywhere (one byte at a time included); the result does not
// depend on the cuts. It keeps headers in order and case as sent, accepts
// custom methods (CCM_POST, M-SEARCH), HTTP/1.0, bare LF line endings and
// obs-fold, and request lines servers still answer although they are
// malformed ("GET / HTTP/1.", "OPTIONS HTTP/1.1"). Bodies are framed by
// Content-Length, chunked coding (extensions and trailers kept) or, for
// responses, the connection closing; HEAD, 1xx, 204 and 304 responses have
// none. A 101 response or a 2xx answer to CONNECT sets Message.Upgrade and
// stops the parser.
//
// Conflicting or invalid framing is flagged (MsgBadFraming) and counted:
// Transfer-Encoding chunked wins over Content-Length; an invalid
// Content-Length, a bad chunk, a head over MaxHeaderBytes, or garbage where a
// start line should be makes the parser scan for the next plausible request
// line ("METHOD SP target SP HTTP/1.d" CRLF) or status line ("HTTP/1.d SP
// DDD"), discarding and counting the bytes in between. It never splices
// bytes from both sides of a hole or of garbage into one message.
//
// Body bytes are counted after removing chunked framing; a sample of up to
// Options.MaxBody bytes is kept, decoded per Content-Encoding (and any
// Transfer-Encoding other than chunked) by package content — or, with
// Options.DeferDecode, handed on encoded for the consumer to decode when it
// reads it (Message.Encoded). Parsers can be reused for new streams
// (ResetRequest, ResetResponse).
package http1
