package synth

import (
	"container/heap"
	"time"
)

// Recorder is a Sink that keeps one connection's frames in memory so a
// Merger can interleave them with others in timestamp order. Frames must
// arrive in non-decreasing time. It is not safe for concurrent use.
type Recorder struct {
	buf []byte
	idx []recEntry
	pos int
	seq uint64
}

type recEntry struct {
	ts     int64
	off, n int32
}

// WritePacket copies frame into the recorder.
func (r *Recorder) WritePacket(ts time.Time, frame []byte) error {
	r.idx = append(r.idx, recEntry{ts: ts.UnixNano(), off: int32(len(r.buf)), n: int32(len(frame))})
	r.buf = append(r.buf, frame...)
	return nil
}

// Len returns the number of frames recorded.
func (r *Recorder) Len() int { return len(r.idx) }

// Bytes returns the frame bytes held.
func (r *Recorder) Bytes() int { return len(r.buf) }

// Merger writes the frames of many Recorders to a Sink in timestamp order
// (ties in the order the recorders were added, so output is deterministic).
// Memory is the frames of recorders not yet drained: callers add each
// connection once it is complete and drain up to the earliest time a future
// connection can start. Drained recorders are reused. It is not safe for
// concurrent use.
type Merger struct {
	out  Sink
	h    recHeap
	free []*Recorder
	seq  uint64
	held int
	peak int
}

// NewMerger returns a Merger writing to out.
func NewMerger(out Sink) *Merger { return &Merger{out: out} }

// Recorder returns an empty recorder (reused when possible).
func (m *Merger) Recorder() *Recorder {
	if n := len(m.free); n > 0 {
		r := m.free[n-1]
		m.free = m.free[:n-1]
		return r
	}
	return &Recorder{buf: make([]byte, 0, 64<<10), idx: make([]recEntry, 0, 64)}
}

// Add hands over a complete recorder; it must not be written to again.
func (m *Merger) Add(r *Recorder) {
	if len(r.idx) == 0 {
		m.release(r)
		return
	}
	m.seq++
	r.seq = m.seq
	m.held += len(r.buf)
	m.peak = max(m.peak, m.held)
	heap.Push(&m.h, r)
}

func (m *Merger) release(r *Recorder) {
	r.buf, r.idx, r.pos = r.buf[:0], r.idx[:0], 0
	if cap(r.buf) > 4<<20 { // do not keep one huge response's buffer around
		r.buf = nil
	}
	if len(m.free) < 1024 {
		m.free = append(m.free, r)
	}
}

// Drain writes every held frame stamped before until.
func (m *Merger) Drain(until time.Time) error {
	return m.drain(until.UnixNano())
}

// Flush writes every held frame.
func (m *Merger) Flush() error { return m.drain(1<<63 - 1) }

// HeldBytes returns the frame bytes waiting; PeakBytes the most ever held.
func (m *Merger) HeldBytes() int { return m.held }

// PeakBytes returns the most frame bytes ever held at once.
func (m *Merger) PeakBytes() int { return m.peak }

func (m *Merger) drain(until int64) error {
	for len(m.h) > 0 {
		r := m.h[0]
		e := r.idx[r.pos]
		if e.ts >= until {
			return nil
		}
		if err := m.out.WritePacket(time.Unix(0, e.ts), r.buf[e.off:e.off+e.n]); err != nil {
			return err
		}
		r.pos++
		if r.pos == len(r.idx) {
			heap.Pop(&m.h)
			m.held -= len(r.buf)
			m.release(r)
		} else {
			heap.Fix(&m.h, 0)
		}
	}
	return nil
}

type recHeap []*Recorder

func (h recHeap) Len() int { return len(h) }
func (h recHeap) Less(i, j int) bool {
	a, b := h[i].idx[h[i].pos].ts, h[j].idx[h[j].pos].ts
	if a != b {
		return a < b
	}
	return h[i].seq < h[j].seq
}
func (h recHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *recHeap) Push(x any)   { *h = append(*h, x.(*Recorder)) }
func (h *recHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}
