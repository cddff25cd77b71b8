package detect

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/internal/cputime"
	"github.com/shadowtap/shadowtap/reassembly"
)

// benchCaptureTxs are the transactions of the capture BenchmarkPrepare
// reads, reassembled once per test binary, their bodies still encoded.
var benchCaptureTxs struct {
	once sync.Once
	txs  []*reassembly.Transaction
	err  error
}

// preparedCaptureTxs returns the transactions of the capture named by
// $SHADOWTAP_BENCH_PCAP (a slice of the bench capture, say), or of a
// simulated day when it is not set.
func preparedCaptureTxs(b *testing.B) []*reassembly.Transaction {
	c := &benchCaptureTxs
	c.once.Do(func() {
		path := os.Getenv("SHADOWTAP_BENCH_PCAP")
		if path == "" {
			dir, err := os.MkdirTemp("", "prepare-bench")
			if err != nil {
				c.err = err
				return
			}
			defer os.RemoveAll(dir)
			if _, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Seed: 11, Users: 60}); err != nil {
				c.err = err
				return
			}
			path = filepath.Join(dir, "traffic.pcap")
		}
		src, err := capture.OpenFile(path)
		if err != nil {
			c.err = err
			return
		}
		defer src.Close()
		_, c.err = reassembly.Run(context.Background(), src, reassembly.Options{}, func(t *reassembly.Transaction) {
			c.txs = append(c.txs, t)
		})
	})
	if c.err != nil {
		b.Fatal(c.err)
	}
	if len(c.txs) == 0 {
		b.Skip("no transactions in the capture")
	}
	return c.txs
}

// BenchmarkPrepare measures Engine.Prepare, body decoding included, over
// the transactions of a capture ($SHADOWTAP_BENCH_PCAP, else a simulated
// day), one transaction per op, in CPU time (cputime.Metric). Each op
// prepares a copy of its transaction, so that its bodies are decoded
// every time as in a run.
func BenchmarkPrepare(b *testing.B) {
	txs := preparedCaptureTxs(b)
	e, err := NewEngine(Options{})
	if err != nil {
		b.Fatal(err)
	}
	var p Prepared
	var body int64
	for _, t := range txs {
		body += t.RespBodyBytes + t.ReqBodyBytes
	}
	b.ReportAllocs()
	i := 0
	cputime.PerOp(b, func() {
		tc := *txs[i]
		e.Prepare(&tc, &p)
		if i++; i == len(txs) {
			i = 0
		}
	})
	b.ReportMetric(float64(body)/float64(len(txs)), "body-bytes/tx")
}
