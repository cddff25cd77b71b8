package capture

import (
	"errors"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Errors returned by Sources; match them with errors.Is.
var (
	// ErrNotCapture means the input is neither pcap nor pcapng (nor a
	// gzip-compressed one of them).
	ErrNotCapture = errors.New("not a capture file")
	// ErrTruncated means the capture ends in the middle of a record. Packets
	// before the damage were delivered; the caller reports a warning.
	ErrTruncated = errors.New("capture truncated")
)

// Packet is one captured frame.
type Packet struct {
	// Timestamp is the capture time.
	Timestamp time.Time
	// LinkType says how Data begins.
	LinkType layers.LinkType
	// Data holds the captured bytes. It is borrowed: valid only until the
	// next call to Next on the Source that filled it; copy what you keep.
	Data []byte
	// WireLen is the frame's length on the wire (≥ len(Data) when the
	// capture was taken with a snap length).
	WireLen int
}

// Source yields packets in capture order. A Source is not safe for
// concurrent use.
type Source interface {
	// Next fills p with the next packet. It returns io.EOF at the clean end
	// of the input, and an error matching ErrTruncated where the input is
	// cut mid-record (after delivering every whole packet before the cut).
	Next(p *Packet) error
	// Close releases the source's resources.
	Close() error
}
