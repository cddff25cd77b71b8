package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/rs/zerolog"

	"github.com/shadowtap/shadowtap/detect"
)

// Sentinel errors.
var (
	// ErrLocked is returned by Open when another process holds the store.
	ErrLocked = errors.New("store is in use by another process")
	// ErrSchemaTooNew is returned by Open for a store written by a newer
	// shadowtap (its schema version is above Schema).
	ErrSchemaTooNew = errors.New("store schema is newer than this build supports")
	// ErrClosed is returned by operations on a closed DB.
	ErrClosed = errors.New("store is closed")
)

// Options configure a DB. The zero value works.
type Options struct {
	// Logger receives badger's own log lines and the store's upkeep
	// messages, scoped with component=storage. The zero value discards
	// them; badger's INFO lines are logged at debug level.
	Logger zerolog.Logger
	// MaxBytes bounds the disk space of the store's files (LSM plus value
	// log, allocated blocks: value logs are preallocated sparse); 0
	// means 4 GiB, negative means no bound. See the package doc for what
	// happens at the bound.
	MaxBytes int64
	// GCInterval is how often Start's goroutine runs value-log GC and
	// re-measures the store's size; 0 means 5 minutes.
	GCInterval time.Duration
	// GCDiscardRatio is the share of stale data that makes a value-log
	// file worth rewriting; 0 means 0.5.
	GCDiscardRatio float64
	// ReadOnly opens the store for reading only (query commands); it may
	// be open in another process at the same time as a writer.
	ReadOnly bool
	// InMemory keeps the store in memory (tests); dir is ignored.
	InMemory bool
}

func (o *Options) defaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 4 << 30
	}
	if o.GCInterval <= 0 {
		o.GCInterval = 5 * time.Minute
	}
	if o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1 {
		o.GCDiscardRatio = 0.5
	}
}

// DB is a badger store implementing detect.Store. It is safe for concurrent
// use; Start and Close must not be called concurrently with each other.
type DB struct {
	dir  string
	opts Options
	log  zerolog.Logger
	bdb  *badger.DB

	size           atomic.Int64 // bytes on disk, measured by measure
	droppedAtBound atomic.Uint64
	gcRuns         atomic.Uint64
	gcRewrites     atomic.Uint64
	writes         atomic.Uint64
	closed         atomic.Bool

	startOnce sync.Once
	stop      chan struct{}
	wg        sync.WaitGroup
	gcNow     chan struct{}
}

var _ detect.Store = (*DB)(nil)

// Open opens (creating when absent) the store in dir, migrating it to the
// current schema. A store held by another process gives ErrLocked.
func Open(dir string, opts Options) (*DB, error) {
	opts.defaults()
	log := opts.Logger.With().Str("component", "storage").Logger()
	if !opts.InMemory {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating store directory: %w", err)
		}
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{log}).
		WithMetricsEnabled(false). // badger's metrics are process-global expvars
		WithNumVersionsToKeep(1).
		WithMemTableSize(4 << 20). // L0 tables are built in memory at several times this size
		WithValueThreshold(256 << 10).
		WithNumMemtables(3).
		WithValueLogFileSize(256 << 20). // a value must fit one file; sparse, so cheap
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(0).
		WithNumCompactors(2).
		WithReadOnly(opts.ReadOnly).
		WithInMemory(opts.InMemory)
	if opts.InMemory {
		bo.Dir, bo.ValueDir = "", ""
	}
	bdb, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") || strings.Contains(err.Error(), "resource temporarily unavailable") {
			return nil, fmt.Errorf("opening store %s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("opening store %s: %w", dir, err)
	}
	db := &DB{dir: dir, opts: opts, log: log, bdb: bdb, stop: make(chan struct{}), gcNow: make(chan struct{}, 1)}
	if err := db.migrate(migrations); err != nil {
		bdb.Close()
		return nil, err
	}
	db.measure()
	return db, nil
}

// Dir is the directory the store lives in.
func (db *DB) Dir() string { return db.dir }

// Get implements detect.Store.
func (db *DB) Get(key []byte) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var out []byte
	err := db.bdb.View(func(txn *badger.Txn) error {
		it, err := txn.Get(key)
		if err != nil {
			return err
		}
		out, err = readValue(txn, it)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, detect.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", key, err)
	}
	return out, nil
}

// Scan implements detect.Store: fn sees one consistent snapshot.
func (db *DB) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = prefix
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			if isPartKey(item.Key()) {
				continue // read with its key
			}
			var ferr error
			if item.UserMeta() == metaChunked {
				v, err := readValue(txn, item)
				if err != nil {
					return fmt.Errorf("reading %q: %w", item.Key(), err)
				}
				ferr = fn(item.Key(), v)
			} else if err := item.Value(func(v []byte) error {
				ferr = fn(item.Key(), v)
				return nil
			}); err != nil {
				return fmt.Errorf("reading %q: %w", item.Key(), err)
			}
			if ferr != nil {
				return ferr
			}
		}
		return nil
	})
}

// Apply implements detect.Store. A batch that fits one badger transaction
// is applied atomically; a larger one goes through a WriteBatch, whose
// parts are each atomic. Above Options.MaxBytes, mutations with a TTL are
// dropped and counted (see the package doc).
func (db *DB) Apply(batch []detect.Mutation) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.opts.ReadOnly {
		return fmt.Errorf("writing to the store: %w", badger.ErrReadOnlyTxn)
	}
	full := db.opts.MaxBytes > 0 && db.size.Load() >= db.opts.MaxBytes
	if full {
		kept := make([]detect.Mutation, 0, len(batch))
		for _, m := range batch {
			if m.TTL > 0 && !m.Delete {
				db.droppedAtBound.Add(1)
				continue
			}
			kept = append(kept, m)
		}
		batch = kept
		select {
		case db.gcNow <- struct{}{}:
		default:
		}
	}
	if len(batch) == 0 {
		return nil
	}
	err := db.bdb.Update(func(txn *badger.Txn) error {
		for _, m := range batch {
			if err := setIn(txn, m); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, badger.ErrTxnTooBig) {
		err = db.applySplit(batch)
	}
	if err != nil {
		return fmt.Errorf("writing %d mutations: %w", len(batch), err)
	}
	db.writes.Add(uint64(len(batch)))
	return nil
}

func setIn(txn *badger.Txn, m detect.Mutation) error {
	if isPartKey(m.Key) {
		return fmt.Errorf("%q: %w", m.Key, errKeyNUL)
	}
	old, err := oldParts(txn, m.Key)
	if err != nil {
		return err
	}
	sets, dels := entries(m, old)
	for _, k := range dels {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	for _, e := range sets {
		if err := txn.SetEntry(e); err != nil {
			return err
		}
	}
	return nil
}

// applySplit writes a batch too large for one transaction.
func (db *DB) applySplit(batch []detect.Mutation) error {
	olds := make([]uint32, len(batch))
	err := db.bdb.View(func(txn *badger.Txn) error {
		for i, m := range batch {
			if isPartKey(m.Key) {
				return fmt.Errorf("%q: %w", m.Key, errKeyNUL)
			}
			var err error
			if olds[i], err = oldParts(txn, m.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	for i, m := range batch {
		sets, dels := entries(m, olds[i])
		for _, k := range dels {
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		for _, e := range sets {
			if err := wb.SetEntry(e); err != nil {
				return err
			}
		}
	}
	return wb.Flush()
}

// Start starts the upkeep goroutine: value-log GC and size measurement
// every Options.GCInterval, and at once when the size bound is reached.
// Close stops it. Calling Start more than once has no further effect.
func (db *DB) Start() {
	if db.opts.ReadOnly || db.opts.InMemory {
		return
	}
	db.startOnce.Do(func() {
		db.wg.Add(1)
		go func() {
			defer db.wg.Done()
			tick := time.NewTicker(db.opts.GCInterval)
			defer tick.Stop()
			for {
				select {
				case <-db.stop:
					return
				case <-tick.C:
				case <-db.gcNow:
				}
				db.runGC()
			}
		}()
	})
}

// runGC rewrites value-log files while they hold enough stale data, then
// re-measures the store.
func (db *DB) runGC() {
	db.gcRuns.Add(1)
	for i := 0; i < 16; i++ {
		err := db.bdb.RunValueLogGC(db.opts.GCDiscardRatio)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				db.log.Warn().Err(err).Msg("value-log GC")
			}
			break
		}
		db.gcRewrites.Add(1)
	}
	db.measure()
}

// measure sums the sizes of the store's files.
func (db *DB) measure() {
	if db.opts.InMemory {
		return
	}
	var total int64
	entries, err := os.ReadDir(db.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			total += diskSize(fi)
		}
	}
	db.size.Store(total)
}

// Close stops the upkeep goroutine and closes the store, flushing what was
// written. It is safe to call twice.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return nil
	}
	close(db.stop)
	db.wg.Wait()
	if err := db.bdb.Close(); err != nil {
		return fmt.Errorf("closing store: %w", err)
	}
	return nil
}

// Stats describe a store.
type Stats struct {
	Dir            string            `json:"dir"`
	Schema         uint64            `json:"schema"`
	Keys           uint64            `json:"keys"`
	KeysByPrefix   map[string]uint64 `json:"keys_by_prefix"`
	LSMBytes       int64             `json:"lsm_bytes"`
	VlogBytes      int64             `json:"vlog_bytes"`
	DiskBytes      int64             `json:"disk_bytes"`
	MaxBytes       int64             `json:"max_bytes"`
	DroppedAtBound uint64            `json:"dropped_at_bound"`
	GCRuns         uint64            `json:"gc_runs"`
	GCRewrites     uint64            `json:"gc_rewrites"`
	Writes         uint64            `json:"writes"`
}

// Stats counts the keys (by their prefix up to the first '/') and measures
// the files.
func (db *DB) Stats() (Stats, error) {
	if db.closed.Load() {
		return Stats{}, ErrClosed
	}
	db.measure()
	st := Stats{Dir: db.dir, KeysByPrefix: map[string]uint64{}, DiskBytes: db.size.Load(), MaxBytes: db.opts.MaxBytes,
		DroppedAtBound: db.droppedAtBound.Load(), GCRuns: db.gcRuns.Load(), GCRewrites: db.gcRewrites.Load(), Writes: db.writes.Load()}
	st.Schema, _ = db.schema()
	err := db.bdb.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if isPartKey(k) {
				continue
			}
			p, _, _ := bytes.Cut(k, []byte("/"))
			st.Keys++
			st.KeysByPrefix[string(p)+"/"]++
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("counting keys: %w", err)
	}
	if !db.opts.InMemory {
		for _, pat := range []struct {
			glob string
			n    *int64
		}{{"*.sst", &st.LSMBytes}, {"*.vlog", &st.VlogBytes}} {
			files, _ := filepath.Glob(filepath.Join(db.dir, pat.glob))
			for _, f := range files {
				if fi, err := os.Stat(f); err == nil {
					*pat.n += diskSize(fi)
				}
			}
		}
	}
	return st, nil
}

// Compact flattens the LSM tree and rewrites value-log files holding any
// stale data, then re-measures the store.
func (db *DB) Compact() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if err := db.bdb.Flatten(2); err != nil {
		return fmt.Errorf("compacting: %w", err)
	}
	for i := 0; i < 64; i++ {
		if err := db.bdb.RunValueLogGC(0.01); err != nil {
			break
		}
		db.gcRewrites.Add(1)
	}
	db.measure()
	return nil
}

// badgerLogger routes badger's log lines to zerolog, one level down
// (badger's INFO is chatty upkeep: debug here).
type badgerLogger struct{ log zerolog.Logger }

func trim(s string) string { return strings.TrimRight(s, "\n") }

func (l badgerLogger) Errorf(f string, a ...any)   { l.log.Error().Msg(trim(fmt.Sprintf(f, a...))) }
func (l badgerLogger) Warningf(f string, a ...any) { l.log.Warn().Msg(trim(fmt.Sprintf(f, a...))) }
func (l badgerLogger) Infof(f string, a ...any)    { l.log.Debug().Msg(trim(fmt.Sprintf(f, a...))) }
func (l badgerLogger) Debugf(f string, a ...any)   { l.log.Trace().Msg(trim(fmt.Sprintf(f, a...))) }
