package reassembly

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
)

// BenchmarkRun measures the whole path (read, decode, reassemble, parse)
// on shared captures — the busiest API-like one (large chunked bodies) and
// the one of 1000 small keep-alive exchanges — or on the repo's own where
// ../shared is absent. It reports MB/s of capture, transactions/s and
// allocs/op, with one shard and with two.
func BenchmarkRun(b *testing.B) {
	files := []string{
		filepath.Join(sharedPcaps, "ppp_http-packets.pcap"),
		filepath.Join(sharedPcaps, "zeek_1000-requests-one-dropped-response.pcap"),
	}
	if _, err := os.Stat(files[0]); err != nil {
		files = []string{filepath.Join("..", "testdata", "chunked.pcap"), filepath.Join("..", "testdata", "pipelining.pcap")}
	}
	for _, path := range files {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/workers=%d", filepath.Base(path), workers), func(b *testing.B) {
				benchRun(b, path, workers)
			})
		}
	}
}

func benchRun(b *testing.B, path string, workers int) {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var txs atomic.Int64
	for i := 0; i < b.N; i++ {
		src, err := capture.OpenFiles(path)
		if err != nil {
			b.Fatal(err)
		}
		st, err := Run(context.Background(), src, Options{Workers: workers}, func(*Transaction) { txs.Add(1) })
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(st.Packets), "packets/op")
		}
	}
	b.ReportMetric(float64(txs.Load())/float64(b.N), "tx/op")
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(txs.Load())/sec, "tx/s")
	}
}
