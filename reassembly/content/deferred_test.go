package content

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"sync"
	"testing"
)

// TestDefer: Defer then Encoded.Decode gives exactly what Finish gives on
// the same input, for every coding, error and bound.
func TestDefer(t *testing.T) {
	small := jsonDoc(3000)
	big := jsonDoc(300 << 10)
	lying := enc(Gzip, small)
	lying = append([]byte(nil), lying...)
	binary.LittleEndian.PutUint32(lying[len(lying)-4:], 10) // ISIZE says 10 bytes
	tests := []struct {
		name     string
		codings  []Coding
		opts     Options
		in       []byte
		complete bool
	}{
		{"gzip", []Coding{Gzip}, Options{}, enc(Gzip, small), true},
		{"gzip ISIZE lies", []Coding{Gzip}, Options{}, lying, true},
		{"gzip multi-member", []Coding{Gzip}, Options{}, append(enc(Gzip, small[:100]), enc(Gzip, small[100:])...), true},
		{"zlib deflate", []Coding{Deflate}, Options{}, enc(Deflate, small), true},
		{"raw deflate", []Coding{Deflate}, Options{}, rawDeflate(small), true},
		{"br", []Coding{Brotli}, Options{}, enc(Brotli, small), true},
		{"gzip then br", []Coding{Gzip, Brotli}, Options{}, stack(small, Gzip, Brotli), true},
		{"big gzip capped", []Coding{Gzip}, Options{}, enc(Gzip, big), true},
		{"big gzip, input full", []Coding{Gzip}, Options{MaxOutput: 1000, MaxInput: 600}, enc(Gzip, big), true},
		{"big br capped", []Coding{Brotli}, Options{MaxOutput: 1000}, enc(Brotli, big), true},
		{"truncated gzip, incomplete body", []Coding{Gzip}, Options{}, enc(Gzip, big)[:2000], false},
		{"truncated gzip, complete body", []Coding{Gzip}, Options{}, enc(Gzip, small)[:40], true},
		{"corrupt gzip", []Coding{Gzip}, Options{}, []byte("this is not gzip at all, not at all"), true},
		{"decompression limit", []Coding{Gzip}, Options{MaxDecompress: 1000}, enc(Gzip, big), true},
		{"empty gzip", []Coding{Gzip}, Options{}, enc(Gzip, nil), true},
	}
	for _, tc := range tests {
		for _, pool := range []*Pool{nil, new(Pool)} {
			t.Run(fmt.Sprintf("%s/pool=%v", tc.name, pool != nil), func(t *testing.T) {
				write := func(d *Decoder) {
					r := rand.New(rand.NewSource(int64(len(tc.in))))
					for in := tc.in; len(in) > 0; {
						n := min(len(in), 1+r.Intn(1500))
						d.Write(in[:n])
						in = in[n:]
					}
				}
				opts := tc.opts
				opts.Pool = pool
				var eager Decoder
				eager.Reset(tc.codings, opts)
				write(&eager)
				eagerDone := eager.Done()
				want, wantTrunc, wantErr := eager.Finish(tc.complete)

				opts.Defer = true
				var lazy Decoder
				lazy.Reset(tc.codings, opts)
				write(&lazy)
				if lazy.Done() != eagerDone {
					t.Errorf("Done = %v deferring, %v decoding", lazy.Done(), eagerDone)
				}
				e := lazy.Defer(tc.complete)
				if e == nil {
					t.Fatal("Defer returned nil for an encoded body")
				}
				// The Decoder's buffers are reused by the next body: the
				// Encoded must not share them.
				lazy.Reset(tc.codings, opts)
				lazy.Write(bytes.Repeat([]byte{0xee}, 4000))
				lazy.Finish(false)
				got, trunc, err := e.Decode()
				if !bytes.Equal(got, want) || trunc != wantTrunc || fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Errorf("deferred: %d bytes, truncated %v, err %v; Finish: %d bytes, truncated %v, err %v",
						len(got), trunc, err, len(want), wantTrunc, wantErr)
				}
			})
		}
	}
}

// TestDeferNothing: there is nothing to defer for identity bodies, bodies
// without input and unsupported codings; Finish ends them.
func TestDeferNothing(t *testing.T) {
	var d Decoder
	d.Reset(nil, Options{Defer: true})
	d.Write([]byte("plain"))
	if e := d.Defer(true); e != nil {
		t.Errorf("identity body deferred")
	}
	if s, _, _ := d.Finish(true); string(s) != "plain" {
		t.Errorf("identity sample %q", s)
	}
	d.Reset([]Coding{Gzip}, Options{Defer: true})
	if e := d.Defer(true); e != nil {
		t.Errorf("empty body deferred")
	}
	d.Reset([]Coding{Gzip, Gzip, Gzip, Gzip, Gzip}, Options{Defer: true})
	d.Write([]byte("x"))
	if e := d.Defer(true); e != nil {
		t.Errorf("unsupported stack deferred")
	}
}

// TestDecodeConcurrent: Encoded values of one Pool decode on several
// goroutines at once (run with -race).
func TestDecodeConcurrent(t *testing.T) {
	pool := new(Pool)
	var encs []*Encoded
	var docs [][]byte
	for i := 0; i < 16; i++ {
		doc := jsonDoc(1000 + 700*i)
		c := []Coding{Coding(1 + i%3)}
		var d Decoder
		d.Reset(c, Options{Pool: pool, Defer: true})
		d.Write(enc(c[0], doc))
		encs = append(encs, d.Defer(true))
		docs = append(docs, doc)
	}
	var wg sync.WaitGroup
	for i := range encs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 5; k++ {
				got, _, err := encs[i].Decode()
				if err != nil || !bytes.Equal(got, docs[i]) {
					t.Errorf("body %d: %d bytes, err %v", i, len(got), err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestDeferRelease: a deferred body's input buffer goes back to the Pool
// at Release and serves the next body; samples decoded before stay intact,
// and the cycle Write, Defer, Decode, Release allocates only the Encoded
// and the sample.
func TestDeferRelease(t *testing.T) {
	pool := new(Pool)
	docs := [][]byte{jsonDoc(3000), jsonDoc(200), jsonDoc(9000), jsonDoc(50)}
	var d Decoder
	var samples [][]byte
	for round := 0; round < 3; round++ {
		for _, doc := range docs {
			d.Reset([]Coding{Gzip}, Options{Pool: pool, Defer: true})
			d.Write(enc(Gzip, doc))
			e := d.Defer(true)
			if e == nil {
				t.Fatal("not deferred")
			}
			s, _, err := e.Decode()
			if err != nil {
				t.Fatal(err)
			}
			e.Release()
			if e.Len() != 0 {
				t.Errorf("Len %d after Release, want 0", e.Len())
			}
			samples = append(samples, s)
		}
	}
	for i, s := range samples {
		if !bytes.Equal(s, docs[i%len(docs)]) {
			t.Errorf("sample %d changed or wrong (%d bytes, want %d)", i, len(s), len(docs[i%len(docs)]))
		}
	}
	if raceEnabled {
		return // sync.Pool drops items at random under the race detector
	}
	in := enc(Gzip, docs[0])
	allocs := testing.AllocsPerRun(50, func() {
		d.Reset([]Coding{Gzip}, Options{Pool: pool, Defer: true})
		d.Write(in[:len(in)/2])
		d.Write(in[len(in)/2:])
		e := d.Defer(true)
		e.Decode()
		e.Release()
	})
	if allocs > 2 {
		t.Errorf("%.1f allocations per deferred body, want 2 (the Encoded and the sample)", allocs)
	}
}
