package http2

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2/hpack"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz seed corpora")

// splitBlocks cuts fuzz input into header blocks: each block is prefixed
// by one length byte.
func splitBlocks(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(int(b[0]), len(b)-1)
		out = append(out, b[1:1+n])
		b = b[1+n:]
	}
	return out
}

// hpackSeeds are block sequences from x/net's encoder: static, literal,
// indexed, Huffman and table size updates.
func hpackSeeds() [][]byte {
	var out [][]byte
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	var seq []byte
	for i, fs := range [][]hpack.HeaderField{
		{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/v1/customers"}, {Name: ":authority", Value: "api.example.com"}, {Name: "user-agent", Value: "x/1"}},
		{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/v1/customers"}, {Name: ":authority", Value: "api.example.com"}, {Name: "cookie", Value: "a=b"}},
		{{Name: ":status", Value: "201"}, {Name: "x-id", Value: "1"}, {Name: "authorization", Value: "secret", Sensitive: true}},
		{{Name: ":status", Value: "201"}, {Name: "x-id", Value: "2"}},
	} {
		if i == 2 {
			enc.SetMaxDynamicTableSize(64)
		}
		buf.Reset()
		for _, f := range fs {
			enc.WriteField(f)
		}
		seq = append(seq, byte(buf.Len()))
		seq = append(seq, buf.Bytes()...)
		out = append(out, bytes.Clone(seq))
	}
	return append(out, []byte{3, 0x3f, 0xe1, 0x1f}, []byte{2, 0xbe, 0x82}, []byte{1, 0xff})
}

// FuzzHPACK compares the decoder with x/net's hpack.Decoder: while that one
// accepts the blocks, the fields agree exactly; after the table is lost at
// a fuzzed block, every field still decoded is the one x/net decodes at
// the same position.
func FuzzHPACK(f *testing.F) {
	for i, s := range hpackSeeds() {
		f.Add(s, uint8(i%3))
	}
	f.Fuzz(func(t *testing.T, in []byte, loseAt uint8) {
		ref := hpack.NewDecoder(4096, nil)
		ref.SetAllowedMaxDynamicTableSize(1 << 16)
		sync := newDecoder(64<<10, 1<<20)
		part := newDecoder(64<<10, 1<<20)
		for i, blk := range splitBlocks(in) {
			want, err := ref.DecodeFull(blk)
			if err != nil {
				return // the encoder's state is undefined from here
			}
			if i == int(loseAt) {
				part.lose()
			}
			got, unknown, err := sync.decode(nil, blk)
			if err != nil || unknown != 0 || len(got) != len(want) {
				t.Fatalf("block %d: %d fields (%d unknown, %v), x/net %d", i, len(got), unknown, err, len(want))
			}
			for j := range got {
				if got[j].name != want[j].Name || got[j].value != want[j].Value {
					t.Fatalf("block %d field %d: %q: %q, x/net %q: %q", i, j, got[j].name, got[j].value, want[j].Name, want[j].Value)
				}
			}
			pg, _, perr := part.decode(nil, blk)
			if perr != nil {
				t.Fatalf("block %d: partial decoder failed where x/net did not: %v", i, perr)
			}
			for j := range pg {
				if pg[j].known && (pg[j].name != want[j].Name || pg[j].value != want[j].Value) {
					t.Fatalf("block %d field %d after losing the table: %q: %q, really %q: %q", i, j, pg[j].name, pg[j].value, want[j].Name, want[j].Value)
				}
			}
		}
	})
}

// framesSeeds are whole conversations of both directions.
func framesSeeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, n := range []int{1, 3} {
		cv := busyConvo(t, uint64(n), n)
		out = append(out, encodeEvents(cv.events))
	}
	cv := newConvo(t, true)
	cv.split, cv.pad = 5, 3
	cv.exchange(1, "POST", "/pkg.S/M", hdrs("content-type", "application/grpc"), grpcMsg([]byte("abc")), 200, hdrs("content-type", "application/grpc"), grpcMsg([]byte("d")))
	out = append(out, encodeEvents(cv.events))
	return out
}

// encodeEvents writes events as fuzz input: per event a header byte (bit 0
// the direction, bit 1 a gap instead of the bytes), a 2-byte length, bytes.
func encodeEvents(evs []event) []byte {
	var b []byte
	for _, ev := range evs {
		for d := ev.data; len(d) > 0; {
			n := min(len(d), 0xffff)
			b = append(b, byte(ev.dir))
			b = binary.BigEndian.AppendUint16(b, uint16(n))
			b = append(b, d[:n]...)
			d = d[n:]
		}
	}
	return b
}

// FuzzFrames feeds arbitrary bytes, cut into events and gaps, to a Conn:
// no panic, bounded state, and every stream handed on once.
func FuzzFrames(f *testing.F) {
	for _, s := range framesSeeds(f) {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	f.Add([]byte(Preface), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, mode uint8) {
		seen := map[uint32]int{}
		c := NewConn(Options{MaxStreams: 8, MaxBody: 512, MaxHeaderBlock: 4096, MaxTable: 1024,
			OnStream: func(s *Stream) {
				seen[s.ID]++
				if len(s.ReqBody) > 512 || len(s.RespBody) > 512 {
					t.Fatalf("sample over MaxBody")
				}
			}})
		if mode&1 != 0 {
			c.Midstream(0)
		}
		if mode&2 != 0 {
			c.Midstream(1)
		}
		ts := time.Unix(0, 0)
		for len(in) >= 3 {
			h, n := in[0], int(binary.BigEndian.Uint16(in[1:3]))
			in = in[3:]
			n = min(n, len(in))
			if h&2 != 0 {
				c.Gap(int(h&1), n, ts)
			} else {
				c.Feed(int(h&1), in[:n], ts)
			}
			in = in[n:]
			if len(c.open) > 8 {
				t.Fatalf("%d open streams, bound 8", len(c.open))
			}
			for d := range c.dir {
				if len(c.dir[d].sbuf) > syncWindow+(1<<16) || len(c.dir[d].fbuf) > 4096+frameHeaderLen || c.dir[d].hdec.size > 1024 {
					t.Fatalf("direction %d over its bounds", d)
				}
			}
		}
		c.Close(ts)
		if st := c.Stats(); st.Streams != uint64(sum(seen)) {
			t.Fatalf("stats count %d streams, %d handed on", st.Streams, sum(seen))
		}
	})
}

func sum(m map[uint32]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// FuzzMidstream: a busy conversation picked up at a fuzzed offset with a
// fuzzed hole never shows a wrong value.
func FuzzMidstream(f *testing.F) {
	f.Add(uint64(1), uint16(0), uint16(0), uint16(0))
	f.Add(uint64(7), uint16(500), uint16(9000), uint16(300))
	f.Add(uint64(3), uint16(31), uint16(20000), uint16(4000))
	f.Fuzz(func(t *testing.T, seed uint64, start, gapAt, gapLen uint16) {
		cv := busyConvo(t, seed, 12)
		var flat []event
		pos := 0
		for _, ev := range cv.events {
			if pos+len(ev.data) <= int(start) {
				pos += len(ev.data)
				continue
			}
			d := ev.data
			if pos < int(start) {
				d = d[int(start)-pos:]
			}
			pos += len(ev.data)
			flat = append(flat, event{ev.dir, d})
		}
		var out []*Stream
		c := NewConn(Options{OnStream: func(s *Stream) { out = append(out, s) }})
		if start > 0 {
			c.Midstream(0)
			c.Midstream(1)
		}
		ts := time.Unix(0, 0)
		off := 0
		for _, ev := range flat {
			b := ev.data
			if g := int(gapAt) - off; gapLen > 0 && g >= 0 && g < len(b) {
				c.Feed(ev.dir, b[:g], ts)
				n := min(int(gapLen), len(b)-g)
				c.Gap(ev.dir, n, ts)
				b = b[g+n:]
			}
			off += len(ev.data)
			c.Feed(ev.dir, b, ts)
		}
		c.Close(ts)
		checkTruth(t, fmt.Sprintf("seed %d start %d gap %d+%d", seed, start, gapAt, gapLen), out, cv.truth)
	})
}

// TestWriteFuzzCorpus rewrites the checked-in seeds (-write-corpus).
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to regenerate testdata/fuzz")
	}
	write := func(name string, i int, body string) {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range hpackSeeds() {
		write("FuzzHPACK", i, fmt.Sprintf("[]byte(%s)\nbyte(%d)\n", strconv.Quote(string(s)), i%3))
	}
	for i, s := range framesSeeds(t) {
		write("FuzzFrames", i, fmt.Sprintf("[]byte(%s)\nbyte(%d)\n", strconv.Quote(string(s)), i))
	}
	for i, a := range [][4]int{{1, 0, 0, 0}, {7, 500, 9000, 300}, {3, 31, 20000, 4000}, {11, 2000, 100, 50}} {
		write("FuzzMidstream", i, fmt.Sprintf("uint64(%d)\nuint16(%d)\nuint16(%d)\nuint16(%d)\n", a[0], a[1], a[2], a[3]))
	}
}
