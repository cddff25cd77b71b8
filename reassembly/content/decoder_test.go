package content

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

func enc(c Coding, b []byte) []byte {
	var out bytes.Buffer
	switch c {
	case Gzip:
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
	case Deflate:
		w := zlib.NewWriter(&out)
		w.Write(b)
		w.Close()
	case Brotli:
		w := brotli.NewWriter(&out)
		w.Write(b)
		w.Close()
	default:
		return b
	}
	return out.Bytes()
}

func rawDeflate(b []byte) []byte {
	var out bytes.Buffer
	w, _ := flate.NewWriter(&out, flate.DefaultCompression)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// stack applies codings in order.
func stack(b []byte, cs ...Coding) []byte {
	for _, c := range cs {
		b = enc(c, b)
	}
	return b
}

func jsonDoc(n int) []byte {
	var b strings.Builder
	b.WriteString("[")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"email":"user%d@example.com","score":%d},`, i, i, i*7%101)
	}
	return []byte(b.String()[:n])
}

func decode(t testing.TB, codings []Coding, opts Options, in []byte, pieces int, complete bool) ([]byte, bool, error) {
	var d Decoder
	if err := d.Reset(codings, opts); err != nil {
		return nil, false, err
	}
	r := rand.New(rand.NewSource(int64(len(in) + pieces)))
	for len(in) > 0 {
		n := len(in)
		if pieces > 1 {
			n = 1 + r.Intn(max(1, 2*len(in)/pieces))
			n = min(n, len(in))
		}
		d.Write(in[:n])
		in = in[n:]
	}
	return d.Finish(complete)
}

func TestDecode(t *testing.T) {
	small := jsonDoc(300)
	big := jsonDoc(300 << 10)
	tests := []struct {
		name      string
		codings   []Coding
		opts      Options
		in        []byte
		complete  bool
		want      []byte
		truncated bool
		err       error
	}{
		{"identity", nil, Options{}, small, true, small, false, nil},
		{"identity capped", nil, Options{MaxOutput: 100}, small, true, small[:100], true, nil},
		{"gzip", []Coding{Gzip}, Options{}, enc(Gzip, small), true, small, false, nil},
		{"zlib deflate", []Coding{Deflate}, Options{}, enc(Deflate, small), true, small, false, nil},
		{"raw deflate", []Coding{Deflate}, Options{}, rawDeflate(small), true, small, false, nil},
		{"br", []Coding{Brotli}, Options{}, enc(Brotli, small), true, small, false, nil},
		{"gzip then br", []Coding{Gzip, Brotli}, Options{}, stack(small, Gzip, Brotli), true, small, false, nil},
		{"br then deflate then gzip", []Coding{Brotli, Deflate, Gzip}, Options{}, stack(small, Brotli, Deflate, Gzip), true, small, false, nil},
		{"gzip multi-member", []Coding{Gzip}, Options{}, append(enc(Gzip, small[:100]), enc(Gzip, small[100:])...), true, small, false, nil},
		{"big gzip capped", []Coding{Gzip}, Options{}, enc(Gzip, big), true, big[:64<<10], true, nil},
		{"big br capped", []Coding{Brotli}, Options{MaxOutput: 1000}, enc(Brotli, big), true, big[:1000], true, nil},
		{"truncated gzip, incomplete body", []Coding{Gzip}, Options{}, enc(Gzip, big)[:2000], false, nil, false, nil},
		{"truncated gzip, complete body", []Coding{Gzip}, Options{}, enc(Gzip, small)[:40], true, nil, false, ErrTruncated},
		{"corrupt gzip", []Coding{Gzip}, Options{}, []byte("this is not gzip at all"), true, nil, false, ErrCorrupt},
		{"corrupt br", []Coding{Brotli}, Options{}, []byte("\xff\xff\xff\xff not brotli"), true, nil, false, ErrCorrupt},
		{"decompression limit", []Coding{Gzip}, Options{MaxDecompress: 1000}, enc(Gzip, big), true, nil, false, ErrLimit},
		{"too many layers", []Coding{Gzip, Gzip, Gzip, Gzip, Gzip}, Options{}, nil, true, nil, false, ErrUnsupported},
	}
	for _, tc := range tests {
		for _, pieces := range []int{1, 7, 100} {
			t.Run(fmt.Sprintf("%s/%d pieces", tc.name, pieces), func(t *testing.T) {
				got, trunc, err := decode(t, tc.codings, tc.opts, tc.in, pieces, tc.complete)
				if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if tc.want != nil && !bytes.Equal(got, tc.want) {
					t.Errorf("sample = %d bytes %.40q, want %d bytes %.40q", len(got), got, len(tc.want), tc.want)
				}
				if tc.want == nil && tc.err == nil && len(got) > 0 && !bytes.Equal(got, big[:len(got)]) {
					t.Errorf("partial sample is not a prefix of the body")
				}
				if trunc != tc.truncated {
					t.Errorf("truncated = %v, want %v", trunc, tc.truncated)
				}
			})
		}
	}
}

// TestDecodeStopsEarly: once the sample is full, the decoder asks for no
// more input and does not buffer it.
func TestDecodeStopsEarly(t *testing.T) {
	body := jsonDoc(4 << 20)
	in := enc(Gzip, body)
	var d Decoder
	d.Reset([]Coding{Gzip}, Options{MaxOutput: 4096})
	fed := 0
	for fed < len(in) && !d.Done() {
		n := min(1460, len(in)-fed)
		d.Write(in[fed : fed+n])
		fed += n
	}
	if fed >= len(in) {
		t.Fatalf("decoder consumed all %d input bytes for a 4 KiB sample", len(in))
	}
	d.Write(in[fed:])
	got, trunc, err := d.Finish(true)
	if err != nil || !trunc || !bytes.Equal(got, body[:4096]) {
		t.Fatalf("got %d bytes, truncated %v, err %v", len(got), trunc, err)
	}
	// Input is buffered up to MaxInput (2 × 4096 + 4096), decoded once
	// then; the rest is dropped.
	if want := int64(len(in) - (2*4096 + 4096)); d.Dropped() != want {
		t.Errorf("Dropped = %d, want %d", d.Dropped(), want)
	}
}

// TestDecodeBombBounded: a 64 MiB gzip bomb costs about one sample of memory.
func TestDecodeBombBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 64 MiB bomb")
	}
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for i := 0; i < 64; i++ {
		w.Write(zero)
	}
	w.Close()
	bomb := buf.Bytes()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, c := range [][]Coding{{Gzip}, {Gzip, Gzip}} {
		in := bomb
		if len(c) == 2 {
			in = enc(Gzip, bomb)
		}
		got, trunc, err := decode(t, c, Options{}, in, 50, true)
		if err != nil || !trunc || len(got) != 64<<10 {
			t.Fatalf("%v: %d bytes, truncated %v, err %v", c, len(got), trunc, err)
		}
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("decoding bombs allocated %d bytes", alloc)
	}
}

func TestParseCodings(t *testing.T) {
	tests := []struct {
		in   string
		want []Coding
		err  bool
	}{
		{"gzip", []Coding{Gzip}, false},
		{"x-gzip", []Coding{Gzip}, false},
		{"GZIP, br", []Coding{Gzip, Brotli}, false},
		{" identity ,deflate", []Coding{Deflate}, false},
		{"gzip, chunked", []Coding{Gzip}, false},
		{"", nil, false},
		{"compress", nil, true},
		{"br, zstd, gzip", []Coding{Brotli, Gzip}, true},
	}
	for _, tc := range tests {
		got, err := ParseCodings(nil, tc.in)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) || (err != nil) != tc.err {
			t.Errorf("ParseCodings(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseCodings(%q) error %v is not ErrUnsupported", tc.in, err)
		}
	}
}
