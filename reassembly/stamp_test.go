package reassembly

import (
	"testing"
	"time"
)

// TestStampOrder checks that stamps compare as their times do, for times
// inside the key range, at its edges, beyond it and the zero Time.
func TestStampOrder(t *testing.T) {
	base := time.Date(2026, 3, 2, 0, 0, 39, 17232000, time.UTC)
	times := []time.Time{
		{},
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(-1, 999999999),
		time.Unix(minKeySec, 0),
		time.Unix(minKeySec-1, 999999999),
		time.Unix(maxKeySec, 999999999),
		time.Unix(maxKeySec, 999999999-int64(time.Second)),
		time.Unix(maxKeySec, 0),
		time.Unix(maxKeySec+1, 0),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		base,
		base.Add(1),
		base.Add(-1),
		base.In(time.FixedZone("x", 3600)),
		base.Add(time.Second),
		time.Unix(1<<32-1, 999999999),
	}
	for _, a := range times {
		sa := stampOf(a)
		if sa.t != a {
			t.Fatalf("stampOf(%v).t = %v", a, sa.t)
		}
		if sa.isZero() != a.IsZero() {
			t.Errorf("stampOf(%v).isZero() = %v", a, sa.isZero())
		}
		for _, b := range times {
			sb := stampOf(b)
			if got, want := sa.after(&sb), a.After(b); got != want {
				t.Errorf("%v after %v: %v, want %v", a, b, got, want)
			}
			if got, want := sa.before(&sb), a.Before(b); got != want {
				t.Errorf("%v before %v: %v, want %v", a, b, got, want)
			}
		}
		if got, want := sa.add(time.Hour), stampOf(a.Add(time.Hour)); got != want {
			t.Errorf("%v add: %+v, want %+v", a, got, want)
		}
		for _, d := range []time.Duration{0, 1, time.Second, time.Hour} {
			want := stampOf(a.Add(d)).ns
			if sa.ns <= 0 || want < 0 {
				want = outOfRange
			}
			if got := sa.plus(d); got != want {
				t.Errorf("%v plus %v: %d, want %d", a, d, got, want)
			}
		}
	}
	var z stamp
	if z != stampOf(time.Time{}) {
		t.Errorf("the zero stamp is not the zero Time's")
	}
}
