package reassembly

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
)

// TestProgress checks Options.Progress reports growing counters while Run
// reads, never more than Run's final Stats.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	if _, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Users: 12, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		src, err := capture.OpenFiles(filepath.Join(dir, "traffic.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		var calls []Stats
		var sunk atomic.Uint64
		st, err := Run(context.Background(), src, Options{Workers: workers, Progress: func(s Stats) { calls = append(calls, s) }},
			func(*Transaction) { sunk.Add(1) })
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if want := int(st.Packets / progressEvery); len(calls) != want || want == 0 {
			t.Fatalf("workers %d: %d progress calls for %d packets, want %d", workers, len(calls), st.Packets, want)
		}
		var prev Stats
		for i, c := range calls {
			if c.Packets != uint64(i+1)*progressEvery {
				t.Errorf("workers %d: call %d reports %d packets", workers, i, c.Packets)
			}
			if c.Flows < prev.Flows || c.Transactions < prev.Transactions || c.Flows > st.Flows || c.Transactions > st.Transactions {
				t.Errorf("workers %d: call %d: flows %d, transactions %d after %d, %d (final %d, %d)",
					workers, i, c.Flows, c.Transactions, prev.Flows, prev.Transactions, st.Flows, st.Transactions)
			}
			prev = c
		}
		if last := calls[len(calls)-1]; last.Flows == 0 || last.Transactions == 0 {
			t.Errorf("workers %d: progress never saw a flow or a transaction: %+v", workers, last)
		}
	}
}
