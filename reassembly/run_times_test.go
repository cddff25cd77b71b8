package reassembly

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture"
)

// timesSource hands out packets (not decodable: one byte of an unknown
// link type) with the given capture times.
type timesSource struct{ ts []time.Time }

func (s *timesSource) Next(p *capture.Packet) error {
	if len(s.ts) == 0 {
		return io.EOF
	}
	*p = capture.Packet{Timestamp: s.ts[0], Data: []byte{0}, WireLen: 1, LinkType: 0xfff}
	s.ts = s.ts[1:]
	return nil
}

func (s *timesSource) Close() error { return nil }

// TestRunFirstLastTimes: Stats.FirstTS and LastTS are the earliest and the
// latest capture times, in whatever order the packets come; a packet of
// zero time empties FirstTS, which the next packet fills (as Run has
// always done).
func TestRunFirstLastTimes(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1_700_000_000+int64(s), 0) }
	var zero time.Time
	tests := []struct {
		name        string
		ts          []time.Time
		first, last time.Time
	}{
		{"none", nil, zero, zero},
		{"in order", []time.Time{at(1), at(2), at(3)}, at(1), at(3)},
		{"earliest later", []time.Time{at(5), at(7), at(2), at(6)}, at(2), at(7)},
		{"equal", []time.Time{at(4), at(4)}, at(4), at(4)},
		{"descending", []time.Time{at(9), at(8), at(7)}, at(7), at(9)},
		{"zero first", []time.Time{zero, at(3), at(1)}, at(1), at(3)},
		// A zero time empties FirstTS, which the next packet fills.
		{"zero between", []time.Time{at(3), zero, at(5)}, at(5), at(5)},
		{"zero, then earlier", []time.Time{at(3), zero, at(2), at(4)}, at(2), at(4)},
		{"before the zero Time", []time.Time{zero.Add(-time.Hour), at(2)}, zero.Add(-time.Hour), at(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// What Run did before it skipped the FirstTS comparison for
			// packets after LastTS.
			var wantFirst, wantLast time.Time
			for _, ts := range tt.ts {
				if wantFirst.IsZero() || ts.Before(wantFirst) {
					wantFirst = ts
				}
				if ts.After(wantLast) {
					wantLast = ts
				}
			}
			if !wantFirst.Equal(tt.first) || !wantLast.Equal(tt.last) {
				t.Fatalf("table wrong: the old rule gives %v, %v", wantFirst, wantLast)
			}
			st, err := Run(context.Background(), &timesSource{ts: tt.ts}, Options{}, func(*Transaction) {})
			if err != nil {
				t.Fatal(err)
			}
			if !st.FirstTS.Equal(tt.first) || !st.LastTS.Equal(tt.last) {
				t.Errorf("FirstTS, LastTS = %v, %v; want %v, %v", st.FirstTS, st.LastTS, tt.first, tt.last)
			}
		})
	}
}
