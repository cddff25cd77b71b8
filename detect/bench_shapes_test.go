package detect

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkObserveShapes measures the inventory's cost per transaction on
// one learnt shape: bare, with a response body to classify, and with a spec
// to match.
func BenchmarkObserveShapes(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 4096
	targets := make([]string, n)
	for i := range targets {
		targets[i] = fmt.Sprintf("/v1/users/%d/orders/%s?limit=10&cursor=%d", r.IntN(1e6), hexID(r, 24), i)
	}
	body := []byte(`{"id":42,"name":"Ann Example","email":"ann@example.com","items":[{"sku":"A-1","qty":2}],"total":"19.99"}`)
	run := func(b *testing.B, opts Options, withBody bool) {
		e := mustEngine(b, opts)
		txs := make([]*txT, n)
		for i := range txs {
			txs[i] = tx(i, "GET", "api.shop.example", targets[i], 200)
			txs[i].ReqHeaders = []hdr{{Name: "Authorization", Value: "Bearer opaque-token"}}
			if withBody {
				txs[i].RespBody = body
			}
			e.Observe(txs[i]) // learn first
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.Observe(txs[i%n])
		}
	}
	b.Run("learnt", func(b *testing.B) { run(b, Options{}, false) })
	b.Run("body", func(b *testing.B) { run(b, Options{}, true) })
	b.Run("spec", func(b *testing.B) {
		s, err := LoadSpec("testdata/petstore-v1.yaml")
		if err != nil {
			b.Fatal(err)
		}
		run(b, Options{Specs: []*Spec{s}}, false)
	})
}

func BenchmarkClassify(b *testing.B) {
	segs := []string{"users", "42", "5f8d0d55b54764421b7156c9", "cus_NffrFeUfNV2Hib", "550e8400-e29b-41d4-a716-446655440000", "chat.postMessage", "632910392.json"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		classify(segs[i%len(segs)])
	}
}
