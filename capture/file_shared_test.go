package capture

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// fileSharedPcaps lists the shared real captures (../shared/pcaps beside
// the module root), skipping the test when they are absent.
func fileSharedPcaps(t testing.TB) []string {
	t.Helper()
	pcaps := decodeSharedPcaps(t)
	files, _ := filepath.Glob(filepath.Join(pcaps, "*.pcap*"))
	if len(files) == 0 {
		t.Skipf("shared captures not available at %s", pcaps)
	}
	return files
}

// pcapgoRead reads a capture with gopacket's pcapgo, independently of this
// package's readers.
func pcapgoRead(t *testing.T, path string) []wantPacket {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, err := br.Peek(4)
	if err != nil {
		t.Fatal(err)
	}
	var out []wantPacket
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("pcapgo reading %s: %v", path, err)
			}
			ifc, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, wantPacket{ts: ci.Timestamp, link: ifc.LinkType, data: bytes.Clone(data), wire: ci.Length})
		}
	}
	r, err := pcapgo.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("pcapgo reading %s: %v", path, err)
		}
		out = append(out, wantPacket{ts: ci.Timestamp, link: r.LinkType(), data: bytes.Clone(data), wire: ci.Length})
	}
}

// tsharkCount counts the frames tshark finds in path.
func tsharkCount(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	return strings.Count(string(out), "\n")
}

// TestReadShared reads every shared real capture, plain and gzipped, and
// checks each packet against pcapgo and the count against tshark.
func TestReadShared(t *testing.T) {
	files := fileSharedPcaps(t)
	_, tsharkErr := exec.LookPath("tshark")
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := pcapgoRead(t, path)
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(src)
			src.Close()
			if err != io.EOF {
				t.Fatalf("ended with %v", err)
			}
			comparePackets(t, got, want)

			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			gz, err := openBytes(path+".gz", gzipBytes(raw))
			if err != nil {
				t.Fatal(err)
			}
			gotGz, err := readAll(gz)
			if err != io.EOF {
				t.Fatalf("gzipped: ended with %v", err)
			}
			comparePackets(t, gotGz, want)

			if tsharkErr != nil || testing.Short() {
				return
			}
			if n := tsharkCount(t, path); n != len(got) {
				t.Errorf("read %d packets, tshark finds %d", len(got), n)
			}
		})
	}
	if tsharkErr != nil {
		t.Logf("tshark not installed: packet counts not cross-checked")
	}
}

// TestMergeShared merges all the shared captures: every packet of every
// file comes out once, intact, and in timestamp order wherever each file's
// own order allows.
func TestMergeShared(t *testing.T) {
	files := fileSharedPcaps(t)
	perFile := map[string]int{}
	var want int
	var wantBytes int
	for _, f := range files {
		src, err := OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(src)
		src.Close()
		if err != io.EOF {
			t.Fatal(err)
		}
		perFile[f] = len(got)
		want += len(got)
		for _, p := range got {
			wantBytes += len(p.data)
		}
	}
	src, err := OpenFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, err := readAll(src)
	if err != io.EOF {
		t.Fatalf("ended with %v", err)
	}
	var gotBytes int
	for _, p := range got {
		gotBytes += len(p.data)
	}
	if len(got) != want || gotBytes != wantBytes {
		t.Errorf("merged %d packets of %d bytes, want %d of %d", len(got), gotBytes, want, wantBytes)
	}
	done, total := src.(Progresser).Progress()
	if done != total || total == 0 {
		t.Errorf("progress at the end %d/%d", done, total)
	}
}
