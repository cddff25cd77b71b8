//go:build linux && amd64

package bpf

import (
	"fmt"
	"strconv"
	"testing"
)

// TestRingUsed floods a small ring nobody reads: RingUsed reports it full,
// then low once a reader has drained it, and 0 after Close.
func TestRingUsed(t *testing.T) {
	sink := start(t, "sink", "")
	port, _ := strconv.Atoi(sink.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, RingBytes: 256 << 10})
	if u := s.RingUsed(); u >= 0.125 {
		t.Errorf("RingUsed before the flood = %v, want below 0.125", u)
	}
	const total = 4 << 20
	flood := start(t, "flood", fmt.Sprintf("127.0.0.1:%d,%d", port, total))
	if got := flood.line(t); got != "sent" {
		t.Fatalf("flood: %q", got)
	}
	full := s.RingUsed()
	if st := s.Stats(); st.LostBytes == 0 || full < 0.5 || full > 1 {
		t.Errorf("unread ring after %d bytes: RingUsed %v, lost %d; want above 0.5 and data lost", total, full, st.LostBytes)
	}
	c := collect(s)
	waitFor(t, "the ring drained", func() bool { return s.RingUsed() < 0.125 })
	flood.stdin.Close()
	sink.line(t)
	c.stop(t)
	s.Close()
	if u := s.RingUsed(); u != 0 {
		t.Errorf("RingUsed after Close = %v, want 0", u)
	}
}
