//go:build !linux || !amd64

package bpf

import "fmt"

// Open reports ErrUnsupported: the programs are built for linux/amd64 only.
func Open(opts Options) (*Sensor, error) {
	return nil, fmt.Errorf("%w: built for linux/amd64 only", ErrUnsupported)
}
