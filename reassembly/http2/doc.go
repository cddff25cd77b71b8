// Package http2 observes HTTP/2 connections from the wire, as a passive
// third party: it parses the frames of both directions (golang.org/x/net's
// Framer for everything but DATA, whose payload is streamed), keeps each
// direction's HPACK state, and turns every stream into one Stream: request
// pseudo fields and headers, final status, regular headers, trailers, DATA
// sizes and a decoded body sample, gRPC status and message counts.
//
// Nothing is negotiated and nothing is enforced: flow control, SETTINGS
// limits and stream states are not checked, only followed where they
// change what the bytes mean (SETTINGS_MAX_FRAME_SIZE bounds the
// frame-boundary search). HEADERS and PUSH_PROMISE with their CONTINUATION
// frames form a header block; padding is removed; 1xx responses are
// skipped; a block after the final headers is trailers. A stream is handed
// on when both sides ended it, when RST_STREAM ends it (NO_ERROR after a
// complete response only stops an upload), when a GOAWAY says it was never
// processed, or when the connection closes.
//
// An observer may miss bytes: the capture begins mid-connection, or loses
// segments. A hole inside a DATA payload keeps the framing (the stream is
// flagged). Otherwise the framing is searched for again (FindFrames: a
// chain of plausible frame headers, or whole frames on streams the
// connection uses right after the hole), and the HPACK table of that
// direction becomes unknown. The decoder then keeps only what it sees
// inserted: HPACK inserts at the front of the table, so the k-th entry
// inserted since is the table's k-th entry for as long as the encoder may
// refer to it. Static-table and literal fields, and references to entries
// inserted since, are decoded; references to older entries are left out and
// the stream flagged (FlagHeadersMissing). No field is ever shown with a
// value that was not sent. The decoder is back in sync once the table
// provably holds nothing older (a size update emptied it, or entries seen
// since fill the signalled size).
//
// Everything that grows with traffic is bounded (Options) and what is
// dropped is counted (Stats): open streams per connection, header list
// size, header block size, the HPACK table kept, body samples and their
// decompression, the bytes searched for frame boundaries.
package http2
