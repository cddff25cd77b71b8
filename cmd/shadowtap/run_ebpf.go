package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shadowtap/shadowtap/bpf"
	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/reassembly"
)

// ebpfFilter limits what the eBPF sensor traces, in the kernel: a
// connection is traced when its process matches every non-empty list
// (pids, commands, cgroup v2 ids) and one of its ports is in ports (when
// given). YAML key ebpf_filter.
type ebpfFilter struct {
	PIDs    []uint32 `yaml:"pids"`
	Comms   []string `yaml:"comms"`
	Cgroups []uint64 `yaml:"cgroups"`
	Ports   []uint16 `yaml:"ports"`
}

// ebpfSource adapts the eBPF sensor to a meteredSource: the daemon runs it
// through meteredSource.run (it yields transactions, not packets); Next is
// never called. escalations counts the daemon's moves out of SCHED_IDLE
// while the sensor's ring backed up (schedWatch).
type ebpfSource struct {
	s           *bpf.Sensor
	escalations atomic.Uint64
}

func (e *ebpfSource) Next(*capture.Packet) error {
	return errors.New("the eBPF sensor yields transactions, not packets")
}

func (e *ebpfSource) Close() error { return e.s.Close() }

// openEBPFSources opens the eBPF sensor. The fallback ladder's last rung is
// here: where eBPF is not supported, packets are captured on the host's
// interfaces instead (a note says so once the daemon runs).
func openEBPFSources(cfg *daemonConfig, budget *memBudget, r *recycler) ([]*meteredSource, error) {
	f := cfg.EBPFFilter
	// The sensor's connections parse with the daemon's pools: their
	// transactions and samples come back once the engine loop applied
	// them, as the packet path's do (and a connection does not start a
	// pool of decoders of its own).
	s, err := bpf.Open(bpf.Options{PIDs: f.PIDs, Comms: f.Comms, CgroupIDs: f.Cgroups, Ports: f.Ports, BothEnds: cfg.EBPFBothEnds,
		HTTP: reassembly.Options{HTTP: r.httpOptions(cfg.MaxBody), Transactions: r.transactions()}})
	if err == nil {
		e := &ebpfSource{s: s}
		m := &meteredSource{name: "ebpf", src: e, budget: budget}
		m.kernel = func() capture.LiveStats {
			st := s.Stats()
			return capture.LiveStats{Packets: st.Records, Bytes: st.DataBytes,
				KernelPackets: st.Events + st.LostEvents, KernelDrops: st.LostEvents}
		}
		m.run = func(ctx context.Context, d *daemon) error { return runEBPF(ctx, d, m, e) }
		return []*meteredSource{m}, nil
	}
	if !errors.Is(err, bpf.ErrUnsupported) {
		return nil, fmt.Errorf("--ebpf: %w", err)
	}
	ifaces := hostInterfaces()
	if len(ifaces) == 0 {
		return nil, fmt.Errorf("--ebpf: %w; and no interface to capture packets on instead", err)
	}
	n := cfg.FanoutWorkers
	if n <= 0 {
		n = runtime.NumCPU()
	}
	lives, lerr := capture.OpenInterfaces(ifaces, n, capture.LiveOptions{Filter: cfg.Filter})
	if lerr != nil {
		return nil, fmt.Errorf("--ebpf: %w; packet capture instead: %w", err, lerr)
	}
	var out []*meteredSource
	for i, l := range lives {
		m := &meteredSource{name: fmt.Sprintf("%s#%d", strings.Join(ifaces, "+"), i), src: l, budget: budget, kernel: l.Stats}
		if i == 0 {
			m.note = fmt.Sprintf("ebpf sensor unavailable (%v): capturing packets on %s instead; TLS traffic is not visible", err, strings.Join(ifaces, ", "))
		}
		out = append(out, m)
	}
	return out, nil
}

// hostInterfaces lists the interfaces that are up (loopback included).
func hostInterfaces() []string {
	all, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []string
	for _, i := range all {
		if i.Flags&net.FlagUp != 0 {
			out = append(out, i.Name)
		}
	}
	return out
}

// captureEBPF runs a source that is not a plain packet source: the eBPF
// sensor, or the packet-capture fallback with its one-time note.
func (d *daemon) captureEBPF(ctx context.Context, s *meteredSource, cfg *daemonConfig) error {
	if s.note != "" {
		d.log.Warn().Str("source", s.name).Msg(s.note)
		s.note = ""
	}
	if s.run == nil {
		return d.capture(ctx, s, cfg)
	}
	return s.run(ctx, d)
}

// runEBPF feeds the sensor's transactions to the engine until ctx ends or
// the source is closed.
func runEBPF(ctx context.Context, d *daemon, m *meteredSource, e *ebpfSource) error {
	s := e.s
	mode, why := s.Mode()
	d.log.Info().Str("source", m.name).Str("mode", mode.String()).Str("reason", why).Msg("ebpf sensor running")
	done := make(chan struct{})
	defer close(done)
	go schedWatch{used: s.RingUsed, wait: s.WaitRing, count: &e.escalations, log: d.log,
		policy:  func() string { c := d.config(); return schedFor(&c) },
		reloads: d.counters.reloads.Load}.run(done)
	go func() {
		// Publish the record counters for the API's summary.
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				st := s.Stats()
				m.packets.Store(st.Records)
				m.bytes.Store(st.DataBytes)
			}
		}
	}()
	err := s.Run(ctx, func(t *reassembly.Transaction) {
		ts := t.RequestTime
		if ts.IsZero() {
			ts = t.ResponseTime
		}
		if ns := ts.UnixNano(); ns > 0 {
			if f := m.first.Load(); f == 0 || ns < f {
				m.first.Store(ns)
			}
			if ns > m.last.Load() {
				m.last.Store(ns)
			}
		}
		d.feed.add(t)
	})
	st := s.Stats()
	m.packets.Store(st.Records)
	m.bytes.Store(st.DataBytes)
	if err == nil {
		m.ended.Store(true)
	}
	return err
}

// ebpfCollector exposes the eBPF sensor's counters (kernel and user side)
// as Prometheus metrics, read at scrape time.
type ebpfCollector struct {
	d                                 *daemon
	bytes, records, gaps, conns, libs *prometheus.Desc
	escalations                       *prometheus.Desc
}

func newEBPFCollector(d *daemon) *ebpfCollector {
	m := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shadowtap_ebpf_"+name, help, labels, nil)
	}
	return &ebpfCollector{
		d:           d,
		bytes:       m("bytes_total", "Bytes moved by traced sockets and SSL calls, by fate: copied (handed to the ring), lost (ring full), truncated (beyond the per-call cap), unreadable (user memory not readable), skipped (sendfile/splice: no user buffer), tls_unmapped (TLS plaintext of a connection the sensor never saw), encrypted (TLS records of a connection with no plaintext from OpenSSL, after its first record: not copied), mirrored (the client end of a local connection whose server end is traced too: the same bytes, reported from the server's side; not copied).", "fate"),
		records:     m("records_lost_total", "Ring-buffer records the full ring refused, by kind: data, control (close and exec).", "kind"),
		gaps:        m("gap_bytes_total", "Bytes declared missing to the HTTP parsers (lost + truncated + unreadable + skipped)."),
		conns:       m("connections_total", "Connections followed, by kind: all, encrypted (TLS with no plaintext from OpenSSL: not visible), evicted, mirrored (client ends of local connections whose server end is traced too: reported from the server's side only).", "kind"),
		libs:        m("libssl_attached", "libssl files (inodes) with uprobes attached."),
		escalations: m("sched_escalations_total", "Times the daemon left SCHED_IDLE for SCHED_NORMAL while the sensor's ring was over half full (sched: idle only; back to idle once it stayed below an eighth for a second)."),
	}
}

// Describe implements prometheus.Collector.
func (c *ebpfCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.records, c.gaps, c.conns, c.libs, c.escalations} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ebpfCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.d.sources {
		e, ok := s.src.(*ebpfSource)
		if !ok {
			continue
		}
		st := e.s.Stats()
		counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
		}
		counter(c.bytes, st.Bytes, "copied")
		counter(c.bytes, st.LostBytes, "lost")
		counter(c.bytes, st.TruncatedBytes, "truncated")
		counter(c.bytes, st.UnreadableBytes, "unreadable")
		counter(c.bytes, st.TLSUnmappedBytes, "tls_unmapped")
		counter(c.bytes, st.SkippedBytes, "skipped")
		counter(c.bytes, st.EncryptedBytes, "encrypted")
		counter(c.bytes, st.MirroredBytes, "mirrored")
		counter(c.records, st.LostEvents, "data")
		counter(c.records, st.LostControl, "control")
		counter(c.gaps, st.GapBytes)
		counter(c.conns, st.Connections, "all")
		counter(c.conns, st.EncryptedConnections, "encrypted")
		counter(c.conns, st.EvictedConnections, "evicted")
		counter(c.conns, st.MirroredConnections, "mirrored")
		ch <- prometheus.MustNewConstMetric(c.libs, prometheus.GaugeValue, float64(st.Libraries))
		counter(c.escalations, e.escalations.Load())
	}
}
