//go:build !linux

package detect

import "time"

// threadCPU is not measured on this system (see bench_cpu_linux_test.go).
func threadCPU() time.Duration { return 0 }
