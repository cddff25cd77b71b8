package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/reassembly"
)

// meteredSource wraps a capture source with the daemon's counters and the
// memory budget's packet shedding. Next is called from one goroutine; the
// counters may be read from any.
type meteredSource struct {
	name   string
	src    capture.Source
	budget *memBudget
	// kernel returns the kernel's counters (live sources only).
	kernel func() capture.LiveStats
	// run, when set, runs a source that yields transactions rather than
	// packets (the eBPF sensor, run_ebpf.go); note is logged once when the
	// source starts (the eBPF fallback says what it captures instead).
	run  func(ctx context.Context, d *daemon) error
	note string

	packets, bytes, shed atomic.Uint64
	first, last          atomic.Int64 // capture time, unix ns; 0 = none yet
	ended                atomic.Bool  // the source reached its end
	// progress is the running reassembly's counters so far (nil when
	// none runs); guarded by daemon.finMu.
	progress  *reassembly.Stats
	closeOnce sync.Once
	closeErr  error
}

// Next reads the next packet, counting it; while the memory budget is
// exceeded packets are dropped here (counted) instead of being processed.
func (m *meteredSource) Next(p *capture.Packet) error {
	for {
		if err := m.src.Next(p); err != nil {
			return err
		}
		m.packets.Add(1)
		m.bytes.Add(uint64(p.WireLen))
		ts := p.Timestamp.UnixNano()
		if f := m.first.Load(); f == 0 || ts < f {
			m.first.Store(ts)
		}
		if ts > m.last.Load() {
			m.last.Store(ts)
		}
		if m.budget.level() >= shedPackets {
			m.shed.Add(1)
			continue
		}
		return nil
	}
}

// Close closes the source once; it may be called while Next blocks (live
// sources return from Next then).
func (m *meteredSource) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.src.Close() })
	return m.closeErr
}

// kernelStats returns the kernel's counters, zero for files.
func (m *meteredSource) kernelStats() capture.LiveStats {
	if m.kernel == nil {
		return capture.LiveStats{}
	}
	return m.kernel()
}

// openSources opens what the configuration captures from.
func openSources(cfg *daemonConfig, budget *memBudget, r *recycler) ([]*meteredSource, error) {
	var out []*meteredSource
	if cfg.EBPF {
		ebpf, err := openEBPFSources(cfg, budget, r)
		if err != nil {
			return nil, err
		}
		out = append(out, ebpf...)
	}
	if cfg.PCAP != "" {
		src, err := capture.OpenFiles(cfg.PCAP)
		if err != nil {
			return nil, err
		}
		out = append(out, &meteredSource{name: "pcap:" + cfg.PCAP, src: src, budget: budget})
	}
	if len(cfg.Ifaces) > 0 {
		n := cfg.FanoutWorkers
		if n <= 0 {
			n = runtime.NumCPU()
		}
		lives, err := capture.OpenInterfaces(cfg.Ifaces, n, capture.LiveOptions{Filter: cfg.Filter})
		if err != nil {
			for _, s := range out {
				s.Close()
			}
			return nil, fmt.Errorf("opening %s: %w", strings.Join(cfg.Ifaces, ","), err)
		}
		for i, l := range lives {
			out = append(out, &meteredSource{name: strings.Join(cfg.Ifaces, "+") + "#" + strconv.Itoa(i), src: l, budget: budget, kernel: l.Stats})
		}
	}
	return out, nil
}
