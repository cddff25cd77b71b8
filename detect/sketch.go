package detect

import (
	"math"
	"math/bits"
	"net/netip"
)

const (
	// sketchExact is how many distinct values a sketch counts exactly
	// before switching to HyperLogLog.
	sketchExact = 128
	// sketchP is the HyperLogLog precision: 2^10 one-byte registers (1 KiB),
	// a standard error of about 3.3 %.
	sketchP = 10
	sketchM = 1 << sketchP
)

// sketch counts distinct values in bounded memory: exactly up to
// sketchExact values (so small counts in reports are exact), then with a
// HyperLogLog of 1 KiB. It is written here rather than imported because it
// is forty lines and needs a deterministic hash (reports are golden-tested).
// The zero value is an empty sketch.
type sketch struct {
	exact []uint64 // hashes, while len ≤ sketchExact and regs == nil
	regs  []uint8
}

func (s *sketch) add(h uint64) {
	if s.regs == nil {
		for _, x := range s.exact {
			if x == h {
				return
			}
		}
		if len(s.exact) < sketchExact {
			s.exact = append(s.exact, h)
			return
		}
		s.regs = make([]uint8, sketchM)
		for _, x := range s.exact {
			s.insert(x)
		}
		s.exact = nil
	}
	s.insert(h)
}

func (s *sketch) insert(h uint64) {
	j := h >> (64 - sketchP)
	rho := uint8(bits.LeadingZeros64(h<<sketchP|1<<(sketchP-1)) + 1)
	if rho > s.regs[j] {
		s.regs[j] = rho
	}
}

// merge adds o's values to s.
func (s *sketch) merge(o *sketch) {
	if o.regs == nil {
		for _, x := range o.exact {
			s.add(x)
		}
		return
	}
	if s.regs == nil {
		old := s.exact
		s.regs, s.exact = make([]uint8, sketchM), nil
		for _, x := range old {
			s.insert(x)
		}
	}
	for i, r := range o.regs {
		if r > s.regs[i] {
			s.regs[i] = r
		}
	}
}

// count estimates the number of distinct values added.
func (s *sketch) count() int {
	if s.regs == nil {
		return len(s.exact)
	}
	sum, zeros := 0.0, 0
	for _, r := range s.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(sketchM)
	est := 0.7213 / (1 + 1.079/m) * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros))
	}
	return int(math.Round(est))
}

// mix64 is the splitmix64 finaliser: a fixed, well-spread hash step.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return mix64(mix64(hi) ^ lo)
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}
