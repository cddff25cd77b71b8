package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// daemonCollector exposes the daemon's counters as Prometheus metrics,
// read at scrape time (no second set of counters to keep in step).
type daemonCollector struct {
	d *daemon

	packets, bytes, drops, bodiesShed              *prometheus.Desc
	flows, transactions, parseErrors, alerts       *prometheus.Desc
	storeSize, flushes, flushErrors                *prometheus.Desc
	sinkAlerts, txWriteErrors, txLinesLost, panics *prometheus.Desc
	heap, budget, shedLevel, running, endpoints    *prometheus.Desc
	reloads, untraced, replayed, outboxErrors      *prometheus.Desc
}

func newDaemonCollector(d *daemon) *daemonCollector {
	m := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("shadowtap_"+name, help, labels, nil)
	}
	return &daemonCollector{
		d:             d,
		packets:       m("packets_total", "Packets read from the capture sources.", "source"),
		bytes:         m("bytes_total", "Bytes (frame lengths on the wire) read from the capture sources.", "source"),
		drops:         m("drops_total", "Packets dropped, by cause: kernel (capture ring full), memory_budget (shed by shadowtap).", "cause"),
		bodiesShed:    m("bodies_shed_total", "Transactions whose body samples were dropped to stay within the memory budget."),
		flows:         m("flows_total", "TCP connections that carried payload (counted as they end)."),
		transactions:  m("transactions_total", "HTTP transactions handed to the engine."),
		parseErrors:   m("parse_errors_total", "HTTP framing and syntax errors (counted as their connections end)."),
		alerts:        m("alerts_total", "Alert episodes raised, by kind.", "kind"),
		storeSize:     m("store_size_bytes", "Size of the store's files on disk."),
		flushes:       m("store_flushes_total", "State flushes to the store that succeeded."),
		flushErrors:   m("store_flush_errors_total", "State flushes to the store that failed (full disk, I/O errors)."),
		sinkAlerts:    m("sink_alerts_total", "Alerts handed to each sink, by result: sent, failed (after retries), dropped (queue full or shutdown).", "sink", "type", "result"),
		txWriteErrors: m("transaction_write_errors_total", "Failed writes of the --transactions output."),
		txLinesLost:   m("transaction_lines_lost_total", "Transaction lines lost to write errors."),
		panics:        m("panics_total", "Panics recovered in the pipeline (the daemon kept running)."),
		heap:          m("memory_heap_bytes", "Go heap held by objects, as the memory budget measures it."),
		budget:        m("memory_budget_bytes", "The memory budget; 0 when disabled."),
		shedLevel:     m("memory_shed_level", "Load shed for the memory budget: 0 none, 1 body samples, 2 packets."),
		running:       m("capture_running", "Capture sources still running."),
		endpoints:     m("endpoints", "Endpoints in the inventory at the last report."),
		reloads:       m("reloads_total", "SIGHUP reloads, by result.", "result"),
		untraced:      m("alerts_untracked_total", "Alert episodes not sent: more than the tracker's bound were open."),
		replayed:      m("alerts_replayed_total", "Alerts handed to a sink again from the outbox (queued at a stop, dropped or failed earlier)."),
		outboxErrors:  m("alert_outbox_errors_total", "Store operations of the alert outbox that failed (those alerts are not retried after a restart)."),
	}
}

// Describe implements prometheus.Collector.
func (c *daemonCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.packets, c.bytes, c.drops, c.bodiesShed, c.flows, c.transactions, c.parseErrors,
		c.alerts, c.storeSize, c.flushes, c.flushErrors, c.sinkAlerts, c.txWriteErrors, c.txLinesLost, c.panics,
		c.heap, c.budget, c.shedLevel, c.running, c.endpoints, c.reloads, c.untraced, c.replayed, c.outboxErrors} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *daemonCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	var kernel, shed uint64
	for _, s := range d.sources {
		counter(c.packets, s.packets.Load(), s.name)
		counter(c.bytes, s.bytes.Load(), s.name)
		kernel += s.kernelStats().KernelDrops
		shed += s.shed.Load()
	}
	counter(c.drops, kernel, "kernel")
	counter(c.drops, shed, "memory_budget")
	counter(c.bodiesShed, d.counters.shedBodies.Load())
	flows, perr := d.pipelineCounts()
	counter(c.flows, flows)
	counter(c.parseErrors, perr)
	counter(c.transactions, d.counters.transactions.Load())
	for i, k := range alertKinds {
		counter(c.alerts, d.counters.alerts[i].Load(), k)
	}
	gauge(c.storeSize, float64(d.counters.storeSize.Load()))
	counter(c.flushes, d.counters.flushes.Load())
	counter(c.flushErrors, d.counters.flushErrors.Load())
	if ss := d.sinksPub.Load(); ss != nil {
		for _, s := range ss.stats() {
			counter(c.sinkAlerts, s.sent, s.name, s.typ, "sent")
			counter(c.sinkAlerts, s.failed, s.name, s.typ, "failed")
			counter(c.sinkAlerts, s.dropped, s.name, s.typ, "dropped")
		}
	}
	counter(c.txWriteErrors, d.counters.txWriteErrors.Load())
	counter(c.txLinesLost, d.counters.txLinesLost.Load())
	counter(c.panics, d.counters.panics.Load())
	gauge(c.heap, float64(d.budget.heap.Load()))
	gauge(c.budget, float64(max(d.budget.limit.Load(), 0)))
	gauge(c.shedLevel, float64(d.budget.level()))
	gauge(c.running, float64(d.running.Load()))
	gauge(c.endpoints, float64(d.counters.endpoints.Load()))
	counter(c.reloads, d.counters.reloads.Load(), "ok")
	counter(c.reloads, d.counters.reloadErrors.Load(), "error")
	counter(c.untraced, d.counters.alertsUntraced.Load())
	counter(c.replayed, d.counters.alertsReplayed.Load())
	var outboxErrors uint64
	if d.outbox != nil {
		outboxErrors = d.outbox.errors.Load()
	}
	counter(c.outboxErrors, outboxErrors)
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
