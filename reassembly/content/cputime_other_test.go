//go:build !linux

package content

import "testing"

// cpuPerOp runs f b.N times; thread CPU time is measured on Linux only.
func cpuPerOp(b *testing.B, f func()) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f()
	}
}
