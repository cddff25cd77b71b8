package reassembly

import (
	"sync"

	"github.com/shadowtap/shadowtap/capture"
)

// progressEvery is the packets Run reads between two Options.Progress calls.
const progressEvery = 4096

// published holds a shard's counters for Progress, copied by the shard's
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

// progress returns the counters so far: Run's own and the shards'. With
// one shard it runs on Run's goroutine, so its counters are current.
func progress(st *Stats, shards []*shard, dec *capture.Decoder) Stats {
	s := *st
	s.Warnings = nil
	if len(shards) == 1 {
		shards[0].pub.set(&shards[0].stats)
	}
	for _, sh := range shards {
		p := sh.pub.get()
		s.add(&p)
	}
	s.Decoder = dec.Stats()
	return s
}
