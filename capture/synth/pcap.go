package synth

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// LinkTypeEthernet is the pcap link type of every frame synth writes.
const LinkTypeEthernet = 1

// ErrFrameTooLarge is returned when a frame exceeds the writer's snap length.
var ErrFrameTooLarge = errors.New("frame larger than snap length")

// WriterOptions configure a Writer. The zero value works.
type WriterOptions struct {
	// SnapLen is written in the file header and bounds each frame; 0 means 65535.
	SnapLen int
	// BufferSize is the output buffer; 0 means 1 MiB.
	BufferSize int
	// Nanosecond selects nanosecond timestamps (magic 0xa1b23c4d); the
	// default is classic microsecond pcap.
	Nanosecond bool
}

// Writer streams Ethernet frames as a little-endian pcap file. Memory use is
// its buffer, whatever the capture's size. It is not safe for concurrent use.
type Writer struct {
	bw      *bufio.Writer
	snap    int
	nano    bool
	hdr     [16]byte
	packets uint64
	bytes   uint64
}

// NewWriter writes the pcap file header to w and returns a Writer.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	if opts.SnapLen <= 0 {
		opts.SnapLen = 65535
	}
	if opts.BufferSize <= 0 {
		opts.BufferSize = 1 << 20
	}
	pw := &Writer{bw: bufio.NewWriterSize(w, opts.BufferSize), snap: opts.SnapLen, nano: opts.Nanosecond}
	var h [24]byte
	magic := uint32(0xa1b2c3d4)
	if opts.Nanosecond {
		magic = 0xa1b23c4d
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(opts.SnapLen))
	binary.LittleEndian.PutUint32(h[20:], LinkTypeEthernet)
	if _, err := pw.bw.Write(h[:]); err != nil {
		return nil, fmt.Errorf("writing pcap header: %w", err)
	}
	pw.bytes = 24
	return pw, nil
}

// WritePacket appends one frame captured at ts. frame is not retained.
func (w *Writer) WritePacket(ts time.Time, frame []byte) error {
	if len(frame) > w.snap {
		return fmt.Errorf("writing packet of %d bytes: %w", len(frame), ErrFrameTooLarge)
	}
	ns := ts.UnixNano()
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 {
		sec, frac = sec-1, frac+1e9
	}
	if !w.nano {
		frac /= 1000
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(sec))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(frac))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(len(frame)))
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("writing packet: %w", err)
	}
	if _, err := w.bw.Write(frame); err != nil {
		return fmt.Errorf("writing packet: %w", err)
	}
	w.packets++
	w.bytes += 16 + uint64(len(frame))
	return nil
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("flushing pcap: %w", err)
	}
	return nil
}

// Packets returns the number of packets written.
func (w *Writer) Packets() uint64 { return w.packets }

// Bytes returns the number of file bytes written (header included).
func (w *Writer) Bytes() uint64 { return w.bytes }

// Sink receives frames in capture order. frame is borrowed: valid only
// during the call.
type Sink interface {
	WritePacket(ts time.Time, frame []byte) error
}
