package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// This file writes small captures byte by byte, independently of the
// readers, and says what a reader must find in them.

// wantPacket is a packet a test capture holds.
type wantPacket struct {
	ts   time.Time
	link layers.LinkType
	data []byte
	wire int
}

// built is a capture made by a test, with what reading it must give.
type built struct {
	bytes []byte
	pkts  []wantPacket
	// ends[i] is the offset just past packet i's record.
	ends []int
	// bounds are the offsets at which a record or block ends (a cut there
	// is a clean end), headerLen the length of the leading file header.
	bounds    []int
	headerLen int
}

func (b *built) mark()        { b.bounds = append(b.bounds, len(b.bytes)) }
func (b *built) add(p []byte) { b.bytes = append(b.bytes, p...); b.mark() }
func (b *built) packet(w wantPacket) {
	b.pkts = append(b.pkts, w)
	b.ends = append(b.ends, len(b.bytes))
}

// testPayloads returns n deterministic payloads of assorted lengths.
func testPayloads(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([][]byte, n)
	for i := range out {
		l := r.IntN(1600)
		if i%7 == 3 {
			l = 0
		}
		d := make([]byte, l)
		for j := range d {
			d[j] = byte(r.Uint32())
		}
		out[i] = d
	}
	return out
}

var testEpoch = time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)

// pcapOpts describe a pcap file to build.
type pcapOpts struct {
	order    byteOrder
	nano     bool
	modified bool // Kuznetzov format: 24-byte record headers
	link     uint32
	snaplen  uint32
	n        int
	seed     uint64
	// step is the time between packets (default 1.234567 ms); start the
	// first packet's offset from testEpoch (default seed seconds).
	step, start time.Duration
}

func buildPcap(o pcapOpts) *built {
	b := &built{}
	magic := uint32(0xa1b2c3d4)
	if o.nano {
		magic = 0xa1b23c4d
	}
	if o.modified {
		magic = 0xa1b2cd34
	}
	h := make([]byte, 24)
	o.order.PutUint32(h, magic)
	o.order.PutUint16(h[4:], 2)
	o.order.PutUint16(h[6:], 4)
	o.order.PutUint32(h[16:], o.snaplen)
	o.order.PutUint32(h[20:], o.link)
	b.add(h)
	b.headerLen = 24
	for i, d := range testPayloads(o.seed, o.n) {
		step, start := o.step, o.start
		if step == 0 {
			step = 1234567 * time.Nanosecond
		}
		if start == 0 {
			start = time.Duration(o.seed) * time.Second
		}
		ts := testEpoch.Add(time.Duration(i)*step + start)
		frac := ts.Nanosecond() / 1000
		if o.nano {
			frac = ts.Nanosecond()
		} else {
			ts = ts.Truncate(time.Microsecond)
		}
		wire := len(d) + i%3*10
		rh := make([]byte, 16)
		o.order.PutUint32(rh, uint32(ts.Unix()))
		o.order.PutUint32(rh[4:], uint32(frac))
		o.order.PutUint32(rh[8:], uint32(len(d)))
		o.order.PutUint32(rh[12:], uint32(wire))
		if o.modified {
			rh = append(rh, 1, 2, 3, 4, 5, 6, 7, 8)
		}
		b.bytes = append(b.bytes, rh...)
		b.bytes = append(b.bytes, d...)
		b.packet(wantPacket{ts: ts, link: layers.LinkType(o.link), data: d, wire: wire})
		b.mark()
	}
	return b
}

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// ngWriter appends pcapng blocks in one byte order.
type ngWriter struct {
	b     *built
	order byteOrder
	// per interface of the current section: link type, snaplen, units
	ifaces []ngTestIface
}

type ngTestIface struct {
	link    layers.LinkType
	snaplen uint32
	unit    time.Duration // 0 for binary
	shift   uint          // binary resolution 2^-shift
	offset  int64
}

func (w *ngWriter) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	l := uint32(12 + len(body))
	h := make([]byte, 8, l)
	w.order.PutUint32(h, typ)
	w.order.PutUint32(h[4:], l)
	h = append(h, body...)
	h = w.order.AppendUint32(h, l)
	w.b.add(h)
}

func (w *ngWriter) section(order byteOrder) {
	w.order = order
	w.ifaces = nil
	body := order.AppendUint32(nil, 0x1a2b3c4d)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0))
	// an shb_userappl option
	body = order.AppendUint16(body, 4)
	body = order.AppendUint16(body, 5)
	body = append(body, "tests\x00\x00\x00"...)
	body = append(body, 0, 0, 0, 0)
	w.block(0x0a0d0d0a, body)
}

// iface adds an IDB; tsresol 0 leaves the option out (microseconds).
func (w *ngWriter) iface(link layers.LinkType, snaplen uint32, tsresol byte, offset int64) {
	body := w.order.AppendUint16(nil, uint16(link))
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snaplen)
	// if_name, to be skipped
	body = w.order.AppendUint16(body, 2)
	body = w.order.AppendUint16(body, 3)
	body = append(body, "et0\x00"...)
	ifc := ngTestIface{link: link, snaplen: snaplen, unit: time.Microsecond, offset: offset}
	if tsresol != 0 {
		body = w.order.AppendUint16(body, 9)
		body = w.order.AppendUint16(body, 1)
		body = append(body, tsresol, 0, 0, 0)
		if tsresol&0x80 != 0 {
			ifc.unit, ifc.shift = 0, uint(tsresol&0x7f)
		} else {
			ifc.unit = 1
			for range 9 - int(tsresol) {
				ifc.unit *= 10
			}
		}
	}
	if offset != 0 {
		body = w.order.AppendUint16(body, 14)
		body = w.order.AppendUint16(body, 8)
		body = w.order.AppendUint64(body, uint64(offset))
	}
	body = append(body, 0, 0, 0, 0)
	w.block(1, body)
	w.ifaces = append(w.ifaces, ifc)
}

// units converts ts to interface i's timestamp units and back, returning
// the timestamp the reader must report.
func (w *ngWriter) units(i int, ts time.Time) (uint64, time.Time) {
	ifc := w.ifaces[i]
	ts = ts.Add(-time.Duration(ifc.offset) * time.Second)
	if ifc.unit == 0 {
		ns := uint64(ts.Nanosecond())
		frac := ns << ifc.shift / 1e9
		u := uint64(ts.Unix())<<ifc.shift | frac
		back := time.Unix(ts.Unix()+ifc.offset, int64(frac*1e9>>ifc.shift))
		return u, back
	}
	ts = ts.Truncate(ifc.unit)
	u := uint64(ts.Unix())*uint64(time.Second/ifc.unit) + uint64(ts.Nanosecond())/uint64(ifc.unit)
	return u, ts.Add(time.Duration(ifc.offset) * time.Second)
}

func (w *ngWriter) epb(i int, ts time.Time, d []byte, wire int) {
	u, want := w.units(i, ts)
	body := w.order.AppendUint32(nil, uint32(i))
	body = w.order.AppendUint32(body, uint32(u>>32))
	body = w.order.AppendUint32(body, uint32(u))
	body = w.order.AppendUint32(body, uint32(len(d)))
	body = w.order.AppendUint32(body, uint32(wire))
	body = append(body, d...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	// an epb_flags option, to be skipped
	body = w.order.AppendUint16(body, 2)
	body = w.order.AppendUint16(body, 4)
	body = w.order.AppendUint32(body, 1)
	body = append(body, 0, 0, 0, 0)
	w.b.packet(wantPacket{ts: want, link: w.ifaces[i].link, data: d, wire: wire})
	w.block(6, body)
	w.b.ends[len(w.b.ends)-1] = len(w.b.bytes)
}

// pb writes an obsolete packet block.
func (w *ngWriter) pb(i int, ts time.Time, d []byte) {
	u, want := w.units(i, ts)
	body := w.order.AppendUint16(nil, uint16(i))
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, uint32(u>>32))
	body = w.order.AppendUint32(body, uint32(u))
	body = w.order.AppendUint32(body, uint32(len(d)))
	body = w.order.AppendUint32(body, uint32(len(d)))
	body = append(body, d...)
	w.b.packet(wantPacket{ts: want, link: w.ifaces[i].link, data: d, wire: len(d)})
	w.block(2, body)
	w.b.ends[len(w.b.ends)-1] = len(w.b.bytes)
}

// spb writes a simple packet block; it carries the previous timestamp.
func (w *ngWriter) spb(prev time.Time, d []byte, wire int) {
	body := w.order.AppendUint32(nil, uint32(wire))
	body = append(body, d...)
	captured := d
	if s := w.ifaces[0].snaplen; s != 0 && int(s) < len(d) {
		captured = d[:s]
	}
	w.b.packet(wantPacket{ts: prev, link: w.ifaces[0].link, data: captured, wire: max(wire, len(captured))})
	w.block(3, body)
	w.b.ends[len(w.b.ends)-1] = len(w.b.bytes)
}

// buildNG writes a pcapng file exercising what the reader must handle:
// both byte orders, two sections with different link types, several
// interfaces per section with different timestamp resolutions and offsets,
// every packet block type and unknown blocks to skip.
func buildNG(first byteOrder, seed uint64, n int) *built {
	b := &built{}
	w := &ngWriter{b: b}
	w.section(first)
	b.headerLen = len(b.bytes)
	w.iface(layers.LinkTypeEthernet, 0, 0, 0)
	w.iface(layers.LinkTypeRaw, 0, 9, 0)
	w.block(0x40000bad, []byte("custom block, skipped"))
	pays := testPayloads(seed, n)
	ts := testEpoch.Add(time.Duration(seed) * time.Hour)
	var last time.Time
	for i, d := range pays[:n/2] {
		ts = ts.Add(time.Duration(i*977) * time.Microsecond)
		switch i % 5 {
		case 3:
			w.pb(0, ts, d)
		case 4:
			w.block(5, make([]byte, 20)) // interface statistics, skipped
			fallthrough
		default:
			w.epb(i%2, ts, d, len(d)+i%4)
		}
		last = b.pkts[len(b.pkts)-1].ts
	}
	var other byteOrder = binary.BigEndian
	if first == byteOrder(binary.BigEndian) {
		other = binary.LittleEndian
	}
	w.section(other)
	w.iface(layers.LinkTypeLinuxSLL, 200, 0, 0)
	w.iface(layers.LinkTypeIPv4, 0, 0x94, 0) // 2^-20 s
	w.iface(layers.LinkTypeNull, 0, 3, 3600) // ms, one hour offset
	w.block(4, make([]byte, 8))              // name resolution, skipped
	for i, d := range pays[n/2:] {
		ts = ts.Add(time.Duration(i*1311) * time.Microsecond)
		if i%6 == 5 {
			w.spb(last, d, len(d))
			continue
		}
		w.epb(i%3, ts, d, len(d))
		last = b.pkts[len(b.pkts)-1].ts
	}
	return b
}

func gzipBytes(p []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(p)
	zw.Close()
	return buf.Bytes()
}
