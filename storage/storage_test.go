package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	"github.com/shadowtap/shadowtap/detect"
)

func open(t *testing.T, dir string, o Options) *DB {
	t.Helper()
	db, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func keys(t *testing.T, s detect.Store, prefix string) []string {
	t.Helper()
	var out []string
	if err := s.Scan([]byte(prefix), func(k, v []byte) error {
		out = append(out, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStoreContract runs the same script on MemStore and DB: both must
// behave as detect.Store says.
func TestStoreContract(t *testing.T) {
	stores := map[string]func(t *testing.T) detect.Store{
		"mem":    func(t *testing.T) detect.Store { return detect.NewMemStore() },
		"badger": func(t *testing.T) detect.Store { return open(t, t.TempDir(), Options{}) },
		"badger-in-memory": func(t *testing.T) detect.Store {
			return open(t, "", Options{InMemory: true})
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			if _, err := s.Get([]byte("nope")); !errors.Is(err, detect.ErrNotFound) {
				t.Fatalf("Get absent: %v, want ErrNotFound", err)
			}
			err := s.Apply([]detect.Mutation{
				{Key: []byte("a/2"), Value: []byte("two")},
				{Key: []byte("a/1"), Value: []byte("one")},
				{Key: []byte("b/1"), Value: []byte("b")},
				{Key: []byte("a/3"), Value: []byte("x")},
				{Key: []byte("a/3"), Delete: true},
				{Key: []byte("a/1"), Value: []byte("uno")},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(keys(t, s, "a/"), " "); got != "a/1=uno a/2=two" {
				t.Errorf("scan a/ = %s", got)
			}
			v, err := s.Get([]byte("b/1"))
			if err != nil || string(v) != "b" {
				t.Errorf("Get b/1 = %q, %v", v, err)
			}
			v[0] = 'X' // a copy: the store must not change
			if v, _ := s.Get([]byte("b/1")); string(v) != "b" {
				t.Errorf("Get returned a shared slice")
			}
			stop := errors.New("stop")
			if err := s.Scan(nil, func(k, v []byte) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("scan error = %v, want the callback's", err)
			}
		})
	}
}

func TestTTL(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a TTL to pass")
	}
	db := open(t, t.TempDir(), Options{})
	if err := db.Apply([]detect.Mutation{
		{Key: []byte("a/short"), Value: []byte("x"), TTL: time.Second},
		{Key: []byte("a/long"), Value: []byte("y"), TTL: time.Hour},
		{Key: []byte("a/forever"), Value: []byte("z")},
	}); err != nil {
		t.Fatal(err)
	}
	if n := len(keys(t, db, "a/")); n != 3 {
		t.Fatalf("%d keys, want 3", n)
	}
	time.Sleep(2100 * time.Millisecond) // badger's TTLs have one-second resolution
	if got := strings.Join(keys(t, db, "a/"), " "); got != "a/forever=z a/long=y" {
		t.Errorf("after the short TTL: %s", got)
	}
	if _, err := db.Get([]byte("a/short")); !errors.Is(err, detect.ErrNotFound) {
		t.Errorf("expired Get: %v", err)
	}
}

// TestApplyLargeBatch writes a batch larger than one badger transaction:
// it must be split, not refused.
func TestApplyLargeBatch(t *testing.T) {
	db := open(t, t.TempDir(), Options{})
	val := bytes.Repeat([]byte("v"), 64<<10)
	var batch []detect.Mutation
	for i := 0; i < 600; i++ { // ~38 MB > 15% of the 16 MB memtable
		batch = append(batch, detect.Mutation{Key: []byte(fmt.Sprintf("s/a/%04d", i)), Value: val})
	}
	if err := db.Apply(batch); err != nil {
		t.Fatal(err)
	}
	n := 0
	db.Scan([]byte("s/a/"), func(k, v []byte) error {
		if !bytes.Equal(v, val) {
			t.Fatalf("%s: wrong value", k)
		}
		n++
		return nil
	})
	if n != 600 {
		t.Fatalf("%d keys, want 600", n)
	}
}

// TestSizeBound fills a store past a tiny bound: TTL'd (retention) writes
// are dropped and counted, state writes and deletes still go through.
func TestSizeBound(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{MaxBytes: 1})
	db.measure() // a fresh store already has a manifest and a vlog: over 1 byte
	if st, _ := db.Stats(); st.DiskBytes < 1 {
		t.Fatalf("disk bytes %d: the bound is not reached", st.DiskBytes)
	}
	err := db.Apply([]detect.Mutation{
		{Key: []byte("a/1"), Value: []byte("alert"), TTL: time.Hour},
		{Key: []byte("s/a/engine"), Value: []byte("state")},
		{Key: []byte("a/2"), Value: []byte("alert"), TTL: time.Hour},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.DroppedAtBound != 2 {
		t.Errorf("dropped at bound = %d, want 2", st.DroppedAtBound)
	}
	if got := keys(t, db, "a/"); len(got) != 0 {
		t.Errorf("retention keys written past the bound: %v", got)
	}
	if _, err := db.Get([]byte("s/a/engine")); err != nil {
		t.Errorf("state write refused at the bound: %v", err)
	}
	unbounded := open(t, t.TempDir(), Options{MaxBytes: -1})
	unbounded.Apply([]detect.Mutation{{Key: []byte("a/1"), Value: []byte("x"), TTL: time.Hour}})
	if st, _ := unbounded.Stats(); st.DroppedAtBound != 0 || st.Keys != 2 {
		t.Errorf("unbounded store: %+v", st)
	}
}

// TestMigrateV0 builds a store in the v0 layout (no schema key, alerts
// under alert/, engine state under state/) and opens it.
func TestMigrateV0(t *testing.T) {
	dir := t.TempDir()
	raw, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMetricsEnabled(false))
	if err != nil {
		t.Fatal(err)
	}
	raw.Update(func(txn *badger.Txn) error {
		txn.Set([]byte("alert/abc"), []byte(`{"kind":"shadow_endpoint"}`))
		txn.SetEntry(badger.NewEntry([]byte("alert/ttl"), []byte(`{}`)).WithTTL(time.Hour))
		txn.Set([]byte("state/hosts"), []byte("old encoding"))
		txn.Set([]byte("k/abc"), []byte(`{"by":"x"}`))
		return nil
	})
	raw.Close()

	db := open(t, dir, Options{})
	if v, _ := db.schema(); v != Schema {
		t.Fatalf("schema after migration = %d, want %d", v, Schema)
	}
	got := strings.Join(keys(t, db, ""), " ")
	want := `a/abc={"kind":"shadow_endpoint"} a/ttl={} k/abc={"by":"x"} m/schema=` + string(binary.AppendUvarint(nil, Schema))
	if got != want {
		t.Errorf("after migration:\n got %s\nwant %s", got, want)
	}
	db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte("a/ttl"))
		if err != nil || it.ExpiresAt() == 0 {
			t.Errorf("migrated alert lost its TTL (%v)", err)
		}
		return nil
	})
	db.Close()

	// A store from the future is refused, not rewritten.
	raw, err = badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithMetricsEnabled(false))
	if err != nil {
		t.Fatal(err)
	}
	raw.Update(func(txn *badger.Txn) error { return txn.Set(schemaKey, binary.AppendUvarint(nil, Schema+1)) })
	raw.Close()
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrateMissingStep(t *testing.T) {
	db := open(t, t.TempDir(), Options{})
	db.Apply([]detect.Mutation{{Key: []byte("x/1"), Value: []byte("1")}, {Key: schemaKey, Delete: true}})
	if err := db.migrate(nil); err == nil || !strings.Contains(err.Error(), "no migration from schema 0") {
		t.Errorf("empty table: %v", err)
	}
}

func TestBackupRestore(t *testing.T) {
	src := open(t, t.TempDir(), Options{})
	src.Apply([]detect.Mutation{
		{Key: []byte("a/1"), Value: []byte("alert"), TTL: time.Hour},
		{Key: []byte("s/a/engine"), Value: []byte("state")},
	})
	var buf bytes.Buffer
	if err := src.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	dst := open(t, t.TempDir(), Options{})
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if a, b := strings.Join(keys(t, src, ""), " "), strings.Join(keys(t, dst, ""), " "); a != b {
		t.Errorf("restored store differs:\n%s\n%s", a, b)
	}
	if err := dst.Compact(); err != nil {
		t.Fatal(err)
	}
	st, err := dst.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != 3 || st.KeysByPrefix["a/"] != 1 || st.KeysByPrefix["s/"] != 1 || st.KeysByPrefix["m/"] != 1 || st.Schema != Schema {
		t.Errorf("stats %+v", st)
	}
}

// TestStartClose runs the upkeep goroutine and stops it.
func TestStartClose(t *testing.T) {
	db, err := Open(t.TempDir(), Options{GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	db.Start()
	db.Start()
	db.Apply([]detect.Mutation{{Key: []byte("a/1"), Value: []byte("x")}})
	deadline := time.Now().Add(5 * time.Second)
	for db.gcRuns.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if db.gcRuns.Load() == 0 {
		t.Error("no GC run")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := db.Get([]byte("a/1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

// TestLogger checks that badger's lines reach the logger passed in, and
// nowhere else.
func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	dir := t.TempDir()
	db, err := Open(dir, Options{Logger: zerolog.New(&buf).Level(zerolog.DebugLevel)})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !strings.Contains(buf.String(), `"component":"storage"`) {
		t.Errorf("badger's log lines did not reach the logger: %q", buf.String())
	}
}

// childEnv makes the test binary act as a second process opening a store.
const childEnv = "SHADOWTAP_STORAGE_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		db, err := Open(dir, Options{})
		switch {
		case errors.Is(err, ErrLocked):
			fmt.Println("LOCKED:", err)
			os.Exit(3)
		case err != nil:
			fmt.Println("ERROR:", err)
			os.Exit(4)
		}
		db.Close()
		fmt.Println("OPENED")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSecondProcess opens a store here and again in a child process: the
// child must get ErrLocked; once closed here, the child opens it.
func TestSecondProcess(t *testing.T) {
	dir := t.TempDir()
	db := open(t, dir, Options{})
	db.Apply([]detect.Mutation{{Key: []byte("a/1"), Value: []byte("x")}})
	child := func() (int, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, out := child()
	if code != 3 || !strings.Contains(out, "in use by another process") {
		t.Fatalf("second process: exit %d, %q; want ErrLocked", code, out)
	}
	db.Close()
	if code, out := child(); code != 0 {
		t.Fatalf("after Close: exit %d, %q", code, out)
	}
	db2 := open(t, dir, Options{})
	if v, err := db2.Get([]byte("a/1")); err != nil || string(v) != "x" {
		t.Errorf("data after the child's open: %q %v", v, err)
	}
}
