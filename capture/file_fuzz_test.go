package capture

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"testing"
)

// readerErrorKind names which sentinel an error matches.
func readerErrorKind(err error) string {
	switch {
	case err == io.EOF:
		return "eof"
	case errors.Is(err, ErrNotCapture):
		return "not-capture"
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	}
	return ""
}

// fuzzRead reads data as a capture, checking the invariants every input
// must keep, and returns the packets and how reading ended.
func fuzzRead(t *testing.T, name string, data []byte) ([]wantPacket, string) {
	src, err := openBytes(name, data)
	if err != nil {
		kind := readerErrorKind(err)
		if kind == "" || kind == "eof" {
			t.Fatalf("open: unexpected error %v", err)
		}
		return nil, "open:" + kind
	}
	defer src.Close()
	var out []wantPacket
	var p Packet
	for len(out) < 10000 {
		err := src.Next(&p)
		if err != nil {
			kind := readerErrorKind(err)
			if kind == "" {
				t.Fatalf("Next: unexpected error %v", err)
			}
			if kind != "eof" {
				checkErrorText(t, err, name, -1)
			}
			if err2 := src.Next(&p); err2 != err {
				t.Fatalf("Next after %v gave %v", err, err2)
			}
			return out, kind
		}
		if len(p.Data) > maxRecordLen || p.WireLen < len(p.Data) {
			t.Fatalf("packet %d: %d bytes, wire length %d", len(out), len(p.Data), p.WireLen)
		}
		out = append(out, wantPacket{ts: p.Timestamp, link: p.LinkType, data: bytes.Clone(p.Data), wire: p.WireLen})
	}
	return out, "many"
}

// FuzzReader feeds arbitrary bytes to the pcap/pcapng reader: it must not
// panic, must end in io.EOF or one of its sentinels, must bound what it
// delivers, and must read a gzip of the input exactly as the input.
func FuzzReader(f *testing.F) {
	for _, tc := range testCaptures() {
		if len(tc.b.bytes) < 4096 {
			f.Add(tc.b.bytes)
		}
	}
	f.Add(buildPcap(pcapOpts{order: be(), nano: true, link: 1, n: 3, seed: 3}).bytes)
	f.Add(buildNG(le(), 1, 4).bytes)
	f.Add(buildNG(be(), 1, 6).bytes)
	// One compressor for the whole run: a new one costs ~1 MB.
	var zbuf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zbuf, gzip.BestSpeed)
	f.Fuzz(func(t *testing.T, data []byte) {
		got, end := fuzzRead(t, "in.pcap", data)
		if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
			return // compressed already: a gzip of it is a gzip of a gzip
		}
		zbuf.Reset()
		zw.Reset(&zbuf)
		zw.Write(data)
		zw.Close()
		gotGz, endGz := fuzzRead(t, "in.pcap.gz", zbuf.Bytes())
		if end != endGz {
			t.Fatalf("plain read ended %s, gzipped %s", end, endGz)
		}
		comparePackets(t, gotGz, got)
	})
}
