package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/shadowtap/shadowtap/detect"
)

// apiTimeout bounds how long a request waits for the engine loop.
const apiTimeout = 5 * time.Second

// captureCounters are the capture counters the summary adds to the
// report's summary.
type captureCounters struct {
	// Running says whether any source is still capturing.
	Running bool `json:"running"`
	// Received counts the packets read from the sources.
	Received uint64 `json:"received"`
	// DroppedKernel counts the packets the kernel dropped (ring full).
	DroppedKernel uint64 `json:"dropped_kernel"`
	// DroppedShadowtap counts the packets shadowtap dropped itself (the
	// memory budget).
	DroppedShadowtap uint64 `json:"dropped_shadowtap"`
	// BodiesShed counts transactions whose body samples were dropped (the
	// memory budget).
	BodiesShed uint64 `json:"bodies_shed"`
	// Sources details each source.
	Sources []sourceStatus `json:"sources"`
}

type sourceStatus struct {
	Name          string `json:"name"`
	Running       bool   `json:"running"`
	Received      uint64 `json:"received"`
	DroppedKernel uint64 `json:"dropped_kernel"`
	Shed          uint64 `json:"dropped_shadowtap"`
}

// apiSummary is the answer of /api/v1/summary: the report's summary plus
// the capture counters.
type apiSummary struct {
	detect.Summary
	Capture captureCounters `json:"capture"`
}

// captureStatus reads the sources' counters; any goroutine.
func (d *daemon) captureStatus() captureCounters {
	c := captureCounters{Running: d.running.Load() > 0, Sources: []sourceStatus{}}
	for _, s := range d.sources {
		k := s.kernelStats()
		st := sourceStatus{Name: s.name, Running: !s.ended.Load() && d.running.Load() > 0,
			Received: s.packets.Load(), DroppedKernel: k.KernelDrops, Shed: s.shed.Load()}
		c.Received += st.Received
		c.DroppedKernel += st.DroppedKernel
		c.DroppedShadowtap += st.Shed
		c.Sources = append(c.Sources, st)
	}
	c.BodiesShed = d.counters.shedBodies.Load()
	return c
}

// summary builds the report summary from the live counters: what the
// sources read, the transactions the engine received, and the flows and
// parse errors reassembly counted so far (as connections end, reported
// every 4096 packets while it runs).
func (d *daemon) summary(rep *detect.Report) detect.Summary {
	s := detect.Summary{Warnings: []string{}}
	var first, last int64
	for _, src := range d.sources {
		s.Packets += src.packets.Load()
		s.Bytes += src.bytes.Load()
		if f := src.first.Load(); f != 0 && (first == 0 || f < first) {
			first = f
		}
		if l := src.last.Load(); l > last {
			last = l
		}
	}
	if first != 0 {
		s.FirstTS = formatTime(time.Unix(0, first))
		s.LastTS = formatTime(time.Unix(0, last))
	}
	s.Transactions = d.counters.transactions.Load()
	s.Flows, s.ParseErrors = d.pipelineCounts()
	d.finMu.Lock()
	s.Warnings = append(s.Warnings, d.finished.Warnings...)
	d.finMu.Unlock()
	if rep != nil {
		s.Warnings = append(s.Warnings, rep.Summary.Warnings...)
	}
	if n := d.counters.shedBodies.Load(); n > 0 {
		s.Warnings = append(s.Warnings, itoa(n)+" transactions lost their body samples: memory budget")
	}
	var shed uint64
	for _, src := range d.sources {
		shed += src.shed.Load()
	}
	if shed > 0 {
		s.Warnings = append(s.Warnings, itoa(shed)+" packets dropped: memory budget")
	}
	if n := d.counters.txLinesLost.Load(); n > 0 {
		s.Warnings = append(s.Warnings, itoa(n)+" transaction lines lost to write errors")
	}
	return s
}

// handler is the HTTP API.
func (d *daemon) handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newDaemonCollector(d), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newEBPFCollector(d)) // run_ebpf.go
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/summary", d.apiSummary)
	mux.HandleFunc("GET /api/v1/endpoints", d.apiEndpoints)
	mux.HandleFunc("GET /api/v1/alerts", d.apiAlerts)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /healthz", d.apiHealth)
	if d.token == "" {
		return mux
	}
	want := []byte("Bearer " + d.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="shadowtap"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (d *daemon) snapshotFor(w http.ResponseWriter, r *http.Request) (detect.Report, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	rep, err := d.snapshot(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return rep, false
	}
	return rep, true
}

func (d *daemon) apiSummary(w http.ResponseWriter, r *http.Request) {
	rep, ok := d.snapshotFor(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, apiSummary{Summary: d.summary(&rep), Capture: d.captureStatus()})
}

func (d *daemon) apiEndpoints(w http.ResponseWriter, r *http.Request) {
	rep, ok := d.snapshotFor(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Endpoints []detect.Endpoint `json:"endpoints"`
		Unseen    []detect.Unseen   `json:"unseen"`
	}{rep.Endpoints, rep.Unseen})
}

// apiAlerts answers the alerts, optionally of one kind and last seen at or
// after since (RFC 3339, capture time).
func (d *daemon) apiAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := q.Get("kind")
	if kind != "" && kindIndex(kind) == len(alertKinds) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unknown alert kind " + kind})
		return
	}
	var since time.Time
	if s := q.Get("since"); s != "" {
		var err error
		if since, err = time.Parse(time.RFC3339Nano, s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "since: want an RFC 3339 time"})
			return
		}
	}
	rep, ok := d.snapshotFor(w, r)
	if !ok {
		return
	}
	out := make([]detect.Alert, 0, len(rep.Alerts))
	for _, a := range rep.Alerts {
		if kind != "" && a.Kind != kind {
			continue
		}
		if !since.IsZero() {
			last, err := time.Parse(time.RFC3339Nano, a.LastSeen)
			if err == nil && last.Before(since) {
				continue
			}
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, struct {
		Alerts []detect.Alert `json:"alerts"`
	}{out})
}

// apiHealth is 200 while a source captures, 503 otherwise.
func (d *daemon) apiHealth(w http.ResponseWriter, _ *http.Request) {
	c := d.captureStatus()
	if !c.Running {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not capturing", "capture": c})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "capturing", "capture": c})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
