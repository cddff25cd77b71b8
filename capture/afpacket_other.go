//go:build !linux

package capture

import "io"

// Live is a live capture. Outside Linux there is none: the Open functions
// return ErrLiveUnsupported.
type Live struct{}

// OpenInterfaces returns ErrLiveUnsupported outside Linux.
func OpenInterfaces(ifaces []string, n int, opts LiveOptions) ([]*Live, error) {
	return nil, ErrLiveUnsupported
}

// Next returns io.EOF.
func (l *Live) Next(p *Packet) error { return io.EOF }

// Close does nothing.
func (l *Live) Close() error { return nil }

// Stats returns zero counters.
func (l *Live) Stats() LiveStats { return LiveStats{} }

// FilterInKernel reports false.
func (l *Live) FilterInKernel() bool { return false }

// Interfaces returns nil.
func (l *Live) Interfaces() []string { return nil }
