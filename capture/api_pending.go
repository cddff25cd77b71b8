package capture

// This file holds the signatures other packages build against while their
// implementations are written; each moves to its own file when done.

// DecoderOptions configure a Decoder. The zero value works.
type DecoderOptions struct {
	// MaxFragmentBytes bounds the bytes held for IP fragment reassembly;
	// 0 means 4 MiB. Beyond it the oldest datagrams are dropped (counted).
	MaxFragmentBytes int
	// MaxTunnelDepth bounds nested decapsulation; 0 means 4.
	MaxTunnelDepth int
}

// DecoderStats counts what a Decoder saw and skipped.
type DecoderStats struct {
	Packets, Bytes      uint64
	TCP, UDP, Other     uint64 // innermost transport
	Undecodable         uint64 // malformed or unsupported link/network layer
	Fragments           uint64 // IP fragments received
	Reassembled         uint64 // datagrams rebuilt from fragments
	FragmentsDropped    uint64 // fragments dropped by the bound or timeout
	Decapsulated        uint64 // packets that came out of a tunnel
	UnsupportedLinkType uint64
}

// Decoder decodes packets in place. It is not safe for concurrent use.
type Decoder struct {
	opts  DecoderOptions
	stats DecoderStats
}

// NewDecoder returns a decoder.
func NewDecoder(opts DecoderOptions) *Decoder { return &Decoder{opts: opts} }

// Decode decodes p into d. It returns false when p yields no TCP or UDP
// payload to hand on (not IP, malformed, a fragment still waiting for the
// rest); the reason is counted in Stats.
func (dec *Decoder) Decode(p *Packet, d *Decoded) bool { panic("capture: Decode not implemented yet") }

// Stats returns the counters so far.
func (dec *Decoder) Stats() DecoderStats { return dec.stats }

// OpenFiles opens one or more capture files (pcap or pcapng, each possibly
// gzip-compressed) as a single Source whose packets are merged in timestamp
// order.
func OpenFiles(paths ...string) (Source, error) { panic("capture: OpenFiles not implemented yet") }

// Filter is a compiled capture filter in tcpdump syntax. A nil *Filter
// matches everything. It is safe for concurrent use.
type Filter struct{}

// ParseFilter compiles expr ("host 10.0.0.1 and tcp port 80", "net
// 10.0.0.0/8", "not port 22", ...). An empty expr gives a nil Filter.
func ParseFilter(expr string) (*Filter, error) { panic("capture: ParseFilter not implemented yet") }

// Match reports whether the decoded packet passes the filter.
func (f *Filter) Match(d *Decoded) bool { return true }
