package storage

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/shadowtap/shadowtap/detect"
)

// rawKeys lists every key badger holds, parts included.
func rawKeys(t *testing.T, db *DB) []string {
	t.Helper()
	var keys []string
	err := db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, string(it.Item().KeyCopy(nil)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestChunkedValues: values above chunkSize round-trip through Get and
// Scan, overwrites and deletes leave no orphan part, and none reaches the
// value log.
func TestChunkedValues(t *testing.T) {
	db := open(t, t.TempDir(), Options{})
	big := randomBytes(5*chunkSize+123, 1)
	key := []byte("s/a/behaviour")
	if err := db.Apply([]detect.Mutation{{Key: key, Value: big}, {Key: []byte("s/a/other"), Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Get(key)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get: %d bytes, err %v; want the %d bytes written", len(got), err, len(big))
	}
	if n := len(rawKeys(t, db)); n != 1+2+6 {
		t.Fatalf("%d raw keys, want m/schema, 2 keys and 6 parts", n)
	}
	var seen []string
	if err := db.Scan([]byte("s/"), func(k, v []byte) error {
		seen = append(seen, string(k))
		if string(k) == string(key) && !bytes.Equal(v, big) {
			t.Errorf("Scan gave %d bytes for the chunked value", len(v))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("Scan saw %v, want the two keys only", seen)
	}
	st, err := db.Stats()
	if err != nil || st.Keys != 2+1 { // and m/schema
		t.Fatalf("Stats counts %d keys (err %v), want 3", st.Keys, err)
	}

	// A smaller chunked value, then a small one, then a delete: the parts
	// beyond each follow it out.
	smaller := randomBytes(2*chunkSize+1, 2)
	if err := db.Apply([]detect.Mutation{{Key: key, Value: smaller}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get(key); !bytes.Equal(got, smaller) || len(rawKeys(t, db)) != 1+2+3 {
		t.Fatalf("after a smaller overwrite: %d bytes, raw keys %d", len(got), len(rawKeys(t, db)))
	}
	if err := db.Apply([]detect.Mutation{{Key: key, Value: []byte("tiny")}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get(key); string(got) != "tiny" || len(rawKeys(t, db)) != 1+2 {
		t.Fatalf("after a small overwrite: %q, raw keys %v", got, rawKeys(t, db))
	}
	if err := db.Apply([]detect.Mutation{{Key: key, Value: big}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Apply([]detect.Mutation{{Key: key, Delete: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get(key); !errors.Is(err, detect.ErrNotFound) || len(rawKeys(t, db)) != 1+1 {
		t.Fatalf("after delete: err %v, raw keys %v", err, rawKeys(t, db))
	}

	// The large-batch path (WriteBatch) chunks the same way.
	batch := []detect.Mutation{{Key: key, Value: big}}
	for i := range 20000 {
		batch = append(batch, detect.Mutation{Key: []byte("t/" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))), Value: make([]byte, 64)})
	}
	if err := db.applySplit(batch); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get(key); !bytes.Equal(got, big) {
		t.Fatalf("applySplit: %d bytes back", len(got))
	}

	if err := db.Apply([]detect.Mutation{{Key: []byte("s/\x00x"), Value: []byte("v")}}); !errors.Is(err, errKeyNUL) {
		t.Fatalf("a key with NUL: %v, want errKeyNUL", err)
	}
	// Nothing went to the value log: every value fits the LSM.
	if err := db.bdb.Sync(); err != nil {
		t.Fatal(err)
	}
	_, vlog := db.bdb.Size()
	if vlog > 1<<20 {
		t.Errorf("value log %d bytes: large values were not chunked", vlog)
	}
}

// TestUnchunkedLargeValueReads: a large value written as one entry (before
// chunking existed) still reads back.
func TestUnchunkedLargeValueReads(t *testing.T) {
	db := open(t, t.TempDir(), Options{})
	big := randomBytes(3*chunkSize, 3)
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set([]byte("s/b/behaviour"), big) }); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Get([]byte("s/b/behaviour")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("Get: %d bytes, %v", len(got), err)
	}
	if err := db.Apply([]detect.Mutation{{Key: []byte("s/b/behaviour"), Value: big[:10]}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.Get([]byte("s/b/behaviour")); !bytes.Equal(got, big[:10]) {
		t.Fatalf("overwrite of an unchunked value: %d bytes", len(got))
	}
}
