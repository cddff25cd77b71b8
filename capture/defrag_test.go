package capture

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// fragBody is the TCP payload carried in fragments.
var fragBody = strings.Repeat("0123456789abcdef", 8) // 128 bytes

// segment is the TCP segment (header and payload) that gets fragmented.
func segment(tb testing.TB, p string) []byte { return serialize(tb, tcpL(), payload(p)) }

// frag4 is an Ethernet/IPv4 fragment of datagram id at byte offset off.
func frag4(tb testing.TB, id uint16, off int, more bool, chunk []byte) []byte {
	ip := ip4L(layers.IPProtocolTCP, cli4, srv4)
	ip.Id, ip.FragOffset = id, uint16(off/8)
	if more {
		ip.Flags = layers.IPv4MoreFragments
	}
	return serialize(tb, ethL(layers.EthernetTypeIPv4), ip, payload(string(chunk)))
}

// frag6 is an Ethernet/IPv6 fragment of datagram id at byte offset off.
func frag6(tb testing.TB, id uint32, off int, more bool, chunk []byte) []byte {
	return serialize(tb, ethL(layers.EthernetTypeIPv6), ip6L(layers.IPProtocolIPv6Fragment, cli6, srv6),
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: uint16(off / 8), MoreFragments: more, Identification: id},
		payload(string(chunk)))
}

type piece struct {
	off, end int
	more     bool
}

// split cuts seg into pieces.
func split(seg []byte, cuts ...int) []piece {
	var ps []piece
	start := 0
	for _, c := range append(cuts, len(seg)) {
		ps = append(ps, piece{start, c, c < len(seg)})
		start = c
	}
	return ps
}

func TestDefragment(t *testing.T) {
	seg := segment(t, fragBody) // 20 + 128 = 148 bytes
	want4 := frameWant{ok: true, proto: ProtoTCP, src: "10.0.0.1:40000", dst: "10.0.0.2:80", payload: fragBody}
	want6 := frameWant{ok: true, v6: true, proto: ProtoTCP, src: "[2001:db8::1]:40000", dst: "[2001:db8::2]:80", payload: fragBody}
	p := split(seg, 48, 96) // [0,48) [48,96) [96,148)
	cases := []struct {
		name   string
		v6     bool
		pieces []piece
	}{
		{"ipv4 in order", false, p},
		{"ipv4 reversed", false, []piece{p[2], p[1], p[0]}},
		{"ipv4 duplicate", false, []piece{p[0], p[0], p[2], p[2], p[1]}},
		{"ipv4 agreeing overlap", false, []piece{p[0], {32, 96, true}, {8, 64, true}, p[2]}},
		{"ipv4 one piece per 8 bytes", false, split(seg, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 136, 144)},
		{"ipv6 in order", true, p},
		{"ipv6 first piece last", true, []piece{p[1], p[2], p[0]}},
		{"ipv6 agreeing overlap", true, []piece{p[2], {40, 104, true}, p[0]}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			for i, pc := range c.pieces {
				var frame []byte
				if c.v6 {
					frame = frag6(t, 0x1234, pc.off, pc.more, seg[pc.off:pc.end])
				} else {
					frame = frag4(t, 0x1234, pc.off, pc.more, seg[pc.off:pc.end])
				}
				ok := dec.Decode(&Packet{Timestamp: testTime.Add(time.Duration(i) * time.Millisecond), LinkType: layers.LinkTypeEthernet, Data: frame}, &d)
				if i < len(c.pieces)-1 {
					if ok {
						t.Fatalf("piece %d completed the datagram", i)
					}
					continue
				}
				want := want4
				if c.v6 {
					want = want6
				}
				checkDecoded(t, ok, &d, want)
			}
			st := dec.Stats()
			if st.Fragments != uint64(len(c.pieces)) || st.Reassembled != 1 || st.TCP != 1 || st.FragmentsDropped != 0 {
				t.Errorf("stats %+v", st)
			}
			if len(dec.frag.table) != 0 {
				t.Errorf("%d datagrams left", len(dec.frag.table))
			}
		})
	}
}

// TestDefragmentRejects covers fragments that must not produce a datagram.
func TestDefragmentRejects(t *testing.T) {
	seg := segment(t, fragBody)
	conflict := bytes.Clone(seg)
	conflict[60] ^= 0xff
	type step struct {
		frame []byte
		at    time.Duration
	}
	f4 := func(id uint16, off, end int, more bool, src []byte) []byte {
		return frag4(t, id, off, more, src[off:end])
	}
	cases := []struct {
		name      string
		steps     []step
		dropped   uint64
		overlaps  uint64
		remaining int
	}{
		{"conflicting overlap", []step{{f4(1, 0, 48, true, seg), 0}, {f4(1, 48, 96, true, conflict), 0}, {f4(1, 48, 96, true, seg), 0}, {f4(1, 96, 148, false, seg), 0}},
			3, 1, 1},
		{"conflicting duplicate", []step{{f4(1, 0, 64, true, seg), 0}, {f4(1, 56, 96, true, conflict), 0}, {f4(1, 96, 148, false, seg), 0}},
			2, 1, 1},
		{"timeout", []step{{f4(1, 0, 48, true, seg), 0}, {f4(1, 48, 96, true, seg), time.Second}, {f4(1, 96, 148, false, seg), 31 * time.Second}},
			2, 0, 1},
		{"odd length non-final piece", []step{{f4(1, 0, 44, true, seg), 0}, {f4(1, 44, 148, false, seg), 0}},
			1, 0, 1},
		{"two different ends", []step{{f4(1, 96, 148, false, seg), 0}, {f4(1, 96, 140, false, seg), 0}, {f4(1, 0, 96, true, seg), 0}},
			2, 0, 1},
		{"beyond the end", []step{{f4(1, 48, 96, false, seg), 0}, {f4(1, 96, 144, true, seg), 0}, {f4(1, 0, 48, true, seg), 0}},
			2, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(DecoderOptions{})
			var d Decoded
			for i, s := range c.steps {
				if dec.Decode(&Packet{Timestamp: testTime.Add(s.at), LinkType: layers.LinkTypeEthernet, Data: s.frame}, &d) {
					t.Fatalf("step %d produced a datagram", i)
				}
			}
			st := dec.Stats()
			if st.FragmentsDropped != c.dropped || st.FragmentOverlaps != c.overlaps || st.Reassembled != 0 {
				t.Errorf("stats %+v", st)
			}
			if len(dec.frag.table) != c.remaining {
				t.Errorf("%d datagrams held, want %d", len(dec.frag.table), c.remaining)
			}
		})
	}
}

func TestDefragmentSnapCut(t *testing.T) {
	seg := segment(t, fragBody)
	frame := frag4(t, 1, 0, true, seg[:96])
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	dec.Decode(&Packet{LinkType: layers.LinkTypeEthernet, Data: frame[:len(frame)-10], WireLen: len(frame)}, &d)
	if st := dec.Stats(); st.Fragments != 1 || st.FragmentsDropped != 1 || len(dec.frag.table) != 0 {
		t.Errorf("stats %+v, %d held", st, len(dec.frag.table))
	}
}

// TestDefragmentBounds floods the reassembler with first fragments that
// never complete, and checks the bounds hold and a real datagram still
// gets through.
func TestDefragmentBounds(t *testing.T) {
	seg := segment(t, fragBody)
	for _, c := range []struct {
		name string
		opts DecoderOptions
	}{
		{"datagrams", DecoderOptions{MaxFragmentDatagrams: 8}},
		{"bytes", DecoderOptions{MaxFragmentBytes: 16 << 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dec := NewDecoder(c.opts)
			var d Decoded
			const flood = 100
			for i := range flood {
				dec.Decode(&Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: frag4(t, uint16(i), 0, true, seg[:96])}, &d)
				if len(dec.frag.table) > dec.opts.MaxFragmentDatagrams || dec.frag.held+dec.frag.pooled > dec.opts.MaxFragmentBytes {
					t.Fatalf("after %d: %d datagrams, %d bytes held", i, len(dec.frag.table), dec.frag.held)
				}
			}
			st := dec.Stats()
			if st.FragmentsDropped != flood-uint64(len(dec.frag.table)) || st.FragmentsDropped == 0 {
				t.Errorf("dropped %d, held %d", st.FragmentsDropped, len(dec.frag.table))
			}
			// The newest datagram survived: complete it.
			if !dec.Decode(&Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: frag4(t, flood-1, 96, false, seg[96:])}, &d) {
				t.Fatalf("newest datagram lost: %+v", dec.Stats())
			}
			if string(d.Payload) != fragBody {
				t.Errorf("payload %q", d.Payload)
			}
		})
	}
}

// TestDefragmentInTunnel reassembles an inner IPv6 packet fragmented inside
// VXLAN, and checks that buffers reused across datagrams are not mixed up.
func TestDefragmentInTunnel(t *testing.T) {
	dec := NewDecoder(DecoderOptions{})
	var d Decoded
	for round, text := range []string{fragBody, strings.ToUpper(fragBody), strings.Repeat("z", 200)} {
		seg := segment(t, text)
		for i, pc := range split(seg, 64) {
			frame := outerUDP(t, 4789, vxlanHeader(), frag6(t, uint32(round), pc.off, pc.more, seg[pc.off:pc.end]))
			ok := dec.Decode(&Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: frame}, &d)
			if ok != (i == 1) {
				t.Fatalf("round %d piece %d: Decode = %v", round, i, ok)
			}
		}
		checkDecoded(t, true, &d, frameWant{ok: true, v6: true, proto: ProtoTCP, src: "[2001:db8::1]:40000", dst: "[2001:db8::2]:80", payload: text, tunnels: 1})
	}
	if st := dec.Stats(); st.Reassembled != 3 || st.Decapsulated != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestDefragmentSteadyStateAllocs checks that reassembling datagram after
// datagram reuses buffers.
func TestDefragmentSteadyStateAllocs(t *testing.T) {
	seg := segment(t, fragBody)
	a := &Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: frag4(t, 5, 0, true, seg[:96])}
	b := &Packet{Timestamp: testTime, LinkType: layers.LinkTypeEthernet, Data: frag4(t, 5, 96, false, seg[96:])}
	dec := NewDecoder(DecoderOptions{})
	d := new(Decoded)
	run := func() {
		dec.Decode(a, d)
		if !dec.Decode(b, d) {
			t.Fatal("not reassembled")
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocations per reassembled datagram, want 0", n)
	}
}

// TestDefragmentCaptureClock checks that reassembly time comes from packet
// timestamps: a timestamp going backwards neither expires nor revives
// anything, and any later packet (not only a fragment) expires stale
// datagrams.
func TestDefragmentCaptureClock(t *testing.T) {
	seg := segment(t, fragBody)
	dec := NewDecoder(DecoderOptions{FragmentTimeout: 10 * time.Second})
	var d Decoded
	at := func(sec int, frame []byte) bool {
		return dec.Decode(&Packet{Timestamp: testTime.Add(time.Duration(sec) * time.Second), LinkType: layers.LinkTypeEthernet, Data: frame}, &d)
	}
	at(100, frag4(t, 1, 0, true, seg[:48]))
	at(50, frag4(t, 1, 48, true, seg[48:96])) // earlier timestamp
	if !at(105, frag4(t, 1, 96, false, seg[96:])) || string(d.Payload) != fragBody {
		t.Fatalf("not reassembled: %+v", dec.Stats())
	}
	at(106, frag4(t, 2, 0, true, seg[:48]))
	at(110, innerEth(t))
	if len(dec.frag.table) != 1 {
		t.Fatalf("datagram expired early")
	}
	at(117, innerEth(t)) // 11s after the first fragment of datagram 2
	if st := dec.Stats(); len(dec.frag.table) != 0 || st.FragmentsDropped != 1 {
		t.Errorf("datagram not expired by a later packet: %d held, %+v", len(dec.frag.table), st)
	}
}
