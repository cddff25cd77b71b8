package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

// benchTraffic is a mix of API styles on three hosts, with auth headers and
// small JSON bodies, generated once.
func benchTraffic(n int) []*reassembly.Transaction {
	r := rand.New(rand.NewPCG(11, 12))
	out := make([]*reassembly.Transaction, n)
	for i := range out {
		var host, target string
		switch i % 5 {
		case 0:
			host, target = "api.github.example", fmt.Sprintf("/repos/%s/%s/issues/%d", word(r), word(r), 1+r.IntN(5000))
		case 1:
			host, target = "api.stripe.example", "/v1/customers/cus_"+base62(r, 14)+"?expand=invoice"
		case 2:
			host, target = "api.twilio.example", "/2010-04-01/Accounts/AC"+hexID(r, 32)+"/Messages/SM"+hexID(r, 32)+".json"
		case 3:
			host, target = "shop.example", fmt.Sprintf("/admin/api/2024-01/orders/%d.json", 1e9+r.IntN(1e9))
		default:
			host, target = "api.stripe.example", "/v1/charges?limit=10&api_key=sk_test_abc"
		}
		x := tx(i, "GET", host, target, 200)
		x.ReqHeaders = []hdr{{Name: "Authorization", Value: "Bearer tok" + fmt.Sprint(i%50)}, {Name: "Accept", Value: "application/json"}}
		x.RespBody = []byte(`{"id":"x1","object":"customer","email":null,"created":1732623600,"livemode":false}`)
		out[i] = x
	}
	return out
}

// BenchmarkObserve measures the inventory's per-transaction cost once the
// templates are learnt (steady state), and while learning from scratch.
func BenchmarkObserve(b *testing.B) {
	traffic := benchTraffic(1 << 14)
	b.Run("steady", func(b *testing.B) {
		e := mustEngine(b, Options{})
		for _, x := range traffic {
			e.Observe(x)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.Observe(traffic[i&(len(traffic)-1)])
		}
	})
	b.Run("cold", func(b *testing.B) {
		b.ReportAllocs()
		var e *Engine
		for i := 0; i < b.N; i++ {
			if i&(len(traffic)-1) == 0 {
				e = mustEngine(b, Options{})
			}
			e.Observe(traffic[i&(len(traffic)-1)])
		}
	})
}

func BenchmarkRedactURI(b *testing.B) {
	for _, target := range []string{"/v1/customers/cus_NffrFeUfNV2Hib?expand=invoice", "/v1/charges?limit=10&api_key=sk_test_abc&q=x"} {
		b.Run(target[:12], func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				RedactURI(target)
			}
		})
	}
}
