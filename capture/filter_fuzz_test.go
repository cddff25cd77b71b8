package capture

import (
	"errors"
	"testing"
)

// FuzzFilter parses arbitrary expressions: no panic; an error is a
// *FilterError pointing inside the expression; a filter prints to a
// canonical form that parses back to the same filter, matching the same
// packets.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{
		"host 10.0.0.1 and tcp port 80", "port 80 or 443", "not (src net 10.0.0.0/8 or dst portrange 1-1024)",
		"ip6 and udp && !port 53 || tcp", "net 10.1.0.0 mask 255.255.0.0", "host 1.2.3.4 and (5.6.7.8 or not 9.9.9.9)",
		"src or dst port http", "src and dst net 2001:db8::/32", "tcp[13] & 2 != 0", "((tcp)",
	} {
		f.Add(s)
	}
	pkts := diffPackets()[:40]
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v is not a *FilterError", err)
			}
			if fe.Pos < 1 || fe.Pos > len(expr)+1 {
				t.Fatalf("error position %d outside %q", fe.Pos, expr)
			}
			return
		}
		if flt == nil {
			return
		}
		canon := flt.String()
		again, err := ParseFilter(canon)
		if err != nil {
			t.Fatalf("%q prints as %q, which does not parse: %v", expr, canon, err)
		}
		if s := again.String(); s != canon {
			t.Fatalf("%q prints as %q, which prints as %q", expr, canon, s)
		}
		for _, d := range pkts {
			if flt.Match(d) != again.Match(d) {
				t.Fatalf("%q and its canonical form %q disagree on %v", expr, canon, d.Key)
			}
		}
	})
}
