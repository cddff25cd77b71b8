package content

import (
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/shadowtap/shadowtap/internal/cputime"
)

// benchDecode writes a body encoded with codings in 1460-byte pieces into a
// pooled Decoder and finishes it, once per op (one op is one body).
func benchDecode(b *testing.B, codings []Coding, size int, grow bool) {
	doc := jsonDoc(size)
	in := doc
	for _, c := range codings {
		in = enc(c, in)
	}
	var pool Pool
	var d Decoder
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := d.Reset(codings, Options{Pool: &pool}); err != nil {
			b.Fatal(err)
		}
		if grow {
			d.Grow(int64(len(in)))
		}
		for rest := in; len(rest) > 0; {
			k := min(1460, len(rest))
			d.Write(rest[:k])
			rest = rest[k:]
		}
		s, _, err := d.Finish(true)
		if err != nil || len(s) != len(doc) {
			b.Fatalf("sample %d bytes, err %v; want %d", len(s), err, len(doc))
		}
	}
}

func BenchmarkDecodeIdentity4K(b *testing.B)     { benchDecode(b, nil, 4000, false) }
func BenchmarkDecodeIdentityGrow4K(b *testing.B) { benchDecode(b, nil, 4000, true) }
func BenchmarkDecodeGzip4K(b *testing.B)         { benchDecode(b, []Coding{Gzip}, 4000, false) }
func BenchmarkDecodeGzip40K(b *testing.B)        { benchDecode(b, []Coding{Gzip}, 40000, false) }
func BenchmarkDecodeDeflate4K(b *testing.B)      { benchDecode(b, []Coding{Deflate}, 4000, false) }
func BenchmarkDecodeBrotli4K(b *testing.B)       { benchDecode(b, []Coding{Brotli}, 4000, false) }

// benchEncoded decodes a gzip body of size bytes (JSON, compressed at
// level, e.g. gzip.HuffmanOnly as the bench capture's simulator does) the
// way transactions do, through Defer and Encoded.Decode, once per op;
// streamOnly leaves out the libdeflate path of libdeflate builds (whole.go).
func benchEncoded(b *testing.B, size, level int, streamOnly bool) {
	doc := jsonDoc(size)
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, level)
	w.Write(doc)
	w.Close()
	in := buf.Bytes()
	pool := new(Pool)
	var d Decoder
	d.Reset([]Coding{Gzip}, Options{Pool: pool, Defer: true, streamOnly: streamOnly})
	d.Write(in)
	e := d.Defer(true)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	cputime.PerOp(b, func() {
		s, _, err := e.Decode()
		if err != nil || len(s) != len(doc) {
			b.Fatalf("sample %d bytes, err %v; want %d", len(s), err, len(doc))
		}
	})
}

func BenchmarkEncodedGzipHuff1K(b *testing.B)  { benchEncoded(b, 1000, gzip.HuffmanOnly, false) }
func BenchmarkEncodedGzipHuff8K(b *testing.B)  { benchEncoded(b, 8000, gzip.HuffmanOnly, false) }
func BenchmarkEncodedGzipHuff16K(b *testing.B) { benchEncoded(b, 16000, gzip.HuffmanOnly, false) }
func BenchmarkEncodedGzip1K(b *testing.B)      { benchEncoded(b, 1000, gzip.DefaultCompression, false) }
func BenchmarkEncodedGzip8K(b *testing.B)      { benchEncoded(b, 8000, gzip.DefaultCompression, false) }
func BenchmarkEncodedGzip64K(b *testing.B)     { benchEncoded(b, 60000, gzip.DefaultCompression, false) }

// The same through the streaming decompressor only (in builds without
// libdeflate, the same as the above).
func BenchmarkEncodedGzipHuff1KStream(b *testing.B) { benchEncoded(b, 1000, gzip.HuffmanOnly, true) }
func BenchmarkEncodedGzipHuff8KStream(b *testing.B) { benchEncoded(b, 8000, gzip.HuffmanOnly, true) }
func BenchmarkEncodedGzipHuff16KStream(b *testing.B) {
	benchEncoded(b, 16000, gzip.HuffmanOnly, true)
}
func BenchmarkEncodedGzip1KStream(b *testing.B) { benchEncoded(b, 1000, gzip.DefaultCompression, true) }
func BenchmarkEncodedGzip8KStream(b *testing.B) { benchEncoded(b, 8000, gzip.DefaultCompression, true) }
func BenchmarkEncodedGzip64KStream(b *testing.B) {
	benchEncoded(b, 60000, gzip.DefaultCompression, true)
}

// BenchmarkDeferCycle runs a gzip body the whole way a transaction's does:
// Write in pieces, Defer, Decode, Release.
func BenchmarkDeferCycle(b *testing.B) {
	doc := jsonDoc(3000)
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.HuffmanOnly)
	w.Write(doc)
	w.Close()
	in := buf.Bytes()
	pool := new(Pool)
	var d Decoder
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	cputime.PerOp(b, func() {
		d.Reset([]Coding{Gzip}, Options{Pool: pool, Defer: true})
		for p := in; len(p) > 0; {
			k := min(1400, len(p))
			d.Write(p[:k])
			p = p[k:]
		}
		e := d.Defer(true)
		s, _, err := e.Decode()
		if err != nil || len(s) != len(doc) {
			b.Fatalf("sample %d bytes, err %v; want %d", len(s), err, len(doc))
		}
		e.Release()
	})
}
