package cputime

import (
	"runtime"
	"testing"
	"time"
)

// Metric is the unit name under which benchmarks report CPU time per op.
const Metric = "cpu-ns/op"

// PerOp runs f b.N times on one locked OS thread and reports that thread's
// CPU time per op (Metric).
func PerOp(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	start := Thread()
	for i := 0; i < b.N; i++ {
		f()
	}
	Report(b, Thread()-start)
}

// Report reports cpu, measured over the benchmark's b.N ops, per op.
func Report(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), Metric)
}
