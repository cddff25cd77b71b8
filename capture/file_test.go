package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func le() byteOrder { return binary.LittleEndian }
func be() byteOrder { return binary.BigEndian }

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTemp writes b to a file in a fresh temporary directory.
func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// openBytes reads a capture from memory, as OpenFile reads a file.
func openBytes(name string, b []byte) (Source, error) {
	s, err := newFileSource(name, bytes.NewReader(b), nil, int64(len(b)))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// readAll reads src to its end, copying each packet, and returns the final
// error (io.EOF at a clean end).
func readAll(src Source) ([]wantPacket, error) {
	var out []wantPacket
	var p Packet
	for {
		if err := src.Next(&p); err != nil {
			return out, err
		}
		out = append(out, wantPacket{ts: p.Timestamp, link: p.LinkType, data: bytes.Clone(p.Data), wire: p.WireLen})
	}
}

func comparePackets(t *testing.T, got, want []wantPacket) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("read %d packets, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if !g.ts.Equal(w.ts) || g.link != w.link || !bytes.Equal(g.data, w.data) || g.wire != w.wire {
			t.Fatalf("packet %d: got ts %v link %v len %d wire %d, want ts %v link %v len %d wire %d (data equal %v)",
				i, g.ts, g.link, len(g.data), g.wire, w.ts, w.link, len(w.data), w.wire, bytes.Equal(g.data, w.data))
		}
	}
}

// testCaptures are the generated captures the reader tests run over.
func testCaptures() []struct {
	name string
	b    *built
} {
	var le, be byteOrder = binary.LittleEndian, binary.BigEndian
	return []struct {
		name string
		b    *built
	}{
		{"pcap-le-usec", buildPcap(pcapOpts{order: le, link: 1, snaplen: 65535, n: 40, seed: 1})},
		{"pcap-be-usec", buildPcap(pcapOpts{order: be, link: 1, snaplen: 262144, n: 40, seed: 2})},
		{"pcap-le-nsec", buildPcap(pcapOpts{order: le, nano: true, link: 101, n: 40, seed: 3})},
		{"pcap-be-nsec", buildPcap(pcapOpts{order: be, nano: true, link: 113, snaplen: 1600, n: 40, seed: 4})},
		{"pcap-modified", buildPcap(pcapOpts{order: le, modified: true, link: 1, snaplen: 65535, n: 20, seed: 5})},
		{"pcap-empty", buildPcap(pcapOpts{order: le, link: 1, n: 0})},
		{"pcapng-le", buildNG(le, 6, 40)},
		{"pcapng-be", buildNG(be, 7, 40)},
		// Larger than the read buffer, so records straddle refills.
		{"pcap-large", buildPcap(pcapOpts{order: be, link: 1, n: 700, seed: 8})},
		{"pcapng-large", buildNG(le, 9, 700)},
	}
}

func TestReadGenerated(t *testing.T) {
	for _, tc := range testCaptures() {
		for _, gz := range []bool{false, true} {
			name, data := tc.name, tc.b.bytes
			if gz {
				name, data = name+".gz", gzipBytes(data)
			}
			t.Run(name, func(t *testing.T) {
				// A misleading extension: the content decides.
				path := writeTemp(t, "capture.txt", data)
				src, err := OpenFile(path)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				got, err := readAll(src)
				if err != io.EOF {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
				comparePackets(t, got, tc.b.pkts)
				done, total := src.(Progresser).Progress()
				if total != int64(len(data)) || done != total {
					t.Errorf("progress at the end = %d/%d, want %d/%d", done, total, len(data), len(data))
				}
				if err := src.Next(&Packet{}); err != io.EOF {
					t.Errorf("Next after the end = %v, want io.EOF again", err)
				}
				if err := src.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := src.Next(&Packet{}); !errors.Is(err, fs.ErrClosed) {
					t.Errorf("Next after Close = %v, want os.ErrClosed", err)
				}
			})
		}
	}
}

// TestTruncated cuts every generated capture at many lengths: each whole
// packet before the cut comes out, then io.EOF when the cut falls between
// records, ErrTruncated naming the file and the damaged record's offset
// otherwise; a cut inside the file header is not a capture or truncated.
func TestTruncated(t *testing.T) {
	for _, tc := range testCaptures() {
		if len(tc.b.bytes) > windowSize {
			continue // the large ones take long; the small ones show it all
		}
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			isBound := map[int]bool{}
			for _, o := range b.bounds {
				isBound[o] = true
			}
			// Every length near a record boundary, in the first records,
			// and a sample of the rest.
			cuts := map[int]bool{}
			for c := 0; c <= len(b.bytes); c++ {
				if c < b.headerLen+300 || c%13 == 0 || isBound[c-1] || isBound[c] || isBound[c+1] || isBound[c+4] || isBound[c-8] {
					cuts[c] = true
				}
			}
			for cut := range cuts {
				path := fmt.Sprintf("cut%d.pcap", cut)
				src, err := openBytes(path, b.bytes[:cut])
				if cut < b.headerLen {
					switch {
					case err == nil:
						t.Fatalf("cut %d inside the header: opened", cut)
					case cut < 4 && !errors.Is(err, ErrNotCapture):
						t.Fatalf("cut %d: %v, want ErrNotCapture", cut, err)
					case cut >= 4 && !errors.Is(err, ErrTruncated):
						t.Fatalf("cut %d: %v, want ErrTruncated", cut, err)
					}
					checkErrorText(t, err, path, -1)
					continue
				}
				if err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
				got, err := readAll(src)
				src.Close()
				whole := 0
				for _, e := range b.ends {
					if e <= cut {
						whole++
					}
				}
				comparePackets(t, got, b.pkts[:whole])
				if isBound[cut] {
					if err != io.EOF {
						t.Fatalf("cut %d at a record boundary: %v, want io.EOF", cut, err)
					}
					continue
				}
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut %d: %v, want ErrTruncated", cut, err)
				}
				start := 0
				for _, o := range b.bounds {
					if o < cut {
						start = o
					}
				}
				checkErrorText(t, err, path, start)
			}
		})
	}
}

// checkErrorText checks that an error message is one line naming the file
// and, when off ≥ 0, the byte offset of the damage.
func checkErrorText(t *testing.T, err error, path string, off int) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, path) {
		t.Fatalf("error %q: want one line naming %s", msg, path)
	}
	if off >= 0 && !strings.Contains(msg, fmt.Sprintf("at byte %d:", off)) {
		t.Fatalf("error %q: want the offset %d", msg, off)
	}
}

// TestTruncatedGzip cuts compressed captures: whatever decompresses to whole
// packets comes out, in order, then ErrTruncated.
func TestTruncatedGzip(t *testing.T) {
	for _, tc := range testCaptures() {
		if len(tc.b.pkts) == 0 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			z := gzipBytes(tc.b.bytes)
			step := max(1, len(z)/97)
			for cut := 0; cut < len(z); cut += step {
				path := fmt.Sprintf("cut%d.gz", cut)
				src, err := openBytes(path, z[:cut])
				if err != nil {
					if !errors.Is(err, ErrNotCapture) && !errors.Is(err, ErrTruncated) {
						t.Fatalf("cut %d of %d: open: %v", cut, len(z), err)
					}
					checkErrorText(t, err, path, -1)
					continue
				}
				got, err := readAll(src)
				src.Close()
				if len(got) > len(tc.b.pkts) {
					t.Fatalf("cut %d: %d packets from %d", cut, len(got), len(tc.b.pkts))
				}
				comparePackets(t, got, tc.b.pkts[:len(got)])
				if !errors.Is(err, ErrTruncated) {
					t.Fatalf("cut %d of %d: %v, want ErrTruncated", cut, len(z), err)
				}
				checkErrorText(t, err, path, -1)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	le := binary.LittleEndian
	hugeRecord := buildPcap(pcapOpts{order: le, link: 1, n: 3, seed: 9}).bytes
	hugeRecord = append(hugeRecord, make([]byte, 16)...)
	le.PutUint32(hugeRecord[len(hugeRecord)-8:], 0xfffffff0)
	overSnap := buildPcap(pcapOpts{order: le, link: 1, snaplen: 65535, n: 1, seed: 9}).bytes
	overSnap = append(overSnap, make([]byte, 16)...)
	le.PutUint32(overSnap[len(overSnap)-8:], 200000)
	ng := buildNG(le, 1, 4).bytes // ends in a big-endian section
	ngHuge := append(bytes.Clone(ng), 0, 0, 0, 6, 0x7f, 0xff, 0xff, 0xf0)
	ngOdd := append(bytes.Clone(ng), 0, 0, 0, 6, 0, 0, 0, 33)
	shb := buildNG(le, 1, 0)
	ngNoIface := shb.bytes[:shb.headerLen] // the section header alone
	{
		w := &ngWriter{b: &built{bytes: ngNoIface}, order: le, ifaces: []ngTestIface{{unit: 1000}}}
		w.epb(0, testEpoch, []byte{1, 2, 3}, 3)
		ngNoIface = w.b.bytes
	}
	tests := []struct {
		name    string
		data    []byte
		openErr error // from OpenFile
		nextErr error // from Next, after every good packet
		packets int
	}{
		{"empty", nil, ErrNotCapture, nil, 0},
		{"three bytes", []byte{0xd4, 0xc3, 0xb2}, ErrNotCapture, nil, 0},
		{"text", []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), ErrNotCapture, nil, 0},
		{"gzip of text", gzipBytes([]byte("hello, this is not a capture")), ErrNotCapture, nil, 0},
		{"bad gzip", []byte{0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, ErrNotCapture, nil, 0},
		{"pcap header only", buildPcap(pcapOpts{order: le, link: 1}).bytes, nil, io.EOF, 0},
		{"pcap header cut", buildPcap(pcapOpts{order: le, link: 1}).bytes[:10], ErrTruncated, nil, 0},
		{"pcapng header cut", ng[:20], ErrTruncated, nil, 0},
		{"pcapng without byte-order magic", append([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0}, make([]byte, 20)...), ErrNotCapture, nil, 0},
		{"huge pcap record", hugeRecord, nil, ErrCorrupt, 3},
		{"record beyond twice the snaplen", overSnap, nil, ErrCorrupt, 1},
		{"huge pcapng block", ngHuge, nil, ErrCorrupt, 4},
		{"pcapng block length not a multiple of 4", ngOdd, nil, ErrCorrupt, 4},
		{"packet for an undeclared interface", ngNoIface, nil, ErrCorrupt, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "in.cap", tc.data)
			src, err := OpenFile(path)
			if tc.openErr != nil {
				if !errors.Is(err, tc.openErr) {
					t.Fatalf("OpenFile = %v, want %v", err, tc.openErr)
				}
				checkErrorText(t, err, path, -1)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := readAll(src)
			if len(got) != tc.packets {
				t.Errorf("read %d packets, want %d", len(got), tc.packets)
			}
			if !errors.Is(err, tc.nextErr) {
				t.Fatalf("Next = %v, want %v", err, tc.nextErr)
			}
			if err != io.EOF {
				checkErrorText(t, err, path, -1)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nope.pcap")
		_, err := OpenFile(path)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenFile = %v, want fs.ErrNotExist", err)
		}
		checkErrorText(t, err, path, -1)
		if _, err := OpenFiles(writeTemp(t, "ok.pcap", buildPcap(pcapOpts{order: le, link: 1, n: 2}).bytes), path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("OpenFiles with one missing = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("no files", func(t *testing.T) {
		if _, err := OpenFiles(); err == nil {
			t.Fatal("OpenFiles() succeeded")
		}
	})
}

// TestHugeLengthsBounded checks that records declaring absurd lengths cost
// an error, not an allocation of that size.
func TestHugeLengthsBounded(t *testing.T) {
	pc := buildPcap(pcapOpts{order: le(), link: 1, n: 1, seed: 1}).bytes
	pc = append(pc, make([]byte, 16)...)
	binary.LittleEndian.PutUint32(pc[len(pc)-8:], 0x7ffffff0)
	// buildNG(le()) ends in a big-endian section.
	ng := buildNG(le(), 1, 2).bytes
	ng = append(ng, 0, 0, 0xba, 0xbd, 0x0f, 0xff, 0xff, 0xf0)             // unknown block of 256 MiB
	ngEPB := append(buildNG(le(), 1, 2).bytes, 0, 0, 0, 6, 0x40, 0, 0, 0) // packet block of 1 GiB
	for name, data := range map[string][]byte{"pcap record": pc, "pcapng unknown block": ng, "pcapng packet block": ngEPB} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			src, err := openBytes(name, data)
			if err != nil {
				t.Fatal(err)
			}
			_, err = readAll(src)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ended with %v, want ErrCorrupt", err)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
				t.Fatalf("allocated %d bytes", n)
			}
		})
	}
}
