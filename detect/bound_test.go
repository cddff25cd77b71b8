package detect

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"unsafe"
)

// TestFloodBounded sprays random hosts, methods, paths, query names and
// JSON bodies at the engine and checks that the heap it holds stays within the bound that
// its caps imply, and that the overflow is counted.
func TestFloodBounded(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	const hosts, templates = 8, 200
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	// The behavioural baselines' caps are lowered so that, like the
	// inventory's, they are reached before half time in -short runs too
	// (their defaults need more distinct clients than 50000 requests bring).
	e := mustEngine(t, Options{MaxHosts: hosts, MaxTemplatesPerHost: templates,
		Behaviour: BehaviourOptions{MaxPrincipals: 5000, MaxEndpoints: 1000}})
	r := rand.New(rand.NewPCG(7, 7))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	buf := make([]byte, 0, 256)
	body := make([]byte, 0, 256)
	jsonHdr := []hdr{{Name: "Content-Type", Value: "application/json"}}
	var half uint64
	for i := range n {
		if i == n/2 {
			half = heap() - before
		}
		buf = buf[:0]
		for range 1 + r.IntN(6) {
			buf = append(buf, '/')
			buf = append(buf, word(r)...)
			if r.IntN(8) == 0 {
				buf = append(buf, fmt.Sprint(r.Uint64())...)
			}
		}
		buf = append(buf, '?')
		buf = append(buf, word(r)...)
		buf = append(buf, "=1"...)
		m := methods[r.IntN(len(methods))]
		if r.IntN(10) == 0 {
			m = word(r) // non-standard methods
		}
		x := tx(i, m, fmt.Sprintf("h%d.example", r.IntN(4*hosts)), string(buf), 200)
		// JSON bodies with random property names, so that the inferred
		// schemas fill their budgets too.
		body = body[:0]
		body = append(body, `{"`...)
		body = append(body, word(r)...)
		body = append(body, `":{"`...)
		body = append(body, word(r)...)
		body = append(body, `":[1,"a@b.io",{"`...)
		body = append(body, word(r)...)
		body = append(body, `":null}]},"id":1}`...)
		x.RespBody, x.ReqBody = body, body
		x.RespHeaders = jsonHdr
		x.ReqHeaders = jsonHdr
		e.Observe(x)
	}
	used := heap() - before
	runtime.KeepAlive(e)

	// The bound: (hosts + the "(other hosts)" entry) × (templates + overflow
	// nodes, at most one per template) × (node + maxMethods+1 endpoints each
	// with its sketches, query names and map overheads).
	// Each endpoint's inferred schemas (request and response) hold at most
	// maxSchemaNodes nodes, each with its property slot and name.
	perSchema := uint64(maxSchemaNodes) * uint64(unsafe.Sizeof(schemaNode{})+unsafe.Sizeof(schemaProp{})+maxSchemaNameLen+48)
	perEndpoint := uint64(unsafe.Sizeof(epStats{})) + 2*(sketchM+sketchExact*8) + 2*maxQueryNames*(maxQueryNameLen+64) + 2*perSchema + 512
	perNode := uint64(unsafe.Sizeof(node{})) + 512 + maxLiteralLen + (maxMethods+1)*perEndpoint
	bound := uint64(hosts+1) * uint64(2*templates+1) * perNode
	t.Logf("%d requests: engine holds %d KiB (bound %d KiB)", n, used>>10, bound>>10)
	if used > bound {
		t.Errorf("engine holds %d bytes, over its bound of %d", used, bound)
	}
	// Once the caps are reached, more traffic must not mean more memory.
	t.Logf("after %d requests: %d KiB", n/2, half>>10)
	if used > half+half/4+256<<10 {
		t.Errorf("memory kept growing: %d bytes at half time, %d at the end", half, used)
	}
	rep := e.Report()
	if len(rep.Summary.Warnings) == 0 {
		t.Error("no warning counts the folded requests")
	}
	var total uint64
	for _, ep := range rep.Endpoints {
		total += ep.Count
	}
	if total != uint64(n) {
		t.Errorf("report counts %d requests, want %d (folded ones included)", total, n)
	}
	if len(rep.Endpoints) > (hosts+1)*(2*templates+1)*(maxMethods+1) {
		t.Errorf("%d endpoints", len(rep.Endpoints))
	}
	t.Log(rep.Summary.Warnings)
}

// TestSchemaFloodBounded describes bodies whose property names are all
// new, every one of them (no sampling): the heap the schemas hold stays
// within their node budget, however many bodies come. The engine-level
// flood above covers the sampling path.
func TestSchemaFloodBounded(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	r := rand.New(rand.NewPCG(9, 9))
	jsonHdr := []hdr{{Name: "Content-Type", Value: "application/json"}}
	x := tx(0, "POST", "api.example", "/v1/items", 200)
	x.ReqHeaders, x.RespHeaders = jsonHdr, jsonHdr
	var query []queryParam
	b := new(bodySchemas)
	before := heap()
	for i := range n {
		body := fmt.Appendf(nil, `{"%s%d":{"%s":[{"%s":1}]},"%s":"x"}`, word(r), i, word(r), word(r), word(r))
		x.ReqBody, x.RespBody = body, body
		query = append(query[:0], queryParam{word(r) + strconv.Itoa(i), "1"})
		b.observe(x, query, 1) // 1: as if each body were the first
	}
	used := heap() - min(before, heap())
	runtime.KeepAlive(b)
	perSchema := uint64(maxSchemaNodes) * uint64(unsafe.Sizeof(schemaNode{})+unsafe.Sizeof(schemaProp{})+maxSchemaNameLen+48)
	bound := 2*perSchema + maxQueryNames*(maxQueryNameLen+64) + 16<<10
	t.Logf("%d bodies: the schemas hold %d KiB (bound %d KiB)", n, used>>10, bound>>10)
	if used > bound {
		t.Errorf("schemas hold %d bytes, over their bound of %d", used, bound)
	}
	if c := countNodes(b.req); c > maxSchemaNodes || c < maxSchemaNodes/2 {
		t.Errorf("request schema has %d nodes, want up to %d and the budget used", c, maxSchemaNodes)
	}
	if !b.resp.propsCapped || len(b.queryKinds) != maxQueryNames {
		t.Errorf("capped %v, %d query names", b.resp.propsCapped, len(b.queryKinds))
	}
}
