package reassembly

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/internal/mallocs"
)

// shardRun plays the capture at path through one shard (as Run does with
// one worker, but all flows on the shard) and returns the rendered
// transactions in the order the sink received them, the shard's counters
// and the number of connections closeIdle ended.
func shardRun(t *testing.T, path string, opts Options, walk bool) ([]string, Stats, uint64) {
	t.Helper()
	src, err := capture.OpenFiles(path)
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer src.Close()
	o := opts.withDefaults()
	var out []string
	ts := newTestShard(&o, func(tx *Transaction) { out = append(out, render(tx)) })
	ts.walkPool = walk
	dec := capture.NewDecoder(o.Decoder)
	var (
		pkt capture.Packet
		d   capture.Decoded
	)
	for {
		err := src.Next(&pkt)
		if errors.Is(err, io.EOF) || errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrCorrupt) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if dec.Decode(&pkt, &d) && d.Key.Proto == capture.ProtoTCP {
			ts.assemble(&d)
		}
	}
	ts.finish()
	if ts.idleWalks != 0 {
		t.Errorf("closeIdle walked the pool %d times: a connection did not end on its RSTs", ts.idleWalks)
	}
	return out, ts.stats, ts.idleClosed
}

// TestCloseIdleSameAsWalk: idle passes that end connections one by one
// (closeIdle) give exactly the transactions, in the same order, and the
// counters of passes that walk gopacket's pool (FlushWithOptions), on
// every capture of testdata, the shared ones and a simulated capture with
// loss, reordering, one-sided and mid-stream connections — with flow
// timeouts short enough that most connections end idle, half-closed ones
// among them.
func TestCloseIdleSameAsWalk(t *testing.T) {
	files := equivalenceCaptures(t, 3)
	var closed uint64
	for _, f := range files {
		for _, flow := range []time.Duration{200 * time.Millisecond, 3 * time.Second, 0} {
			t.Run(fmt.Sprintf("%s/flow=%v", filepath.Base(f), flow), func(t *testing.T) {
				opts := Options{FlowTimeout: flow, GapTimeout: flow / 2}
				walk, wst, n := shardRun(t, f, opts, true)
				if n != 0 {
					t.Fatalf("walking the pool, closeIdle ended %d connections", n)
				}
				got, st, n := shardRun(t, f, opts, false)
				closed += n
				if len(got) != len(walk) {
					t.Errorf("%d transactions, %d walking the pool", len(got), len(walk))
				}
				for i := range min(len(got), len(walk)) {
					if got[i] != walk[i] {
						t.Fatalf("transaction %d differs:\n%s\nwalking the pool:\n%s", i, got[i], walk[i])
					}
				}
				if fmt.Sprintf("%+v", st) != fmt.Sprintf("%+v", wst) {
					t.Errorf("stats differ:\n%+v\nwalking the pool:\n%+v", st, wst)
				}
			})
		}
	}
	// Most connections of the simulated capture alone end idle.
	if closed < 500 {
		t.Errorf("closeIdle ended %d connections in all: the comparison did not exercise it", closed)
	}
	t.Logf("closeIdle ended %d connections", closed)
}

// TestIdleConnAllocs pins zero allocations for connections that open and
// end idle once the shard is warm: a stream ended by an idle pass is
// reused by the next connection, and closeIdle allocates nothing.
func TestIdleConnAllocs(t *testing.T) {
	const conns = 512
	var pkts []capture.Decoded
	for c := 0; c < conns; c++ {
		pkts = append(pkts, steadyHandshake(t, c)...)
	}
	o := Options{FlowTimeout: 10 * time.Second}.withDefaults()
	s := newTestShard(&o, func(*Transaction) {})
	ts := time.Unix(1700000000, 0)
	// 3 packets 100ms apart: about 40 connections live, a pass closing a
	// few every second or so.
	round := func() {
		for k := range pkts {
			ts = ts.Add(100 * time.Millisecond)
			pkts[k].Timestamp = ts
			s.assemble(&pkts[k])
		}
	}
	round()
	closed := s.idleClosed
	allocs := mallocs.PerRun(5, round)
	if s.idleClosed-closed < 5*conns {
		t.Fatalf("idle passes closed %d connections in 5 rounds of %d", s.idleClosed-closed, conns)
	}
	if s.live > 100 {
		t.Fatalf("%d connections live", s.live)
	}
	t.Logf("%.2f allocations per round of %d connections", allocs, conns)
	if allocs > 0 {
		t.Errorf("%.2f allocations per round of %d connections that end idle, want 0", allocs, conns)
	}
}
