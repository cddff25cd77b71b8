package bpf

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Layout of the records the BPF programs write (c/sensor.h); the two change
// together, and TestEventLayout pins the Go side.
const (
	chunkSize = 4096 // CHUNK: most data bytes in one record
	hdrSize   = 48   // sizeof(struct event_hdr)
	metaSize  = 72   // sizeof(struct meta): the payload of CONN and EXEC records
	// offsetof(struct conn, m) in the conns map's values: after gen and
	// the four offsets.
	connMetaOff = 40

	kindData  = 1
	kindClose = 2
	kindExec  = 3
	kindConn  = 4 // the connection's addresses, role and process, before its first data
	// kindMirror: the connection is the client end of a local connection
	// whose server end is traced too; its bytes are no longer copied.
	kindMirror = 5

	dirEgress  = 0
	dirIngress = 1

	roleUnknown = 0
	roleClient  = 1
	roleServer  = 2

	flagTLS  = 1
	flagLast = 2 // the call's final chunk: bytes up to end that did not come are lost

	filterPID    = 1
	filterCgroup = 2
	filterComm   = 4
	filterPort   = 8

	afInet  = 2
	afInet6 = 10
)

// Indexes of the kernel-side counters in the stats map (enum ST_STAT_*).
const (
	statEvents = iota
	statBytes
	statLostEvents
	statLostBytes
	statTruncBytes
	statUnreadableBytes
	statTLSUnmappedBytes
	statLostControl
	statSkippedBytes
	statEncryptedBytes
	statMirroredBytes
	statMirroredConns
	statCount
)

var errShortRecord = errors.New("short record")

// event is one decoded ring-buffer record. data is borrowed from the
// record. The fields after len are those of struct meta: set in CONN and
// EXEC records (the payload, also left in data), zero in the others.
type event struct {
	ts, conn, gen, offset, end uint64
	len                        uint32
	kind, dir, flags           uint8
	data                       []byte

	cgroup       uint64
	tgid         uint32
	family, role uint8
	lport, rport uint16
	laddr, raddr [16]byte
	comm         [16]byte
}

// decode fills e from rec without allocating.
func (e *event) decode(rec []byte) error {
	if len(rec) < hdrSize {
		return errShortRecord
	}
	le := binary.LittleEndian
	e.ts = le.Uint64(rec[0:])
	e.conn = le.Uint64(rec[8:])
	e.gen = le.Uint64(rec[16:])
	e.offset = le.Uint64(rec[24:])
	e.end = le.Uint64(rec[32:])
	e.len = le.Uint32(rec[40:])
	e.kind, e.dir, e.flags = rec[44], rec[45], rec[46]
	if int(e.len) > len(rec)-hdrSize {
		return errShortRecord
	}
	e.data = rec[hdrSize : hdrSize+int(e.len)]
	if e.kind == kindConn || e.kind == kindExec {
		return e.decodeMeta(e.data)
	}
	e.metaFrom(&meta{})
	return nil
}

// meta is struct meta: who and where.
type meta struct {
	cgroup       uint64
	tgid         uint32
	lport, rport uint16
	family, role uint8
	laddr, raddr [16]byte
	comm         [16]byte
}

func (e *event) metaFrom(m *meta) {
	e.cgroup, e.tgid = m.cgroup, m.tgid
	e.lport, e.rport, e.family, e.role = m.lport, m.rport, m.family, m.role
	e.laddr, e.raddr, e.comm = m.laddr, m.raddr, m.comm
}

// decodeMeta fills e's meta fields from a struct meta.
func (e *event) decodeMeta(b []byte) error {
	var m meta
	if err := m.decode(b); err != nil {
		return err
	}
	e.metaFrom(&m)
	return nil
}

func (m *meta) decode(b []byte) error {
	if len(b) < metaSize {
		return errShortRecord
	}
	le := binary.LittleEndian
	m.cgroup = le.Uint64(b[0:])
	m.tgid = le.Uint32(b[8:])
	m.lport = le.Uint16(b[12:])
	m.rport = le.Uint16(b[14:])
	m.family, m.role = b[16], b[17]
	copy(m.laddr[:], b[24:40])
	copy(m.raddr[:], b[40:56])
	copy(m.comm[:], b[56:72])
	return nil
}

// encode appends the record form of e to b (tests and replay tools): for
// CONN and EXEC records the meta fields are the payload, for the others
// data is.
func (e *event) encode(b []byte) []byte {
	payload := e.data
	if e.kind == kindConn || e.kind == kindExec {
		var m [metaSize]byte
		le := binary.LittleEndian
		le.PutUint64(m[0:], e.cgroup)
		le.PutUint32(m[8:], e.tgid)
		le.PutUint16(m[12:], e.lport)
		le.PutUint16(m[14:], e.rport)
		m[16], m[17] = e.family, e.role
		copy(m[24:40], e.laddr[:])
		copy(m[40:56], e.raddr[:])
		copy(m[56:72], e.comm[:])
		payload = m[:]
	}
	var h [hdrSize]byte
	le := binary.LittleEndian
	le.PutUint64(h[0:], e.ts)
	le.PutUint64(h[8:], e.conn)
	le.PutUint64(h[16:], e.gen)
	le.PutUint64(h[24:], e.offset)
	le.PutUint64(h[32:], e.end)
	le.PutUint32(h[40:], uint32(len(payload)))
	h[44], h[45], h[46] = e.kind, e.dir, e.flags
	b = append(b, h[:]...)
	return append(b, payload...)
}

// endpoints returns the connection's local and remote addresses.
func (e *event) endpoints() (local, remote netip.AddrPort) {
	var la, ra netip.Addr
	if e.family == afInet {
		la = netip.AddrFrom4([4]byte(e.laddr[:4]))
		ra = netip.AddrFrom4([4]byte(e.raddr[:4]))
	} else {
		la = netip.AddrFrom16(e.laddr).Unmap()
		ra = netip.AddrFrom16(e.raddr).Unmap()
	}
	return netip.AddrPortFrom(la, e.lport), netip.AddrPortFrom(ra, e.rport)
}

// commString returns the NUL-terminated command name.
func commString(c *[16]byte) string {
	n := 0
	for n < len(c) && c[n] != 0 {
		n++
	}
	return string(c[:n])
}
