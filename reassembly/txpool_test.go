package reassembly

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
)

// TestTxPool: Put clears what it takes back; get hands out cleared
// transactions, new ones from a nil pool.
func TestTxPool(t *testing.T) {
	var nilPool *TxPool
	if tx := nilPool.get(); tx == nil || !reflect.DeepEqual(*tx, Transaction{}) {
		t.Fatalf("nil pool: get = %+v", tx)
	}
	nilPool.Put(&Transaction{Method: "GET"}) // ignored
	p := new(TxPool)
	p.Put(nil)
	for i := 0; i < 10; i++ {
		tx := p.get()
		if !reflect.DeepEqual(*tx, Transaction{}) {
			t.Fatalf("get %d: not cleared: %+v", i, *tx)
		}
		*tx = Transaction{Method: "POST", Target: "/x", Status: 201, ReqHeaders: []Header{{Name: "A", Value: "b"}}, Prepared: i}
		p.Put(tx)
		if !reflect.DeepEqual(*tx, Transaction{}) {
			t.Fatalf("Put left %+v", *tx)
		}
	}
}

// TestTxPoolSame: a sink that gives every transaction back
// (Options.Transactions) receives the same transactions as one that keeps
// them, on every capture the equivalence tests use, with one worker and
// with two.
func TestTxPoolSame(t *testing.T) {
	for _, path := range equivalenceCaptures(t, 13) {
		for _, workers := range []int{1, 2} {
			name := filepath.Base(path)
			want, wantSt := runRendered(t, path, Options{Workers: workers})
			src, err := capture.OpenFiles(path)
			if err != nil {
				t.Fatal(err)
			}
			pool := new(TxPool)
			var got []string
			st, err := Run(context.Background(), src, Options{Workers: workers, Transactions: pool}, func(tx *Transaction) {
				got = append(got, render(tx))
				pool.Put(tx)
			})
			src.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s, %d workers: %d transactions differ from the %d without the pool", name, workers, len(got), len(want))
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("first difference, #%d:\n got %s\nwant %s", i, got[i], want[i])
						break
					}
				}
			}
			if !reflect.DeepEqual(st, wantSt) {
				t.Errorf("%s, %d workers: stats differ:\n got %+v\nwant %+v", name, workers, st, wantSt)
			}
		}
	}
}
