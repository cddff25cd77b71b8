package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/storage"
)

// fakeSender fails the first fail deliveries and records the rest.
type fakeSender struct {
	mu   sync.Mutex
	fail int
	got  []string
}

func (f *fakeSender) deliver(_ context.Context, m *alertMsg) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return errors.New("destination down")
	}
	f.got = append(f.got, detect.AlertID(&m.alert))
	return nil
}

func (f *fakeSender) close() error { return nil }

func (f *fakeSender) delivered() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func outboxKeys(t *testing.T, s detect.Store) []string {
	t.Helper()
	var keys []string
	if err := s.Scan(pendingPrefix, func(k, _ []byte) error {
		keys = append(keys, string(k))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

func stopSinks(t *testing.T, ss *sinkSet) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ss.stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxRetriesUntilDelivered(t *testing.T) {
	store := detect.NewMemStore()
	box := newOutbox(store, 0, zerolog.Nop())
	a := testAlert(detect.KindExfiltration, detect.SeverityHigh)
	b := testAlert(detect.KindEnumeration, detect.SeverityMedium)
	b.Client = "198.51.100.9"
	ma, _ := newAlertMsg(a)
	mb, _ := newAlertMsg(b)

	// A sink whose destination fails twice, a healthy one.
	down := &fakeSender{fail: 2}
	up := &fakeSender{}
	ss := &sinkSet{sinks: []*sink{startSink("down", "fake", down, 8, zerolog.Nop()), startSink("up", "fake", up, 8, zerolog.Nop())}}
	ss.attach(box)
	ss.publish(ma)
	ss.publish(mb)
	stopSinks(t, ss)

	if got := up.delivered(); len(got) != 2 {
		t.Fatalf("healthy sink got %v", got)
	}
	keys := outboxKeys(t, store)
	if len(keys) != 2 {
		t.Fatalf("outbox holds %v, want the two alerts the failing sink did not deliver", keys)
	}
	for _, k := range keys {
		if filepath.Base(k) != "down" {
			t.Errorf("entry %s is not the failing sink's", k)
		}
	}

	// The next run: the same sinks, the failing one recovered. A replay
	// delivers the two alerts to it, and only to it.
	down2, up2 := &fakeSender{}, &fakeSender{}
	ss2 := &sinkSet{sinks: []*sink{startSink("down", "fake", down2, 8, zerolog.Nop()), startSink("up", "fake", up2, 8, zerolog.Nop())}}
	ss2.attach(box)
	if n := box.replay(ss2); n != 2 {
		t.Fatalf("replayed %d, want 2", n)
	}
	stopSinks(t, ss2)
	if got := down2.delivered(); len(got) != 2 || got[0] == got[1] {
		t.Fatalf("recovered sink got %v, want both alerts once", got)
	}
	if got := up2.delivered(); len(got) != 0 {
		t.Fatalf("healthy sink got %v again", got)
	}
	if keys := outboxKeys(t, store); len(keys) != 0 {
		t.Fatalf("outbox still holds %v after delivery", keys)
	}
}

func TestOutboxReplaySkipsInFlightAndForgetsRemovedSinks(t *testing.T) {
	store := detect.NewMemStore()
	box := newOutbox(store, 0, zerolog.Nop())
	m, _ := newAlertMsg(testAlert(detect.KindAuthAbuse, detect.SeverityHigh))
	if !box.put("gone", m) || !box.put("busy", m) {
		t.Fatal("put refused a new entry")
	}
	if box.put("busy", m) {
		t.Fatal("put accepted an entry already in flight")
	}
	box.release("gone", m)
	// An entry that does not decode is removed and counted.
	if err := store.Apply([]detect.Mutation{{Key: []byte("d/pending/x/broken"), Value: []byte("{")}}); err != nil {
		t.Fatal(err)
	}
	list, err := box.pending()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].sink != "gone" || detect.AlertID(&list[0].msg.alert) != detect.AlertID(&m.alert) {
		t.Fatalf("pending %+v, want only the released entry", list)
	}
	if box.errors.Load() != 1 {
		t.Fatalf("errors %d, want 1 for the broken entry", box.errors.Load())
	}
	// No sink named "gone" any more: its entry is discarded.
	other := &fakeSender{}
	ss := &sinkSet{sinks: []*sink{startSink("other", "fake", other, 8, zerolog.Nop())}}
	ss.attach(box)
	if n := box.replay(ss); n != 0 {
		t.Fatalf("replayed %d to sinks that do not exist", n)
	}
	stopSinks(t, ss)
	keys := outboxKeys(t, store)
	if len(keys) != 1 || filepath.Base(keys[0]) != "busy" {
		t.Fatalf("outbox %v, want only the in-flight entry", keys)
	}
}

// TestRunRedeliversAfterRestart: alerts a webhook could not take before
// the daemon stopped reach it after the next start, each once.
func TestRunRedeliversAfterRestart(t *testing.T) {
	pcap, spec := simulated(t)
	db := filepath.Join(t.TempDir(), "db")

	var mu sync.Mutex
	up := false
	received := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sa sinkAlert
		if err := json.NewDecoder(r.Body).Decode(&sa); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		received[sa.ID]++
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	hook := sinkConfig{Type: "webhook", Name: "hook", URL: srv.URL, MaxAttempts: 1, Timeout: duration(2 * time.Second)}

	td := startDaemon(t, daemonConfig{PCAP: pcap, Specs: []string{spec}, DB: db, Sinks: []sinkConfig{hook}}, nil)
	td.drained(t)
	if err := td.stop(t); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pending := outboxKeys(t, st)
	st.Close()
	if len(pending) == 0 {
		t.Fatal("no alert pending after a run whose only sink was down (the scenario has incidents)")
	}

	mu.Lock()
	up = true
	mu.Unlock()
	td = startDaemon(t, daemonConfig{PCAP: pcap, Specs: []string{spec}, DB: db, Sinks: []sinkConfig{hook}}, nil)
	td.drained(t)
	if err := td.stop(t); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range pending {
		id := filepath.Base(filepath.Dir(k))
		if received[id] != 1 {
			t.Errorf("alert %s pending from the first run delivered %d times after the restart, want 1", id, received[id])
		}
	}
	for id, n := range received {
		if n > 1 {
			t.Errorf("alert %s delivered %d times", id, n)
		}
	}
	st, err = storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if left := outboxKeys(t, st); len(left) != 0 {
		t.Errorf("outbox still holds %d entries after delivery", len(left))
	}
	t.Logf("%d alerts pending after the first run, all delivered once after the restart", len(pending))
}
