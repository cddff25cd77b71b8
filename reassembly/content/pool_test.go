package content

import (
	"bytes"
	"testing"
)

// TestPooledBuffers: with a Pool, a Decoder's working buffers are lent for
// one body; the sample Finish returns is the caller's (no later body
// overwrites it), and a steady stream of bodies allocates only the samples.
func TestPooledBuffers(t *testing.T) {
	var pool Pool
	docs := [][]byte{jsonDoc(3000), jsonDoc(200), jsonDoc(9000)}
	cases := []struct {
		name    string
		codings []Coding
	}{
		{"identity", nil},
		{"gzip", []Coding{Gzip}},
		{"deflate", []Coding{Deflate}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Decoder
			var samples [][]byte
			for _, doc := range docs {
				in := doc
				if len(tc.codings) > 0 {
					in = enc(tc.codings[0], doc)
				}
				if err := d.Reset(tc.codings, Options{Pool: &pool}); err != nil {
					t.Fatal(err)
				}
				for len(in) > 0 {
					k := min(1400, len(in))
					d.Write(in[:k])
					in = in[k:]
				}
				s, trunc, err := d.Finish(true)
				if err != nil || trunc {
					t.Fatalf("finish: truncated %v, %v", trunc, err)
				}
				samples = append(samples, s)
			}
			for i, s := range samples {
				if !bytes.Equal(s, docs[i]) {
					t.Errorf("sample %d changed or wrong (%d bytes, want %d)", i, len(s), len(docs[i]))
				}
				if cap(s) > len(s)+len(s)/8+16 {
					t.Errorf("sample %d: capacity %d for %d bytes, want a copy of its size", i, cap(s), len(s))
				}
			}
			if tc.name == "deflate" || raceEnabled {
				return // flate's reader allocates its own small state per Reset
			}
			doc := docs[0]
			in := doc
			if len(tc.codings) > 0 {
				in = enc(tc.codings[0], doc)
			}
			allocs := testing.AllocsPerRun(50, func() {
				d.Reset(tc.codings, Options{Pool: &pool})
				for p := in; len(p) > 0; {
					k := min(1400, len(p))
					d.Write(p[:k])
					p = p[k:]
				}
				d.Finish(true)
			})
			if allocs > 1 {
				t.Errorf("%.1f allocations per %s body, want 1 (the sample)", allocs, tc.name)
			}
		})
	}
}

// TestGzipMembersAcrossPieces: a body of two gzip members whose first ends
// exactly where a piece ends decodes to both (decoding once per body; an
// attempt at that boundary used to take the first member's end for the
// body's).
func TestGzipMembersAcrossPieces(t *testing.T) {
	a, b := jsonDoc(200000), jsonDoc(3000)
	m1, m2 := enc(Gzip, a), enc(Gzip, b)
	if len(m1) < 4096 {
		t.Fatalf("first member %d bytes: want more than 4 KiB", len(m1))
	}
	var d Decoder
	d.Reset([]Coding{Gzip}, Options{MaxOutput: 1 << 20})
	d.Write(m1)
	d.Write(m2)
	got, trunc, err := d.Finish(true)
	if err != nil || trunc {
		t.Fatalf("truncated %v, %v", trunc, err)
	}
	if want := append(append([]byte(nil), a...), b...); !bytes.Equal(got, want) {
		t.Errorf("sample %d bytes, want %d (both members)", len(got), len(want))
	}
}

// TestSampleClass: every size up to maxPooledBuf has a class at least as
// large, at most an eighth (or 15 bytes) larger, classes grow with the
// size, and a class's capacity is its own class.
func TestSampleClass(t *testing.T) {
	lastIdx, lastSize := -1, 0
	for n := 1; n <= maxPooledBuf; n++ {
		idx, size, ok := sampleClass(n)
		if !ok || idx < 0 || idx >= numSampleClasses {
			t.Fatalf("%d bytes: class %d (ok %v), want one of %d", n, idx, ok, numSampleClasses)
		}
		if size < n || size-n > max(15, n/8) {
			t.Fatalf("%d bytes: class of %d bytes", n, size)
		}
		if idx < lastIdx || idx == lastIdx && size != lastSize || idx > lastIdx && size <= lastSize {
			t.Fatalf("%d bytes: class %d of %d bytes after class %d of %d", n, idx, size, lastIdx, lastSize)
		}
		if i2, s2, _ := sampleClass(size); i2 != idx || s2 != size {
			t.Fatalf("class %d of %d bytes: its capacity is in class %d of %d", idx, size, i2, s2)
		}
		lastIdx, lastSize = idx, size
	}
	if lastIdx != numSampleClasses-1 {
		t.Errorf("last class %d, want %d", lastIdx, numSampleClasses-1)
	}
	if _, _, ok := sampleClass(maxPooledBuf + 1); ok {
		t.Error("a class past maxPooledBuf")
	}
}

// TestPutSample: a sample given back serves a later body of about its
// size, so a steady stream of bodies whose samples are given back
// allocates nothing (identity, gzip through Defer and Decode); buffers of
// other capacities are not taken.
func TestPutSample(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	doc := jsonDoc(3000)
	gz := enc(Gzip, doc)
	pool := new(Pool)
	var d Decoder
	identity := func() []byte {
		d.Reset(nil, Options{Pool: pool})
		d.Write(doc[:1000])
		d.Write(doc[1000:])
		s, _, _ := d.Finish(true)
		return s
	}
	deferred := func() []byte {
		d.Reset([]Coding{Gzip}, Options{Pool: pool, Defer: true})
		d.Write(gz)
		e := d.Defer(true)
		s, _, _ := e.Decode()
		e.Release()
		return s
	}
	for _, tc := range []struct {
		name   string
		body   func() []byte
		allocs float64
	}{{"identity", identity, 0}, {"gzip deferred", deferred, 1 /* the Encoded */}} {
		s := tc.body()
		if !bytes.Equal(s, doc) {
			t.Fatalf("%s: sample %d bytes, want %d", tc.name, len(s), len(doc))
		}
		pool.PutSample(s)
		s2 := tc.body()
		if &s2[0] != &s[0] {
			t.Errorf("%s: the sample given back was not reused", tc.name)
		}
		if !bytes.Equal(s2, doc) {
			t.Fatalf("%s: reused sample %d bytes, want %d", tc.name, len(s2), len(doc))
		}
		pool.PutSample(s2)
		if allocs := testing.AllocsPerRun(50, func() { pool.PutSample(tc.body()) }); allocs > tc.allocs {
			t.Errorf("%s: %.1f allocations per body with samples given back, want %.0f", tc.name, allocs, tc.allocs)
		}
	}
	// A buffer that is not of a class's capacity is not taken.
	foreign := make([]byte, 0, 1000)
	pool.PutSample(foreign)
	if s := pool.getSample(1000); cap(s) > 0 && &s[:1][0] == &foreign[:1][0] {
		t.Error("a buffer of 1000 bytes' capacity was pooled")
	}
	var nilPool *Pool
	nilPool.PutSample(doc) // no-op
	if s := nilPool.getSample(100); cap(s) != 100 {
		t.Errorf("nil Pool: capacity %d, want 100", cap(s))
	}
}
