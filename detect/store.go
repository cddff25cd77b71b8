package detect

import (
	"bytes"
	"errors"
	"sort"
	"sync"
	"time"
)

// ErrNotFound is returned by a Store's Get for a key it does not hold.
var ErrNotFound = errors.New("key not found")

// Store is the persistence the engine needs: an ordered key-value store.
// detect decides the keys and encodes the values; the storage package puts
// badger behind this interface. Implementations must be safe for concurrent
// use.
type Store interface {
	// Get returns a copy of the value under key, or an error matching
	// ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Scan calls fn for every key with the prefix, in key order. The
	// slices are valid only during the call. An error from fn stops the
	// scan and is returned.
	Scan(prefix []byte, fn func(key, value []byte) error) error
	// Apply writes a batch of mutations. Implementations apply them in
	// order and either all or none when the batch fits one transaction;
	// a batch too large for one may be split, each part atomic.
	Apply(batch []Mutation) error
}

// Mutation is one write of a batch.
type Mutation struct {
	Key, Value []byte
	// Delete removes Key (Value is ignored).
	Delete bool
	// TTL, when positive, lets the store drop the key after that long
	// (retention of alerts and samples). Stores measure it on their own
	// clock.
	TTL time.Duration
}

// MemStore is a Store in memory, for tests and runs without a database.
// It is safe for concurrent use.
type MemStore struct {
	// Now is the clock TTLs are measured on; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	value   []byte
	expires time.Time // zero: never
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string]memEntry{}} }

func (s *MemStore) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *MemStore) live(e memEntry) bool {
	return e.expires.IsZero() || s.now().Before(e.expires)
}

// Get implements Store.
func (s *MemStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[string(key)]
	if !ok || !s.live(e) {
		return nil, ErrNotFound
	}
	return bytes.Clone(e.value), nil
}

// Scan implements Store. fn runs without the store's lock held, on a
// snapshot of the matching keys taken when the scan starts.
func (s *MemStore) Scan(prefix []byte, fn func(key, value []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	s.mu.Lock()
	var all []kv
	for k, e := range s.m {
		if bytes.HasPrefix([]byte(k), prefix) && s.live(e) {
			all = append(all, kv{k, e.value})
		}
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].k < all[j].k })
	for _, x := range all {
		if err := fn([]byte(x.k), x.v); err != nil {
			return err
		}
	}
	return nil
}

// Apply implements Store; the whole batch is applied atomically.
func (s *MemStore) Apply(batch []Mutation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, m := range batch {
		if m.Delete {
			delete(s.m, string(m.Key))
			continue
		}
		e := memEntry{value: bytes.Clone(m.Value)}
		if m.TTL > 0 {
			e.expires = now.Add(m.TTL)
		}
		s.m[string(m.Key)] = e
	}
	return nil
}

// Len returns the number of live keys.
func (s *MemStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.m {
		if s.live(e) {
			n++
		}
	}
	return n
}
