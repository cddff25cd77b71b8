package reassembly

import (
	"encoding/binary"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/internal/cputime"
)

// BenchmarkHandOff measures the parallel path as Run drives it with two
// workers — the reader's dispatch into batches, the workers' reading of
// them and their shards, the periodic passes, the merge — on the steady
// keep-alive exchanges of BenchmarkShardSteady (64 connections spread
// over the shards, 100 µs of capture time apart, so a pass every 10,000
// packets). One op is one round of 256 packets; cpu-ns/packet is the
// process's CPU time (every goroutine) per packet.
func BenchmarkHandOff(b *testing.B) {
	s := newSteady(b, 64, Options{})
	o := Options{Workers: 2}.withDefaults()
	shards := make([]*shard, shardCount)
	for i := range shards {
		shards[i] = newShard(&o, shardCount, nil)
	}
	txs := 0
	p := startParallel(&o, shards, func(*Transaction) { txs++ })
	var (
		clk clock
		idx uint64
	)
	s.to = func(d *capture.Decoded) {
		// round advances the fields, not the header bytes.
		if h := d.TCP.Contents; len(h) >= 12 {
			binary.BigEndian.PutUint32(h[4:], d.TCP.Seq)
			binary.BigEndian.PutUint32(h[8:], d.TCP.Ack)
		}
		idx++
		st := stampOf(d.Timestamp)
		tick := clk.advanceTo(&st)
		p.dispatch(shardOf(&d.Key), d, idx, &st)
		if tick {
			p.tick(idx, clk.now)
		}
	}
	s.round() // the workers' shards take the connections up mid-stream
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		s.round()
	}
	p.stop()
	cpu := cputime.Process() - cpu0
	b.StopTimer()
	if want := 64 * (b.N + 1); txs < want-64 {
		b.Fatalf("%d transactions, want about %d", txs, want)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(s.pkts)), "cpu-ns/packet")
}
