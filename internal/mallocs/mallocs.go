package mallocs

import "runtime"

// PerRun is testing.AllocsPerRun without its rounding down to a whole
// number, so an allocation made once every few runs (a chunk shared by
// several messages) shows. The count is process-wide, so a goroutine left
// by another test (a server winding down, a timer) can add a stray
// allocation: the lowest of three measurements is returned. An allocation
// the measured path makes shows in all three.
func PerRun(runs int, f func()) float64 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	f()
	best := -1.0
	for try := 0; try < 3; try++ {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		for i := 0; i < runs; i++ {
			f()
		}
		runtime.ReadMemStats(&m1)
		if a := float64(m1.Mallocs-m0.Mallocs) / float64(runs); best < 0 || a < best {
			best = a
		}
	}
	return best
}
