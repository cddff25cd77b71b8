package reassembly

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
)

// testShard is a run of one shard on the test's goroutine, driven as Run
// drives its shards: packets numbered in order, the run's clock and its
// periodic passes, the closing pass at finish.
type testShard struct {
	*shard
	g   *group
	clk clock
	n   uint64
}

func newTestShard(o *Options, sink func(*Transaction)) *testShard {
	sh := newShard(o, 1, nil)
	g := newGroup([]*shard{sh}, func(int) bool { return true })
	g.col.direct = sink
	return &testShard{shard: sh, g: g}
}

func (t *testShard) assemble(d *capture.Decoded) {
	t.n++
	tick := t.clk.advance(d.Timestamp)
	t.g.assemble(0, d, t.n)
	if tick {
		t.g.tick(t.n, t.clk.now)
	}
}

func (t *testShard) finish() { t.g.finish() }

// render is a stable rendering of everything a transaction carries: its
// exported fields, pointers followed.
func render(tx *Transaction) string {
	var b strings.Builder
	v := reflect.ValueOf(tx).Elem()
	for _, f := range reflect.VisibleFields(v.Type()) {
		if !f.IsExported() {
			continue
		}
		x := v.FieldByIndex(f.Index)
		if x.Kind() == reflect.Pointer && !x.IsNil() {
			x = x.Elem()
		}
		fmt.Fprintf(&b, "%s=%+v ", f.Name, x.Interface())
	}
	return b.String()
}

// runRendered runs path with opts and renders the sink's transactions in
// the order it received them; it fails the test on a concurrent call.
func runRendered(t *testing.T, path string, opts Options) ([]string, Stats) {
	t.Helper()
	src, err := capture.OpenFiles(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer src.Close()
	var (
		out []string
		in  atomic.Int32
	)
	st, err := Run(context.Background(), src, opts, func(tx *Transaction) {
		if in.Add(1) != 1 {
			t.Error("sink called concurrently")
		}
		out = append(out, render(tx))
		in.Add(-1)
	})
	if err != nil {
		t.Fatalf("analysing %s: %v", path, err)
	}
	return out, st
}

// TestWorkersDeterministic: the sink receives exactly the same
// transactions in the same order, and the counters are the same, whatever
// the number of workers, on every capture of testdata (the repo's and
// reassembly's), the shared ones when present, and a simulated capture with
// loss, retransmissions and reordering — also with bounds small enough to
// evict connections and force gaps.
func TestWorkersDeterministic(t *testing.T) {
	files := equivalenceCaptures(t, 11)
	impaired := files[len(files)-1]
	tight := Options{MaxConnections: 16, MaxBufferedPagesTotal: 512, MaxBufferedPagesPerConn: 4,
		GapTimeout: 50 * time.Millisecond, FlowTimeout: time.Hour}
	type run struct {
		name string
		path string
		opts Options
		// bounded: the bounds must be hit (evictions, gaps).
		bounded bool
	}
	var runs []run
	for _, f := range files {
		runs = append(runs, run{filepath.Base(f), f, Options{}, false})
	}
	runs = append(runs, run{"impaired tight bounds", impaired, tight, true})
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			one, st1 := runRendered(t, r.path, r.opts)
			for _, workers := range []int{2, 3, 4} {
				o := r.opts
				o.Workers = workers
				got, st := runRendered(t, r.path, o)
				if len(got) != len(one) {
					t.Errorf("workers=%d: %d transactions, one worker %d", workers, len(got), len(one))
				}
				for i := range min(len(got), len(one)) {
					if got[i] != one[i] {
						t.Errorf("workers=%d: transaction %d differs:\n%s\none worker:\n%s", workers, i, got[i], one[i])
						break
					}
				}
				if fmt.Sprintf("%+v", st) != fmt.Sprintf("%+v", st1) {
					t.Errorf("workers=%d: stats differ:\n%+v\none worker:\n%+v", workers, st, st1)
				}
			}
			if r.bounded && (st1.EvictedFlows == 0 || st1.Gaps == 0) {
				t.Errorf("tight bounds evicted %d connections and forced %d gaps: want both", st1.EvictedFlows, st1.Gaps)
			}
		})
	}
}

// TestPrepare: Options.Prepare sees every transaction once, before the
// sink, which finds what it stored; the sink's sequence is unchanged.
func TestPrepare(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Users: 12, Seed: 5, Impair: true}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "traffic.pcap")
	want, _ := runRendered(t, path, Options{})
	for _, workers := range []int{1, 3} {
		var prepared atomic.Int64
		o := Options{Workers: workers, Prepare: func(tx *Transaction) {
			if tx.Prepared != nil {
				t.Error("transaction prepared twice")
			}
			prepared.Add(1)
			tx.Prepared = tx.Method + " " + tx.Target
		}}
		src, err := capture.OpenFiles(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		_, err = Run(context.Background(), src, o, func(tx *Transaction) {
			if s, _ := tx.Prepared.(string); s != tx.Method+" "+tx.Target {
				t.Errorf("workers=%d: the sink got %q prepared as %v", workers, tx.Method+" "+tx.Target, tx.Prepared)
			}
			tx.Prepared = nil
			got = append(got, render(tx))
		})
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n := prepared.Load(); n != int64(len(got)) || len(got) != len(want) {
			t.Errorf("workers=%d: %d prepared, %d sunk, want %d", workers, n, len(got), len(want))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("workers=%d: the sequence changed with Prepare", workers)
		}
	}
}

// TestMergeBounded: with one busy connection and idle workers, the merge
// holds the transactions of a few thousand packets at most, not all of
// them until the end (idle workers are handed batches and their
// watermarks advance).
func TestMergeBounded(t *testing.T) {
	const exchanges = 20000
	o := Options{Workers: 4}.withDefaults()
	shards := make([]*shard, shardCount)
	for i := range shards {
		shards[i] = newShard(&o, shardCount, nil)
	}
	var got int
	p := startParallel(&o, shards, func(*Transaction) { got++ })
	var (
		clk clock
		idx uint64
	)
	ts := time.Unix(1700000000, 0)
	feed := func(d capture.Decoded) {
		idx++
		ts = ts.Add(time.Millisecond)
		d.Timestamp = ts
		st := stampOf(ts)
		tick := clk.advanceTo(&st)
		p.dispatch(shardOf(&d.Key), &d, idx, &st)
		if tick {
			p.tick(idx, clk.now)
		}
	}
	// seg builds a segment whose header bytes carry seq and ack (the
	// workers decode them again).
	seg := func(fromServer bool, flags, payload string, seq, ack uint32) capture.Decoded {
		d := steadySeg(t, 0, fromServer, flags, payload)
		d.TCP.Seq, d.TCP.Ack = seq, ack
		binary.BigEndian.PutUint32(d.TCP.Contents[4:], seq)
		binary.BigEndian.PutUint32(d.TCP.Contents[8:], ack)
		return d
	}
	feed(seg(false, "S", "", 1000, 0))
	feed(seg(true, "S", "", 5000, 1001))
	cseq, sseq := uint32(1001), uint32(5001)
	for i := 0; i < exchanges; i++ {
		feed(seg(false, "", steadyReq, cseq, sseq))
		cseq += uint32(len(steadyReq))
		feed(seg(true, "", steadyResp, sseq, cseq))
		sseq += uint32(len(steadyResp))
	}
	p.stop()
	if got != exchanges {
		t.Fatalf("%d transactions, want %d", got, exchanges)
	}
	// A transaction takes two packets here. The merge waits for the
	// slowest watermark: an idle worker is handed a batch every syncEvery
	// packets and may hold three unprocessed (its queue of two and the one
	// in hand) when the scheduler lets it lag (a loaded CI machine: 1600
	// held once against 1300 on a quiet one), plus the busy worker's
	// batch in progress.
	if bound := (3*syncEvery + 2*batchSize) / 2; p.maxHeld > bound {
		t.Errorf("the merge held %d transactions at once, bound %d", p.maxHeld, bound)
	}
	t.Logf("merge held at most %d of %d transactions", p.maxHeld, exchanges)
}

// TestEndpointHash: endpointHash is FNV-1a over the address's 16 bytes
// and the port's two, its shortcut for IPv4 addresses included, so that
// flows keep their shards.
func TestEndpointHash(t *testing.T) {
	fnv := func(a *[16]byte, port uint16) uint32 {
		h := uint32(2166136261)
		for _, b := range append(a[:], byte(port), byte(port>>8)) {
			h = (h ^ uint32(b)) * 16777619
		}
		return h
	}
	var keys [][16]byte
	for i := 0; i < 2000; i++ {
		var a [16]byte
		binary.LittleEndian.PutUint64(a[8:], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(a[:], uint64(i)*0xbf58476d1ce4e5b9)
		keys = append(keys, a)
		v4 := [16]byte{10: 0xff, 11: 0xff}
		copy(v4[12:], a[:4])
		keys = append(keys, v4)
		// Near misses of the IPv4 prefix.
		near := v4
		near[i%12] ^= byte(1 << (i % 8))
		keys = append(keys, near)
	}
	keys = append(keys, [16]byte{}, [16]byte{10: 0xff, 11: 0xff})
	for i, a := range keys {
		port := uint16(i * 7919)
		if got, want := endpointHash(&a, port), fnv(&a, port); got != want {
			t.Fatalf("endpointHash(%x, %d) = %#x, want %#x", a, port, got, want)
		}
	}
}

// equivalenceCaptures lists the captures that tests comparing two ways of
// running the pipeline use: every capture of testdata (the repo's and
// reassembly's), the shared ones when present, and last a simulated day
// (simulator seed seed) with loss, retransmissions and reordering.
func equivalenceCaptures(t *testing.T, seed uint64) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"../testdata/*.pcap*", "testdata/*/*.pcap*", sharedPcaps + "/*.pcap*"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if _, err := os.Stat(sharedPcaps); err != nil {
		t.Logf("../shared/pcaps is absent (%v): only the repo's captures", err)
	}
	dir := t.TempDir()
	if _, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Users: 40, Seed: seed, Impair: true}); err != nil {
		t.Fatal(err)
	}
	return append(files, filepath.Join(dir, "traffic.pcap"))
}
