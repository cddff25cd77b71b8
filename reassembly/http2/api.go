package http2

import (
	"time"

	"github.com/shadowtap/shadowtap/reassembly/content"
	"github.com/shadowtap/shadowtap/reassembly/http1"
)

// Header is one header field as decoded (HTTP/2 names are lower case).
type Header = http1.Header

// Flags describe what the observer could not see or did not trust on one
// stream.
type Flags uint16

const (
	// FlagNoRequest: the request's headers were not seen (sent before the
	// capture began, lost in a gap, or not decodable at all).
	FlagNoRequest Flags = 1 << iota
	// FlagNoResponse: no final response headers were seen.
	FlagNoResponse
	// FlagReqGap / FlagRespGap: bytes of the request or response were lost.
	FlagReqGap
	FlagRespGap
	// FlagReqTruncated / FlagRespTruncated: the body sample was capped.
	FlagReqTruncated
	FlagRespTruncated
	// FlagDecodeError: a body's content-encoding could not be decoded.
	FlagDecodeError
	// FlagHeadersMissing: some header fields are left out: they referred to
	// HPACK table entries this observer never saw (a gap, a mid-stream
	// pickup), or the header list exceeded Options.MaxHeaderListSize.
	// Fields present are always exactly as sent.
	FlagHeadersMissing
	// FlagReset: the stream ended with RST_STREAM (Stream.ResetCode).
	FlagReset
	// FlagRefused: a GOAWAY said the stream was never processed.
	FlagRefused
	// FlagPushed: a server push (the request comes from PUSH_PROMISE).
	FlagPushed
	// FlagIncomplete: the connection ended, or the stream was evicted,
	// before both sides finished.
	FlagIncomplete
)

// GRPC is what the gRPC layer of a stream showed.
type GRPC struct {
	// Status is grpc-status from the trailers (or a trailers-only
	// response), -1 when not seen; Message is grpc-message as sent.
	Status  int
	Message string
	// ReqMessages and RespMessages count length-prefixed messages;
	// ReqMessageBytes and RespMessageBytes their payload bytes; MaxReqMessage
	// and MaxRespMessage the largest one. Counting stops on a side at its
	// first gap.
	ReqMessages, RespMessages         int64
	ReqMessageBytes, RespMessageBytes int64
	MaxReqMessage, MaxRespMessage     int64
}

// Stream is one HTTP/2 stream: a request and its response, either of which
// may be missing. A Stream handed to OnStream belongs to the callee.
type Stream struct {
	ID uint32
	// Client is the direction (0 or 1, as the caller numbers them) that
	// carried the request.
	Client int
	// Pseudo-header fields of the request and the response status, empty
	// or 0 when not seen or not decodable.
	Method, Scheme, Authority, Path string
	Status                          int
	// ReqHeaders and RespHeaders are the regular fields in order (pseudo
	// fields left out); ReqTrailers and RespTrailers the trailer fields.
	ReqHeaders, RespHeaders   []Header
	ReqTrailers, RespTrailers []Header
	// ReqBodyBytes and RespBodyBytes count DATA payload (padding removed).
	ReqBodyBytes, RespBodyBytes int64
	// ReqBody and RespBody are decoded samples (content-encoding applied;
	// gRPC bodies raw), at most Options.MaxBody bytes.
	ReqBody, RespBody []byte
	// ReqStart is the capture time of the request headers (or of the first
	// request frame seen), RespStart that of the final response headers,
	// End that of the stream's last frame.
	ReqStart, RespStart, End time.Time
	// GRPC is set when either side's content-type is application/grpc*.
	GRPC *GRPC
	// ResetCode is the RST_STREAM error code (with FlagReset).
	ResetCode uint32
	Flags     Flags
}

// Options configure a Conn. The zero value works.
type Options struct {
	// MaxBody caps each body sample; 0 means 64 KiB, negative keeps none.
	MaxBody int
	// MaxDecompress bounds decoding output per body; 0 means 16 × MaxBody.
	MaxDecompress int
	// MaxStreams bounds the open streams tracked per connection; 0 means
	// 256. Beyond it the oldest is handed on early, FlagIncomplete
	// (Stats.EvictedStreams).
	MaxStreams int
	// MaxHeaderListSize bounds the fields kept per header block, counted
	// as HPACK does (name + value + 32); 0 means 64 KiB. Fields beyond are
	// decoded (the table needs them) but dropped (Stats.DroppedFields).
	MaxHeaderListSize int
	// MaxHeaderBlock bounds a header block (HEADERS plus CONTINUATION) and
	// any other non-DATA frame buffered; 0 means 256 KiB. A larger one is
	// skipped and the HPACK table marked unknown (Stats.OversizedBlocks).
	MaxHeaderBlock int
	// MaxSampled bounds the stream sides sampling a body at once per
	// connection (each holds up to MaxBody of output and twice that of
	// input); 0 means 32. Bodies beyond are counted, not sampled
	// (Stats.UnsampledBodies).
	MaxSampled int
	// MaxTable bounds the HPACK dynamic table kept per direction; 0 means
	// 64 KiB. Entries beyond it are forgotten (references to them become
	// unknown fields, never wrong ones).
	MaxTable int
	// Decoders, when not nil, recycles decompressors.
	Decoders *content.Pool
	// OnStream receives every stream once, when both sides have ended it,
	// it was reset or refused, or the connection closed, in the order the
	// streams were opened: a finished stream waits for those opened before
	// it, up to 64 streams or 5 s of capture time (Stats.ReleasedEarly).
	// A stream of which
	// neither side's headers were seen is not handed on (counted in
	// Stats.HeaderlessStreams).
	OnStream func(*Stream)
}

func (o Options) withDefaults() Options {
	if o.MaxBody == 0 {
		o.MaxBody = 64 << 10
	}
	if o.MaxDecompress <= 0 && o.MaxBody > 0 {
		o.MaxDecompress = 16 * o.MaxBody
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 256
	}
	if o.MaxHeaderListSize <= 0 {
		o.MaxHeaderListSize = 64 << 10
	}
	if o.MaxHeaderBlock <= 0 {
		o.MaxHeaderBlock = 256 << 10
	}
	if o.MaxSampled <= 0 {
		o.MaxSampled = 32
	}
	if o.MaxTable <= 0 {
		o.MaxTable = 64 << 10
	}
	return o
}

// Stats count what a Conn saw and dropped. Counters only grow.
type Stats struct {
	// Frames counts frames parsed; FrameErrors malformed ones (skipped).
	Frames, FrameErrors uint64
	// Streams counts streams handed to OnStream; Resets those reset,
	// GoAways the GOAWAY frames seen.
	Streams, Resets, GoAways uint64
	// HeaderBlocks counts header blocks decoded; PartialBlocks those with
	// fields that could not be decoded, UnknownFields those fields.
	HeaderBlocks, PartialBlocks, UnknownFields uint64
	// HPACKErrors counts malformed header blocks; TableLosses how often a
	// direction's HPACK table became unknown (gaps, pickups, errors).
	HPACKErrors, TableLosses uint64
	// DroppedFields counts fields over MaxHeaderListSize; OversizedBlocks
	// frames over MaxHeaderBlock (skipped).
	DroppedFields, OversizedBlocks uint64
	// EvictedStreams counts streams handed on early by MaxStreams;
	// HeaderlessStreams those dropped because neither side's headers were
	// seen (only DATA: begun before a pickup or a gap).
	EvictedStreams, HeaderlessStreams uint64
	// Gaps and GapBytes count reported holes; Resyncs the times framing was
	// lost and searched for again, ResyncSkippedBytes the bytes passed over.
	Gaps, GapBytes, Resyncs, ResyncSkippedBytes uint64
	// BodyBytes counts DATA payload bytes; DecodeErrors bodies that failed
	// to decode; TruncatedBodies samples that were capped; UnsampledBodies
	// stream sides left without a sample by MaxSampled.
	BodyBytes, DecodeErrors, TruncatedBodies, UnsampledBodies uint64
	// GRPCMessages counts gRPC length-prefixed messages.
	GRPCMessages uint64
	// ReleasedEarly counts streams handed on before a stream opened
	// earlier had finished (it held more than 64 finished streams, or one
	// for more than 5 s of capture time).
	ReleasedEarly uint64
}

// Add adds o's counters to s.
func (s *Stats) Add(o *Stats) {
	s.Frames += o.Frames
	s.FrameErrors += o.FrameErrors
	s.Streams += o.Streams
	s.Resets += o.Resets
	s.GoAways += o.GoAways
	s.HeaderBlocks += o.HeaderBlocks
	s.PartialBlocks += o.PartialBlocks
	s.UnknownFields += o.UnknownFields
	s.HPACKErrors += o.HPACKErrors
	s.TableLosses += o.TableLosses
	s.DroppedFields += o.DroppedFields
	s.OversizedBlocks += o.OversizedBlocks
	s.EvictedStreams += o.EvictedStreams
	s.HeaderlessStreams += o.HeaderlessStreams
	s.Gaps += o.Gaps
	s.GapBytes += o.GapBytes
	s.Resyncs += o.Resyncs
	s.ResyncSkippedBytes += o.ResyncSkippedBytes
	s.BodyBytes += o.BodyBytes
	s.DecodeErrors += o.DecodeErrors
	s.TruncatedBodies += o.TruncatedBodies
	s.UnsampledBodies += o.UnsampledBodies
	s.GRPCMessages += o.GRPCMessages
	s.ReleasedEarly += o.ReleasedEarly
}
