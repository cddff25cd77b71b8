package bpf

import (
	"context"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/reassembly/content"
	"github.com/shadowtap/shadowtap/reassembly/http1"
)

// wrkScript is the records the sensor reads in bpf/overhead.sh: the server
// ends of conns keep-alive connections, each carrying rounds of wrk's
// request and the overhead server's JSON answer, the connections' calls
// interleaved as wrk's pacing interleaves them.
func wrkScript(conns, rounds int) *script {
	const (
		request  = "GET / HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n"
		response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sat, 28 Nov 2026 01:00:00 GMT\r\nContent-Length: 55\r\n\r\n" +
			`{"id":42,"name":"widget","tags":["a","b"],"price":12.5}`
	)
	sc := newScript()
	for range rounds {
		for sock := uint64(1); sock <= uint64(conns); sock++ {
			sc.call(sock, dirIngress, 0, roleServer, request, -1, 0)
			sc.call(sock, dirEgress, 0, roleServer, response, -1, 0)
		}
	}
	for sock := uint64(1); sock <= uint64(conns); sock++ {
		sc.close(sock)
	}
	return sc
}

// BenchmarkAssembleWrk is the user-space work of the sensor per
// transaction in bpf/overhead.sh (records decoded, streams reassembled,
// HTTP/1 parsed, transactions built), per transaction (ns/tx); an op is
// 8192 transactions on 32 connections. Pooled gives the transactions and
// body samples back, as the daemon's run --ebpf does.
func BenchmarkAssembleWrk(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchAssemble(b, false) })
	b.Run("pooled", func(b *testing.B) { benchAssemble(b, true) })
}

func benchAssemble(b *testing.B, pooled bool) {
	const conns, rounds = 32, 256
	sc := wrkScript(conns, rounds)
	var opts Options
	var samples *content.Pool
	var txs *reassembly.TxPool
	if pooled {
		samples, txs = new(content.Pool), new(reassembly.TxPool)
		opts.HTTP = reassembly.Options{HTTP: http1.Options{Decoders: samples}, Transactions: txs}
	}
	n := 0
	emit := func(tx *reassembly.Transaction) {
		n++
		// No-ops on nil pools; Put clears the transaction.
		samples.PutSample(tx.ReqBody)
		samples.PutSample(tx.RespBody)
		txs.Put(tx)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := newReplay(&replay{recs: sc.recs}, opts).Run(context.Background(), emit); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n != b.N*conns*rounds {
		b.Fatalf("%d transactions, want %d", n, b.N*conns*rounds)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/tx")
	b.ReportMetric(float64(len(sc.recs))/float64(conns*rounds), "records/tx")
}
