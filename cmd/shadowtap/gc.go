package main

import (
	"os"
	"runtime/debug"
)

// The collector's defaults (GOGC=100, no limit) suit a program whose live
// heap is most of its memory. shadowtap's live heap is small and bounded
// (tens of MiB of state) while its pipeline allocates per transaction, so
// at GOGC=100 it collects several times a second and spends a quarter of
// its CPU in the collector and its write barriers. A higher percentage,
// capped by a soft memory limit well inside the 400 MiB the tool promises,
// trades idle heap for CPU: on the 1 GB bench capture user CPU fell from
// 16.9 s to 12.8 s with RSS 76 → 183 MiB. The limit leaves room for what
// the Go runtime does not count, such as the store's memory-mapped files
// (on a 3 GB capture with --db, before the store kept large values out of
// its value log: peak RSS 483 MiB with a 384 MiB limit, 375 MiB with 200
// MiB, at the same speed; 215 MiB since).
const (
	gcPercent     = 400
	gcMemoryLimit = 200 << 20
)

// tuneGC applies gcPercent and gcMemoryLimit unless the user set GOGC or
// GOMEMLIMIT, which the runtime has already applied. The daemon's memory
// budget (run_budget.go) replaces the limit when one is configured.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
}
