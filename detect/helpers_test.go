package detect

import (
	"fmt"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// tx builds a GET-style transaction at t0+i ms from client 10.0.<i>.
func tx(i int, method, host, target string, status int) *reassembly.Transaction {
	return &reassembly.Transaction{
		Client:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 40000),
		Server:      netip.MustParseAddrPort("192.0.2.1:80"),
		RequestTime: t0.Add(time.Duration(i) * time.Millisecond),
		Method:      method, Target: target, Host: host, Status: status,
	}
}

func mustEngine(t testing.TB, opts Options) *Engine {
	t.Helper()
	e, err := NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// templates returns the report's "METHOD path" list for one host.
func templates(rep Report, host string) []string {
	var out []string
	for _, ep := range rep.Endpoints {
		if ep.Host == host {
			out = append(out, ep.Method+" "+ep.Path)
		}
	}
	sort.Strings(out)
	return out
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

type (
	txT = reassembly.Transaction
	hdr = reassembly.Header
)
