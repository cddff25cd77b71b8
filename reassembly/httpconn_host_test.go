package reassembly

import "testing"

// TestHostUpgrade checks hostUpgrade against lookup: the first Host and
// Upgrade fields, names compared without regard to case.
func TestHostUpgrade(t *testing.T) {
	for _, hs := range [][]Header{
		nil,
		{{Name: "Host", Value: "a"}},
		{{Name: "host", Value: "a"}, {Name: "HOST", Value: "b"}},
		{{Name: "Accept", Value: "*/*"}, {Name: "UPGRADE", Value: "h2c"}, {Name: "Host", Value: "x"}, {Name: "Upgrade", Value: "websocket"}},
		{{Name: "Hosts", Value: "no"}, {Name: "Upgrades", Value: "no"}, {Name: "Hos", Value: "no"}},
		{{Name: "Upgrade", Value: ""}, {Name: "Upgrade", Value: "h2c"}, {Name: "Host", Value: ""}, {Name: "Host", Value: "late"}},
		{{Name: "Content-Type", Value: "text/plain"}, {Name: "X-Upgrade", Value: "h2c"}},
	} {
		host, up := hostUpgrade(hs)
		if want := lookup(hs, "Host"); host != want {
			t.Errorf("%v: host %q, want %q", hs, host, want)
		}
		if want := lookup(hs, "Upgrade"); up != want {
			t.Errorf("%v: upgrade %q, want %q", hs, up, want)
		}
	}
}
