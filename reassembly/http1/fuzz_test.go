package http1

import (
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz seed corpora from the parse tables")

// fuzzSeeds are the table inputs plus a few hand-made oddities.
func fuzzSeeds(request bool) []string {
	var out []string
	for _, tc := range parseCases {
		if tc.request == request {
			out = append(out, tc.input)
		}
	}
	if request {
		out = append(out, "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", "\x16\x03\x01\x00\xa5\x01\x00")
	} else {
		out = append(out, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip, br, deflate\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\n\x1f\r\n0\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n\x1f\x8b\x08\x00")
	}
	return out
}

func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz")
	}
	for _, f := range []struct {
		name    string
		request bool
	}{{"FuzzRequestParser", true}, {"FuzzResponseParser", false}} {
		dir := filepath.Join("testdata", "fuzz", f.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range fuzzSeeds(f.request) {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nint64(%d)\n", strconv.Quote(s), i)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func FuzzRequestParser(f *testing.F)  { fuzzParser(f, true) }
func FuzzResponseParser(f *testing.F) { fuzzParser(f, false) }

func fuzzParser(f *testing.F, request bool) {
	for i, s := range fuzzSeeds(request) {
		f.Add([]byte(s), int64(i))
	}
	f.Fuzz(func(t *testing.T, data []byte, seed int64) {
		r := rand.New(rand.NewSource(seed))
		opts := Options{MaxBody: 1 + r.Intn(300), MaxHeaderBytes: 64 + r.Intn(1024)}
		if seed%5 == 0 {
			opts.MaxBody = -1
		}
		methods := []string{"GET", "HEAD", "CONNECT", "POST", ""}
		check := func(ms []*Message) {
			for _, m := range ms {
				if m.BodyBytes < 0 {
					t.Fatalf("BodyBytes %d < 0", m.BodyBytes)
				}
				if len(m.Body) > max(opts.MaxBody, 0) {
					t.Fatalf("len(Body) %d > MaxBody %d", len(m.Body), opts.MaxBody)
				}
				if int64(len(m.Body)) > m.BodyBytes && m.Flags&MsgDecodeError == 0 && len(m.Body) > 0 && !hasCoding(m) {
					t.Fatalf("identity sample longer than the body")
				}
			}
		}
		ms, st, _ := run(request, opts, methods, [][]byte{data}, true)
		check(ms)
		if st.Messages != uint64(len(ms)) {
			t.Fatalf("Stats.Messages %d, emitted %d", st.Messages, len(ms))
		}
		// Random split points: same messages, same counters.
		var pieces [][]byte
		rest := data
		for len(rest) > 0 {
			n := 1 + r.Intn(len(rest))
			if r.Intn(3) == 0 {
				n = 1
			}
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		ms2, st2, _ := run(request, opts, methods, pieces, true)
		if a, b := summaries(ms), summaries(ms2); !reflect.DeepEqual(a, b) {
			t.Fatalf("split changed messages:\nwhole %q\nsplit %q", a, b)
		}
		if st != st2 {
			t.Fatalf("split changed stats:\nwhole %+v\nsplit %+v", st, st2)
		}
		// A gap somewhere must not break the invariants either.
		if len(data) > 2 {
			c := &collector{methods: methods}
			var p *Parser
			if request {
				p = NewRequestParser(c.opts(opts))
			} else {
				p = NewResponseParser(c.opts(opts))
			}
			k := r.Intn(len(data))
			p.Feed(data[:k], t0)
			p.Gap(1+r.Intn(100), t0)
			p.Feed(data[k:], t0)
			p.Close(t0)
			check(c.msgs)
		}
	})
}

func hasCoding(m *Message) bool {
	for _, h := range m.Headers {
		if asciiEqualFold(h.Name, "Content-Encoding") || asciiEqualFold(h.Name, "Transfer-Encoding") {
			return true
		}
	}
	return false
}
