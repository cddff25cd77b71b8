package reassembly

import (
	"bytes"
	"compress/gzip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// TestStreamConnTxPool: a StreamConn given Options.Transactions takes its
// HTTP/1 transactions from the pool (a struct given back comes out again)
// and hands the sink the same transactions as one without it.
func TestStreamConnTxPool(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"token":"abc","items":[1,2,3]}`))
	zw.Close()
	feed := func(s *StreamConn) {
		for i := range 50 {
			ts := t0.Add(time.Duration(i) * time.Millisecond)
			n := strconv.Itoa(i)
			s.Client([]byte("POST /a/"+n+" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"+
				"GET /b/"+n+" HTTP/1.1\r\nHost: x\r\n\r\n"), ts)
			s.Server([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"), ts.Add(time.Microsecond))
			s.Server(append([]byte("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\nContent-Length: "+
				strconv.Itoa(gz.Len())+"\r\n\r\n"), gz.Bytes()...), ts.Add(2*time.Microsecond))
		}
		s.Client([]byte("GET /last HTTP/1.1\r\n\r\n"), t0.Add(time.Second))
		s.Close(t0.Add(2 * time.Second))
	}
	var want []string
	feed(NewStreamConn(cli, srv, Options{}, func(tx *Transaction) {
		tx.DecodeBodies()
		want = append(want, render(tx))
	}))
	pool := new(TxPool)
	var got []string
	seen := map[*Transaction]bool{}
	reused := 0
	feed(NewStreamConn(cli, srv, Options{Transactions: pool}, func(tx *Transaction) {
		tx.DecodeBodies()
		got = append(got, render(tx))
		if seen[tx] {
			reused++
		}
		seen[tx] = true
		pool.Put(tx)
	}))
	if len(want) != 101 {
		t.Fatalf("%d transactions without the pool, want 101", len(want))
	}
	if !reflect.DeepEqual(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("transaction #%d differs with the pool:\n got %s\nwant %s", i, got[i], want[i])
			}
		}
		t.Fatalf("%d transactions with the pool, %d without", len(got), len(want))
	}
	// sync.Pool may drop what it is given (always some under -race): only
	// ask that a struct came back at all.
	if reused == 0 {
		t.Errorf("no transaction struct given back was handed out again")
	}
}
