package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/storage"
)

// sharedPcaps is where ../shared/pcaps lies relative to this package.
const sharedPcaps = "../../../shared/pcaps"

// daemonOutputs is everything a daemon run leaves: its --transactions
// lines, the alerts its jsonl sink received, its final report, and the
// store's content (every key and value) with the report an engine loads
// from it.
type daemonOutputs struct {
	tx, alerts, report, store, stored string
	transactions                      uint64
}

// runDaemonOnce feeds pcap through `run --pcap` with the given specs and
// reassembly workers, recycling transactions and samples (r, poisoned) or
// not (r nil), and returns what it left. Alerts are collected and state
// saved once, when the capture is drained, so that nothing depends on
// wall-clock timing. With shed, the memory budget reads as near full all
// along: every body sample is dropped (and given back) before the engine.
func runDaemonOnce(t *testing.T, pcap string, specs []string, workers int, withStore, shed bool, r *recycler) daemonOutputs {
	t.Helper()
	dir := t.TempDir()
	c := daemonConfig{PCAP: pcap, Specs: specs, Workers: workers, DB: dbNone,
		Transactions:  filepath.Join(dir, "tx.jsonl"),
		Sinks:         []sinkConfig{{Type: "jsonl", Path: filepath.Join(dir, "alerts.jsonl")}},
		FlushInterval: duration(time.Hour), AlertInterval: duration(time.Hour)}
	if withStore {
		c.DB = filepath.Join(dir, "db")
	}
	d, c := newTestDaemon(t, c)
	d.recycle, d.feed.recycle = r, r // before anything runs
	if shed {
		d.budget.read = func() uint64 { return uint64(0.85 * float64(c.MemoryBudget)) }
		d.budget.update(d.budget.read())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.serve(ctx, ln, nil, nil) }()
	td := &testDaemon{d: d}
	td.drained(t)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if shed && d.counters.shedBodies.Load() == 0 {
		t.Errorf("no body was shed")
	}
	var out daemonOutputs
	out.transactions = d.counters.transactions.Load()
	out.tx = readFile(t, c.Transactions)
	out.alerts = readFile(t, c.Sinks[0].Path)
	rep := d.engine.Report()
	out.report = reportString(t, rep)
	if withStore {
		st, err := storage.Open(c.DB, storage.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var b strings.Builder
		if err := st.Scan(nil, func(k, v []byte) error {
			fmt.Fprintf(&b, "%q=%q\n", k, v)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		out.store = b.String()
		e, err := detect.NewEngine(detect.Options{Specs: mustSpecs(t, specs...)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Load(st); err != nil {
			t.Fatal(err)
		}
		out.stored = reportString(t, e.Report())
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func reportString(t *testing.T, rep detect.Report) string {
	t.Helper()
	rep.GeneratedAt = time.Time{}
	b, err := json.MarshalIndent(rep, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recycleCaptures are the captures TestRunRecycleSame feeds: the
// simulated scenario (incidents, secrets and personal data in bodies,
// with its spec and a store), the repo's captures and ../shared/pcaps
// (when present).
func recycleCaptures(t *testing.T) (sim, spec string, files []string) {
	sim, spec = simulated(t)
	for _, pat := range []string{"../../testdata/*.pcap*", sharedPcaps + "/*.pcap*"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if _, err := os.Stat(sharedPcaps); err != nil {
		t.Logf("../shared/pcaps is absent (%v): only the repo's captures and the simulation", err)
	}
	return sim, spec, files
}

// TestRunRecycleSame: the daemon that gives every transaction struct and
// body sample back once the engine loop applied it (and, here, overwrites
// each sample it gives back, so that a consumer that kept a sample or a
// transaction would read garbage) leaves exactly what it leaves without
// recycling: the --transactions lines, the alerts handed to a sink, the
// report, the store's keys and values. On the simulated scenario (with a
// spec and a store) and every capture of the repo and ../shared/pcaps,
// with one reassembly worker and two; and the simulation again while the
// memory budget sheds every body sample (given back before the engine).
func TestRunRecycleSame(t *testing.T) {
	sim, spec, files := recycleCaptures(t)
	type run struct {
		pcap    string
		specs   []string
		store   bool
		workers int
		shed    bool
	}
	runs := []run{{sim, []string{spec}, true, 1, false}, {sim, []string{spec}, true, 2, false}, {sim, []string{spec}, true, 2, true}}
	if !testing.Short() {
		for _, f := range files {
			runs = append(runs, run{f, nil, false, 1, false}, run{f, nil, false, 2, false})
		}
	}
	var txs, bodied uint64
	for _, c := range runs {
		name := fmt.Sprintf("%s/%d", filepath.Base(c.pcap), c.workers)
		if c.shed {
			name += "/shed"
		}
		want := runDaemonOnce(t, c.pcap, c.specs, c.workers, c.store, c.shed, nil)
		r := &recycler{poison: true}
		got := runDaemonOnce(t, c.pcap, c.specs, c.workers, c.store, c.shed, r)
		txs += got.transactions
		for _, x := range []struct{ what, got, want string }{
			{"transactions", got.tx, want.tx}, {"alerts", got.alerts, want.alerts},
			{"report", got.report, want.report}, {"store", got.store, want.store},
			{"stored report", got.stored, want.stored},
		} {
			if x.got != x.want {
				t.Errorf("%s: %s differ with recycling (%d bytes, %d without):\n%s", name, x.what, len(x.got), len(x.want), firstDiff([]byte(x.got), []byte(x.want)))
			}
		}
		if got.transactions != want.transactions {
			t.Errorf("%s: %d transactions with recycling, %d without", name, got.transactions, want.transactions)
		}
		if c.store && (got.alerts == "" || got.store == "") {
			t.Errorf("%s: no alerts or empty store: the comparison proves nothing", name)
		}
		if strings.Contains(got.report, `"secret_exposure"`) || strings.Contains(got.report, `"sensitive_data_exposure"`) {
			bodied++
		}
	}
	if txs == 0 || bodied == 0 {
		t.Fatalf("%d transactions, %d runs with findings from bodies: the comparison proves nothing", txs, bodied)
	}
}

// TestRecyclerPoison: what the recycler takes back is cleared and its
// samples overwritten (the proof above relies on it); a nil recycler
// takes nothing and a dropped sample leaves the transaction the caller's.
func TestRecyclerPoison(t *testing.T) {
	r := &recycler{poison: true}
	req, resp := []byte(`{"password":"hunter2"}`), make([]byte, 5, 64)
	copy(resp, "hello")
	tx := &reassembly.Transaction{Method: "POST", ReqBody: req, RespBody: resp}
	r.put(tx)
	if tx.Method != "" || tx.ReqBody != nil {
		t.Errorf("put left %+v", tx)
	}
	if !bytes.Equal(req, bytes.Repeat([]byte{0xa5}, len(req))) || slices.ContainsFunc(resp[:cap(resp)], func(c byte) bool { return c != 0xa5 }) {
		t.Errorf("samples not overwritten: %q %q", req, resp[:cap(resp)])
	}
	// A sample of a class's capacity comes back from the pool.
	o := r.httpOptions(0)
	if o.Decoders != &r.samples || r.transactions() != &r.txs {
		t.Errorf("options do not name the recycler's pools")
	}
	var nilR *recycler
	if nilR.httpOptions(0).Decoders != nil || nilR.transactions() != nil {
		t.Errorf("a nil recycler hands out pools")
	}
	tx = &reassembly.Transaction{Method: "GET", RespBody: []byte("kept")}
	nilR.put(tx)
	if tx.Method != "GET" || string(tx.RespBody) != "kept" {
		t.Errorf("a nil recycler changed %+v", tx)
	}
	nilR.dropBodies(tx)
	r.dropBodies(tx)
	if tx.Method != "GET" || tx.HasBodies() {
		t.Errorf("dropBodies: %+v", tx)
	}
}
