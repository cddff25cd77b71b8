package synth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"
)

// Dir is the direction a segment travels.
type Dir uint8

// Directions.
const (
	ClientToServer Dir = iota
	ServerToClient
)

// ErrClosed is returned when data is sent on a connection after Close.
var ErrClosed = errors.New("connection closed")

// ErrBadConn is returned by NewConn for inconsistent options.
var ErrBadConn = errors.New("invalid connection options")

// VXLAN wraps a connection's frames in VXLAN (outer IPv4 or IPv6, UDP 4789).
type VXLAN struct {
	// ClientVTEP and ServerVTEP are the outer addresses on the client and
	// server side.
	ClientVTEP, ServerVTEP netip.Addr
	// VNI is the 24-bit VXLAN network identifier.
	VNI uint32
}

// Impairments degrade what the capture shows. All choices come from the
// connection's Seed, so a given seed gives the same capture every time. The
// zero value means a clean capture.
type Impairments struct {
	// LossRate is the probability that a data segment is missing from the
	// capture (the peer still receives and acknowledges it).
	LossRate float64
	// RetransmitRate is the probability that a data segment appears twice.
	RetransmitRate float64
	// ReorderRate is the probability that a data segment is captured after
	// the one that follows it.
	ReorderRate float64
	// MidStream hides the handshake: the capture starts at the first
	// client data segment at or beyond SkipBytes of the client's stream.
	MidStream bool
	// SkipBytes (with MidStream) hides the first bytes the client sends and
	// everything before them.
	SkipBytes int
	// OneSided captures only the direction given by Only.
	OneSided bool
	// Only is the direction captured when OneSided is set.
	Only Dir
}

// ConnOptions configure a Conn. Client and Server are required; the rest
// has working zero values.
type ConnOptions struct {
	// Client and Server are the endpoints (both IPv4 or both IPv6).
	Client, Server netip.AddrPort
	// ClientMAC and ServerMAC are the Ethernet addresses; zero means
	// MACFor(the IP address).
	ClientMAC, ServerMAC [6]byte
	// MSS is the maximum segment payload; 0 means 1460 (IPv4) or 1440 (IPv6).
	MSS int
	// VLANs are 802.1Q tags, outermost first; two or more make QinQ (the
	// outer tags use TPID 0x88a8).
	VLANs []uint16
	// VXLAN, when non-nil, encapsulates every frame.
	VXLAN *VXLAN
	// RTT is the round-trip time; 0 means 1ms.
	RTT time.Duration
	// DelayedACK is the receiver's delayed-ACK timeout; 0 means 40ms.
	DelayedACK time.Duration
	// Window is the advertised receive window; 0 means 65535.
	Window uint16
	// Seed drives initial sequence numbers and impairments.
	Seed uint64
	// Impair degrades the capture.
	Impair Impairments
}

type side struct {
	seq      uint32 // next sequence number to send
	isn      uint32
	ipid     uint16
	unacked  int       // peer segments received and not yet acknowledged
	ackDue   time.Time // when the delayed ACK fires (valid when unacked > 0)
	finSent  bool
	prefix   []byte // frame bytes before the (inner) IP header
	ipOff    int    // offset of the outer IP header in prefix, -1 without VXLAN
	src, dst netip.AddrPort
	psum     uint64 // pseudo-header sum without length
	osum     uint64 // outer UDP pseudo-header sum (IPv6 outer)
	sent     int64  // stream bytes sent
}

// Conn plays one TCP connection onto a Sink, advancing its own clock. It is
// not safe for concurrent use. After a Sink error every method returns it.
type Conn struct {
	sink    Sink
	o       ConnOptions
	rng     *rand.Rand
	now     time.Time
	v4      bool
	side    [2]side
	buf     []byte
	err     error
	capture bool
	lose    int
	closed  bool
	held    *heldSeg
	packets int
}

type heldSeg struct {
	d       Dir
	flags   uint8
	seq     uint32
	payload []byte
}

// NewConn starts a connection at start: unless opts.Impair.MidStream hides
// it, the three-way handshake is written to sink.
func NewConn(sink Sink, start time.Time, opts ConnOptions) (*Conn, error) {
	c, err := newConn(sink, start, opts)
	if err != nil {
		return nil, err
	}
	c.handshake()
	return c, c.err
}

func newConn(sink Sink, start time.Time, o ConnOptions) (*Conn, error) {
	ca, sa := o.Client.Addr(), o.Server.Addr()
	if !ca.IsValid() || !sa.IsValid() || ca.Is4() != sa.Is4() {
		return nil, fmt.Errorf("client %v, server %v: %w", o.Client, o.Server, ErrBadConn)
	}
	ca, sa = ca.Unmap(), sa.Unmap()
	o.Client, o.Server = netip.AddrPortFrom(ca, o.Client.Port()), netip.AddrPortFrom(sa, o.Server.Port())
	if o.VXLAN != nil && (!o.VXLAN.ClientVTEP.IsValid() || o.VXLAN.ClientVTEP.Is4() != o.VXLAN.ServerVTEP.Is4()) {
		return nil, fmt.Errorf("vxlan endpoints: %w", ErrBadConn)
	}
	v4 := ca.Is4()
	if o.MSS <= 0 {
		o.MSS = 1460
		if !v4 {
			o.MSS = 1440
		}
	}
	if o.RTT <= 0 {
		o.RTT = time.Millisecond
	}
	if o.DelayedACK <= 0 {
		o.DelayedACK = 40 * time.Millisecond
	}
	if o.Window == 0 {
		o.Window = 65535
	}
	if o.ClientMAC == ([6]byte{}) {
		o.ClientMAC = MACFor(ca)
	}
	if o.ServerMAC == ([6]byte{}) {
		o.ServerMAC = MACFor(sa)
	}
	c := &Conn{sink: sink, o: o, now: start, v4: v4, capture: !o.Impair.MidStream}
	c.rng = rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	for d := range 2 {
		s := &c.side[d]
		s.isn = c.rng.Uint32()
		s.seq = s.isn
		s.ipid = uint16(c.rng.Uint32())
		if d == int(ClientToServer) {
			s.src, s.dst = o.Client, o.Server
		} else {
			s.src, s.dst = o.Server, o.Client
		}
		s.psum = pseudoSum(s.src.Addr(), s.dst.Addr(), 6)
		c.buildPrefix(Dir(d))
	}
	return c, nil
}

// buildPrefix precomputes the frame bytes before the inner IP header.
func (c *Conn) buildPrefix(d Dir) {
	s := &c.side[d]
	srcMAC, dstMAC := c.o.ClientMAC, c.o.ServerMAC
	if d == ServerToClient {
		srcMAC, dstMAC = dstMAC, srcMAC
	}
	b := make([]byte, 0, 128)
	inner := uint16(etherTypeIPv6)
	if c.v4 {
		inner = etherTypeIPv4
	}
	b = append(b, dstMAC[:]...)
	b = append(b, srcMAC[:]...)
	for i, tag := range c.o.VLANs {
		tpid := uint16(etherTypeDot1Q)
		if i < len(c.o.VLANs)-1 {
			tpid = etherTypeQinQ
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, tag&0x0fff)
	}
	s.ipOff = -1
	if x := c.o.VXLAN; x != nil {
		src, dst := x.ClientVTEP, x.ServerVTEP
		if d == ServerToClient {
			src, dst = dst, src
		}
		outer := uint16(etherTypeIPv6)
		if src.Is4() {
			outer = etherTypeIPv4
		}
		b = binary.BigEndian.AppendUint16(b, outer)
		s.ipOff = len(b)
		b = appendIPHeader(b, src, dst, 17)
		// UDP source port from a hash of the inner flow, as VTEPs do.
		sport := 49152 + uint16((c.o.Client.Port()^c.o.Server.Port())%16384)
		b = binary.BigEndian.AppendUint16(b, sport)
		b = binary.BigEndian.AppendUint16(b, vxlanPort)
		b = append(b, 0, 0, 0, 0) // length, checksum
		b = append(b, 0x08, 0, 0, 0, byte(x.VNI>>16), byte(x.VNI>>8), byte(x.VNI), 0)
		s.osum = pseudoSum(src, dst, 17)
		// Inner Ethernet: the VMs' own MACs.
		b = append(b, dstMAC[:]...)
		b = append(b, srcMAC[:]...)
		// Outer MACs differ from inner ones.
		ob := MACFor(src)
		od := MACFor(dst)
		copy(b[0:6], od[:])
		copy(b[6:12], ob[:])
	}
	b = binary.BigEndian.AppendUint16(b, inner)
	s.prefix = b
}

// Now returns the connection's clock: the time of its next packet.
func (c *Conn) Now() time.Time { return c.now }

// Err returns the first Sink error.
func (c *Conn) Err() error { return c.err }

// Packets returns the number of packets written to the sink.
func (c *Conn) Packets() int { return c.packets }

// Options returns the options in use, defaults filled in.
func (c *Conn) Options() ConnOptions { return c.o }

// SetCapture turns capturing on or off: while off, packets are played but
// not written (as if the sensor were not looking).
func (c *Conn) SetCapture(on bool) { c.capture = on }

// LoseNext makes the next n data segments (either direction) missing from
// the capture; the peer still acknowledges them.
func (c *Conn) LoseNext(n int) { c.lose += n }

// frame builds a packet from side d into c.buf and writes it.
func (c *Conn) emit(d Dir, flags uint8, seq uint32, payload []byte, opts []byte) {
	if c.err != nil {
		return
	}
	s := &c.side[d]
	s.ipid++
	if !c.capture || (c.o.Impair.OneSided && d != c.o.Impair.Only) {
		return
	}
	peer := &c.side[1-d]
	b := append(c.buf[:0], s.prefix...)
	ipStart := len(b)
	b = appendIPHeader(b, s.src.Addr(), s.dst.Addr(), 6)
	tcpStart := len(b)
	hl := 20 + len(opts)
	b = binary.BigEndian.AppendUint16(b, s.src.Port())
	b = binary.BigEndian.AppendUint16(b, s.dst.Port())
	b = binary.BigEndian.AppendUint32(b, seq)
	ack := uint32(0)
	if flags&flagACK != 0 {
		ack = peer.seq
	}
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, byte(hl/4)<<4, flags)
	b = binary.BigEndian.AppendUint16(b, c.o.Window)
	b = append(b, 0, 0, 0, 0)
	b = append(b, opts...)
	b = append(b, payload...)
	tcpLen := len(b) - tcpStart
	sum := s.psum + uint64(tcpLen)
	binary.BigEndian.PutUint16(b[tcpStart+16:], checksumFold(checksumAdd(sum, b[tcpStart:])))
	fixIPHeader(b[ipStart:], c.v4, s.ipid, tcpLen)
	if s.ipOff >= 0 {
		ov4 := b[s.ipOff]>>4 == 4
		oh := 40
		if ov4 {
			oh = 20
		}
		udp := s.ipOff + oh
		udpLen := len(b) - udp
		binary.BigEndian.PutUint16(b[udp+4:], uint16(udpLen))
		fixIPHeader(b[s.ipOff:], ov4, s.ipid, udpLen)
		if !ov4 {
			b[udp+6], b[udp+7] = 0, 0
			cs := checksumFold(checksumAdd(s.osum+uint64(udpLen), b[udp:]))
			if cs == 0 {
				cs = 0xffff
			}
			binary.BigEndian.PutUint16(b[udp+6:], cs)
		}
	}
	c.buf = b
	if err := c.sink.WritePacket(c.now, b); err != nil {
		c.err = err
		return
	}
	c.packets++
}

// tick advances the clock by the serialisation time of n bytes at 1 Gb/s
// plus a microsecond.
func (c *Conn) tick(n int) {
	c.now = c.now.Add(time.Microsecond + time.Duration(n*8))
}

func (c *Conn) handshake() {
	cl, sv := &c.side[ClientToServer], &c.side[ServerToClient]
	mss := func() []byte { return []byte{2, 4, byte(c.o.MSS >> 8), byte(c.o.MSS)} }
	c.emit(ClientToServer, flagSYN, cl.seq, nil, mss())
	cl.seq++
	c.now = c.now.Add(c.o.RTT / 2)
	c.emit(ServerToClient, flagSYN|flagACK, sv.seq, nil, mss())
	sv.seq++
	c.now = c.now.Add(c.o.RTT / 2)
	c.emit(ClientToServer, flagACK, cl.seq, nil, nil)
	c.tick(0)
}

// flushAcks sends the delayed ACKs due by t, in time order, moving the
// clock to each.
func (c *Conn) flushAcks(t time.Time) {
	for {
		d := -1
		for i := range 2 {
			s := &c.side[i]
			if s.unacked > 0 && !s.ackDue.After(t) && (d < 0 || s.ackDue.Before(c.side[d].ackDue)) {
				d = i
			}
		}
		if d < 0 {
			return
		}
		s := &c.side[d]
		if s.ackDue.After(c.now) {
			c.now = s.ackDue
		}
		c.pureAck(Dir(d))
	}
}

func (c *Conn) pureAck(d Dir) {
	s := &c.side[d]
	c.emit(d, flagACK, s.seq, nil, nil)
	s.unacked = 0
	c.tick(0)
}

// Advance moves the clock forward by dt (think or processing time); delayed
// ACKs that fall due meanwhile are sent.
func (c *Conn) Advance(dt time.Duration) {
	t := c.now.Add(dt)
	c.flushAcks(t)
	if t.After(c.now) {
		c.now = t
	}
}

// Send writes data from direction d as MSS-sized segments, the last one
// with PSH. The receiver acknowledges every second segment at once and the
// rest after its delayed-ACK timeout or with its own next data.
func (c *Conn) Send(d Dir, data []byte) error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return ErrClosed
	}
	c.flushAcks(c.now)
	s, peer := &c.side[d], &c.side[1-d]
	imp := &c.o.Impair
	// Our own pending ACK rides on this data.
	s.unacked = 0
	for off := 0; off < len(data); {
		n := min(c.o.MSS, len(data)-off)
		seg := data[off : off+n]
		flags := uint8(flagACK)
		if off+n == len(data) {
			flags |= flagPSH
		}
		if imp.MidStream && !c.capture && d == ClientToServer && s.sent >= int64(imp.SkipBytes) {
			c.capture = true
		}
		lost, retx, reorder := false, false, false
		if c.lose > 0 {
			c.lose--
			lost = true
		}
		if imp.LossRate > 0 && c.rng.Float64() < imp.LossRate {
			lost = true
		}
		if imp.RetransmitRate > 0 && c.rng.Float64() < imp.RetransmitRate {
			retx = true
		}
		if imp.ReorderRate > 0 && c.rng.Float64() < imp.ReorderRate && off+n < len(data) {
			reorder = true
		}
		switch {
		case lost:
			saved := c.capture
			c.capture = false
			c.emit(d, flags, s.seq, seg, nil)
			c.capture = saved
		case reorder && c.held == nil:
			c.held = &heldSeg{d: d, flags: flags, seq: s.seq, payload: seg}
		default:
			c.emit(d, flags, s.seq, seg, nil)
		}
		c.tick(n)
		if retx && !lost {
			c.now = c.now.Add(200 * time.Microsecond)
			c.emit(d, flags, s.seq, seg, nil)
			c.tick(n)
		}
		s.seq += uint32(n)
		s.sent += int64(n)
		off += n
		if c.held != nil && c.held.seq != s.seq-uint32(n) {
			h := c.held
			c.held = nil
			c.emit(h.d, h.flags, h.seq, h.payload, nil)
			c.tick(len(h.payload))
		}
		if c.held == nil {
			peer.unacked++
			if peer.unacked == 1 {
				peer.ackDue = c.now.Add(c.o.DelayedACK)
			}
			if peer.unacked >= 2 {
				c.pureAck(1 - d)
			}
		}
	}
	if c.held != nil {
		h := c.held
		c.held = nil
		c.emit(h.d, h.flags, h.seq, h.payload, nil)
		c.tick(len(h.payload))
	}
	if peer.unacked == 0 {
		peer.ackDue = time.Time{}
	}
	return c.err
}

// Close tears the connection down: a FIN from d, the peer's FIN/ACK and the
// final ACK. Pending delayed ACKs ride on the FINs.
func (c *Conn) Close(d Dir) error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return nil
	}
	c.flushAcks(c.now)
	s, peer := &c.side[d], &c.side[1-d]
	s.unacked = 0
	c.emit(d, flagFIN|flagACK, s.seq, nil, nil)
	s.seq++
	c.now = c.now.Add(c.o.RTT / 2)
	peer.unacked = 0
	c.emit(1-d, flagFIN|flagACK, peer.seq, nil, nil)
	peer.seq++
	c.now = c.now.Add(c.o.RTT / 2)
	c.emit(d, flagACK, s.seq, nil, nil)
	c.tick(0)
	c.closed = true
	return c.err
}

// Reset aborts the connection with an RST from d.
func (c *Conn) Reset(d Dir) error {
	if c.err != nil || c.closed {
		return c.err
	}
	s := &c.side[d]
	c.emit(d, flagRST|flagACK, s.seq, nil, nil)
	c.tick(0)
	c.closed = true
	return c.err
}
