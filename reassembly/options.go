package reassembly

import (
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/reassembly/http1"
	"github.com/shadowtap/shadowtap/reassembly/http2"
)

// Options configure Run. The zero value works.
type Options struct {
	// Workers is the number of goroutines reassembling and parsing; 0 or 1
	// means everything runs on the caller's goroutine. Flows are spread by
	// a symmetric hash over 8 shards, each with its own assembler, bounds
	// and parsers, which the workers share out (more than 8 workers are
	// 8). The transactions and counters are the same for any number of
	// workers (see Run).
	Workers int
	// Filter, when not nil, drops packets that do not match.
	Filter *capture.Filter
	// Decoder configures packet decoding.
	Decoder capture.DecoderOptions
	// HTTP configures the HTTP/1 parsers (body sample size, limits). Its
	// OnMessage and RequestMethod fields are ignored.
	HTTP http1.Options
	// MaxConnections bounds the connections tracked at once (all shards
	// together, each holding an 8th); 0 means 1<<18. Beyond a shard's
	// share its idlest are closed early (counted in Stats.EvictedFlows).
	MaxConnections int
	// MaxBufferedPagesTotal bounds the out-of-order segments buffered (all
	// shards together) in gopacket pages of about 1.9 KiB; 0 means 1<<16
	// (about 120 MiB). Beyond it buffered data is pushed on with a gap.
	MaxBufferedPagesTotal int
	// MaxBufferedPagesPerConn bounds the out-of-order segments buffered for
	// one connection; 0 means 256 (about 480 KiB).
	MaxBufferedPagesPerConn int
	// GapTimeout is how long (capture time) out-of-order data waits for a
	// missing segment before it is pushed on with a gap; 0 means 2s.
	GapTimeout time.Duration
	// FlowTimeout closes connections idle this long (capture time); 0 means
	// 2 minutes.
	FlowTimeout time.Duration
	// Prepare, when set, is called once for every transaction before it
	// reaches the sink, on the goroutine that completed it: with Workers >
	// 1 on the workers, concurrently for different transactions and in no
	// particular order. It is for work on one transaction that needs no
	// other (scans, parsing), done in parallel while the sink, called in
	// order on one goroutine, applies the result (Transaction.Prepared
	// carries it). What it computes must not depend on the order of calls.
	Prepare func(*Transaction)
	// Transactions, when set, is where the HTTP/1 transactions handed to
	// the sink are taken from: a sink that is done with a transaction
	// (nothing will read it, or hold it, again) may give it back with
	// Transactions.Put for a later one. Without it, or without Put, every
	// transaction is a new allocation.
	Transactions *TxPool
	// Progress, when set, is called on Run's goroutine every 4096 packets
	// read with the counters so far, for a long-running capture to report
	// before Run returns. Connection counters (flows, parse errors...)
	// are added as connections end; with Workers > 1 each worker's are as
	// of its last batch. Warnings are left for the Stats Run returns.
	Progress func(Stats)
	// slowPath, for tests, sends every segment through gopacket's
	// assembler (no fast path: see fastpath.go).
	slowPath bool
}

func (o Options) withDefaults() Options {
	if o.Workers < 1 {
		o.Workers = 1
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1 << 18
	}
	if o.MaxBufferedPagesTotal <= 0 {
		o.MaxBufferedPagesTotal = 1 << 16
	}
	if o.MaxBufferedPagesPerConn <= 0 {
		o.MaxBufferedPagesPerConn = 256
	}
	if o.GapTimeout <= 0 {
		o.GapTimeout = 2 * time.Second
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = 2 * time.Minute
	}
	o.HTTP.OnMessage = nil
	o.HTTP.RequestMethod = nil
	return o
}

// Stats count what Run saw, produced and dropped. Counters only grow.
type Stats struct {
	// Packets and Bytes count what was read from the source (Bytes: frame
	// lengths on the wire); Filtered the packets the filter dropped.
	Packets, Bytes, Filtered uint64
	// FirstTS and LastTS bound the packets' capture times.
	FirstTS, LastTS time.Time
	// Flows counts TCP connections that carried payload; HTTPFlows those parsed as HTTP/1,
	// NonHTTPFlows those recognised as something else and skipped.
	Flows, HTTPFlows, NonHTTPFlows uint64
	// Transactions counts transactions handed to the sink; Requests those
	// with a request, Responses those with a final response.
	Transactions, Requests, Responses uint64
	// ParseErrors counts HTTP framing and syntax errors (see http1.Stats).
	ParseErrors uint64
	// Gaps and GapBytes count holes in TCP streams (capture loss, buffer
	// limits) and the bytes they lost.
	Gaps, GapBytes uint64
	// BufferLimitGaps counts the gaps that were forced by the buffering
	// bounds (MaxBufferedPagesPerConn, MaxBufferedPagesTotal) rather than
	// by a timeout or an acknowledged loss: out-of-order data pushed on
	// before its hole could fill (an estimate from the pages queued).
	BufferLimitGaps uint64
	// SkippedBytes counts stream bytes not parsed: other protocols, bytes
	// before the first start line of a connection picked up mid-stream,
	// tunnels after an upgrade. ResyncSkippedBytes counts bytes the HTTP
	// parsers discarded while resynchronising.
	SkippedBytes, ResyncSkippedBytes uint64
	// DecodeErrors counts bodies whose Content-Encoding failed to decode
	// while parsing (unsupported codings; HTTP/2 bodies). HTTP/1 body
	// samples are decoded when first read (Transaction.RespBodySample),
	// and a failure then is the transaction's FlagDecodeError.
	DecodeErrors uint64
	// DeferredBodies counts encoded HTTP/1 body samples handed on
	// undecoded; UndecodedBodies counts encoded bodies of binary media
	// types (images, audio, video, fonts, octet-stream, archives) given no
	// sample.
	DeferredBodies, UndecodedBodies uint64
	// Upgrades counts connections that switched protocol (101, CONNECT).
	Upgrades uint64
	// EvictedFlows counts connections closed early by MaxConnections.
	EvictedFlows uint64
	// HTTP2Flows counts connections parsed as HTTP/2 (prior knowledge,
	// h2c upgrade, or frames found mid-stream); HTTP2 holds their counters.
	HTTP2Flows uint64
	HTTP2      http2.Stats
	// UDP and OtherPackets count decoded packets that were not TCP.
	UDP, OtherPackets uint64
	// Decoder holds the packet decoder's counters.
	Decoder capture.DecoderStats
	// Warnings are one-line messages for a person (a truncated capture,
	// limits that were hit).
	Warnings []string
}

// add merges the per-shard counters of o into s.
func (s *Stats) add(o *Stats) {
	s.Flows += o.Flows
	s.HTTPFlows += o.HTTPFlows
	s.NonHTTPFlows += o.NonHTTPFlows
	s.Transactions += o.Transactions
	s.Requests += o.Requests
	s.Responses += o.Responses
	s.ParseErrors += o.ParseErrors
	s.Gaps += o.Gaps
	s.GapBytes += o.GapBytes
	s.BufferLimitGaps += o.BufferLimitGaps
	s.SkippedBytes += o.SkippedBytes
	s.ResyncSkippedBytes += o.ResyncSkippedBytes
	s.DecodeErrors += o.DecodeErrors
	s.DeferredBodies += o.DeferredBodies
	s.UndecodedBodies += o.UndecodedBodies
	s.Upgrades += o.Upgrades
	s.EvictedFlows += o.EvictedFlows
	s.HTTP2Flows += o.HTTP2Flows
	s.HTTP2.Add(&o.HTTP2)
}
