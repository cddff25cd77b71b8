package content

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
)

// gzipBodies returns gzip streams of the shapes the libdeflate path meets
// and the bytes each decodes to: JSON, random and run-heavy data of many
// sizes, every compress/gzip level (Huffman-only as the bench capture's
// simulator writes them, stored, fixed and dynamic blocks), klauspost's
// encoder, several members, and a header with a file name.
func gzipBodies(t testing.TB) (streams, bodies [][]byte) {
	r := rand.New(rand.NewSource(1))
	random := make([]byte, 70000)
	r.Read(random)
	runs := bytes.Repeat([]byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"), 3000)
	var docs [][]byte
	for _, n := range []int{0, 1, 9, 120, 1000, 4000, 16000, 65536, 70000, 200000} {
		docs = append(docs, jsonDoc(n))
	}
	docs = append(docs, random, random[:300], runs, runs[:700])
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
		for _, lvl := range []int{kgzip.HuffmanOnly, kgzip.BestSpeed, 5, kgzip.BestCompression} {
			var buf bytes.Buffer
			w, err := kgzip.NewWriterLevel(&buf, lvl)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(doc)
			w.Close()
			add(buf.Bytes(), doc)
		}
		if len(doc) > 2 && len(doc) < 100000 {
			h := len(doc) / 3
			add(append(enc(Gzip, doc[:h]), enc(Gzip, doc[h:])...), doc)
			add(append(append(enc(Gzip, nil), enc(Gzip, doc)...), enc(Gzip, nil)...), doc)
		}
	}
	for _, h := range []gzip.Header{{Name: "body.json"}, {Name: strings.Repeat("n", 511)}, {Name: strings.Repeat("n", 512)}, {Comment: "c"}, {Extra: []byte("xy")}} {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Header = h
		w.Write(docs[4])
		w.Close()
		add(buf.Bytes(), docs[4])
	}
	fixed := fixedRun()
	add(fixed, bytes.Repeat([]byte("a"), 259))
	return streams, bodies
}

// fixedRun returns a gzip member of one fixed-code block: the literal 'a',
// then a match of length 258 at distance 1 (symbol 285), end of block.
// Symbol 285's 8-bit code, 11000101, is one bit away from the reserved
// 287, 11000111.
func fixedRun() []byte {
	var bw bitWriter
	bw.bits(1, 1)            // BFINAL
	bw.bits(1, 2)            // BTYPE fixed
	bw.code(0x30+'a', 8)     // literal 'a': 00110000 + 0x61
	bw.code(0xc0+285-280, 8) // 285: 11000101
	bw.code(0, 5)            // distance symbol 0: distance 1
	bw.code(0, 7)            // end of block, 256: 0000000
	body := bytes.Repeat([]byte("a"), 259)
	return gzipMember(bw.flush(), body)
}

// gzipMember wraps DEFLATE data in a gzip header and the trailer of body.
func gzipMember(deflate, body []byte) []byte {
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}
	out = append(out, deflate...)
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	return binary.LittleEndian.AppendUint32(out, uint32(len(body)))
}

// bitWriter writes DEFLATE bit fields: bits low bit first, Huffman codes
// high bit first.
type bitWriter struct {
	out []byte
	acc uint64
	n   uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

func (w *bitWriter) code(c uint64, n uint) {
	var rev uint64
	for i := uint(0); i < n; i++ {
		rev |= (c >> i & 1) << (n - 1 - i)
	}
	w.bits(rev, n)
}

func (w *bitWriter) flush() []byte {
	if w.n > 0 {
		w.out = append(w.out, byte(w.acc))
	}
	return w.out
}

// result is one decode's outcome.
type result struct {
	out   []byte
	trunc bool
	err   error
}

func (r result) String() string {
	return fmt.Sprintf("%d bytes, truncated %v, err %v", len(r.out), r.trunc, r.err)
}

func (r result) same(o result) bool {
	return bytes.Equal(r.out, o.out) && r.trunc == o.trunc && fmt.Sprint(r.err) == fmt.Sprint(o.err)
}

// lenient reports whether fast and slow differ the way libdeflate's
// leniency about reserved codes makes them differ (whole.go): libdeflate
// decoded the whole stream and its checksums matched, where the streaming
// decompressor stopped at a DEFLATE error after a prefix of those bytes.
func lenient(fast, slow result) bool {
	return haveLibdeflate && fast.err == nil && !fast.trunc && !slow.trunc && slow.err != nil &&
		strings.Contains(slow.err.Error(), "flate: corrupt input") && bytes.HasPrefix(fast.out, slow.out)
}

// bothWays decodes in with and without the libdeflate path (written in
// pieces and finished, and deferred and decoded) and returns the results;
// it fails when the deferred and finished results differ.
func bothWays(t testing.TB, in []byte, opts Options, complete bool, pieces int) (fast, slow result) {
	t.Helper()
	var pool Pool
	for i, o := range []Options{opts, opts} {
		o.streamOnly = i == 1
		if pieces%2 == 1 {
			o.Pool = &pool
		}
		var r result
		r.out, r.trunc, r.err = decode(t, []Coding{Gzip}, o, in, pieces, complete)
		o.Defer = true
		var d Decoder
		d.Reset([]Coding{Gzip}, o)
		d.Write(in)
		if e := d.Defer(complete); e != nil {
			var dr result
			dr.out, dr.trunc, dr.err = e.Decode()
			e.Release()
			if !dr.same(r) {
				t.Fatalf("streamOnly %v, deferred: %v; finished: %v", o.streamOnly, dr, r)
			}
		}
		if i == 0 {
			fast = r
		} else {
			slow = r
		}
	}
	return fast, slow
}

// sameBothWays fails when the libdeflate path and the streaming path give
// different results, libdeflate's known leniency aside; it counts that in
// *nlenient.
func sameBothWays(t testing.TB, in []byte, opts Options, complete bool, pieces int, nlenient *int, what string) {
	t.Helper()
	fast, slow := bothWays(t, in, opts, complete, pieces)
	if fast.same(slow) {
		return
	}
	if lenient(fast, slow) {
		*nlenient++
		t.Logf("%s (%d bytes): libdeflate's leniency: %v; streaming %v", what, len(in), fast, slow)
		return
	}
	t.Fatalf("%s (%d bytes, complete %v, opts %+v): libdeflate path %v; streaming %v", what, len(in), complete, opts, fast, slow)
}

// TestWholeGzipUsed: in libdeflate builds, every well-formed stream with
// a plain header whose output fits is decoded by libdeflate, to the
// original bytes; other builds, and bodies that do not fit or carry other
// header fields, are left to the streaming path.
func TestWholeGzipUsed(t *testing.T) {
	streams, bodies := gzipBodies(t)
	used := 0
	for i, s := range streams {
		for _, limit := range []int{100, 4096, 64 << 10, 1 << 20} {
			var d Decoder
			d.Reset([]Coding{Gzip}, Options{MaxOutput: limit})
			d.in = s
			want := haveLibdeflate && len(bodies[i]) <= limit && plainGzipHeader(s)
			if got := d.gunzipWhole(); got != want {
				t.Fatalf("stream %d (%d bytes → %d, header % x), limit %d: libdeflate path taken %v, want %v",
					i, len(s), len(bodies[i]), s[:4], limit, got, want)
			}
			if want {
				used++
				if !bytes.Equal(d.out, bodies[i]) || !d.ended || !d.done || d.err != nil {
					t.Fatalf("stream %d, limit %d: %d bytes (ended %v, err %v), want %d", i, limit, len(d.out), d.ended, d.err, len(bodies[i]))
				}
			}
		}
	}
	t.Logf("libdeflate built in: %v; streams decoded by it: %d", haveLibdeflate, used)
}

// TestWholeGzipSameAsStreaming: whole, cut anywhere, with bits flipped,
// checksums or sizes wrong, bytes after the end, and under any limits
// (samples cut at MaxOutput, MaxDecompress below it, input dropped at
// MaxInput), the Decoder gives exactly what the streaming decompressor
// alone gives, finished or deferred.
func TestWholeGzipSameAsStreaming(t *testing.T) {
	streams, _ := gzipBodies(t)
	r := rand.New(rand.NewSource(2))
	n, nlenient := 0, 0
	for i, s := range streams {
		if len(s) > 20000 && i%3 != 0 || testing.Short() && i%3 != 0 {
			continue // keep the test quick; the big ones are sampled
		}
		for _, opts := range []Options{{}, {MaxOutput: 1000}, {MaxOutput: 4000, MaxDecompress: 1500}, {MaxOutput: 100, MaxInput: 300}, {MaxOutput: 16 << 10, MaxDecompress: 16 << 10}} {
			what := fmt.Sprintf("stream %d", i)
			sameBothWays(t, s, opts, true, 1, &nlenient, what+" whole")
			sameBothWays(t, s, opts, true, 4, &nlenient, what+" whole in pieces")
			for k := 0; k < 4; k++ {
				cut := r.Intn(len(s) + 1)
				sameBothWays(t, s[:cut], opts, k%2 == 0, 1+k, &nlenient, fmt.Sprintf("%s cut at %d", what, cut))
				b := append([]byte(nil), s...)
				for f := 0; f <= k%3; f++ {
					j := r.Intn(len(b))
					b[j] ^= 1 << r.Intn(8)
				}
				sameBothWays(t, b, opts, true, 1, &nlenient, what+" flipped")
				n += 3
			}
			tail := append(append([]byte(nil), s...), 0, 0, 0, 0)
			sameBothWays(t, tail, opts, true, 1, &nlenient, what+" zero padded")
			tail = append(append([]byte(nil), s...), s[:12]...)
			sameBothWays(t, tail, opts, true, 1, &nlenient, what+" partial member after")
			tail = append(append([]byte(nil), s...), s[:len(s)-1]...)
			sameBothWays(t, tail, opts, true, 1, &nlenient, what+" second member cut")
			b := append([]byte(nil), s...)
			b[len(b)-8] ^= 1 // CRC
			sameBothWays(t, b, opts, true, 1, &nlenient, what+" bad crc")
			b = append([]byte(nil), s...)
			b[len(b)-4] ^= 1 // ISIZE
			sameBothWays(t, b, opts, true, 1, &nlenient, what+" bad size")
			b = append([]byte(nil), s...)
			b[len(b)-2] ^= 0x80 // ISIZE says far more
			sameBothWays(t, b, opts, true, 1, &nlenient, what+" size too large")
			n += 7
		}
	}
	t.Logf("%d damaged or limited streams compared; %d differed by libdeflate's leniency", n, nlenient)
}

// TestWholeGzipLenient pins the one known difference (whole.go): a
// fixed-code length-258 symbol (285) with one bit flipped is the
// reserved symbol 287, which the streaming decompressor rejects and
// libdeflate decodes as 285. Libdeflate builds then decode the body whole
// (the trailer matches); the others give the streaming path's error.
func TestWholeGzipLenient(t *testing.T) {
	s := fixedRun()
	want := bytes.Repeat([]byte("a"), 259)
	fast, slow := bothWays(t, s, Options{}, true, 1)
	if !bytes.Equal(fast.out, want) || fast.err != nil || !slow.same(fast) {
		t.Fatalf("valid stream: libdeflate path %v, streaming %v; want %d bytes", fast, slow, len(want))
	}
	b := append([]byte(nil), s...)
	// The 285 code is bits 11 to 18 of the DEFLATE data (after the
	// block header's 3 bits and the literal's 8), high bit first: its
	// second-last bit is bit 17.
	b[10+17/8] ^= 1 << (17 % 8)
	fast, slow = bothWays(t, b, Options{}, true, 1)
	if slow.err == nil || !strings.Contains(slow.err.Error(), "flate: corrupt input") {
		t.Fatalf("symbol 287: streaming %v, want a corrupt-input error", slow)
	}
	if haveLibdeflate {
		if !bytes.Equal(fast.out, want) || fast.err != nil || !lenient(fast, slow) {
			t.Fatalf("symbol 287: libdeflate path %v, streaming %v; want libdeflate's %d bytes", fast, slow, len(want))
		}
	} else if !fast.same(slow) {
		t.Fatalf("symbol 287 without libdeflate: %v, streaming %v", fast, slow)
	}
}

// wholeSeeds are FuzzWholeGzip's seeds: gzip bodies of several levels
// and sizes, two members, a header with a file name, and the fixed-code
// stream of TestWholeGzipLenient.
func wholeSeeds() [][]byte {
	doc := jsonDoc(3000)
	var seeds [][]byte
	for i, lvl := range []int{gzip.HuffmanOnly, gzip.NoCompression, gzip.BestSpeed, gzip.BestCompression} {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, lvl)
		w.Write(doc[:300+i*500])
		w.Close()
		seeds = append(seeds, buf.Bytes())
	}
	seeds = append(seeds, append(enc(Gzip, []byte("abc")), enc(Gzip, []byte("defg"))...))
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Name = "x.json"
	w.Write(doc[:200])
	w.Close()
	seeds = append(seeds, buf.Bytes(), fixedRun())
	return seeds
}

// FuzzWholeGzip: for any input and limits, the Decoder gives what the
// streaming decompressor alone gives (libdeflate's leniency aside).
func FuzzWholeGzip(f *testing.F) {
	for i, s := range wholeSeeds() {
		f.Add(s, uint16(i*150), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, in []byte, maxOut uint16, complete bool) {
		var n int
		opts := Options{MaxOutput: int(maxOut)}
		if maxOut%7 == 1 {
			opts.MaxDecompress = int(maxOut / 2)
		}
		sameBothWays(t, in, opts, complete, 1+int(maxOut%3), &n, "fuzz")
	})
}
