package reassembly

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
)

// BenchmarkRun measures the whole path (read, decode, reassemble, parse) on
// the busiest API-like shared capture, or on the repo's own where absent.
func BenchmarkRun(b *testing.B) {
	path := filepath.Join(sharedPcaps, "ppp_http-packets.pcap")
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join("..", "testdata", "chunked.pcap")
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var txs int
	for i := 0; i < b.N; i++ {
		src, err := capture.OpenFiles(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := Run(context.Background(), src, Options{}, func(*Transaction) { txs++ })
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(st.Packets), "packets/op")
		}
	}
	b.ReportMetric(float64(txs)/float64(b.N), "tx/op")
}
