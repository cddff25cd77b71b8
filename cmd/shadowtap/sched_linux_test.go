//go:build linux

package main

import (
	"errors"
	"io"
	"os"
	"strconv"
	"testing"

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
