// Package reassembly turns TCP segments and ordered byte streams into HTTP
// transactions.
//
// Two entries share one connection logic. Run reads a whole capture:
// it decodes each packet once, filters it, and hands TCP segments to
// gopacket's reassembly in one of a fixed number of shards chosen by a
// symmetric flow hash (a shard owns its assembler, its connections and
// their parsers; no goroutine per flow), which Options.Workers goroutines
// share out. A shard takes a connection's segments itself while each is
// the next one expected, doing what gopacket would, and hands the
// connection to gopacket's assembler at the first that is not (a
// retransmission, a hole, reordering): most connections never reach it
// (fastpath.go). A shard depends only on its own segments and the capture
// clock, and a merge puts the workers' transactions back in one order, so
// the sink sees the same sequence for any number of workers (order.go).
// StreamConn takes a connection's bytes already in order (the eBPF
// sensor's path).
//
// Per connection, roles come from content: the side that sends a request
// line is the client, on any port. A side seen from its first byte must
// begin with a start line, or the connection is marked as another protocol
// (TLS, SSH, ...) and its later segments are refused before they are
// buffered. A connection picked up mid-stream is scanned for its first
// start line. Requests and final responses are paired in order (pipelining,
// 1xx interim responses skipped, 101 and CONNECT end parsing but keep their
// transaction); what has no partner comes out alone, flagged.
//
// HTTP/2 is recognised by content too: a side whose bytes begin with the
// client preface makes the connection HTTP/2 with that side the client (a
// server's first SETTINGS frame waits for it); a request asking for
// Upgrade: h2c answered by 101 hands the connection over after the 101,
// the upgraded request becoming stream 1; on a connection picked up
// mid-stream, chained frame headers do (package http2: FindFrames). Package
// http2 then observes the frames and HPACK state of both directions, each
// stream becoming one Transaction (Protocol "h2", or "grpc" for
// application/grpc with grpc-status and message counts in GRPC); fields
// the observer cannot decode after a gap or a pickup are left out, never
// guessed (FlagHeadersMissing). HTTP/2 transactions reach the sink in the
// order their streams were opened (request order), a finished stream
// waiting for those opened before it — up to 64 streams or 5 s of capture
// time behind a long one (a gRPC stream, a slow download), after which
// they go on without it (http2.Stats.ReleasedEarly).
//
// Capture loss reaches the parsers as gaps: gopacket pushes out-of-order
// data on after Options.GapTimeout of capture time, at once when the peer
// acknowledged the missing bytes, or when the page bounds are hit. A hole
// in the responses that swallowed a whole response is recognised when the
// next request was sent after it (a client waiting for each answer), so
// the later pairs do not shift.
//
// Everything that grows with traffic is bounded and what is dropped is
// counted in Stats: buffered pages (per connection and in all),
// connections (the idlest closed first), requests awaiting responses, the
// bytes scanned for a first start line. Time is capture time throughout:
// expiry and gap timeouts never read the wall clock.
package reassembly
