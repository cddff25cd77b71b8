package mallocs

import "testing"

var sink []byte

func TestPerRun(t *testing.T) {
	if got := PerRun(100, func() {}); got != 0 {
		t.Errorf("PerRun(nothing) = %v, want 0", got)
	}
	n := 0
	got := PerRun(100, func() {
		n++
		if n%4 == 0 { // one allocation every fourth run
			sink = make([]byte, 64+n%2)
		}
	})
	if got < 0.2 || got > 0.3 {
		t.Errorf("PerRun(one in four) = %v, want 0.25", got)
	}
}
