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
