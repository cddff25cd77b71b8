package capture

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchCaptures writes a pcap and a pcapng of n packets, plain and gzipped.
func benchCaptures(tb testing.TB, n int) map[string]string {
	tb.Helper()
	dir := tb.TempDir()
	pc := buildPcap(pcapOpts{order: le(), link: 1, snaplen: 65535, n: n, seed: 1}).bytes
	ng := buildNG(le(), 2, n).bytes
	files := map[string][]byte{
		"pcap": pc, "pcapng": ng,
		"pcap.gz": gzipBytes(pc), "pcapng.gz": gzipBytes(ng),
	}
	paths := map[string]string{}
	for name, b := range files {
		paths[name] = filepath.Join(dir, name)
		writeFile(tb, paths[name], b)
	}
	return paths
}

// TestReadAllocs pins the zero-allocation read path: single pcap and
// pcapng files and the merge of several. (Gzipped files allocate about once
// per deflate block, inside compress/flate; BenchmarkRead shows it.)
func TestReadAllocs(t *testing.T) {
	paths := benchCaptures(t, 3000)
	open := map[string]func() (Source, error){
		"merge":  func() (Source, error) { return OpenFiles(paths["pcap"], paths["pcapng"], paths["pcap"]) },
		"pcap":   func() (Source, error) { return OpenFile(paths["pcap"]) },
		"pcapng": func() (Source, error) { return OpenFile(paths["pcapng"]) },
	}
	for name, open := range open {
		t.Run(name, func(t *testing.T) {
			src, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var p Packet
			var failed error
			allocs := testing.AllocsPerRun(2000, func() {
				if err := src.Next(&p); err != nil && failed == nil {
					failed = err
				}
			})
			if failed != nil {
				t.Fatalf("Next: %v", failed)
			}
			if allocs != 0 {
				t.Errorf("%.2f allocations per packet, want 0", allocs)
			}
		})
	}
}

// BenchmarkRead reads whole captures; MB/s counts the capture bytes (the
// decompressed ones for gzip files).
func BenchmarkRead(b *testing.B) {
	paths := benchCaptures(b, 20000)
	for _, name := range []string{"pcap", "pcapng", "pcap.gz", "pcapng.gz"} {
		b.Run(name, func(b *testing.B) {
			raw := paths[name]
			if filepath.Ext(raw) == ".gz" {
				raw = raw[:len(raw)-3]
			}
			st, err := os.Stat(raw)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			var p Packet
			for b.Loop() {
				src, err := OpenFile(paths[name])
				if err != nil {
					b.Fatal(err)
				}
				for {
					if err := src.Next(&p); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
				src.Close()
			}
		})
	}
}
