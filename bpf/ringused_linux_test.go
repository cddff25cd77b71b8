//go:build linux && amd64

package bpf

import (
	"fmt"
	"strconv"
	"testing"
	"time"
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

// TestRingWakeup: with a poll interval of an hour only the programs'
// wakeup (WakeupBytes waiting) can bring records to a reader parked on
// an empty ring; and closing the reader must end a Run parked so.
func TestRingWakeup(t *testing.T) {
	sink := start(t, "sink", "")
	port, _ := strconv.Atoi(sink.line(t))
	const wake = 16 << 10
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, RingBytes: 256 << 10,
		WakeupBytes: wake, PollInterval: time.Hour})
	c := collect(s)
	time.Sleep(100 * time.Millisecond) // let the reader find the ring empty and park
	flood := start(t, "flood", fmt.Sprintf("127.0.0.1:%d,%d", port, 8*wake))
	if got := flood.line(t); got != "sent" {
		t.Fatalf("flood: %q", got)
	}
	waitFor(t, "records read after the programs woke the reader", func() bool { return s.Stats().DataBytes >= wake })
	flood.stdin.Close()
	sink.line(t)
	time.Sleep(100 * time.Millisecond) // parked again on an empty or quiet ring
	stopped := make(chan struct{})
	go func() { c.stop(t); close(stopped) }() // closes the reader
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context's end, its reader parked")
	}
}

// TestRunDrainsRing: records waiting in the ring when Run's context ends
// are read before Run returns. A reader that polls once an hour and is
// woken only at 64 KiB has left a pipelined exchange in the ring; ending
// Run reports it, both ends, complete.
func TestRunDrainsRing(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, BothEnds: true,
		RingBytes: 256 << 10, WakeupBytes: 64 << 10, PollInterval: time.Hour})
	c := collect(s)
	time.Sleep(100 * time.Millisecond) // let the reader find the ring empty and park
	pipePID := run(t, "pipeline", fmt.Sprintf("127.0.0.1:%d", port))
	// (The helper's EXEC records may have been read, by a reader not yet
	// parked when they came.)
	if u, st := s.RingUsed(), s.Stats(); u == 0 || st.DataBytes != 0 {
		t.Fatalf("before the stop: ring %.4f used, %d data bytes read; want records waiting, no data read", u, st.DataBytes)
	}
	c.stop(t)
	check(t, "pipelining client", c.of(pipePID), pipelinedWants, uint16(port), false)
	check(t, "server", c.of(server.cmd.Process.Pid), pipelinedWants, uint16(port), false)
	server.stdin.Close()
	server.cmd.Wait()
}
