package capture

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// OpenFiles opens one or more capture files (pcap or pcapng, each possibly
// gzip-compressed) as a single Source whose packets are merged in timestamp
// order (see Merge). With one path it is OpenFile. Every file is opened
// before OpenFiles returns, so a missing or unreadable file is reported at
// once. The Source is a Progresser over all the files.
func OpenFiles(paths ...string) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("opening captures: no files given")
	}
	if len(paths) == 1 {
		return OpenFile(paths[0])
	}
	srcs := make([]Source, 0, len(paths))
	for _, path := range paths {
		s, err := openFile(path)
		if err != nil {
			for _, o := range srcs {
				o.Close()
			}
			return nil, err
		}
		srcs = append(srcs, s)
	}
	return Merge(srcs...), nil
}

// Merge returns a Source yielding the packets of all sources in timestamp
// order: a heap holds the next packet of each, ties go to the earlier
// source, and a source whose own timestamps go backwards is merged as it
// comes. A packet's Data stays where its source put it (no copy): the merged
// Source advances a source only when asked for the packet after one it
// delivered from it, which is when that packet's borrow ends anyway.
//
// When a source fails (a truncated file, say) the others are read to their
// end first; then Next returns the failures, joined, matching each one's
// sentinels with errors.Is. Close closes every source. The Source is a
// Progresser summing the sources that are. It is not safe for concurrent
// use.
func Merge(sources ...Source) Source {
	return &mergeSource{
		srcs:  sources,
		heads: make([]Packet, len(sources)),
		heap:  make([]int, 0, len(sources)),
		last:  -1,
	}
}

type mergeSource struct {
	srcs    []Source
	heads   []Packet // next packet of each source in the heap
	heap    []int    // indices into srcs, earliest head first
	last    int      // source of the packet delivered last, or -1
	started bool
	errs    []error
	err     error // sticky end: io.EOF or the joined errors
}

// Next implements Source.
func (m *mergeSource) Next(p *Packet) error {
	if m.err != nil {
		return m.err
	}
	if !m.started {
		m.started = true
		for i := range m.srcs {
			if m.pull(i) {
				m.heap = append(m.heap, i)
			}
		}
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
	} else if m.last >= 0 {
		// The packet delivered last sits at the top; replace it with its
		// source's next one.
		if !m.pull(m.last) {
			n := len(m.heap) - 1
			m.heap[0] = m.heap[n]
			m.heap = m.heap[:n]
		}
		m.down(0)
	}
	if len(m.heap) == 0 {
		m.last = -1
		switch len(m.errs) {
		case 0:
			m.err = io.EOF
		case 1:
			m.err = m.errs[0]
		default:
			m.err = &mergeError{m.errs}
		}
		return m.err
	}
	m.last = m.heap[0]
	*p = m.heads[m.last]
	return nil
}

// pull reads source i's next packet into its head; false means the source
// is done (its error, if any, kept for the end).
func (m *mergeSource) pull(i int) bool {
	err := m.srcs[i].Next(&m.heads[i])
	if err == nil {
		return true
	}
	if err != io.EOF {
		m.errs = append(m.errs, err)
	}
	return false
}

func (m *mergeSource) less(a, b int) bool {
	if c := m.heads[a].Timestamp.Compare(m.heads[b].Timestamp); c != 0 {
		return c < 0
	}
	return a < b
}

func (m *mergeSource) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// Close implements Source.
func (m *mergeSource) Close() error {
	var errs []error
	for _, s := range m.srcs {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.err == nil {
		m.err = fmt.Errorf("reading captures: %w", os.ErrClosed)
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return &mergeError{errs}
}

// Progress implements Progresser. The total is 0 (unknown) when any source
// does not know its own.
func (m *mergeSource) Progress() (done, total int64) {
	known := true
	for _, s := range m.srcs {
		p, ok := s.(Progresser)
		if !ok {
			known = false
			continue
		}
		d, t := p.Progress()
		done += d
		total += t
		if t == 0 {
			known = false
		}
	}
	if !known {
		total = 0
	}
	return done, total
}

// mergeError joins the errors of several sources on one line. It is a
// pointer so that comparing it with == (err == io.EOF) stays legal.
type mergeError struct{ errs []error }

func (e *mergeError) Error() string {
	var b strings.Builder
	for i, err := range e.errs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *mergeError) Unwrap() []error { return e.errs }
