package reassembly

import "time"

// stamp is a capture time with an integer key that orders it: the packet
// path compares times several times per segment, and comparing two int64
// costs a fraction of time.Time.After (a call, and the checks for
// monotonic readings and the location).
//
// The key of a time between 1823-11-12 and 2116-02-20 (every time a classic pcap
// holds, and any plausible pcapng one) is its Unix time in nanoseconds
// plus keyBias: positive, and in the order of the times. The zero Time's
// key is 0, below all of those, so the zero stamp is the stamp of the
// zero Time. Any other time gets the key -1 (outOfRange), and a comparison
// with it compares the times themselves: a comparison is always the
// time's. (Packet times carry no monotonic reading, which After would
// compare instead: every capture source makes them with time.Unix.)
type stamp struct {
	t  time.Time
	ns int64
}

const (
	keyBias    = 1 << 62
	minKeySec  = -(keyBias/1_000_000_000 - 1) // 1823-11-12
	maxKeySec  = keyBias/1_000_000_000 - 1    // 2116-02-20
	outOfRange = -1
	// minKey and maxKey are the keys of the first and last times with
	// one.
	minKey = minKeySec*1_000_000_000 + keyBias
	maxKey = maxKeySec*1_000_000_000 + 999_999_999 + keyBias
)

// stampOf returns the stamp of t.
func stampOf(t time.Time) stamp {
	if s := t.Unix(); s >= minKeySec && s <= maxKeySec {
		return stamp{t: t, ns: s*1e9 + int64(t.Nanosecond()) + keyBias}
	}
	if t.IsZero() {
		return stamp{}
	}
	return stamp{t: t, ns: outOfRange}
}

// after reports whether a is after b (a.t.After(b.t)).
func (a *stamp) after(b *stamp) bool {
	if a.ns|b.ns >= 0 {
		return a.ns > b.ns
	}
	return a.t.After(b.t)
}

// before reports whether a is before b (a.t.Before(b.t)).
func (a *stamp) before(b *stamp) bool {
	if a.ns|b.ns >= 0 {
		return a.ns < b.ns
	}
	return a.t.Before(b.t)
}

// isZero reports whether a is the zero time.
func (a *stamp) isZero() bool { return a.ns == 0 }

// plus returns, for d >= 0, the key of a.t.Add(d) when a and a.t.Add(d)
// are times with keys (the key of the sum is the sum of a's key and d),
// and outOfRange otherwise.
func (a *stamp) plus(d time.Duration) int64 {
	if d >= 0 && a.ns > 0 && a.ns <= maxKey-int64(d) {
		return a.ns + int64(d)
	}
	return outOfRange
}

// add returns the stamp of a.t.Add(d).
func (a *stamp) add(d time.Duration) stamp { return stampOf(a.t.Add(d)) }
