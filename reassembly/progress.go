package reassembly

import (
	"sync"

	"github.com/shadowtap/shadowtap/capture"
)

// progressEvery is the packets Run reads between two Options.Progress calls.
const progressEvery = 4096

// published holds a worker's counters for Progress, copied by the shard's
// goroutine and read by Run's.
type published struct {
	mu    sync.Mutex
	stats Stats
}

func (p *published) set(s *Stats) {
	p.mu.Lock()
	p.stats = *s
	p.mu.Unlock()
}

func (p *published) get() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// progress returns the counters so far: Run's own and the shards'
// (counters adds those: current with one worker, as of each worker's last
// batch otherwise).
func progress(st *Stats, counters func(*Stats), dec *capture.Decoder) Stats {
	s := *st
	s.Warnings = nil
	counters(&s)
	s.Decoder = dec.Stats()
	return s
}
