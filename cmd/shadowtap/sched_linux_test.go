//go:build linux

package main

import (
	"errors"
	"io"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"golang.org/x/sys/unix"
)

// threadPolicies reads the scheduling policy and nice value of every thread
// of the process.
func threadPolicies(t *testing.T) map[int][2]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Skip("no /proc/self/task")
	}
	out := map[int][2]int{}
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // ended meanwhile
		}
		out[tid] = [2]int{int(a.Policy), int(a.Nice)}
	}
	return out
}

// TestSetSched moves every thread of the test process to SCHED_BATCH and
// back, keeping each thread's nice value.
func TestSetSched(t *testing.T) {
	before := threadPolicies(t)
	for _, tt := range []struct {
		policy string
		want   int
	}{{"batch", unix.SCHED_BATCH}, {"normal", unix.SCHED_NORMAL}} {
		if err := setSched(tt.policy); err != nil {
			t.Fatal(err)
		}
		for tid, pn := range threadPolicies(t) {
			b, existed := before[tid]
			if !existed {
				continue
			}
			if pn[0] != tt.want || pn[1] != b[1] {
				t.Errorf("%s: thread %d: policy %d nice %d, want %d and %d", tt.policy, tid, pn[0], pn[1], tt.want, b[1])
			}
		}
	}
	if err := setSched("fifo"); !errors.Is(err, errBadSched) {
		t.Errorf("setSched(fifo) = %v, want errBadSched", err)
	}
}

// TestSchedConfig: idle by default with --ebpf only; the flag and the
// file override it; unknown policies are refused.
func TestSchedConfig(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--ebpf"}, "idle"},
		{[]string{"--ebpf", "--sched", "normal"}, "normal"},
		{[]string{"--pcap", "x"}, ""},
		{[]string{"--pcap", "x", "--sched", "batch"}, "batch"},
	} {
		f, err := parseRunFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		c, err := f.resolve("")
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if got := schedFor(&c); got != tt.want {
			t.Errorf("%v: policy %q, want %q", tt.args, got, tt.want)
		}
	}
	c, err := loadConfig(writeFile(t, t.TempDir(), "c.yaml", "ebpf: true\nsched: batch\n"))
	if err != nil || schedFor(&c) != "batch" {
		t.Errorf("sched from the file: %q, %v", c.Sched, err)
	}
	if _, err := (daemonConfig{EBPF: true, Sched: "fifo"}).withDefaults(""); !errors.Is(err, errConfig) {
		t.Errorf("sched fifo: err = %v, want errConfig", err)
	}
}

// TestSchedEscalation: the ring's used share over time → escalated or not.
func TestSchedEscalation(t *testing.T) {
	type look struct {
		ms   int
		used float64
		want bool
	}
	for _, tt := range []struct {
		name  string
		looks []look
	}{
		{"stays idle below half", []look{{0, 0, false}, {100, 0.25, false}, {200, 0.5, false}, {300, 0.3, false}}},
		{"up above half", []look{{0, 0.1, false}, {100, 0.51, true}, {200, 0.9, true}}},
		{"down after a second below an eighth", []look{{0, 0.6, true}, {100, 0.1, true}, {600, 0.05, true}, {1099, 0.1, true}, {1100, 0.1, false}, {1200, 0.3, false}}},
		{"between the thresholds holds", []look{{0, 0.6, true}, {100, 0.2, true}, {5000, 0.4, true}, {9000, 0.125, true}}},
		{"a rise restarts the second", []look{{0, 0.6, true}, {100, 0.1, true}, {900, 0.2, true}, {1000, 0.1, true}, {1900, 0.05, true}, {2000, 0, false}}},
		{"back up while low resets", []look{{0, 0.6, true}, {100, 0.1, true}, {500, 0.7, true}, {1200, 0.1, true}, {2200, 0.1, false}}},
	} {
		var e schedEscalation
		base := time.Unix(1000, 0)
		for i, l := range tt.looks {
			if got := e.step(base.Add(time.Duration(l.ms)*time.Millisecond), l.used); got != l.want {
				t.Errorf("%s: look %d (%d ms, %.3f): escalated %v, want %v", tt.name, i, l.ms, l.used, got, l.want)
			}
		}
	}
}

// TestSchedWatch runs the watcher over a made-up ring as root: every thread
// goes SCHED_NORMAL while the ring is over half full, and back to
// SCHED_IDLE (but the watcher's own) once it stayed low for a second.
// Looking every tick, and waiting for the ring's wakeups: then with an
// hour between looks only the wakeup can make it see the full ring, and
// the sensor's close ends it.
func TestSchedWatch(t *testing.T) {
	t.Run("tick", func(t *testing.T) { schedWatchTest(t, false) })
	t.Run("wakeups", func(t *testing.T) { schedWatchTest(t, true) })
}

func schedWatchTest(t *testing.T, wakeups bool) {
	if os.Geteuid() != 0 {
		t.Skip("leaving SCHED_IDLE needs CAP_SYS_NICE: run as root")
	}
	if err := setSched("idle"); err != nil {
		t.Fatal(err)
	}
	defer setSched("normal")
	var used atomic.Uint64 // float64 bits
	var count atomic.Uint64
	done := make(chan struct{})
	defer close(done)
	w := schedWatch{used: func() float64 { return math.Float64frombits(used.Load()) }, count: &count,
		policy: func() string { return "idle" }, reloads: func() uint64 { return 0 }, log: zerolog.Nop()}
	wake := make(chan bool, 1) // true: the programs woke the reader; false: the sensor closed
	if wakeups {
		w.look = time.Hour
		w.wait = func(d time.Duration) (bool, error) {
			select {
			case ok := <-wake:
				return ok, nil
			case <-time.After(d):
				return true, nil
			}
		}
	}
	go w.run(done)
	count2 := func(policy int) (n, all int) {
		for _, pn := range threadPolicies(t) {
			if pn[0] == policy {
				n++
			}
			all++
		}
		return n, all
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("10 s without %s; policies %v", what, threadPolicies(t))
			}
		}
	}
	wait("the watcher on its own normal thread", func() bool { n, _ := count2(unix.SCHED_NORMAL); return n == 1 })
	used.Store(math.Float64bits(0.6))
	if wakeups {
		wake <- true
	}
	wait("every thread SCHED_NORMAL", func() bool { n, all := count2(unix.SCHED_NORMAL); return n == all })
	if c := count.Load(); c != 1 {
		t.Errorf("escalations = %d, want 1", c)
	}
	used.Store(math.Float64bits(0.05))
	wait("back to SCHED_IDLE but the watcher", func() bool {
		n, all := count2(unix.SCHED_IDLE)
		return n == all-1
	})
	if c := count.Load(); c != 1 {
		t.Errorf("escalations after the drain = %d, want 1", c)
	}
	if wakeups {
		wake <- false
		wait("the watcher gone with the sensor", func() bool { n, _ := count2(unix.SCHED_NORMAL); return n == 0 })
	}
}
