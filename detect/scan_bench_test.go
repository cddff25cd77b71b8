package detect

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A corpus of JSON API bodies in the shapes of capture/synth's renderers
// (customers, orders, product pages, search results, errors, token
// responses) and of other common APIs (payment objects, issue trackers,
// event feeds), from 100 bytes to tens of kilobytes.

var (
	benchFirst  = []string{"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Farah", "Gustavo", "Hana", "Ivan", "Jun"}
	benchLast   = []string{"Lee", "Martin", "Okafor", "Schmidt", "Tanaka", "Rossi", "Nguyen", "Silva"}
	benchWords  = []string{"shoes", "jacket", "lamp", "coffee", "headphones", "desk", "chair", "backpack", "watch", "kettle", "camera"}
	benchStates = []string{"placed", "paid", "shipped", "delivered", "returned"}
	benchProse  = "The request failed because the upstream service timed out while the cache was being rebuilt; retry later or contact support with the request id. "
)

func benchHex(r *rand.Rand, n int) string {
	const h = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = h[r.IntN(16)]
	}
	return string(b)
}

func benchUUID(r *rand.Rand) string {
	h := benchHex(r, 32)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func benchProduct(sb *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(sb, `{"sku":"SKU-%05d","name":"Classic %s","price":%d.%02d,"stock":%d,"rating":%d,"updated_at":"2026-11-%02dT%02d:%02d:00Z","tags":["%s","%s"]}`,
		r.IntN(99999), benchWords[r.IntN(len(benchWords))], r.IntN(500), r.IntN(100), r.IntN(500), 1+r.IntN(5),
		1+r.IntN(28), r.IntN(24), r.IntN(60), benchWords[r.IntN(len(benchWords))], benchWords[r.IntN(len(benchWords))])
}

func benchOrder(sb *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(sb, `{"id":%d,"customer_id":%d,"status":"%s","currency":"USD","items":[`, 1e9+r.IntN(1e9), r.IntN(1e6), benchStates[r.IntN(len(benchStates))])
	for i := range 1 + r.IntN(3) {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(sb, `{"sku":"SKU-%05d","qty":%d,"unit_price":%d.%02d}`, r.IntN(99999), 1+r.IntN(3), r.IntN(300), r.IntN(100))
	}
	fmt.Fprintf(sb, `],"total":%d.%02d,"card_last4":"%04d","created_at":"2026-11-%02dT10:00:00Z"}`, r.IntN(900), r.IntN(100), r.IntN(10000), 1+r.IntN(28))
}

func benchCustomer(sb *strings.Builder, r *rand.Rand) {
	f, l := benchFirst[r.IntN(len(benchFirst))], benchLast[r.IntN(len(benchLast))]
	fmt.Fprintf(sb, `{"id":%d,"name":"%s %s","email":"%s.%s%d@mail.example","phone":"+1-%d-555-0%d","birthdate":"19%d-0%d-1%d","address":{"street":"%d Main St","city":"Springfield","postal_code":"%05d","country":"US"},"tier":"gold","created_at":"2024-04-01T10:00:00Z"}`,
		r.IntN(1e6), f, l, strings.ToLower(f), strings.ToLower(l), r.IntN(1000), 201+r.IntN(700), 100+r.IntN(899), 50+r.IntN(49), 1+r.IntN(9), r.IntN(9), 1+r.IntN(980), r.IntN(99999))
}

func benchCharge(sb *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(sb, `{"id":"ch_%s","object":"charge","amount":%d,"amount_captured":%d,"balance_transaction":"txn_%s","captured":true,"created":%d,"currency":"usd","description":null,"livemode":false,"metadata":{"order_id":"%d"},"paid":true,"payment_intent":"pi_%s","payment_method_details":{"card":{"brand":"visa","exp_month":%d,"exp_year":2028,"funding":"credit","last4":"%04d","network":"visa"},"type":"card"},"receipt_url":"https://pay.example/receipts/%s","refunded":false,"status":"succeeded"}`,
		randAlnumR(r, 24), r.IntN(1e5), r.IntN(1e5), randAlnumR(r, 24), 1732623600+r.IntN(1e6), r.IntN(1e6), randAlnumR(r, 24), 1+r.IntN(12), r.IntN(10000), randAlnumR(r, 32))
}

func benchIssue(sb *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(sb, `{"url":"https://api.tracker.example/repos/acme/%s/issues/%d","id":%d,"node_id":"I_kwDO%s","number":%d,"title":"%s breaks when %s is empty","user":{"login":"%s%d","id":%d,"avatar_url":"https://avatars.example/u/%d?v=4","type":"User"},"labels":[{"name":"bug","color":"d73a4a"}],"state":"open","comments":%d,"created_at":"2026-1%d-0%dT%02d:%02d:%02dZ","body":"%s%s","reactions":{"total_count":%d,"+1":%d}}`,
		benchWords[r.IntN(len(benchWords))], r.IntN(5000), r.IntN(1e9), randAlnumR(r, 16), r.IntN(5000), benchWords[r.IntN(len(benchWords))], benchWords[r.IntN(len(benchWords))],
		strings.ToLower(benchFirst[r.IntN(len(benchFirst))]), r.IntN(100), r.IntN(1e8), r.IntN(1e8), r.IntN(40), r.IntN(2), 1+r.IntN(9), r.IntN(24), r.IntN(60), r.IntN(60),
		benchProse, benchProse[:r.IntN(len(benchProse))], r.IntN(20), r.IntN(10))
}

func benchEvent(sb *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(sb, `{"event_id":"%s","type":"order.%s","occurred_at":%d,"trace_id":"%s","span_id":"%s","attributes":{"http.method":"GET","http.status_code":%d,"duration_ms":%d.%d}}`,
		benchUUID(r), benchStates[r.IntN(len(benchStates))], 1732623600000+r.IntN(1e9), benchHex(r, 32), benchHex(r, 16), 200+r.IntN(300), r.IntN(900), r.IntN(10))
}

func randAlnumR(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum62[r.IntN(len(alnum62))]
	}
	return string(b)
}

// benchBody returns one body; withHit asks for one holding a secret or
// personal data (customers, a token response, a leaked key).
func benchBody(r *rand.Rand, withHit bool) []byte {
	var sb strings.Builder
	list := func(n int, item func(*strings.Builder, *rand.Rand)) {
		sb.WriteByte('[')
		for i := range n {
			if i > 0 {
				sb.WriteByte(',')
			}
			item(&sb, r)
		}
		sb.WriteByte(']')
	}
	if withHit {
		switch r.IntN(4) {
		case 0:
			benchCustomer(&sb, r)
		case 1:
			sb.WriteString(`{"customers":`)
			list(5+r.IntN(50), benchCustomer)
			sb.WriteString(`}`)
		case 2:
			sb.WriteString(`{"access_token":"` + jwtTok + `","token_type":"Bearer","expires_in":3600}`)
		default:
			sb.WriteString(`{"payment_settings":{"provider":"stripe","secret_key":"` + stripeKey + `"},"orders":`)
			list(3, benchOrder)
			sb.WriteString(`}`)
		}
		return []byte(sb.String())
	}
	switch r.IntN(8) {
	case 0:
		benchProduct(&sb, r)
	case 1:
		sb.WriteString(`{"query":"` + benchWords[r.IntN(len(benchWords))] + `","results":`)
		list(10+r.IntN(40), benchProduct)
		sb.WriteString(`}`)
	case 2:
		sb.WriteString(`{"page":` + strconv.Itoa(1+r.IntN(50)) + `,"page_size":50,"orders":`)
		list(20+r.IntN(80), benchOrder)
		sb.WriteString(`}`)
	case 3:
		benchOrder(&sb, r)
	case 4:
		fmt.Fprintf(&sb, `{"error":"not_found","message":"%s","request_id":"%s"}`, benchProse, benchHex(r, 16))
	case 5:
		sb.WriteString(`{"object":"list","data":`)
		list(5+r.IntN(20), benchCharge)
		sb.WriteString(`,"has_more":true,"url":"/v1/charges"}`)
	case 6:
		list(5+r.IntN(30), benchIssue)
	default:
		sb.WriteString(`{"events":`)
		list(20+r.IntN(100), benchEvent)
		sb.WriteString(`}`)
	}
	return []byte(sb.String())
}

// benchBodies returns n bodies of which about hitPercent in 100 hold a
// finding.
func benchBodies(n, hitPercent int) [][]byte {
	r := rand.New(rand.NewPCG(uint64(n), uint64(hitPercent)))
	out := make([][]byte, n)
	for i := range out {
		out[i] = benchBody(r, r.IntN(100) < hitPercent)
	}
	return out
}

// BenchmarkScan measures the scanner over JSON API bodies: without hits,
// and a mix where one body in five holds personal data or a secret. The
// scan is the one the engine runs on response bodies (secrets and personal
// data).
func BenchmarkScan(b *testing.B) {
	for _, tc := range []struct {
		name string
		hits int
	}{{"clean", 0}, {"mixed", 20}} {
		b.Run(tc.name, func(b *testing.B) {
			bodies := benchBodies(512, tc.hits)
			var total int
			for _, x := range bodies {
				total += len(x)
			}
			buf := make([]finding, 0, maxScanFindings)
			found := 0
			b.SetBytes(int64(total))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				for _, x := range bodies {
					buf = theScanner.scan(x, scanSecrets|scanPersonal, buf[:0])
					found += len(buf)
				}
			}
			if cpu := cpuTime() - cpu0; cpu > 0 {
				// On a shared machine wall time counts the time the
				// benchmark waited for a core; CPU time does not.
				b.ReportMetric(float64(total)*float64(b.N)/cpu.Seconds()/1e6, "MB/cpu-s")
			}
			b.ReportMetric(float64(total)/float64(len(bodies)), "bytes/body")
			if tc.hits == 0 && found != 0 {
				b.Fatalf("%d findings in bodies without hits", found)
			}
		})
	}
}

// BenchmarkScanTransaction measures the secret detector's whole scan of a
// transaction (target, headers, both bodies).
func BenchmarkScanTransaction(b *testing.B) {
	bodies := benchBodies(256, 20)
	txs := make([]*txT, len(bodies))
	total := 0
	for i := range txs {
		txs[i] = tx(i, "GET", "api.example.com", "/v1/customers/"+strconv.Itoa(i)+"?expand=orders&limit=10", 200)
		txs[i].ReqHeaders = []hdr{{Name: "Authorization", Value: "Bearer " + jwtTok}, {Name: "User-Agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}, {Name: "Accept", Value: "application/json"}}
		txs[i].RespBody = bodies[i]
		total += len(bodies[i]) + len(txs[i].Target)
	}
	var p Prepared
	b.SetBytes(int64(total))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, t := range txs {
			p.scanSecrets(t)
		}
	}
}
