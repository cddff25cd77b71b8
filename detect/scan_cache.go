package detect

import (
	"bytes"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The scan cache: APIs answer many requests with the same bytes (a
// catalogue page, a list polled again, a configuration document), and the
// scan of a response body is a function of its bytes. The engine keeps the
// findings and personal values of recent response bodies, each with a copy
// of the body, and Prepare takes them from there when a body is byte for
// byte one it holds instead of scanning it again. A body is found by a key
// hashed from a few samples of it (its length, head, tail and middle),
// which costs far less than a scan; the copy is then compared whole, so a
// key shared by different bodies costs a scan, never a wrong answer.

const (
	// scanCacheShards is the number of independently locked parts of a
	// scanCache (Prepare runs on several goroutines).
	scanCacheShards = 16
	// scanCacheWays is the number of bodies a shard holds at most.
	scanCacheWays = 64
	// scanCacheShardBytes is the size of a shard's arena, where it copies
	// its bodies: 16 shards hold at most 8 MiB.
	scanCacheShardBytes = 512 << 10
	// minCachedBody and maxCachedBody bound the bodies cached: a shorter
	// one is scanned about as fast as it is looked up, a longer one would
	// take a large part of its shard.
	minCachedBody = 1 << 10
	maxCachedBody = 128 << 10
	// scanKeySample is how many bytes of a body's head and of its tail
	// the key hashes (with two samples of half that from its middle).
	scanKeySample = 64
)

// scanCache holds the response-body scans of recent bodies (see above). It
// is safe for concurrent use. The zero value is not ready; newScanCache
// makes one.
type scanCache struct {
	seed   maphash.Seed
	shards [scanCacheShards]scanShard
	// hits and misses count the lookups of cacheable bodies (tests and
	// benchmarks read them).
	hits, misses atomic.Uint64
}

// scanShard is one locked part of a scanCache. Its bodies are copied into
// one arena, made on the first add, one after the other from head, which
// wraps to the start when a body does not fit before the end: the entries
// whose bytes a copy overwrites are dropped, and when all are taken the
// oldest is. Nothing is allocated once the arena is made and the entries'
// slices have grown.
type scanShard struct {
	mu    sync.Mutex
	arena []byte
	head  int
	// seq numbers the entries in the order they were added.
	seq uint64
	// keys are the entries' keys, apart so that a lookup reads a few
	// cache lines.
	keys    [scanCacheWays]uint64
	entries [scanCacheWays]scanEntry
	_       [64]byte // keeps shards' locks off each other's cache lines
}

// scanEntry is one body and what its scan found. Its slices are reused
// when the entry is replaced.
type scanEntry struct {
	seq    uint64 // 0: empty
	off, n int    // the body's bytes in the arena
	// findings are the scan's (scanSecrets|scanPersonal), values the
	// personal values among them (personalValues), empty when the
	// findings hold no personal data.
	findings []finding
	values   []personalValue
}

func newScanCache() *scanCache { return &scanCache{seed: maphash.MakeSeed()} }

// cacheable reports whether a body of n bytes goes through the cache.
func cacheable(n int) bool { return n >= minCachedBody && n <= maxCachedBody }

// key hashes b's length and samples of its bytes.
func (c *scanCache) key(b []byte) uint64 {
	n := len(b)
	const s, m = scanKeySample, scanKeySample / 2
	k := maphash.Bytes(c.seed, b[:s])
	k = k*0x9E3779B97F4A7C15 ^ maphash.Bytes(c.seed, b[n-s:])
	k = k*0x9E3779B97F4A7C15 ^ maphash.Bytes(c.seed, b[n/3:n/3+m])
	k = k*0x9E3779B97F4A7C15 ^ maphash.Bytes(c.seed, b[2*n/3:2*n/3+m])
	return k ^ uint64(n)
}

func (c *scanCache) shard(key uint64) *scanShard {
	return &c.shards[key>>(64-4)%scanCacheShards]
}

// lookup appends to fs and vals the findings and personal values of the
// body b, whose key is key, when the cache holds b, and reports whether it
// did.
func (c *scanCache) lookup(key uint64, b []byte, fs []finding, vals []personalValue) ([]finding, []personalValue, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	for i, k := range sh.keys {
		if k != key {
			continue
		}
		e := &sh.entries[i]
		if e.seq == 0 || e.n != len(b) || !bytes.Equal(sh.arena[e.off:e.off+e.n], b) {
			continue
		}
		fs = append(fs, e.findings...)
		vals = append(vals, e.values...)
		sh.mu.Unlock()
		c.hits.Add(1)
		return fs, vals, true
	}
	sh.mu.Unlock()
	c.misses.Add(1)
	return fs, vals, false
}

// add stores the body b (key key), its findings and its personal values,
// dropping the entry of the same key, the entries whose bytes its copy
// overwrites and, when no entry is free, the oldest.
func (c *scanCache) add(key uint64, b []byte, fs []finding, vals []personalValue) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.arena == nil {
		sh.arena = make([]byte, scanCacheShardBytes)
	}
	if sh.head+len(b) > len(sh.arena) {
		sh.head = 0
	}
	lo, hi := sh.head, sh.head+len(b)
	v := -1
	for i := range sh.entries {
		e := &sh.entries[i]
		if e.seq != 0 && (sh.keys[i] == key || e.off < hi && lo < e.off+e.n) {
			e.seq, sh.keys[i] = 0, 0
		}
		if v < 0 || sh.entries[v].seq != 0 && e.seq < sh.entries[v].seq {
			v = i // the first free entry, else the oldest
		}
	}
	e := &sh.entries[v]
	copy(sh.arena[lo:hi], b)
	sh.head = hi
	sh.seq++
	e.seq, e.off, e.n = sh.seq, lo, len(b)
	e.findings = append(e.findings[:0], fs...)
	e.values = append(e.values[:0], vals...)
	sh.keys[v] = key
}
