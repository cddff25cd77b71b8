package detect

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestEpisodesFilter: active finds every episode raised (its filter never
// hides one), finds none for keys never raised, and still finds them when
// open was filled behind the filter's back (as a load does).
func TestEpisodesFilter(t *testing.T) {
	var e episodes
	e.init(100000)
	ts := t0
	var keys, others []episodeKey
	for i := range 3000 {
		k := episodeKey{kind: uint8(1 + i%5), variant: uint8(i % 12), ep: uint32(i % 7)}
		if i%3 == 2 {
			k.ep = uint32(i) // unique without a principal
		}
		switch i % 3 {
		case 0:
			k.who.fp = fmt.Sprintf("apikey-header:%08x", i*7919)
		case 1:
			k.who.addr = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		}
		if i%2 == 0 {
			keys = append(keys, k)
		} else {
			others = append(others, k)
		}
	}
	for i, k := range keys {
		if e.active(k, ts, time.Hour) != nil {
			t.Fatalf("%d: %+v active before it was raised", i, k)
		}
		if e.raise(k, ts, Alert{}, "", 0) == nil {
			t.Fatal("raise refused")
		}
		// Every key raised so far is found.
		for _, k2 := range keys[:i+1] {
			if i%97 == 0 && e.active(k2, ts, time.Hour) == nil {
				t.Fatalf("%+v raised but not active", k2)
			}
		}
	}
	for _, k := range keys {
		if e.active(k, ts, time.Hour) == nil {
			t.Fatalf("%+v raised but not active", k)
		}
		if e.active(k, ts.Add(2*time.Hour), time.Hour) != nil {
			t.Fatalf("%+v active after the gap", k)
		}
	}
	for _, k := range others {
		if e.active(k, ts, time.Hour) != nil {
			t.Fatalf("%+v never raised but active", k)
		}
	}
	// open filled directly, as decoding the state does.
	var l episodes
	l.init(100000)
	if l.active(keys[0], ts, time.Hour) != nil {
		t.Fatal("empty episodes found one")
	}
	for _, ep := range e.list {
		l.list = append(l.list, ep)
		l.open[ep.key] = ep
	}
	for _, k := range keys {
		if l.active(k, ts, time.Hour) == nil {
			t.Fatalf("loaded %+v not active", k)
		}
	}
	// A raise after the load keeps the filter right.
	k := episodeKey{kind: epRate, variant: varRate, ep: 99999}
	l.raise(k, ts, Alert{}, "", 0)
	if l.active(k, ts, time.Hour) == nil || l.active(keys[1], ts, time.Hour) == nil {
		t.Fatal("raise after load lost an episode")
	}
}

// TestDeriveCommonStrings: Prepare's host, method and media type are
// equal to the transaction's, and the host is the same string for every
// transaction to it.
func TestDeriveCommonStrings(t *testing.T) {
	e := mustEngine(t, Options{})
	var p, q Prepared
	for i, x := range shopTraffic(200) {
		x.Host = "API.Example.com:443"
		if i%2 == 1 {
			x.Method = "get"
		}
		if i%3 == 1 {
			x.RespHeaders = append([]hdr{{Name: "Content-Type", Value: "Application/JSON; charset=utf-8"}}, x.RespHeaders...)
		}
		e.Prepare(x, &p)
		if p.host != "api.example.com" || p.method != strings.ToUpper(x.Method) || p.view.respType != "application/json" {
			t.Fatalf("prepared host %q method %q type %q", p.host, p.method, p.view.respType)
		}
		if i > 0 && unsafe.StringData(p.host) != unsafe.StringData(q.host) {
			t.Fatalf("host %q not the same string as before", p.host)
		}
		p, q = q, p
	}
}
