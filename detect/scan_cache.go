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
	// scanCacheShardBytes bounds the body bytes a shard holds (the copies'
	// capacities): 16 shards hold at most 8 MiB.
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

// scanShard is one locked part of a scanCache.
type scanShard struct {
	mu sync.Mutex
	// held is the sum of the entries' body capacities.
	held int
	// clock orders the entries' uses (scanEntry.used).
	clock uint64
	// keys are the entries' keys (0 for an empty entry), apart so that a
	// lookup reads a few cache lines.
	keys    [scanCacheWays]uint64
	entries [scanCacheWays]scanEntry
	_       [64]byte // keeps shards' locks off each other's cache lines
}

// scanEntry is one body and what its scan found. Its slices are reused
// when the entry is replaced.
type scanEntry struct {
	used uint64 // clock of the last use; 0: empty
	body []byte // a copy
	// findings are the scan's (scanSecrets|scanPersonal), values the
	// personal values among them (personalValues), nil when the findings
	// hold no personal data.
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
		if e.used == 0 || !bytes.Equal(e.body, b) {
			continue
		}
		sh.clock++
		e.used = sh.clock
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
// in place of an entry of the same key, or of the least recently used, and
// then drops the least recently used others until the shard holds at most
// scanCacheShardBytes.
func (c *scanCache) add(key uint64, b []byte, fs []finding, vals []personalValue) {
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	v := -1
	for i := range sh.entries {
		if sh.keys[i] == key && sh.entries[i].used != 0 {
			v = i // a body of the same key: replaced
			break
		}
		if v < 0 || sh.entries[i].used < sh.entries[v].used {
			v = i
		}
	}
	e := &sh.entries[v]
	if cap(e.body) < len(b) {
		sh.held -= cap(e.body)
		e.body = make([]byte, 0, len(b))
		sh.held += cap(e.body)
	}
	e.body = append(e.body[:0], b...)
	e.findings = append(e.findings[:0], fs...)
	e.values = append(e.values[:0], vals...)
	sh.keys[v] = key
	sh.clock++
	e.used = sh.clock
	for sh.held > scanCacheShardBytes {
		old := -1
		for i := range sh.entries {
			if i != v && cap(sh.entries[i].body) > 0 && (old < 0 || sh.entries[i].used < sh.entries[old].used) {
				old = i
			}
		}
		if old < 0 {
			break // e alone: at most maxCachedBody, under the bound
		}
		x := &sh.entries[old]
		sh.held -= cap(x.body)
		sh.keys[old] = 0
		*x = scanEntry{findings: x.findings[:0], values: x.values[:0]}
	}
}
