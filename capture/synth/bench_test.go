package synth

import (
	"io"
	"net/netip"
	"testing"
	"time"
)

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkConnPcap measures capture output (MB/s = bytes of pcap written)
// for keep-alive exchanges with 16 KB responses.
func BenchmarkConnPcap(b *testing.B) {
	cw := &countWriter{}
	w, err := NewWriter(cw, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	req := get("/v1/customers/1000")
	resp := jsonResp(make([]byte, 16<<10), false, "")
	c, err := NewConn(w, epoch, ConnOptions{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:80")})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cw.n + int64(w.bw.Buffered())
	for range b.N {
		if err := c.Exchange(req, resp, time.Millisecond); err != nil {
			b.Fatal(err)
		}
	}
	w.Flush()
	b.SetBytes((cw.n - start) / int64(b.N))
}

// BenchmarkWriter measures the bare pcap writer on 1514-byte frames.
func BenchmarkWriter(b *testing.B) {
	w, err := NewWriter(io.Discard, WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 1514)
	ts := epoch
	b.SetBytes(16 + 1514)
	b.ReportAllocs()
	for range b.N {
		if err := w.WritePacket(ts, frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimulate measures the simulator's capture output (MB/s = pcap
// bytes written) on the default scenario.
func BenchmarkSimulate(b *testing.B) {
	for range b.N {
		cw := &countWriter{}
		if _, err := SimulateTo(cw, io.Discard, SimOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(cw.n)
	}
}
