package synth

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestChecksumsAgainstGopacket decodes every edge-case frame with gopacket,
// recomputes the innermost IP and TCP checksums with it and compares.
func TestChecksumsAgainstGopacket(t *testing.T) {
	for _, ec := range edgeCases() {
		t.Run(ec.name, func(t *testing.T) {
			r, err := pcapgo.NewReader(bytes.NewReader(render(t, ec)))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for {
				data, _, err := r.ReadPacketData()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				n++
				pkt := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
				var tcp *layers.TCP
				var netLayer gopacket.NetworkLayer
				for _, l := range pkt.Layers() {
					switch v := l.(type) {
					case *layers.IPv4:
						netLayer = v
						want := v.Checksum
						buf := gopacket.NewSerializeBuffer()
						cp := *v
						if err := cp.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true}); err != nil {
							t.Fatal(err)
						}
						if cp.Checksum != want {
							t.Fatalf("packet %d: IPv4 checksum %#x, gopacket computes %#x", n, want, cp.Checksum)
						}
					case *layers.IPv6:
						netLayer = v
					case *layers.TCP:
						tcp = v
					}
				}
				if tcp == nil || netLayer == nil {
					t.Fatalf("packet %d: no TCP/IP found: %v", n, pkt)
				}
				want := tcp.Checksum
				cp := *tcp
				if err := cp.SetNetworkLayerForChecksum(netLayer); err != nil {
					t.Fatal(err)
				}
				buf := gopacket.NewSerializeBuffer()
				if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, &cp, gopacket.Payload(tcp.Payload)); err != nil {
					t.Fatal(err)
				}
				if cp.Checksum != want {
					t.Fatalf("packet %d: TCP checksum %#x, gopacket computes %#x", n, want, cp.Checksum)
				}
			}
			if n == 0 {
				t.Fatal("no packets")
			}
		})
	}
}

// TestSendAllocs pins the zero-allocation path of Conn.Send into a Writer.
func TestSendAllocs(t *testing.T) {
	w, err := NewWriter(io.Discard, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewConn(w, epoch, ConnOptions{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80")})
	if err != nil {
		t.Fatal(err)
	}
	req, resp := get("/x"), jsonResp(make([]byte, 9000), false, "")
	c.Exchange(req, resp, time.Millisecond) // warm the frame buffer
	if a := testing.AllocsPerRun(100, func() { c.Exchange(req, resp, time.Millisecond) }); a != 0 {
		t.Fatalf("Exchange allocates %.1f times per run", a)
	}
}

// TestSeqAck checks sequence and acknowledgement bookkeeping: every
// segment's seq continues its direction's stream and ACKs never exceed
// what the peer sent.
func TestSeqAck(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	c, err := NewConn(w, epoch, ConnOptions{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80"), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		c.Exchange(get("/a"), jsonResp(make([]byte, 3000*i), i%2 == 0, ""), time.Millisecond)
		c.Advance(time.Duration(i) * 20 * time.Millisecond)
	}
	c.Close(ClientToServer)
	w.Flush()
	r, _ := pcapgo.NewReader(&buf)
	next := map[layers.TCPPort]uint32{}
	sent := map[layers.TCPPort]uint32{}
	var last time.Time
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if ci.Timestamp.Before(last) {
			t.Fatal("timestamps go backwards")
		}
		last = ci.Timestamp
		tcp := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp.SYN {
			next[tcp.SrcPort] = tcp.Seq + 1
			sent[tcp.SrcPort] = tcp.Seq + 1
			continue
		}
		if tcp.Seq != next[tcp.SrcPort] {
			t.Fatalf("port %d: seq %d, want %d", tcp.SrcPort, tcp.Seq, next[tcp.SrcPort])
		}
		if tcp.ACK && int32(tcp.Ack-sent[tcp.DstPort]) > 0 {
			t.Fatalf("port %d acks %d beyond what the peer sent (%d)", tcp.SrcPort, tcp.Ack, sent[tcp.DstPort])
		}
		if len(tcp.Payload) > 1460 {
			t.Fatalf("segment of %d bytes exceeds the MSS", len(tcp.Payload))
		}
		next[tcp.SrcPort] += uint32(len(tcp.Payload))
		if tcp.FIN {
			next[tcp.SrcPort]++
		}
		sent[tcp.SrcPort] = next[tcp.SrcPort]
	}
}
