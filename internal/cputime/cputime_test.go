package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestThreadCounts checks that a busy loop shows up in the thread's and
// the process's CPU time and that the clocks do not go back.
func TestThreadCounts(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CPU time is measured on Linux only")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, p0 := Thread(), Process()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	dt, dp := Thread()-t0, Process()-p0
	if dt <= 0 || dp <= 0 {
		t.Fatalf("50 ms of busy loop (%d turns): thread CPU +%v, process CPU +%v", x, dt, dp)
	}
	if dp < dt {
		t.Errorf("process CPU +%v below its thread's +%v", dp, dt)
	}
}
