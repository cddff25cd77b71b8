package detect

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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

// BenchmarkObserveLargeSpec matches against a 600-operation spec (the size
// of big public APIs): documented paths, and undocumented ones that miss.
func BenchmarkObserveLargeSpec(b *testing.B) {
	var y strings.Builder
	y.WriteString("openapi: 3.0.3\ninfo: {title: big, version: \"1\"}\nservers: [{url: /v1}]\npaths:\n")
	for i := range 200 {
		fmt.Fprintf(&y, "  /res%d/{id}:\n    get: {responses: {\"200\": {description: ok}}}\n    delete: {responses: {\"204\": {description: ok}}}\n", i)
		fmt.Fprintf(&y, "  /res%d/{id}/sub%d/{subId}/action:\n    post: {responses: {\"200\": {description: ok}}}\n", i, i)
	}
	path := filepath.Join(b.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := LoadSpec(path)
	if err != nil {
		b.Fatal(err)
	}
	if len(s.Ops) != 600 {
		b.Fatalf("%d ops", len(s.Ops))
	}
	e := mustEngine(b, Options{Specs: []*Spec{s}})
	txs := make([]*txT, 1024)
	for i := range txs {
		target := fmt.Sprintf("/v1/res%d/%d", i%200, i)
		if i%4 == 3 {
			target = fmt.Sprintf("/v1/other/%d/x", i) // undocumented
		}
		txs[i] = tx(i, "GET", "api.example", target, 200)
		e.Observe(txs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Observe(txs[i%len(txs)])
	}
}
