package capture

import (
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// ErrCorrupt means a capture file holds a record that cannot be right (a
// length beyond any snap length, a packet for an interface never declared).
// Packets before it were delivered.
var ErrCorrupt = errors.New("capture corrupt")

// Progresser is implemented by Sources that know how far through their
// input they are: the file Sources from OpenFile and OpenFiles report the
// bytes of the files read so far (compressed bytes for gzip files) against
// the files' total size. A total of 0 means unknown (a pipe). Call Progress
// from the goroutine that calls Next.
type Progresser interface {
	Progress() (done, total int64)
}

// Limits on what a capture file may declare, so a corrupt or hostile file
// ends in an error instead of a huge allocation.
const (
	// maxRecordLen bounds one packet's captured bytes.
	maxRecordLen = 256 << 10
	// maxPacketBlockLen bounds a pcapng packet block: a packet and its
	// options.
	maxPacketBlockLen = maxRecordLen + 64<<10
	// maxMetaBlockLen bounds a pcapng block read whole (section and
	// interface headers, with their options).
	maxMetaBlockLen = 1 << 20
	// maxSkipBlockLen bounds a pcapng block skipped unread.
	maxSkipBlockLen = 64 << 20
	// maxInterfaces bounds the interfaces of one pcapng section.
	maxInterfaces = 1 << 16
)

type fileFormat uint8

const (
	formatPcap fileFormat = iota + 1
	formatPcapNG
)

// fileSource reads one pcap or pcapng file, possibly gzip-compressed.
// Packet.Data points into its read buffer (zero copy).
type fileSource struct {
	path   string
	c      io.Closer // the file; nil once closed
	size   int64
	raw    *window      // over the file
	gz     *gzip.Reader // nil unless compressed
	w      *window      // over the capture bytes (raw unless compressed)
	format fileFormat
	err    error // sticky: returned by every Next after the first
	closed bool

	bigEndian bool // byte order of the file (pcap) or current section (pcapng)

	// pcap
	hdrLen   int   // record header length: 16, or 24 for the modified format
	tsMult   int64 // nanoseconds per timestamp fraction unit
	maxLen   uint32
	linkType layers.LinkType

	// pcapng
	ifaces []ngInterface
	lastTS time.Time // for simple packet blocks, which carry no timestamp
}

// OpenFile opens a pcap or pcapng capture, either possibly gzip-compressed
// (recognised by content, not by name). The returned Source is also a
// Progresser. Packet.Data points into the Source's read buffer.
//
// A missing file gives the os error, wrapped; a file that is empty or not a
// capture gives an error matching ErrNotCapture; a file cut inside its first
// header gives ErrTruncated.
func OpenFile(path string) (Source, error) {
	s, err := openFile(path)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func openFile(path string) (*fileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening capture: %w", err)
	}
	var size int64
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	s, err := newFileSource(path, f, f, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// newFileSource reads a capture from r, named path in errors; c (may be
// nil) is closed by Close.
func newFileSource(path string, r io.Reader, c io.Closer, size int64) (*fileSource, error) {
	s := &fileSource{path: path, c: c, size: size, raw: newWindow(r)}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

// open sniffs the compression and the format and reads the file header.
func (s *fileSource) open() error {
	s.w = s.raw
	b, err := s.raw.peek(4)
	if len(b) == 0 && err == io.EOF {
		return s.notCapture("empty file")
	}
	if err != nil && err != io.ErrUnexpectedEOF {
		return s.readErr(err)
	}
	if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
		gz, err := gzip.NewReader(s.raw)
		if err != nil {
			return s.notCapture("bad gzip header: " + err.Error())
		}
		s.gz = gz
		s.w = newWindow(gz)
		b, err = s.w.peek(4)
		if len(b) == 0 && err == io.EOF {
			return s.notCapture("empty after decompression")
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			return s.notCapture("gzip: " + err.Error())
		}
	}
	if len(b) < 4 {
		return s.notCapture(fmt.Sprintf("only %d bytes", len(b)))
	}
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4, 0xa1b23c4d, 0xa1b2cd34:
		return s.openPcap(false, m)
	case 0xd4c3b2a1, 0x4d3cb2a1, 0x34cdb2a1:
		return s.openPcap(true, bswap32(m))
	case ngBlockSHB:
		s.format = formatPcapNG
		return s.openNG()
	default:
		return s.notCapture(fmt.Sprintf("unknown magic %02x%02x%02x%02x", b[0], b[1], b[2], b[3]))
	}
}

// Next implements Source.
func (s *fileSource) Next(p *Packet) error {
	if s.err != nil {
		return s.err
	}
	if s.format == formatPcap {
		return s.nextPcap(p)
	}
	return s.nextNG(p)
}

// Close implements Source. Next fails after it.
func (s *fileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.err = fmt.Errorf("reading capture %s: %w", s.path, os.ErrClosed)
	if s.gz != nil {
		s.gz.Close()
	}
	if s.c != nil {
		return s.c.Close()
	}
	return nil
}

// Progress implements Progresser.
func (s *fileSource) Progress() (done, total int64) {
	done = s.raw.offset()
	if s.size > 0 && done > s.size {
		done = s.size
	}
	return done, s.size
}

func (s *fileSource) u16(b []byte) uint16 {
	if s.bigEndian {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (s *fileSource) u32(b []byte) uint32 {
	if s.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func bswap32(v uint32) uint32 {
	return v>>24 | v>>8&0xff00 | v<<8&0xff0000 | v<<24
}

// where says which stream an offset counts in.
func (s *fileSource) where(off int64) string {
	if s.gz != nil {
		return fmt.Sprintf("at byte %d (decompressed)", off)
	}
	return fmt.Sprintf("at byte %d", off)
}

func (s *fileSource) notCapture(detail string) error {
	s.err = fmt.Errorf("reading capture %s: %w: %s", s.path, ErrNotCapture, detail)
	return s.err
}

// truncated records the error for input that ends inside the record that
// starts at off.
func (s *fileSource) truncated(off int64, detail string) error {
	s.err = fmt.Errorf("reading capture %s: %w %s: %s", s.path, ErrTruncated, s.where(off), detail)
	return s.err
}

func (s *fileSource) corrupt(off int64, detail string) error {
	s.err = fmt.Errorf("reading capture %s: %w %s: %s", s.path, ErrCorrupt, s.where(off), detail)
	return s.err
}

// short turns the error of a peek that came back short into the source's
// error: a truncation when the stream simply ended, the read error (a
// damaged gzip stream, an I/O error) otherwise.
func (s *fileSource) short(err error, off int64, what string, got, want int) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		if got < 0 {
			return s.truncated(off, fmt.Sprintf("%s of %d bytes cut short", what, want))
		}
		return s.truncated(off, fmt.Sprintf("%s cut after %d of %d bytes", what, got, want))
	}
	var ferr flate.CorruptInputError
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.As(err, &ferr) {
		s.err = fmt.Errorf("reading capture %s: %w %s: %w", s.path, ErrCorrupt, s.where(off), err)
		return s.err
	}
	return s.readErr(err)
}

func (s *fileSource) readErr(err error) error {
	s.err = fmt.Errorf("reading capture %s %s: %w", s.path, s.where(s.w.offset()), err)
	return s.err
}
