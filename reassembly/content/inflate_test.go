package content

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// gzipStreams returns gzip bodies of the shapes the fast path meets:
// JSON and other text, incompressible bytes, long runs, every compress/gzip
// level (Huffman-only, stored, fixed and dynamic blocks), klauspost's
// encoder, several members.
func gzipStreams(t testing.TB) (streams, bodies [][]byte) {
	r := rand.New(rand.NewSource(1))
	random := make([]byte, 70000)
	r.Read(random)
	runs := bytes.Repeat([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), 3000)
	small := make([]byte, 50000)
	for i := range small {
		small[i] = "abcd"[r.Intn(4)]
	}
	var docs [][]byte
	for _, n := range []int{0, 1, 7, 100, 300, 1000, 4000, 16000, 40000, 70000, 200000} {
		docs = append(docs, jsonDoc(n))
	}
	docs = append(docs, random, random[:300], runs, small)
	add := func(s, b []byte) { streams, bodies = append(streams, s), append(bodies, b) }
	for _, doc := range docs {
		for _, lvl := range []int{gzip.HuffmanOnly, gzip.NoCompression, gzip.BestSpeed, gzip.DefaultCompression, gzip.BestCompression} {
			var buf bytes.Buffer
			w, err := gzip.NewWriterLevel(&buf, lvl)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(doc)
			w.Close()
			add(buf.Bytes(), doc)
		}
		for _, lvl := range []int{kgzip.HuffmanOnly, kgzip.BestSpeed, 4, kgzip.BestCompression} {
			var buf bytes.Buffer
			w, err := kgzip.NewWriterLevel(&buf, lvl)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(doc)
			w.Close()
			add(buf.Bytes(), doc)
		}
		if len(doc) > 2 {
			h := len(doc) / 3
			add(append(enc(Gzip, doc[:h]), enc(Gzip, doc[h:])...), doc)
		}
	}
	return streams, bodies
}

// TestGunzipFast: the fast path decodes every well-formed stream itself
// (without giving up) to the original bytes, whatever the sample limit.
func TestGunzipFast(t *testing.T) {
	streams, bodies := gzipStreams(t)
	var z inflater
	for i, s := range streams {
		for _, limit := range []int{1, 100, 4097, 64<<10 + 1, 1 << 20} {
			want, wr := bodies[i], infEnded
			if len(want) >= limit {
				want, wr = want[:limit], infFull
			}
			for _, prealloc := range []int{0, len(bodies[i]) + 1} {
				out, r := z.gunzip(s, make([]byte, 0, prealloc), limit)
				if r != wr || !bytes.Equal(out, want) {
					t.Fatalf("stream %d (%d bytes → %d), limit %d, buffer %d: result %d with %d bytes, want %d with %d",
						i, len(s), len(bodies[i]), limit, prealloc, r, len(out), wr, len(want))
				}
			}
		}
	}
}

// decodeBoth decodes in with and without the fast path and fails when
// the results differ in any way.
func decodeBoth(t *testing.T, in []byte, opts Options, complete bool, what string, pieceCounts ...int) {
	t.Helper()
	fast := opts
	slow := opts
	slow.streamOnly = true
	var pool Pool
	fast.Pool = &pool
	if len(pieceCounts) == 0 {
		pieceCounts = []int{1}
	}
	for _, pieces := range pieceCounts {
		g1, t1, e1 := decode(t, []Coding{Gzip}, fast, in, pieces, complete)
		g2, t2, e2 := decode(t, []Coding{Gzip}, slow, in, pieces, complete)
		if !bytes.Equal(g1, g2) || t1 != t2 || fmt.Sprint(e1) != fmt.Sprint(e2) {
			t.Fatalf("%s, %d pieces: fast path %d bytes, truncated %v, err %v; streaming %d bytes, truncated %v, err %v",
				what, pieces, len(g1), t1, e1, len(g2), t2, e2)
		}
	}
}

// TestGunzipSameAsStreaming: on damaged streams — cut anywhere, bits
// flipped, checksums wrong, bytes after the end — and with any limits,
// the Decoder gives exactly what the streaming decompressor alone gives.
func TestGunzipSameAsStreaming(t *testing.T) {
	streams, _ := gzipStreams(t)
	r := rand.New(rand.NewSource(2))
	n := 0
	for i, s := range streams {
		if len(s) > 20000 && i%4 != 0 || testing.Short() && i%3 != 0 {
			continue // keep the test quick; the big ones are sampled
		}
		for _, opts := range []Options{{}, {MaxOutput: 1000}, {MaxOutput: 100, MaxInput: 300}, {MaxOutput: 4096, MaxDecompress: 4096}} {
			decodeBoth(t, s, opts, true, fmt.Sprintf("stream %d whole", i), 1, 3)
			for k := 0; k < 4; k++ {
				cut := r.Intn(len(s) + 1)
				decodeBoth(t, s[:cut], opts, k%2 == 0, fmt.Sprintf("stream %d cut at %d", i, cut))
				b := append([]byte(nil), s...)
				for f := 0; f <= k%3; f++ {
					j := r.Intn(len(b))
					b[j] ^= 1 << r.Intn(8)
				}
				decodeBoth(t, b, opts, true, fmt.Sprintf("stream %d flipped", i))
				n += 2
			}
			tail := append(append([]byte(nil), s...), 0, 0, 0, 0)
			decodeBoth(t, tail, opts, true, fmt.Sprintf("stream %d zero padded", i))
			tail = append(append([]byte(nil), s...), s[:12]...)
			decodeBoth(t, tail, opts, true, fmt.Sprintf("stream %d partial member after", i))
			if len(s) >= 8 {
				b := append([]byte(nil), s...)
				b[len(b)-8] ^= 1 // CRC
				decodeBoth(t, b, opts, true, fmt.Sprintf("stream %d bad crc", i))
				b = append([]byte(nil), s...)
				b[len(b)-1] ^= 1 // ISIZE
				decodeBoth(t, b, opts, true, fmt.Sprintf("stream %d bad size", i))
			}
		}
	}
	if n == 0 {
		t.Fatal("no stream tested")
	}
}

// FuzzGunzip: for any input and limits, the Decoder with its fast path
// gives exactly what the streaming decompressor gives.
func FuzzGunzip(f *testing.F) {
	doc := jsonDoc(3000)
	for _, lvl := range []int{gzip.HuffmanOnly, gzip.NoCompression, gzip.BestSpeed, gzip.BestCompression} {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, lvl)
		w.Write(doc[:300+lvl*100])
		w.Close()
		f.Add(buf.Bytes(), uint16(0), true)
		f.Add(buf.Bytes(), uint16(200), false)
	}
	f.Add(append(enc(Gzip, []byte("abc")), enc(Gzip, []byte("defg"))...), uint16(5), true)
	f.Fuzz(func(t *testing.T, in []byte, maxOut uint16, complete bool) {
		opts := Options{MaxOutput: int(maxOut)}
		decodeBoth(t, in, opts, complete, "fuzz")
	})
}
