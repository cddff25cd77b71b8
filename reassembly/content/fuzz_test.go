package content

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz seed corpora")

func decodeSeeds() [][]byte {
	doc := jsonDoc(2000)
	return [][]byte{
		enc(Gzip, doc), enc(Deflate, doc), rawDeflate(doc), enc(Brotli, doc),
		stack(doc, Gzip, Brotli), []byte("plain"), {0x1f, 0x8b, 0x08, 0x00},
	}
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	modes := []byte{1, 2, 2, 3, 1 | 3<<2, 0, 1}
	for i, s := range decodeSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%d)\nuint16(%d)\n", strconv.Quote(string(s)), modes[i], 100+i*37)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join("testdata", "fuzz", "FuzzWholeGzip")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range wholeSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint16(%d)\nbool(%v)\n", strconv.Quote(string(s)), 1+i*1500, i%2 == 0)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecode: any input, any stack of codings, any piece size: no panic,
// the sample never exceeds MaxOutput, errors are the documented ones, and
// a deferred decode (Defer, Encoded.Decode) gives what Finish gives.
func FuzzDecode(f *testing.F) {
	modes := []byte{1, 2, 2, 3, 1 | 3<<2, 0, 1}
	for i, s := range decodeSeeds() {
		f.Add(s, modes[i], uint16(100+i*37))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode byte, piece uint16) {
		var cs []Coding
		for m := mode; m != 0 && len(cs) < 4; m >>= 2 {
			cs = append(cs, Coding(m&3))
		}
		opts := Options{MaxOutput: 1 + int(piece)%5000, MaxDecompress: 1 + int(piece)*7, MaxInput: 64 + int(piece)}
		step := 1 + int(piece)%97
		write := func(d *Decoder) {
			for rest := data; len(rest) > 0; {
				n := min(step, len(rest))
				d.Write(rest[:n])
				rest = rest[n:]
			}
		}
		var d Decoder
		d.Reset(cs, opts)
		write(&d)
		complete := piece%2 == 0
		out, trunc, err := d.Finish(complete)
		if len(out) > opts.MaxOutput {
			t.Fatalf("sample %d > MaxOutput %d", len(out), opts.MaxOutput)
		}
		if err != nil && !isDocumented(err) {
			t.Fatalf("undocumented error %v", err)
		}
		opts.Defer = true
		d.Reset(cs, opts)
		write(&d)
		if e := d.Defer(complete); e != nil {
			dout, dtrunc, derr := e.Decode()
			if string(dout) != string(out) || dtrunc != trunc || fmt.Sprint(derr) != fmt.Sprint(err) {
				t.Fatalf("deferred: %d bytes, truncated %v, err %v; Finish: %d bytes, truncated %v, err %v",
					len(dout), dtrunc, derr, len(out), trunc, err)
			}
		}
	})
}

func isDocumented(err error) bool {
	for _, e := range []error{ErrUnsupported, ErrLimit, ErrCorrupt, ErrTruncated} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
