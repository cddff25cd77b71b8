package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// mkDecoded returns a decoded packet with the given flow.
func mkDecoded(src, dst string, sport, dport uint16, proto uint8) *Decoded {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	return &Decoded{
		Key:  FlowKey{Src: s.As16(), Dst: d.As16(), SrcPort: sport, DstPort: dport, Proto: proto},
		IPv6: s.Is6(),
	}
}

func TestParseFilterCanonical(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"host 10.0.0.1", "host 10.0.0.1"},
		{"src host 10.0.0.1", "src host 10.0.0.1"},
		{"dst 10.0.0.1", "dst host 10.0.0.1"},
		{"src or dst host 10.0.0.1", "host 10.0.0.1"},
		{"src and dst host 10.0.0.1", "src and dst host 10.0.0.1"},
		{"ip6 host 2001:db8::1", "ip6 host 2001:db8::1"},
		{"net 10.0.0.0/8", "net 10.0.0.0/8"},
		{"src 10.0.0.0/8", "src net 10.0.0.0/8"},
		{"net 10", "net 10.0.0.0/8"},
		{"net 192.168", "net 192.168.0.0/16"},
		{"net 172.16/12", "net 172.16.0.0/12"},
		{"net 10.1.0.0 mask 255.255.0.0", "net 10.1.0.0/16"},
		{"net 10.0.0.1 mask 255.0.0.255", "net 10.0.0.1 mask 255.0.0.255"},
		{"src net 2001:db8::/32", "src net 2001:db8::/32"},
		{"port 80", "port 80"},
		{"tcp dst port http", "tcp dst port 80"},
		{"udp port domain", "udp port 53"},
		{"portrange 8000-8080", "portrange 8000-8080"},
		{"portrange 9000-8000", "portrange 8000-9000"},
		{"tcp", "tcp"},
		{"ip6 and udp", "ip6 and udp"},
		{"!tcp", "not tcp"},
		{"not not tcp", "not not tcp"},
		{"tcp && port 80 || udp", "tcp and port 80 or udp"},
		// and/or: equal precedence, left to right
		{"tcp or udp and port 53", "tcp or udp and port 53"},
		{"tcp or (udp and port 53)", "tcp or (udp and port 53)"},
		{"((tcp))", "tcp"},
		{"not (tcp or udp)", "not (tcp or udp)"},
		// a bare value repeats the qualifiers before it
		{"port 80 or 443", "port 80 or port 443"},
		{"tcp dst port ftp or ftp-data or domain", "tcp dst port 21 or tcp dst port 20 or tcp dst port 53"},
		{"host 1.2.3.4 or 5.6.7.8", "host 1.2.3.4 or host 5.6.7.8"},
		{"host 1.2.3.4 and port 80 or 443", "host 1.2.3.4 and port 80 or port 443"},
		{"src host 10.0.0.1 and not 10.0.0.2", "src host 10.0.0.1 and not src host 10.0.0.2"},
		{"host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)", "host 10.0.0.1 and (host 10.0.0.2 or host 10.0.0.3)"},
		{"portrange 1-2 or 5-6", "portrange 1-2 or portrange 5-6"},
		{"  tcp\tport 80 ", "tcp port 80"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := ParseFilter(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			again, err := ParseFilter(f.String())
			if err != nil || again.String() != tc.want {
				t.Fatalf("reparsing %q: %v, %q", f.String(), err, again.String())
			}
		})
	}
}

func TestFilterMatch(t *testing.T) {
	tcp := mkDecoded("10.0.0.1", "192.168.1.10", 51000, 80, ProtoTCP)
	tcpBack := mkDecoded("192.168.1.10", "10.0.0.1", 80, 51000, ProtoTCP)
	udp := mkDecoded("10.0.0.1", "8.8.8.8", 40000, 53, ProtoUDP)
	tcp6 := mkDecoded("2001:db8::1", "2001:db8:1::2", 51000, 443, ProtoTCP)
	other := mkDecoded("10.0.0.1", "10.0.0.2", 0, 0, 47)
	tests := []struct {
		expr string
		d    *Decoded
		want bool
	}{
		{"host 10.0.0.1", tcp, true},
		{"host 10.0.0.1", tcpBack, true},
		{"host 10.0.0.2", tcp, false},
		{"src host 10.0.0.1", tcp, true},
		{"src host 10.0.0.1", tcpBack, false},
		{"dst host 10.0.0.1", tcpBack, true},
		{"src and dst host 10.0.0.1", tcp, false},
		{"src and dst net 0.0.0.0/0", tcp, true},
		{"src and dst net 0.0.0.0/0", tcp6, false},
		{"host ::ffff:10.0.0.1", tcp, false}, // an IPv6 address: IPv6 packets only
		{"net 10.0.0.0/8", tcp, true},
		{"net 10.0.0.0/8", tcp6, false},
		{"net 192.168", tcp, true},
		{"dst net 192.168.1.0/24", tcp, true},
		{"src net 192.168.1.0/24", tcp, false},
		{"net 192.0.0.10 mask 255.0.0.255", tcp, true},
		{"net 2001:db8::/32", tcp6, true},
		{"src net 2001:db8:1::/48", tcp6, false},
		{"dst net 2001:db8:1::/48", tcp6, true},
		{"net ::/0", tcp, false},
		{"port 80", tcp, true},
		{"port 80", tcpBack, true},
		{"src port 80", tcp, false},
		{"dst port 80", tcp, true},
		{"tcp port 80", tcp, true},
		{"udp port 80", tcp, false},
		{"port 53", udp, true},
		{"tcp port 53", udp, false},
		{"port 0", other, false}, // not TCP or UDP
		{"portrange 50000-52000", tcp, true},
		{"src portrange 1-1024", tcp, false},
		{"port 80 or 443", tcp6, true},
		{"tcp", tcp, true},
		{"tcp", udp, false},
		{"udp", udp, true},
		{"ip", tcp, true},
		{"ip", tcp6, false},
		{"ip6", tcp6, true},
		{"ip6 and tcp", tcp6, true},
		{"not tcp", udp, true},
		{"! port 80", tcp, false},
		{"host 10.0.0.1 and port 80", tcp, true},
		{"host 10.0.0.1 and port 443", tcp, false},
		// equal precedence, left to right: (udp or tcp) and port 443
		{"udp or tcp and port 443", tcp, false},
		{"udp or (tcp and port 80)", tcp, true},
		{"tcp and port 443 or port 80", tcp, true},
		{"host 10.9.9.9 or 10.0.0.1", tcp, true},
		{"host 10.0.0.1 and not 192.168.1.10", tcp, false},
		{"not (host 10.0.0.9 or port 22)", tcp, true},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := ParseFilter(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tc.d); got != tc.want {
				t.Fatalf("Match(%v:%d > %v:%d proto %d) = %v, want %v", tc.d.Key.SrcAddr(), tc.d.Key.SrcPort,
					tc.d.Key.DstAddr(), tc.d.Key.DstPort, tc.d.Key.Proto, got, tc.want)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		expr string
		col  int
		msg  string
	}{
		{"host", 5, "expected a value after \"host\""},
		{"host example.com", 6, "host names are not resolved"},
		{"host 10.0.0.300", 6, "bad address"},
		{"host 10.0.0.0/8", 6, "needs net"},
		{"net 10.0.0.1/8", 5, "host bits set"},
		{"net 10.0.0.0/33", 5, "too long"},
		{"net 10.1.0.0 mask 255.0.0.0", 5, "outside mask"},
		{"net 10.0.0.0 mask 1.2", 19, "bad mask"},
		{"port 70000", 6, "bad port"},
		{"port http-foo", 6, "bad port"},
		{"portrange 1", 11, "bad port range"},
		{"tcp host 10.0.0.1", 10, "does not qualify an address"},
		{"ip host 2001:db8::1", 9, "not an ip address"},
		{"ip6 net 10.0.0.0/8", 9, "not an ip6 address"},
		{"tcp or 443", 8, "needs a qualifier"},
		{"(port 80) or 8080", 14, "needs a qualifier"}, // as in tcpdump
		{"ip 10.0.0.1", 4, "expected src, dst"},
		{"10.0.0.1", 1, "needs a qualifier"}, // as in tcpdump
		{"not 10.0.0.1", 5, "needs a qualifier"},
		{"ip6 port 80", 10, "does not qualify a port"},
		{"tcp src 10.0.0.1", 9, "does not qualify an address"},
		{"tcp udp", 5, "join protocols"},
		{"tcp and", 8, "ends after \"and\""},
		{"and tcp", 1, "unexpected \"and\""},
		{"(tcp", 1, "unclosed '('"},
		{"tcp)", 4, "unbalanced ')'"},
		{"()", 2, "unexpected ')'"},
		{"tcp port 80 udp", 13, "expected and, or or the end"},
		{"icmp", 1, "not supported"},
		{"vlan and tcp", 1, "not supported"},
		{"ether host 00:11:22:33:44:55", 1, "not supported"},
		{"tcp[13] & 2 != 0", 4, "packet-data expressions"},
		{"len > 100", 5, "comparisons"},
		{"port 80 = 1", 9, "unexpected character"},
		{"src", 4, "expected a value"},
		{"src or dst", 11, "expected a value"},
		{strings.Repeat("(", 100) + "tcp" + strings.Repeat(")", 100), 65, "nested more than"},
		{strings.Repeat("not ", 80) + "tcp", 257, "nested more than"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			f, err := ParseFilter(tc.expr)
			if err == nil {
				t.Fatalf("parsed as %q", f.String())
			}
			var fe *FilterError
			if !errors.As(err, &fe) || !errors.Is(err, ErrBadFilter) {
				t.Fatalf("error %v is not a *FilterError matching ErrBadFilter", err)
			}
			if fe.Pos != tc.col || !strings.Contains(fe.Msg, tc.msg) {
				t.Fatalf("error at column %d %q, want column %d containing %q", fe.Pos, fe.Msg, tc.col, tc.msg)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, fmt.Sprintf("column %d", tc.col)) {
				t.Fatalf("error text %q", msg)
			}
		})
	}
	if _, err := ParseFilter(strings.Repeat("tcp or ", 4000) + "tcp"); !errors.Is(err, ErrBadFilter) {
		t.Fatalf("a 28 KB expression: %v", err)
	}
}

func TestNilFilter(t *testing.T) {
	for _, expr := range []string{"", "   ", "\t\n"} {
		f, err := ParseFilter(expr)
		if f != nil || err != nil {
			t.Fatalf("ParseFilter(%q) = %v, %v; want nil, nil", expr, f, err)
		}
	}
	var f *Filter
	if !f.Match(mkDecoded("10.0.0.1", "10.0.0.2", 1, 2, ProtoTCP)) || f.String() != "" {
		t.Fatal("a nil filter must match everything")
	}
}

func TestFilterMatchAllocs(t *testing.T) {
	f, err := ParseFilter("(tcp and src net 10.0.0.0/8 and dst portrange 1-1024) or not (ip6 and host 2001:db8::1) and port 80 or 443")
	if err != nil {
		t.Fatal(err)
	}
	ds := []*Decoded{mkDecoded("10.0.0.1", "10.0.0.2", 5000, 80, ProtoTCP), mkDecoded("2001:db8::1", "2001:db8::2", 5000, 443, ProtoUDP)}
	i := 0
	if n := testing.AllocsPerRun(1000, func() { f.Match(ds[i%2]); i++ }); n != 0 {
		t.Fatalf("%.1f allocations per Match, want 0", n)
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	f, err := ParseFilter("host 10.0.0.1 and tcp port 80 or net 192.168.0.0/16 and not port 22")
	if err != nil {
		b.Fatal(err)
	}
	d := mkDecoded("192.168.1.1", "10.0.0.9", 5000, 443, ProtoTCP)
	b.ReportAllocs()
	for b.Loop() {
		f.Match(d)
	}
}
