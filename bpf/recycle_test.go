package bpf

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/reassembly/content"
	"github.com/shadowtap/shadowtap/reassembly/http1"
)

// TestRecycledTransactions: with Options.HTTP naming a shared content.Pool
// and a reassembly.TxPool (as the daemon's run --ebpf does), a consumer
// that gives every transaction and its body samples back, overwritten, as
// soon as it has read them receives the same transactions, bodies
// included, as one that keeps them: keep-alive and pipelined exchanges on
// interleaved connections, identity, chunked and gzip bodies, a chunk lost
// in the ring, TLS plaintext, an unanswered request.
func TestRecycledTransactions(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat(`{"email":"a@example.com","card":"4111111111111111"},`, 40)))
	zw.Close()
	gzResp := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: " +
		strconv.Itoa(gz.Len()) + "\r\n\r\n" + gz.String()
	chunked := "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
	post := func(path, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	sc := newScript()
	big := strings.Repeat("x", 9000)
	for round := range 30 {
		for sock := uint64(1); sock <= 4; sock++ {
			n := strconv.Itoa(round)
			switch sock {
			case 1: // keep-alive with bodies both ways
				sc.call(sock, dirEgress, 0, roleClient, post("/login/"+n, `{"user":"u`+n+`","password":"p`+n+`"}`), -1, 0)
				sc.call(sock, dirIngress, 0, roleClient, resp(`{"token":"t-`+n+`"}`), -1, 0)
			case 2: // pipelined, gzip and chunked answers
				sc.call(sock, dirEgress, 0, roleClient, req("/g/"+n)+req("/c/"+n), -1, 0)
				sc.call(sock, dirIngress, 0, roleClient, gzResp+chunked, -1, 0)
			case 3: // TLS plaintext, a local server; now and then a lost chunk
				var drop []int
				if round%7 == 3 {
					drop = []int{1}
				}
				sc.call(sock, dirIngress, flagTLS, roleServer, req("/tls/"+n), -1, 0)
				sc.call(sock, dirEgress, flagTLS, roleServer, resp(big+n), -1, 4000, drop...)
			case 4:
				sc.call(sock, dirEgress, 0, roleClient, req("/ok/"+n), -1, 0)
				sc.call(sock, dirIngress, 0, roleClient, resp(n), -1, 0)
			}
		}
	}
	sc.call(4, dirEgress, 0, roleClient, req("/unanswered"), -1, 0)
	for sock := uint64(1); sock <= 4; sock++ {
		sc.close(sock)
	}

	run := func(opts Options, after func(*reassembly.Transaction)) []string {
		t.Helper()
		recs := make([][]byte, len(sc.recs))
		for i, r := range sc.recs {
			recs[i] = bytes.Clone(r)
		}
		var out []string
		err := newReplay(&replay{recs: recs}, opts).Run(context.Background(), func(tx *reassembly.Transaction) {
			out = append(out, describe(tx))
			after(tx)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	bodies := 0
	want := run(Options{}, func(tx *reassembly.Transaction) {
		if len(tx.ReqBody) > 0 || len(tx.RespBody) > 0 {
			bodies++
		}
	})
	samples, txs := new(content.Pool), new(reassembly.TxPool)
	opts := Options{HTTP: reassembly.Options{HTTP: http1.Options{Decoders: samples}, Transactions: txs}}
	seen, reused := map[*reassembly.Transaction]bool{}, 0
	got := run(opts, func(tx *reassembly.Transaction) {
		if seen[tx] {
			reused++
		}
		seen[tx] = true
		for _, b := range [][]byte{tx.ReqBody, tx.RespBody} {
			b = b[:cap(b)]
			for i := range b {
				b[i] = 0xa5
			}
			samples.PutSample(b)
		}
		tx.ReqBody, tx.RespBody = nil, nil
		txs.Put(tx)
	})
	if len(want) < 150 || bodies < 100 {
		t.Fatalf("%d transactions, %d with a body: the script makes at least 150 and 100", len(want), bodies)
	}
	// sync.Pool may drop what it is given (some always under -race).
	if reused == 0 {
		t.Errorf("no transaction struct given back was handed out again: Options.HTTP.Transactions unused")
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("transaction #%d differs with recycling:\n got %.600s\nwant %.600s", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d transactions with recycling, %d without", len(got), len(want))
	}
}

// describe renders everything a transaction carries, bodies decoded.
func describe(tx *reassembly.Transaction) string {
	tx.DecodeBodies()
	c := *tx
	p := c.Process
	c.Process = nil
	return fmt.Sprintf("%+v process=%+v", c, *p)
}
