package main

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
)

func testTx(i int) *reassembly.Transaction {
	ts := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	return &reassembly.Transaction{
		Client: netip.MustParseAddrPort("10.0.0.5:51234"), Server: netip.MustParseAddrPort("10.0.0.1:80"),
		RequestTime: ts, ResponseTime: ts.Add(time.Millisecond), EndTime: ts.Add(2 * time.Millisecond),
		Method: "GET", Target: "/users/" + itoa(uint64(i)), Host: "api.example.com", Version: "HTTP/1.1", Status: 200,
	}
}

// flakyWriter fails while full is set, as a full disk does.
type flakyWriter struct {
	full  bool
	lines int
}

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.full {
		return 0, syscall.ENOSPC
	}
	for _, b := range p {
		if b == '\n' {
			w.lines++
		}
	}
	return len(p), nil
}

// TestTxWriterFullDisk: while the disk is full, lines are lost and counted
// and the daemon goes on; when room returns, writing resumes.
func TestTxWriterFullDisk(t *testing.T) {
	var c daemonCounters
	fw := &flakyWriter{}
	w, err := openTxWriter("-", fw, &c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.write(testTx(i), "/users/{id}", detect.Redactor{})
	}
	if err := w.flush(); err != nil || fw.lines != 10 {
		t.Fatalf("flush: %v, %d lines", err, fw.lines)
	}
	fw.full = true
	for i := range 5 {
		w.write(testTx(i), "/users/{id}", detect.Redactor{})
	}
	if err := w.flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush on a full disk: %v", err)
	}
	if c.txWriteErrors.Load() != 1 || c.txLinesLost.Load() != 5 {
		t.Fatalf("errors %d, lines lost %d; want 1, 5", c.txWriteErrors.Load(), c.txLinesLost.Load())
	}
	fw.full = false
	for i := range 3 {
		w.write(testTx(i), "/users/{id}", detect.Redactor{})
	}
	if err := w.close(); err != nil || fw.lines != 13 {
		t.Fatalf("after the disk freed: %v, %d lines (want 13)", err, fw.lines)
	}
}

// TestTxWriterDevFull writes to /dev/full, a real ENOSPC.
func TestTxWriterDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	var c daemonCounters
	w, err := openTxWriter("/dev/full", nil, &c)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		w.write(testTx(i), "", detect.Redactor{})
	}
	w.flush()
	w.close()
	if c.txWriteErrors.Load() == 0 || c.txLinesLost.Load() != 3 {
		t.Fatalf("errors %d, lines lost %d", c.txWriteErrors.Load(), c.txLinesLost.Load())
	}
}

// failingStore refuses writes while full.
type failingStore struct {
	*detect.MemStore
	full bool
}

func (s *failingStore) Apply(b []detect.Mutation) error {
	if s.full {
		return syscall.ENOSPC
	}
	return s.MemStore.Apply(b)
}

// TestFlushFullStore: a store that cannot write is counted and retried at
// the next flush; the engine keeps its state meanwhile.
func TestFlushFullStore(t *testing.T) {
	e, _ := detect.NewEngine(detect.Options{})
	st := &failingStore{MemStore: detect.NewMemStore(), full: true}
	d := &daemon{engine: e, store: st, storeDir: t.TempDir(), log: zerolog.Nop()}
	for i := range 20 {
		d.observe(testTx(i))
	}
	d.flushWith(true)
	if d.counters.flushErrors.Load() != 1 || d.counters.flushes.Load() != 0 {
		t.Fatalf("flush errors %d, flushes %d", d.counters.flushErrors.Load(), d.counters.flushes.Load())
	}
	st.full = false
	d.flush() // in the background
	d.flushWith(true)
	if d.counters.flushes.Load() != 2 {
		t.Fatalf("flush after the disk freed did not succeed")
	}
	e2, _ := detect.NewEngine(detect.Options{})
	if err := e2.Load(st); err != nil {
		t.Fatal(err)
	}
	if n := sumCounts(e2.Report().Endpoints); n != 20 {
		t.Fatalf("store holds %d requests, want 20", n)
	}
}

// TestObservePanicRecovered: a panic in the engine costs one transaction,
// counted, not the daemon.
func TestObservePanicRecovered(t *testing.T) {
	d := &daemon{log: zerolog.Nop()} // no engine: Observe panics
	d.observe(testTx(1))
	if d.counters.panics.Load() != 1 || d.counters.transactions.Load() != 1 {
		t.Fatalf("panics %d, transactions %d", d.counters.panics.Load(), d.counters.transactions.Load())
	}
}

// TestRunGarbagePackets feeds frames of random bytes, half of them posing
// as IPv4/TCP: the daemon counts them all and keeps running.
func TestRunGarbagePackets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "garbage.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := synth.NewWriter(f, synth.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	ts := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for i := range 5000 {
		frame := make([]byte, r.IntN(1500))
		for j := range frame {
			frame[j] = byte(r.Uint32())
		}
		if len(frame) > 14 && i%2 == 0 {
			frame[12], frame[13] = 0x08, 0x00 // claims IPv4
			if len(frame) > 23 {
				frame[14] = 0x45
				frame[23] = 6 // TCP
			}
		}
		if err := w.WritePacket(ts.Add(time.Duration(i)*time.Millisecond), frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	td := startDaemon(t, daemonConfig{PCAP: path}, nil)
	td.drained(t)
	var sum apiSummary
	if code := td.get(t, "/api/v1/summary", "", &sum); code != 200 {
		t.Fatalf("summary: %d", code)
	}
	if sum.Capture.Received != 5000 || td.d.counters.panics.Load() != 0 {
		t.Fatalf("received %d of 5000, panics %d", sum.Capture.Received, td.d.counters.panics.Load())
	}
	if err := td.stop(t); err != nil {
		t.Fatal(err)
	}
}

// threadNices reads the nice value of every thread of the process.
func threadNices(t *testing.T) map[string]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc/self/task")
	}
	out := map[string]int{}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) start at ") ";
		// nice is field 19, the 17th after it.
		s := string(b)
		rest := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		n, err := strconv.Atoi(rest[16])
		if err != nil {
			t.Fatal(err)
		}
		out[task.Name()] = n
	}
	return out
}

// TestSetNice lowers the test process's priority by one step: every
// thread, not only the caller's, takes it.
func TestSetNice(t *testing.T) {
	before := threadNices(t)
	want := 19
	for _, n := range before {
		want = min(n+1, 19)
		break
	}
	if err := setNice(want); err != nil {
		t.Fatal(err)
	}
	for tid, n := range threadNices(t) {
		if _, existed := before[tid]; existed && n != want {
			t.Errorf("thread %s: nice %d, want %d", tid, n, want)
		}
	}
}
