package capture

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// mergeWant is what merging the captures must give: all their packets,
// stably sorted by time (ties keep the order of the files).
func mergeWant(files ...*built) []wantPacket {
	var all []wantPacket
	for _, f := range files {
		all = append(all, f.pkts...)
	}
	slices.SortStableFunc(all, func(a, b wantPacket) int { return a.ts.Compare(b.ts) })
	return all
}

func TestMerge(t *testing.T) {
	// Interleaved timestamps, equal ones across files, different formats.
	a := buildPcap(pcapOpts{order: le(), link: 1, n: 50, seed: 1, step: 3 * time.Millisecond, start: time.Millisecond})
	b := buildPcap(pcapOpts{order: be(), nano: true, link: 101, n: 30, seed: 2, step: 5 * time.Millisecond, start: time.Millisecond})
	c := buildPcap(pcapOpts{order: le(), link: 1, n: 70, seed: 3, step: 2 * time.Millisecond, start: 2 * time.Millisecond})
	empty := buildPcap(pcapOpts{order: le(), link: 1})
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		writeFile(t, path, data)
		return path
	}
	pa, pb, pc := write("a.pcap", a.bytes), write("b.pcap.gz", gzipBytes(b.bytes)), write("c.pcap", c.bytes)
	pe := write("empty.pcap", empty.bytes)
	cutA := write("a-cut.pcap", a.bytes[:a.ends[9]+5])
	cutC := write("c-cut.pcap", c.bytes[:c.ends[19]+20])

	tests := []struct {
		name  string
		paths []string
		want  []wantPacket
		errs  []error // each must match the final error; nil means io.EOF
	}{
		{"one file", []string{pa}, a.pkts, nil},
		{"three files", []string{pa, pb, pc}, mergeWant(a, b, c), nil},
		{"same file twice", []string{pa, pa}, mergeWant(a, a), nil},
		{"with an empty one", []string{pe, pb, pe}, b.pkts, nil},
		{"one truncated", []string{cutA, pb, pc}, mergeWant(&built{pkts: a.pkts[:10]}, b, c), []error{ErrTruncated}},
		{"two truncated", []string{cutA, pb, cutC}, mergeWant(&built{pkts: a.pkts[:10]}, b, &built{pkts: c.pkts[:20]}), []error{ErrTruncated}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := OpenFiles(tc.paths...)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			got, err := readAll(src)
			comparePackets(t, got, tc.want)
			if tc.errs == nil {
				if err != io.EOF {
					t.Fatalf("ended with %v, want io.EOF", err)
				}
			}
			for _, e := range tc.errs {
				if !errors.Is(err, e) {
					t.Fatalf("ended with %v, want %v", err, e)
				}
			}
			if err != io.EOF {
				checkErrorText(t, err, tc.paths[0], -1)
			}
			if err2 := src.Next(&Packet{}); err2 != err {
				t.Errorf("Next after the end = %v, want %v again", err2, err)
			}
		})
	}
}

// scribbler is a Source that overwrites the one buffer it lends on every
// Next, as the Source contract allows.
type scribbler struct {
	buf  [8]byte
	ts   []time.Time
	next int
}

func (s *scribbler) Next(p *Packet) error {
	if s.next == len(s.ts) {
		clear(s.buf[:])
		return io.EOF
	}
	for i := range s.buf {
		s.buf[i] = byte(s.ts[s.next].Nanosecond())
	}
	p.Timestamp, p.Data = s.ts[s.next], s.buf[:]
	s.next++
	return nil
}

func (s *scribbler) Close() error { return nil }

// TestMergeBorrowed checks that a merged packet's Data is still the packet's
// when it is delivered, though its source has been read ahead of others.
func TestMergeBorrowed(t *testing.T) {
	at := func(ns ...int) []time.Time {
		var out []time.Time
		for _, n := range ns {
			out = append(out, testEpoch.Add(time.Duration(n)))
		}
		return out
	}
	src := Merge(&scribbler{ts: at(1, 4, 5, 9)}, &scribbler{ts: at(2, 3, 6)}, &scribbler{ts: at(7, 8)})
	var p Packet
	var got []int
	for src.Next(&p) == nil {
		n := p.Timestamp.Nanosecond()
		for _, b := range p.Data {
			if int(b) != n {
				t.Fatalf("packet at %dns carries %v", n, p.Data)
			}
		}
		got = append(got, n)
	}
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// BenchmarkMerge reads four interleaved files through OpenFiles; MB/s
// counts the capture bytes.
func BenchmarkMerge(b *testing.B) {
	dir := b.TempDir()
	var paths []string
	var size int64
	for i := range 4 {
		c := buildPcap(pcapOpts{order: le(), link: 1, n: 5000, seed: uint64(i + 1), step: time.Millisecond, start: time.Duration(i) * 250 * time.Microsecond})
		path := filepath.Join(dir, fmt.Sprintf("%d.pcap", i))
		writeFile(b, path, c.bytes)
		paths = append(paths, path)
		size += int64(len(c.bytes))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		src, err := OpenFiles(paths...)
		if err != nil {
			b.Fatal(err)
		}
		for src.Next(&p) == nil {
		}
		src.Close()
	}
}
