// Package cputime measures CPU time for benchmarks: on a machine shared
// with other work, the CPU a benchmark used varies much less than its wall
// time, which also counts the time it waited for a core. Benchmarks report
// it as the cpu-ns/op metric next to ns/op.
//
// Thread CPU time is measured on Linux only; elsewhere Thread and Process
// return 0 and the metric reads 0.
package cputime
