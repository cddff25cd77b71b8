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
	hdrSize   = 120  // sizeof(struct event_hdr)

	kindData  = 1
	kindClose = 2
	kindExec  = 3

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
	statCount
)

var errShortRecord = errors.New("short record")

// event is one decoded ring-buffer record. data is borrowed from the record.
type event struct {
	ts, conn, gen, offset, end uint64
	cgroup                     uint64
	tgid, len                  uint32
	kind, dir, flags, family   uint8
	role                       uint8
	lport, rport               uint16
	laddr, raddr               [16]byte
	comm                       [16]byte
	data                       []byte
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
	e.cgroup = le.Uint64(rec[40:])
	e.tgid = le.Uint32(rec[48:])
	e.len = le.Uint32(rec[52:])
	e.kind, e.dir, e.flags, e.family, e.role = rec[56], rec[57], rec[58], rec[59], rec[60]
	e.lport = le.Uint16(rec[62:])
	e.rport = le.Uint16(rec[64:])
	copy(e.laddr[:], rec[66:82])
	copy(e.raddr[:], rec[82:98])
	copy(e.comm[:], rec[98:114])
	if int(e.len) > len(rec)-hdrSize {
		return errShortRecord
	}
	e.data = rec[hdrSize : hdrSize+int(e.len)]
	return nil
}

// encode appends the record form of e to b (tests and replay tools).
func (e *event) encode(b []byte) []byte {
	var h [hdrSize]byte
	le := binary.LittleEndian
	le.PutUint64(h[0:], e.ts)
	le.PutUint64(h[8:], e.conn)
	le.PutUint64(h[16:], e.gen)
	le.PutUint64(h[24:], e.offset)
	le.PutUint64(h[32:], e.end)
	le.PutUint64(h[40:], e.cgroup)
	le.PutUint32(h[48:], e.tgid)
	le.PutUint32(h[52:], uint32(len(e.data)))
	h[56], h[57], h[58], h[59], h[60] = e.kind, e.dir, e.flags, e.family, e.role
	le.PutUint16(h[62:], e.lport)
	le.PutUint16(h[64:], e.rport)
	copy(h[66:82], e.laddr[:])
	copy(h[82:98], e.raddr[:])
	copy(h[98:114], e.comm[:])
	b = append(b, h[:]...)
	return append(b, e.data...)
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
