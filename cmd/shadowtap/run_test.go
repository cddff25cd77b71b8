package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/storage"
)

// simOnce simulates one small scenario for the daemon tests.
var simOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "shadowtap-run-test")
	if err != nil {
		return "", err
	}
	_, err = synth.Simulate(dir, synth.SimOptions{Days: 1, Users: 12, Seed: 7})
	return dir, err
})

func simulated(t *testing.T) (pcap, spec string) {
	t.Helper()
	dir, err := simOnce()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "traffic.pcap"), filepath.Join(dir, "documented.yaml")
}

// testDaemon is a daemon serving on a loopback port of its own.
type testDaemon struct {
	d      *daemon
	url    string
	cancel context.CancelFunc
	done   chan error
	hup    chan signalT
}

// newTestDaemon fills c's defaults and makes a daemon of it, not yet serving.
func newTestDaemon(t *testing.T, c daemonConfig) (*daemon, daemonConfig) {
	t.Helper()
	c, err := c.withDefaults("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDaemon(c, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return d, c
}

func startDaemon(t *testing.T, c daemonConfig, reload func() (daemonConfig, error)) *testDaemon {
	t.Helper()
	d, c := newTestDaemon(t, c)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	td := &testDaemon{d: d, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1), hup: make(chan signalT, 1)}
	if reload == nil {
		reload = func() (daemonConfig, error) { return c, nil }
	}
	go func() { td.done <- d.serve(ctx, ln, td.hup, reload) }()
	t.Cleanup(func() { td.stop(t) })
	return td
}

// stop ends the daemon as SIGTERM does and returns serve's error.
func (td *testDaemon) stop(t *testing.T) error {
	t.Helper()
	if td.cancel == nil {
		return nil
	}
	td.cancel()
	td.cancel = nil
	select {
	case err := <-td.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop")
		return nil
	}
}

// drained waits until the sources ended and the engine saw every
// transaction reassembly produced.
func (td *testDaemon) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		td.d.finMu.Lock()
		want := td.d.finished.Transactions
		td.d.finMu.Unlock()
		ended := true
		for _, s := range td.d.sources {
			ended = ended && s.ended.Load()
		}
		if ended && td.d.running.Load() == 0 && td.d.counters.transactions.Load() == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("pipeline did not drain")
}

func (td *testDaemon) get(t *testing.T, path, token string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", td.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if s, ok := v.(*string); ok {
			*s = string(b)
		} else if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, b)
		}
	}
	return resp.StatusCode
}

// offline is analyze's result on the same capture.
func offline(t *testing.T, pcap string, specs ...string) detect.Report {
	t.Helper()
	_, rep, err := inventory(context.Background(), analyzeConfig{files: []string{pcap}, specs: specs, workers: 1}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRunPcapMatchesAnalyzeAndPersists(t *testing.T) {
	pcap, spec := simulated(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	txPath := filepath.Join(dir, "tx.jsonl")
	alertsPath := filepath.Join(dir, "alerts.jsonl")
	td := startDaemon(t, daemonConfig{PCAP: pcap, Specs: []string{spec}, DB: db, Transactions: txPath,
		Sinks: []sinkConfig{{Type: "jsonl", Path: alertsPath}}}, nil)
	td.drained(t)
	want := offline(t, pcap, spec)

	var sum apiSummary
	if code := td.get(t, "/api/v1/summary", "", &sum); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	if sum.Transactions != want.Summary.Transactions || sum.Packets != want.Summary.Packets || sum.Flows != want.Summary.Flows ||
		sum.FirstTS != want.Summary.FirstTS || sum.LastTS != want.Summary.LastTS {
		t.Errorf("summary %+v\nwant      %+v", sum.Summary, want.Summary)
	}
	if sum.Capture.Received != want.Summary.Packets || sum.Capture.DroppedShadowtap != 0 || sum.Capture.Running {
		t.Errorf("capture counters %+v", sum.Capture)
	}
	var eps struct {
		Endpoints []detect.Endpoint `json:"endpoints"`
		Unseen    []detect.Unseen   `json:"unseen"`
	}
	td.get(t, "/api/v1/endpoints", "", &eps)
	if len(eps.Endpoints) != len(want.Endpoints) || len(eps.Unseen) != len(want.Unseen) {
		t.Errorf("%d endpoints, %d unseen; analyze: %d, %d", len(eps.Endpoints), len(eps.Unseen), len(want.Endpoints), len(want.Unseen))
	}
	var al struct {
		Alerts []detect.Alert `json:"alerts"`
	}
	td.get(t, "/api/v1/alerts", "", &al)
	if len(al.Alerts) != len(want.Alerts) || len(al.Alerts) == 0 {
		t.Fatalf("%d alerts, analyze %d (the scenario has incidents)", len(al.Alerts), len(want.Alerts))
	}
	kind := al.Alerts[0].Kind
	td.get(t, "/api/v1/alerts?kind="+kind, "", &al)
	for _, a := range al.Alerts {
		if a.Kind != kind {
			t.Errorf("kind filter let %s through", a.Kind)
		}
	}
	td.get(t, "/api/v1/alerts?since=2100-01-01T00:00:00Z", "", &al)
	if len(al.Alerts) != 0 {
		t.Errorf("since in the future: %d alerts", len(al.Alerts))
	}
	if code := td.get(t, "/api/v1/alerts?kind=nonsense", "", nil); code != 400 {
		t.Errorf("unknown kind: %d, want 400", code)
	}
	if code := td.get(t, "/api/v1/alerts?since=yesterday", "", nil); code != 400 {
		t.Errorf("bad since: %d, want 400", code)
	}
	if code := td.get(t, "/healthz", "", nil); code != 503 {
		t.Errorf("healthz after the capture ended: %d, want 503", code)
	}
	var metrics string
	td.get(t, "/metrics", "", &metrics)
	for _, m := range []string{"shadowtap_packets_total{source=", "shadowtap_bytes_total", `shadowtap_drops_total{cause="kernel"}`,
		`shadowtap_drops_total{cause="memory_budget"} 0`, "shadowtap_flows_total", "shadowtap_transactions_total " + itoa(want.Summary.Transactions),
		"shadowtap_parse_errors_total", `shadowtap_alerts_total{kind="shadow_endpoint"}`, "shadowtap_store_size_bytes", "go_goroutines"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}

	if err := td.stop(t); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// Every transaction was appended; every alert reached the sink once.
	if n := countLines(t, txPath); uint64(n) != want.Summary.Transactions {
		t.Errorf("%d transaction lines, want %d", n, want.Summary.Transactions)
	}
	if n := countLines(t, alertsPath); n != len(want.Alerts) {
		t.Errorf("%d alert lines, want %d", n, len(want.Alerts))
	}
	// The state is in the store: a fresh engine loads the same report.
	st, err := storage.Open(db, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, _ := detect.NewEngine(detect.Options{Specs: mustSpecs(t, spec)})
	if err := e.Load(st); err != nil {
		t.Fatal(err)
	}
	got := e.Report()
	if len(got.Endpoints) != len(want.Endpoints) || len(got.Alerts) != len(want.Alerts) {
		t.Errorf("store holds %d endpoints, %d alerts; want %d, %d", len(got.Endpoints), len(got.Alerts), len(want.Endpoints), len(want.Alerts))
	}
}

func mustSpecs(t *testing.T, paths ...string) []*detect.Spec {
	t.Helper()
	s, _, err := loadSpecs(paths)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !json.Valid(sc.Bytes()) {
			t.Fatalf("%s: line %d is not JSON", path, n+1)
		}
		n++
	}
	return n
}

func sumCounts(eps []detect.Endpoint) (n uint64) {
	for _, e := range eps {
		n += e.Count
	}
	return n
}

// TestRunReloadKeepsState reloads specs and sinks as SIGHUP does: the
// endpoints learnt before stay (same request counts), the spec now
// covers them, alerts go to the new sink, and a bad configuration
// changes nothing.
func TestRunReloadKeepsState(t *testing.T) {
	pcap, spec := simulated(t)
	dir := t.TempDir()
	alertsPath := filepath.Join(dir, "alerts-after-reload.jsonl")
	var mu sync.Mutex
	next := daemonConfig{PCAP: pcap}
	reload := func() (daemonConfig, error) {
		mu.Lock()
		defer mu.Unlock()
		return next.withDefaults("")
	}
	td := startDaemon(t, daemonConfig{PCAP: pcap}, reload)
	td.drained(t)
	var before, after struct {
		Endpoints []detect.Endpoint `json:"endpoints"`
		Unseen    []detect.Unseen   `json:"unseen"`
	}
	td.get(t, "/api/v1/endpoints", "", &before)
	for _, e := range before.Endpoints {
		if e.Documented != nil {
			t.Fatalf("documented set without a spec: %+v", e)
		}
	}

	// A configuration that does not load changes nothing.
	mu.Lock()
	next = daemonConfig{PCAP: pcap, Specs: []string{filepath.Join(dir, "missing.yaml")}}
	mu.Unlock()
	td.d.reload(context.Background(), reload)
	if td.d.counters.reloadErrors.Load() != 1 {
		t.Fatalf("bad reload not counted")
	}

	mu.Lock()
	next = daemonConfig{PCAP: pcap, Specs: []string{spec}, LogLevel: "debug", MemoryBudget: 2 << 30,
		Sinks: []sinkConfig{{Type: "jsonl", Path: alertsPath}}}
	mu.Unlock()
	td.d.reload(context.Background(), reload)
	if td.d.counters.reloads.Load() != 1 {
		t.Fatalf("reload failed (errors: %d)", td.d.counters.reloadErrors.Load())
	}
	td.get(t, "/api/v1/endpoints", "", &after)
	// The spec now covers the hosts: the traffic learnt before it is
	// judged against it (documented is no longer null) and its
	// operations are listed.
	covered := 0
	for _, e := range after.Endpoints {
		if e.Documented != nil {
			covered++
		}
	}
	if covered == 0 || len(after.Unseen) == 0 {
		t.Errorf("the reloaded spec does not apply: %d endpoints covered, %d unseen", covered, len(after.Unseen))
	}
	if sumCounts(after.Endpoints) != sumCounts(before.Endpoints) || sumCounts(before.Endpoints) == 0 {
		t.Errorf("requests counted: %d after reload, %d before (state lost)", sumCounts(after.Endpoints), sumCounts(before.Endpoints))
	}
	if td.d.budget.limit.Load() != 2<<30 {
		t.Errorf("memory budget not reloaded")
	}
	// The new sink receives the alerts raised from now on (shadow endpoints
	// of the spec's hosts appeared with it).
	td.d.do(context.Background(), td.d.collectAlerts)
	if err := td.stop(t); err != nil {
		t.Fatal(err)
	}
	if countLines(t, alertsPath) == 0 {
		t.Errorf("the sink configured by the reload received nothing")
	}
}

func TestAPIBearerToken(t *testing.T) {
	pcap, _ := simulated(t)
	dir := t.TempDir()
	const token = "0123456789abcdef-token"
	tokFile := writeFile(t, dir, "token", token+"\n")
	td := startDaemon(t, daemonConfig{PCAP: pcap, Listen: "0.0.0.0:0", APITokenFile: tokFile}, nil)
	for _, p := range []string{"/api/v1/summary", "/api/v1/endpoints", "/api/v1/alerts", "/metrics", "/healthz"} {
		if code := td.get(t, p, "", nil); code != 401 {
			t.Errorf("%s without token: %d, want 401", p, code)
		}
		if code := td.get(t, p, "wrong-token-wrong-token", nil); code != 401 {
			t.Errorf("%s with a wrong token: %d, want 401", p, code)
		}
	}
	if code := td.get(t, "/api/v1/summary", token, nil); code != 200 {
		t.Errorf("summary with the token: %d", code)
	}
	if code := td.get(t, "/metrics", token, nil); code != 200 {
		t.Errorf("metrics with the token: %d", code)
	}
}

func TestMemBudgetLevels(t *testing.T) {
	const limit = 1000
	b := newMemBudget(limit)
	defer b.setLimit(-1)
	for _, step := range []struct {
		heap uint64
		want int32
	}{
		{100, shedNone}, {790, shedNone}, {800, shedBodies}, {750, shedBodies}, {690, shedNone},
		{1000, shedPackets}, {950, shedPackets}, {899, shedBodies}, {850, shedBodies}, {699, shedNone}, {5000, shedPackets},
	} {
		if got := b.update(step.heap); got != step.want {
			t.Fatalf("heap %d: level %d, want %d", step.heap, got, step.want)
		}
	}
	b.setLimit(-1)
	if b.update(1<<40) != shedNone {
		t.Fatal("a disabled budget shed load")
	}
}

// TestMemBudgetShedsLoad runs a capture while the heap reads as over
// budget: packets are dropped and counted, the daemon keeps running; then
// bodies only.
func TestMemBudgetShedsLoad(t *testing.T) {
	pcap, _ := simulated(t)
	for _, tt := range []struct {
		name  string
		ratio float64
	}{{"packets", 1.5}, {"bodies", 0.85}} {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := daemonConfig{PCAP: pcap, MemoryBudget: 1 << 30}.withDefaults("")
			d, err := newDaemon(c, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			d.budget.read = func() uint64 { return uint64(tt.ratio * (1 << 30)) }
			d.budget.update(d.budget.read())
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.serve(ctx, ln, nil, nil) }()
			td := &testDaemon{d: d, url: "http://" + ln.Addr().String()}
			td.drained(t)
			var sum apiSummary
			td.get(t, "/api/v1/summary", "", &sum)
			var metrics string
			td.get(t, "/metrics", "", &metrics)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			d.budget.setLimit(-1)
			switch tt.name {
			case "packets":
				if sum.Capture.DroppedShadowtap != sum.Capture.Received || sum.Transactions != 0 {
					t.Errorf("over budget: %+v, %d transactions", sum.Capture, sum.Transactions)
				}
				if !strings.Contains(metrics, `shadowtap_drops_total{cause="memory_budget"} `+itoa(sum.Capture.Received)) || !strings.Contains(metrics, "shadowtap_memory_shed_level 2") {
					t.Errorf("metrics do not show the drops")
				}
			case "bodies":
				if sum.Capture.DroppedShadowtap != 0 || sum.Transactions == 0 || sum.Capture.BodiesShed == 0 {
					t.Errorf("near budget: %+v, %d transactions", sum.Capture, sum.Transactions)
				}
				if !strings.Contains(metrics, "shadowtap_bodies_shed_total "+itoa(sum.Capture.BodiesShed)) {
					t.Errorf("metrics do not show the shed bodies")
				}
			}
			if len(sum.Warnings) == 0 {
				t.Errorf("no warning says load was shed")
			}
		})
	}
}

// TestLiveCountersWhileRunning: flows and parse errors reach the summary
// while a reassembly run is still going, through its progress reports.
func TestLiveCountersWhileRunning(t *testing.T) {
	d := &daemon{sources: []*meteredSource{{name: "a"}, {name: "b"}}}
	d.finished.Flows, d.finished.ParseErrors = 10, 1
	d.sources[0].progress = &reassembly.Stats{Flows: 5, ParseErrors: 2}
	if f, p := d.pipelineCounts(); f != 15 || p != 3 {
		t.Fatalf("flows %d, parse errors %d; want 15, 3", f, p)
	}
}
