package detect

import (
	"math"
	"net/netip"
	"testing"
)

func TestSketch(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 33, 100, 1000, 50000} {
		var s, a, b sketch
		for i := range n {
			h := hashAddr(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
			s.add(h)
			s.add(h) // duplicates do not count
			if i%2 == 0 {
				a.add(h)
			} else {
				b.add(h)
			}
		}
		a.merge(&b)
		for _, got := range []int{s.count(), a.count()} {
			if n <= sketchExact && got != n {
				t.Errorf("n=%d: exact count %d", n, got)
			}
			if err := math.Abs(float64(got-n)) / math.Max(1, float64(n)); err > 0.1 {
				t.Errorf("n=%d: estimate %d (error %.3f)", n, got, err)
			}
		}
	}
}
