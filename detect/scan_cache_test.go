package detect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// directResponse is what scanResponse finds without a cache.
func directResponse(b []byte) ([]finding, []personalValue) {
	fs := theScanner.scan(b, scanSecrets|scanPersonal, nil)
	var vals []personalValue
	if setOf(fs)&personalSet != 0 {
		vals = personalValues(b, fs, nil)
	}
	return fs, vals
}

// checkResponse compares p.scanResponse(b) with directResponse(b).
func checkResponse(p *Prepared, b []byte) error {
	fs, vals := p.scanResponse(b, nil, nil)
	wfs, wvals := directResponse(b)
	if !slices.Equal(fs, wfs) || !slices.Equal(vals, wvals) {
		return fmt.Errorf("%q: %v %v, want %v %v", b[:min(len(b), 80)], fs, vals, wfs, wvals)
	}
	return nil
}

// checkHeld checks every shard's arena and entries: within the bound,
// the entries' bytes in the arena and apart, free entries keyless.
func checkHeld(c *scanCache) error {
	for i := range c.shards {
		sh := &c.shards[i]
		if len(sh.arena) > scanCacheShardBytes {
			return fmt.Errorf("shard %d: arena of %d bytes, bound %d", i, len(sh.arena), scanCacheShardBytes)
		}
		for j, e := range sh.entries {
			if e.seq == 0 {
				if sh.keys[j] != 0 {
					return fmt.Errorf("shard %d: free entry %d has a key", i, j)
				}
				continue
			}
			if e.off < 0 || e.off+e.n > len(sh.arena) || e.seq > sh.seq {
				return fmt.Errorf("shard %d: entry %d at %d+%d (seq %d) in an arena of %d (seq %d)", i, j, e.off, e.n, e.seq, len(sh.arena), sh.seq)
			}
			for k, x := range sh.entries[:j] {
				if x.seq != 0 && x.off < e.off+e.n && e.off < x.off+x.n {
					return fmt.Errorf("shard %d: entries %d and %d overlap", i, k, j)
				}
			}
		}
	}
	return nil
}

// customers is a response body of n customer records from first.
func customers(first, n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"customers":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"id":%d,"email":"user%d@mail.example","phone":"+1 415 555 %04d","address":{"street":"%d Main St","city":"Springfield"}}`,
			first+i, first+i, (first+i)%10000, 1+i)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// TestScanCache: a body seen again is answered from the cache with what a
// scan finds; bodies that share their key's samples but not their bytes,
// and bodies too short or too long for the cache, are scanned.
func TestScanCache(t *testing.T) {
	body := customers(1, 20)
	// twin differs from body in one byte that the key does not sample:
	// the same key, other findings (one e-mail address fewer).
	twin := bytes.Clone(body)
	at := bytes.Index(twin[scanKeySample:], []byte("@mail")) + scanKeySample
	twin[at] = '_'
	for _, tc := range []struct {
		name         string
		bodies       [][]byte
		hits, misses uint64
	}{
		{"repeat", [][]byte{body, body, body}, 2, 1},
		{"same key, other bytes", [][]byte{body, twin, twin, body}, 1, 3},
		{"short", [][]byte{customers(1, 2), customers(1, 2)}, 0, 0},
		{"long", [][]byte{customers(1, 1200), customers(1, 1200)}, 0, 0},
		{"no findings", [][]byte{bytes.Repeat([]byte(`{"sku":"SKU-1"}`), 100), bytes.Repeat([]byte(`{"sku":"SKU-1"}`), 100)}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, Options{})
			p := &Prepared{by: e}
			for _, b := range tc.bodies {
				if err := checkResponse(p, b); err != nil {
					t.Fatal(err)
				}
			}
			if e.scans.key(body) != e.scans.key(twin) {
				t.Fatal("the twin bodies' keys differ")
			}
			if h, m := e.scans.hits.Load(), e.scans.misses.Load(); h != tc.hits || m != tc.misses {
				t.Errorf("%d hits, %d misses, want %d, %d", h, m, tc.hits, tc.misses)
			}
			if err := checkHeld(e.scans); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestScanCacheAgrees: over bench bodies seen again in a random order, and
// copies altered at a random byte, the cache answers what a scan finds and
// keeps within its bounds; the same from several goroutines at once.
func TestScanCacheAgrees(t *testing.T) {
	bodies := benchBodies(400, 30)
	r := rand.New(rand.NewPCG(5, 6))
	var in [][]byte
	for range 3000 {
		b := bodies[r.IntN(len(bodies))]
		if r.IntN(4) == 0 {
			b = bytes.Clone(b)
			b[r.IntN(len(b))] = "@\"x1 :"[r.IntN(6)]
		}
		in = append(in, b)
	}
	e := mustEngine(t, Options{})
	p := &Prepared{by: e}
	for _, b := range in {
		if err := checkResponse(p, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkHeld(e.scans); err != nil {
		t.Fatal(err)
	}
	if e.scans.hits.Load() == 0 {
		t.Fatal("no body was answered from the cache")
	}

	e = mustEngine(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			p := &Prepared{by: e}
			for i := w; i < len(in); i += 2 {
				if err := checkResponse(p, in[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := checkHeld(e.scans); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkScanResponse measures the response-body scan with the cache:
// bodies seen again (64 distinct, in turn) and bodies never seen again
// (each altered), against the scan alone.
func BenchmarkScanResponse(b *testing.B) {
	bodies := benchBodies(512, 20)
	var large [][]byte
	for _, x := range bodies {
		if cacheable(len(x)) {
			large = append(large, x)
		}
	}
	total := 0
	for _, x := range large {
		total += len(x)
	}
	for _, tc := range []string{"scan", "repeated", "unique"} {
		b.Run(tc, func(b *testing.B) {
			e := mustEngine(b, Options{})
			p := &Prepared{by: e}
			var fs []finding
			var vals []personalValue
			b.SetBytes(int64(total))
			b.ReportAllocs()
			for k := range b.N {
				for i, x := range large {
					switch tc {
					case "scan":
						fs = theScanner.scan(x, scanSecrets|scanPersonal, fs[:0])
						if setOf(fs)&personalSet != 0 {
							vals = personalValues(x, fs, vals[:0])
						}
						continue
					case "repeated":
						x = large[i%64]
					case "unique":
						x[len(x)/2] = byte(k + i) // a byte the key does not sample
					}
					fs, vals = p.scanResponse(x, fs[:0], vals[:0])
				}
			}
			b.ReportMetric(float64(e.scans.hits.Load())/float64(max(1, e.scans.hits.Load()+e.scans.misses.Load())), "hit-ratio")
		})
	}
}

// FuzzScanCache: a body padded past minCachedBody, scanned through the
// cache, then again (from the cache), then altered at one byte (a key the
// cache may share, other bytes): each answer is a plain scan's.
func FuzzScanCache(f *testing.F) {
	f.Add([]byte(`{"email":"ann@mail.example","phone":"+1 415 555 0100"}`), uint16(3), byte('x'))
	f.Add(customers(1, 12), uint16(700), byte('@'))
	f.Add([]byte("token="+ghTok), uint16(0), byte('"'))
	f.Fuzz(func(t *testing.T, b []byte, at uint16, c byte) {
		for len(b) < minCachedBody {
			b = append(b, ` {"pad":"x1","card":"4532015112830366"} `...)
		}
		b = b[:min(len(b), maxCachedBody)]
		e := mustEngine(t, Options{})
		p := &Prepared{by: e}
		for range 2 {
			if err := checkResponse(p, b); err != nil {
				t.Fatal(err)
			}
		}
		if e.scans.hits.Load() != 1 {
			t.Fatalf("%d hits, want 1", e.scans.hits.Load())
		}
		b = bytes.Clone(b)
		b[int(at)%len(b)] = c
		if err := checkResponse(p, b); err != nil {
			t.Fatal(err)
		}
		if err := checkHeld(e.scans); err != nil {
			t.Fatal(err)
		}
	})
}
