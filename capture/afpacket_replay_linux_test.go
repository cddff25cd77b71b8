//go:build linux

package capture_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/reassembly"
)

// This file replays captures with tcpreplay into one end of a veth pair in
// a namespace of the test's own and captures them live on the other end,
// one reassembly per fanout source, as `shadowtap run` does.

func requireTcpreplay(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("tcpreplay"); err != nil {
		tb.Skip("tcpreplay not installed (make deps installs it)")
	}
}

// simulated writes a simulated capture into a temporary directory.
func simulated(tb testing.TB, o synth.SimOptions) string {
	tb.Helper()
	dir := tb.TempDir()
	if _, err := synth.Simulate(dir, o); err != nil {
		tb.Fatalf("simulating: %v", err)
	}
	return filepath.Join(dir, "traffic.pcap")
}

// offlineTransactions analyses the capture file as `analyze` does.
func offlineTransactions(tb testing.TB, pcap string, filter *capture.Filter) (int, reassembly.Stats) {
	tb.Helper()
	src, err := capture.OpenFile(pcap)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	n := 0
	st, err := reassembly.Run(context.Background(), src, reassembly.Options{Filter: filter}, func(*reassembly.Transaction) { n++ })
	if err != nil {
		tb.Fatalf("offline analysis: %v", err)
	}
	return n, st
}

// liveRun is what one replay came to.
type liveRun struct {
	Live         capture.LiveStats
	Transactions int64
	// What tcpreplay says it sent.
	Sent        int
	Seconds     float64
	Mbps, PPS   float64
	ReplayFlags []string
	// CPU is the user and system time this process (the capture side
	// only: tcpreplay is another process) spent during the replay.
	CPU time.Duration
}

// cpuTime is this process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	replayActual = regexp.MustCompile(`Actual: (\d+) packets \((\d+) bytes\) sent in ([\d.]+) seconds`)
	replayRated  = regexp.MustCompile(`Rated: ([\d.]+) Bps, ([\d.]+) Mbps, ([\d.]+) pps`)
)

// replayLive opens n fanout sources on rx0 in ns, each feeding its own
// reassembly, replays pcap into tx0 with tcpreplay and the given rate
// flags, waits until every frame the kernel queued has been read, and
// closes the sources.
func replayLive(tb testing.TB, ns *capture.TestNetns, pcap string, n int, opts capture.LiveOptions, rate ...string) liveRun {
	tb.Helper()
	filter, err := capture.ParseFilter(opts.Filter)
	if err != nil {
		tb.Fatal(err)
	}
	ls := ns.OpenIn([]string{"rx0"}, n, opts)
	cpu0 := cpuTime()
	var txs atomic.Int64
	var wg sync.WaitGroup
	runErrs := make([]error, n)
	for i, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, runErrs[i] = reassembly.Run(context.Background(), l, reassembly.Options{Filter: filter},
				func(*reassembly.Transaction) { txs.Add(1) })
		}()
	}
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
		wg.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// LIVE_SENDERS tcpreplay processes at once (default 1): where one
	// sender cannot load the capture side, several can.
	senders := 1
	if v, err := strconv.Atoi(os.Getenv("LIVE_SENDERS")); err == nil && v > 1 {
		senders = v
	}
	run := liveRun{ReplayFlags: rate}
	outs := make([][]byte, senders)
	errs := make([]error, senders)
	var swg sync.WaitGroup
	for k := range senders {
		swg.Add(1)
		go func() {
			defer swg.Done()
			args := append([]string{"netns", "exec", ns.Name, "tcpreplay", "-i", "tx0", "--preload-pcap"}, rate...)
			outs[k], errs[k] = exec.CommandContext(ctx, "ip", append(args, pcap)...).CombinedOutput()
		}()
	}
	swg.Wait()
	for k, out := range outs {
		if errs[k] != nil {
			closeAll()
			tb.Fatalf("tcpreplay %v: %v: %s", rate, errs[k], out)
		}
		m := replayActual.FindSubmatch(out)
		r := replayRated.FindSubmatch(out)
		if m == nil || r == nil {
			closeAll()
			tb.Fatalf("tcpreplay output not understood: %s", out)
		}
		sent, _ := strconv.Atoi(string(m[1]))
		secs, _ := strconv.ParseFloat(string(m[3]), 64)
		mbps, _ := strconv.ParseFloat(string(r[2]), 64)
		pps, _ := strconv.ParseFloat(string(r[3]), 64)
		run.Sent += sent
		run.Seconds = max(run.Seconds, secs)
		run.Mbps += mbps
		run.PPS += pps
	}
	// Wait until userspace has read all the kernel queued (or dropped),
	// and that stays so for a moment.
	deadline := time.Now().Add(time.Minute)
	stable := 0
	for last := uint64(0); stable < 5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st := capture.SumLiveStats(ls)
		if st.Packets+st.KernelDrops >= st.KernelPackets && st.Packets == last {
			stable++
		} else {
			stable = 0
		}
		last = st.Packets
	}
	closeAll()
	for i, err := range runErrs {
		if err != nil {
			tb.Fatalf("reassembly of source %d: %v", i, err)
		}
	}
	run.CPU = cpuTime() - cpu0
	run.Live = capture.SumLiveStats(ls)
	run.Transactions = txs.Load()
	return run
}

// TestLiveReplay is the acceptance check of the live path: a simulated
// scenario sent at top speed through a veth pair, captured with two fanout
// sources and the filter in the kernel, yields at least 99.5% of the
// transactions offline analysis of the same capture finds.
func TestLiveReplay(t *testing.T) {
	if testing.Short() {
		t.Skip("replays a capture through a veth pair")
	}
	requireTcpreplay(t)
	ns := capture.NewTestNetns(t, [2]string{"tx0", "rx0"})
	pcap := simulated(t, synth.SimOptions{Days: 1, Users: 30, Seed: 8})
	const filter = "tcp"
	f, _ := capture.ParseFilter(filter)
	want, offline := offlineTransactions(t, pcap, f)
	if want < 1000 {
		t.Fatalf("only %d transactions offline: the scenario is too small to measure with", want)
	}
	run := replayLive(t, ns, pcap, 2, capture.LiveOptions{Filter: filter}, "--topspeed")
	t.Logf("offline: %d packets, %d transactions; tcpreplay: %d packets in %.2fs (%.0f Mbit/s, %.0f pkt/s); live: %+v, %d transactions",
		offline.Packets, want, run.Sent, run.Seconds, run.Mbps, run.PPS, run.Live, run.Transactions)
	if uint64(run.Sent) != offline.Packets {
		t.Errorf("tcpreplay sent %d packets, the capture has %d", run.Sent, offline.Packets)
	}
	if run.Live.KernelPackets > uint64(run.Sent) || run.Live.Packets+run.Live.KernelDrops != run.Live.KernelPackets {
		t.Errorf("kernel counters do not add up: %+v, %d sent", run.Live, run.Sent)
	}
	if got := run.Transactions; float64(got) < 0.995*float64(want) {
		t.Fatalf("live capture found %d transactions, offline %d: %.2f%% < 99.5%% (kernel drops %d)",
			got, want, 100*float64(got)/float64(want), run.Live.KernelDrops)
	}
}

// BenchmarkLiveZeroDrop finds the highest tcpreplay rate at which the live
// path (one fanout source and reassembly per core) drops nothing, kernel
// and userspace, on this machine: top speed first, then lower --mbps
// steps. It reports the rate tcpreplay achieved at that step. Run it once:
// -benchtime 1x (make bench-live).
func BenchmarkLiveZeroDrop(b *testing.B) {
	requireTcpreplay(b)
	ns := capture.NewTestNetns(b, [2]string{"tx0", "rx0"})
	// Several times the rings' size, so that the rate is sustained, not
	// absorbed by the rings; LIVE_BENCH_SCALE changes it.
	scale := 10.0
	if v, err := strconv.ParseFloat(os.Getenv("LIVE_BENCH_SCALE"), 64); err == nil && v > 0 {
		scale = v
	}
	pcap := simulated(b, synth.SimOptions{Days: 1, Users: 120, Seed: 9, Scale: scale})
	// Replayed LIVE_BENCH_LOOPS times (default 5) so that the replay
	// outlasts what the rings (32 MiB per source) absorb.
	loops := 5
	if v, err := strconv.Atoi(os.Getenv("LIVE_BENCH_LOOPS")); err == nil && v > 0 {
		loops = v
	}
	_, offline := offlineTransactions(b, pcap, nil)
	n := runtime.NumCPU()
	b.Logf("capture: %d packets, %d bytes, replayed %d times; %d fanout sources, each feeding reassembly",
		offline.Packets, offline.Bytes, loops, n)
	for range b.N {
		var best *liveRun
		try := func(rate ...string) liveRun {
			run := replayLive(b, ns, pcap, n, capture.LiveOptions{}, append(rate, "--loop="+strconv.Itoa(loops))...)
			b.Logf("%-14v sent %7d in %6.2fs = %7.1f Mbit/s %8.0f pkt/s: kernel drops %6d, freezes %4d; capture side %.2f µs CPU per packet",
				rate, run.Sent, run.Seconds, run.Mbps, run.PPS, run.Live.KernelDrops, run.Live.KernelFreezes,
				float64(run.CPU.Microseconds())/float64(max(run.Live.Packets, 1)))
			return run
		}
		clean := func(r liveRun) bool {
			return r.Live.KernelDrops == 0 && r.Live.Packets == uint64(r.Sent)
		}
		top := try("--topspeed")
		if clean(top) {
			best = &top
		} else {
			// Down in steps of 20% to a rate without drops, then halve
			// the interval to the lowest rate with drops twice.
			dropAt, mbps := top.Mbps, top.Mbps
			for step := 0; step < 12 && best == nil && mbps > 1; step++ {
				mbps *= 0.8
				r := try(fmt.Sprintf("--mbps=%.0f", mbps))
				if clean(r) {
					best = &r
				} else {
					dropAt = mbps
				}
			}
			if best == nil {
				b.Fatal("drops at every rate tried")
			}
			lo, hi := mbps, dropAt
			for range 2 {
				mid := (lo + hi) / 2
				if r := try(fmt.Sprintf("--mbps=%.0f", mid)); clean(r) {
					best, lo = &r, mid
				} else {
					hi = mid
				}
			}
		}
		b.ReportMetric(best.Mbps, "Mbit/s")
		b.ReportMetric(best.PPS, "pkt/s")
		limit := ""
		if best == &top {
			limit = " (tcpreplay's top speed: the sender, not the capture, is the limit)"
		}
		b.Logf("highest rate without drops: %v, %.1f Mbit/s, %.0f pkt/s%s", best.ReplayFlags, best.Mbps, best.PPS, limit)
	}
}
