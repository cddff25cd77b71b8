package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/reassembly"
)

// reportJSON is a report as compared by the persistence tests.
func reportJSON(t *testing.T, e *Engine) string {
	t.Helper()
	b, err := json.MarshalIndent(e.Report(), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// incremental feeds txs[:cut] to an engine, saves it to s (every saveEvery
// transactions too, when positive), loads a new engine from s and feeds it
// the rest; it returns that engine.
func incremental(t *testing.T, opts Options, txs []*reassembly.Transaction, cut, saveEvery int, s Store) *Engine {
	t.Helper()
	a := mustEngine(t, opts)
	for i, x := range txs[:cut] {
		a.Observe(x)
		if saveEvery > 0 && i%saveEvery == saveEvery-1 {
			if err := a.Save(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Save(s); err != nil {
		t.Fatal(err)
	}
	b := mustEngine(t, opts)
	if err := b.Load(s); err != nil {
		t.Fatal(err)
	}
	for _, x := range txs[cut:] {
		b.Observe(x)
	}
	return b
}

func oneRun(t *testing.T, opts Options, txs []*reassembly.Transaction) *Engine {
	t.Helper()
	e := mustEngine(t, opts)
	for _, x := range txs {
		e.Observe(x)
	}
	return e
}

// TestStateGoldenSplit splits the golden day at every point: analysing
// the two parts through a store must give the report of one run.
func TestStateGoldenSplit(t *testing.T) {
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Specs: []*Spec{spec}}
	txs := goldenTransactions()
	want := reportJSON(t, oneRun(t, opts, txs))
	for cut := 0; cut <= len(txs); cut++ {
		got := reportJSON(t, incremental(t, opts, txs, cut, 0, NewMemStore()))
		if got != want {
			t.Fatalf("split at %d of %d: report differs:\n%s", cut, len(txs), firstDiff([]byte(got), []byte(want)))
		}
	}
}

// simulatedTransactions runs a simulated multi-day capture through the
// pipeline and returns its transactions in the order the engine gets them.
func simulatedTransactions(t *testing.T, o synth.SimOptions) ([]*reassembly.Transaction, *Spec) {
	t.Helper()
	dir := t.TempDir()
	if _, err := synth.Simulate(dir, o); err != nil {
		t.Fatal(err)
	}
	src, err := capture.OpenFiles(filepath.Join(dir, "traffic.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var txs []*reassembly.Transaction
	if _, err := reassembly.Run(context.Background(), src, reassembly.Options{}, func(x *reassembly.Transaction) {
		txs = append(txs, x)
	}); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadSpec(filepath.Join(dir, "documented.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return txs, spec
}

// TestStateIncrementalSimulated analyses a simulated three-day capture in
// two parts split by time (the first saved periodically, as analyze does)
// and in one run: the reports must be equal, with and without a spec.
func TestStateIncrementalSimulated(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and reassembles a capture")
	}
	txs, spec := simulatedTransactions(t, synth.SimOptions{Days: 3, Seed: 7, Users: 40})
	// In capture-time order, as two captures of consecutive periods give.
	sort.SliceStable(txs, func(i, j int) bool { return txs[i].RequestTime.Before(txs[j].RequestTime) })
	mid := txs[len(txs)/2].RequestTime // the median time: two parts of similar size
	cut := len(txs)
	for i, x := range txs {
		if x.RequestTime.After(mid) {
			cut = i
			break
		}
	}
	t.Logf("%d transactions, split at %d (%s)", len(txs), cut, mid)
	for _, tc := range []struct {
		name string
		opts Options
	}{{"no spec", Options{}}, {"spec", Options{Specs: []*Spec{spec}}}} {
		t.Run(tc.name, func(t *testing.T) {
			want := reportJSON(t, oneRun(t, tc.opts, txs))
			s := NewMemStore()
			got := reportJSON(t, incremental(t, tc.opts, txs, cut, 5000, s))
			if got != want {
				t.Fatalf("report differs:\n%s", firstDiff([]byte(got), []byte(want)))
			}
			if !strings.Contains(want, `"alerts": [`) || strings.Contains(want, `"endpoints": []`) {
				t.Fatalf("the capture raised nothing to compare")
			}
		})
	}
}

// TestStateStable checks that a loaded engine saves the very bytes it
// loaded: nothing is lost or reordered by a round trip.
func TestStateStable(t *testing.T) {
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Specs: []*Spec{spec}}
	a := oneRun(t, opts, goldenTransactions())
	b := mustEngine(t, opts)
	s := NewMemStore()
	if err := a.Save(s); err != nil {
		t.Fatal(err)
	}
	if err := b.Load(s); err != nil {
		t.Fatal(err)
	}
	pa, pb := a.stateParts(), b.stateParts()
	if len(pa) != len(pb) {
		t.Fatalf("%d parts saved, %d loaded", len(pa), len(pb))
	}
	for i := range pa {
		x, _ := pa[i].marshalState()
		y, _ := pb[i].marshalState()
		if pa[i].stateKey() != pb[i].stateKey() || !bytes.Equal(x, y) {
			t.Errorf("part %s changed in a round trip", pa[i].stateKey())
		}
	}
}

// TestStateTornSave simulates a crash between a save's parts and its
// manifest: the previous snapshot must load whole.
func TestStateTornSave(t *testing.T) {
	txs := goldenTransactions()
	s := NewMemStore()
	e := mustEngine(t, Options{})
	for _, x := range txs[:20] {
		e.Observe(x)
	}
	if err := e.Save(s); err != nil {
		t.Fatal(err)
	}
	want := reportJSON(t, e)
	for _, x := range txs[20:] {
		e.Observe(x)
	}
	sn, err := e.Snapshot(s, SaveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(sn.parts); err != nil { // the manifest never lands
		t.Fatal(err)
	}
	b := mustEngine(t, Options{})
	if err := b.Load(s); err != nil {
		t.Fatal(err)
	}
	if got := reportJSON(t, b); got != want {
		t.Fatalf("after a torn save:\n%s", firstDiff([]byte(got), []byte(want)))
	}
	// A damaged part is an error, not a wrong state.
	m, _ := readManifest(s)
	key := []byte("s/" + string(m.slot) + "/engine")
	v, _ := s.Get(key)
	s.Apply([]Mutation{{Key: key, Value: append(v, 0)}})
	if err := mustEngine(t, Options{}).Load(s); !errors.Is(err, errCorrupt) {
		t.Fatalf("damaged part: %v, want errCorrupt", err)
	}
}

// TestStateAlertsStored checks the alert keys: one per episode with a
// stable id, readable and acknowledgeable.
func TestStateAlertsStored(t *testing.T) {
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := oneRun(t, Options{Specs: []*Spec{spec}}, goldenTransactions())
	s := NewMemStore()
	if err := e.Save(s); err != nil {
		t.Fatal(err)
	}
	rep := e.Report()
	var got []*StoredAlert
	if err := ReadAlerts(s, func(a *StoredAlert) error { got = append(got, a); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(rep.Alerts) || len(got) == 0 {
		t.Fatalf("%d alerts stored, report has %d", len(got), len(rep.Alerts))
	}
	ids := map[string]bool{}
	for _, a := range rep.Alerts {
		ids[AlertID(&a)] = true
	}
	for _, a := range got {
		if !ids[a.ID] || a.Ack != nil {
			t.Errorf("stored alert %s (%s) unexpected", a.ID, a.Kind)
		}
	}
	// Saving again (the episodes grew) keeps the ids.
	e.Observe(goldenTransactions()[20])
	e.Save(s)
	n := 0
	ReadAlerts(s, func(a *StoredAlert) error { n++; return nil })
	if n != len(got) {
		t.Errorf("second save: %d alerts, want %d (ids must be stable)", n, len(got))
	}
	if err := AckAlert(s, got[0].ID, Ack{By: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := AckAlert(s, "nope", Ack{}); !errors.Is(err, ErrNoAlert) {
		t.Errorf("ack of an unknown id: %v", err)
	}
	acked := 0
	ReadAlerts(s, func(a *StoredAlert) error {
		if a.Ack != nil {
			acked++
		}
		return nil
	})
	if acked != 1 {
		t.Errorf("%d acknowledged, want 1", acked)
	}
	eps, unseen, err := ReadEndpoints(s)
	if err != nil || len(eps) != len(rep.Endpoints) || len(unseen) != len(rep.Unseen) {
		t.Errorf("endpoints view: %d/%d endpoints, %d/%d unseen, %v", len(eps), len(rep.Endpoints), len(unseen), len(rep.Unseen), err)
	}
}

// FuzzStateDecode feeds damaged state to every part's decoder: errors,
// never panics or unbounded allocation.
func FuzzStateDecode(f *testing.F) {
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		f.Fatal(err)
	}
	e := mustEngine(f, Options{Specs: []*Spec{spec}})
	for _, x := range goldenTransactions() {
		e.Observe(x)
	}
	for _, p := range e.stateParts() {
		b, _ := p.marshalState()
		f.Add(p.stateKey(), b)
	}
	f.Fuzz(func(t *testing.T, key string, b []byte) {
		e := mustEngine(t, Options{Specs: []*Spec{spec}})
		p := e.partFor(key)
		if p == nil {
			p = e.partFor(hostPartPrefix + "fuzz")
		}
		_ = p.unmarshalState(b)
		e.Report()
	})
}

// TestStateShadowAlertsFollowTemplates checks that a shadow_endpoint alert
// stored for a literal path goes once the path is learnt into a template.
func TestStateShadowAlertsFollowTemplates(t *testing.T) {
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Options{Specs: []*Spec{spec}})
	s := NewMemStore()
	stored := func() map[string]bool {
		out := map[string]bool{}
		ReadAlerts(s, func(a *StoredAlert) error {
			if a.Kind == KindShadowEndpoint {
				out[a.Path] = true
			}
			return nil
		})
		return out
	}
	// Usernames under an undocumented path on a documented host: literal
	// at first, a parameter once enough of them came.
	for i := 0; i < 3; i++ {
		e.Observe(tx(i, "GET", "api.example.com", fmt.Sprintf("/v1/people/user%c%c", 'a'+i, 'k'+i), 200))
	}
	if err := e.Save(s); err != nil {
		t.Fatal(err)
	}
	if !stored()["/v1/people/userak"] {
		t.Fatalf("literal shadow alerts not stored: %v", stored())
	}
	for i := 3; i < 200; i++ {
		e.Observe(tx(i, "GET", "api.example.com", fmt.Sprintf("/v1/people/%s", names("someone", 200)[i]), 200))
	}
	if err := e.Save(s); err != nil {
		t.Fatal(err)
	}
	got := stored()
	if got["/v1/people/userak"] || len(got) == 0 {
		t.Fatalf("after learning, stored shadow alerts: %v", got)
	}
	want := map[string]bool{}
	for _, a := range e.Report().Alerts {
		if a.Kind == KindShadowEndpoint {
			want[a.Path] = true
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stored %v, report %v", got, want)
	}
}

func TestSamples(t *testing.T) {
	s := NewMemStore()
	var batch []Mutation
	for i, ts := range []time.Time{t0.Add(2 * time.Hour), t0, t0.Add(time.Hour), t0} {
		m, err := SampleMutation(ts, uint64(i), &TxSample{TS: FormatTime(ts), Method: "GET", Endpoint: fmt.Sprint("/e/", i)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if m.TTL != DefaultSampleRetention {
			t.Errorf("TTL %v", m.TTL)
		}
		batch = append(batch, m)
	}
	s.Apply(batch)
	var got []string
	ReadSamples(s, time.Time{}, func(x *TxSample) error { got = append(got, x.Endpoint); return nil })
	if fmt.Sprint(got) != "[/e/1 /e/3 /e/2 /e/0]" {
		t.Errorf("samples in order: %v", got)
	}
	got = nil
	ReadSamples(s, t0.Add(time.Hour), func(x *TxSample) error { got = append(got, x.Endpoint); return nil })
	if fmt.Sprint(got) != "[/e/2 /e/0]" {
		t.Errorf("samples since +1h: %v", got)
	}
}

// TestStateReadsV1 loads a store saved by the first version of the
// encoding (testdata/state-v1.bin: the golden day, saved before the
// endpoint stats carried schemas, and before the behaviour part existed):
// the inventory must come back whole.
func TestStateReadsV1(t *testing.T) {
	raw, err := os.ReadFile("testdata/state-v1.bin")
	if err != nil {
		t.Fatal(err)
	}
	s := NewMemStore()
	d := stateDec{b: raw}
	for len(d.b) > 0 && d.err == nil {
		k, v := d.raw(), d.raw()
		s.Apply([]Mutation{{Key: bytes.Clone(k), Value: bytes.Clone(v)}})
	}
	if d.err != nil {
		t.Fatal(d.err)
	}
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Specs: []*Spec{spec}}
	e := mustEngine(t, opts)
	if err := e.Load(s); err != nil {
		t.Fatalf("loading a version 1 store: %v", err)
	}
	got, want := e.Report(), oneRun(t, opts, goldenTransactions()).Report()
	g, _ := json.Marshal([]any{got.Endpoints, got.Unseen})
	w, _ := json.Marshal([]any{want.Endpoints, want.Unseen})
	if string(g) != string(w) {
		t.Fatalf("inventory from a version 1 store:\n%s", firstDiff(g, w))
	}
}
