package reassembly

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/internal/cputime"
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
	cpu0 := cputime.Process()
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
	cputime.Report(b, cputime.Process()-cpu0)
	b.ReportMetric(float64(txs.Load())/float64(b.N), "tx/op")
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(txs.Load())/sec, "tx/s")
	}
}

// BenchmarkIdlePasses measures the periodic passes that close idle
// connections, on short connections spread thin over capture time as in
// the bench capture (a few packets per second of capture time, so that
// most passes close a handful of connections among a hundred live): one
// op is one connection — a handshake, closed by an idle pass after
// FlowTimeout — through one shard. walk runs the passes as
// FlushWithOptions over gopacket's pool.
func BenchmarkIdlePasses(b *testing.B) {
	for _, walk := range []bool{false, true} {
		b.Run(fmt.Sprintf("walk=%v", walk), func(b *testing.B) { benchIdlePasses(b, walk) })
	}
}

func benchIdlePasses(b *testing.B, walk bool) {
	// Ports are reused after conns connections, long after the previous
	// connection on the port was closed.
	const conns = 4096
	var pkts []capture.Decoded
	for c := 0; c < conns; c++ {
		pkts = append(pkts, steadyHandshake(b, c)...)
	}
	o := Options{}.withDefaults()
	s := newTestShard(&o, func(*Transaction) {})
	s.walkPool = walk
	ts := time.Unix(1700000000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		c := i % conns
		for k := 3 * c; k < 3*c+3; k++ {
			ts = ts.Add(300 * time.Millisecond)
			pkts[k].Timestamp = ts
			s.assemble(&pkts[k])
		}
	}
	b.StopTimer()
	cputime.Report(b, cputime.Process()-cpu0)
	if b.N > 1000 && s.live > 200 {
		b.Fatalf("%d connections live: idle ones were not closed", s.live)
	}
	b.ReportMetric(float64(s.live), "live")
}

// BenchmarkShardOf measures the symmetric flow hash the reader computes
// for every TCP segment, on IPv4 and IPv6 keys.
func BenchmarkShardOf(b *testing.B) {
	for _, v6 := range []bool{false, true} {
		b.Run(fmt.Sprintf("ipv6=%v", v6), func(b *testing.B) {
			keys := make([]capture.FlowKey, 256)
			for i := range keys {
				k := &keys[i]
				if v6 {
					k.Src = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}
					k.Dst = [16]byte{0x20, 0x01, 0x0d, 0xb8, 14: 1, 15: byte(i * 3)}
				} else {
					k.Src = [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 0, 14: byte(i >> 8), 15: byte(i)}
					k.Dst = [16]byte{10: 0xff, 11: 0xff, 12: 10, 13: 1, 14: 0, 15: 1}
				}
				k.SrcPort, k.DstPort = uint16(40000+i), 443
			}
			sum := 0
			for i := 0; b.Loop(); i++ {
				sum += shardOf(&keys[i&255])
			}
			if sum < 0 {
				b.Fatal(sum)
			}
		})
	}
}
