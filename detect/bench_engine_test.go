package detect

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/internal/cputime"
	"github.com/shadowtap/shadowtap/reassembly"
)

// shopTraffic is traffic shaped like the simulator's (make bench's capture):
// one documented shop API, clients authenticating with JWTs, session
// cookies, API-key headers or query keys, the simulator's request and
// response headers, and JSON bodies holding personal data (customers,
// orders with addresses, exports). Timestamps are 20 ms apart.
func shopTraffic(n int) []*reassembly.Transaction {
	r := rand.New(rand.NewPCG(7, 8))
	out := make([]*reassembly.Transaction, n)
	const principals = 400
	creds := make([]string, principals)
	for i := range creds {
		switch i % 4 {
		case 0:
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
			pl := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"sub":"usr_%d","iat":1772409600,"exp":1772496000}`, i))
			creds[i] = hdr + "." + pl + "." + base62(r, 43)
		default:
			creds[i] = base62(r, 32)
		}
	}
	customer := func(id int) string {
		return fmt.Sprintf(`{"id":%d,"name":"Ann Example","email":"ann.example%d@mail.example.com","phone":"+1-415-555-0%03d","birthdate":"1984-05-12","address":{"street":"%d Market Street","city":"San Francisco","zip":"94103","country":"US"},"tier":"silver","created_at":"2021-04-01T10:00:00Z"}`, id, id, 100+id%899, 1+id%900)
	}
	order := func(id int) string {
		return fmt.Sprintf(`{"id":%d,"customer_id":%d,"status":"shipped","currency":"USD","items":[{"sku":"SKU-%05d","qty":2,"unit_price":"19.99"},{"sku":"SKU-%05d","qty":1,"unit_price":"5.00"}],"total":"44.98","created_at":"2026-03-01T10:00:00Z"}`, id, id/7, id%2000, (id*7)%2000)
	}
	for i := range out {
		p := r.IntN(principals)
		id := 1 + r.IntN(50000)
		method, target, status := "GET", "", 200
		var body string
		var reqBody []byte
		switch k := r.IntN(20); {
		case k < 5:
			target, body = "/v1/customers/"+strconv.Itoa(id), customer(id)
		case k < 8:
			target, body = "/v1/orders/"+strconv.Itoa(id*3), order(id*3)
		case k < 10:
			b := []byte(`{"page":2,"page_size":20,"orders":[`)
			for j := range 20 {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, order(id+j)...)
			}
			target, body = "/v1/orders?page=2&page_size=20", string(append(b, "]}"...))
		case k < 12:
			target, body = "/v1/products/SKU-"+fmt.Sprintf("%05d", id%2000), `{"sku":"SKU-01234","name":"Classic kettle","price":"39.00","stock":120,"rating":4}`
		case k < 14:
			target, body = "/v1/search?q="+word(r)+"&limit=10", `{"query":"kettle","results":[{"sku":"SKU-01234","name":"Classic kettle","price":"39.00","stock":120,"rating":4}]}`
		case k < 15:
			target, body = "/v1/customers/lookup?email=ann.example"+strconv.Itoa(id)+"%40mail.example.com", customer(id)
		case k < 16:
			method, target, status = "POST", "/v1/orders", 201
			reqBody = []byte(`{"items":[{"sku":"SKU-00042","qty":1}],"payment_method":"card_on_file"}`)
			body = order(id)
		case k < 17:
			method, target = "POST", "/v1/auth/login"
			reqBody = fmt.Appendf(nil, `{"email":"ann.example%d@mail.example.com","password":"%s"}`, id, base62(r, 12))
			body = `{"access_token":"` + creds[0] + `","token_type":"Bearer","expires_in":3600}`
		case k < 18:
			target, body = "/v1/accounts/me", customer(id)
		case k < 19:
			target, status, body = "/v1/customers/"+strconv.Itoa(id), 404, `{"error":"not_found","request_id":"`+hexID(r, 16)+`"}`
		default:
			target, body = "/v1/internal/health", `{"status":"ok"}` // undocumented
		}
		x := &reassembly.Transaction{
			Client:       netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(p >> 8), byte(p)}), uint16(30000+r.IntN(30000))),
			Server:       netip.MustParseAddrPort("10.20.0.10:80"),
			RequestTime:  t0.Add(time.Duration(i) * 20 * time.Millisecond),
			ResponseTime: t0.Add(time.Duration(i)*20*time.Millisecond + 25*time.Millisecond),
			Method:       method, Target: target, Host: "api.example.com", Status: status,
			ReqBody: reqBody, RespBody: []byte(body), RespBodyBytes: int64(len(body)),
		}
		x.ReqHeaders = []hdr{{Name: "User-Agent", Value: "shop-ios/4.2.1 (iPhone; iOS 17.3)"}, {Name: "Accept", Value: "application/json"}, {Name: "Accept-Encoding", Value: "gzip, deflate, br"}}
		if target != "/v1/auth/login" {
			switch p % 4 {
			case 0:
				x.ReqHeaders = append(x.ReqHeaders, hdr{Name: "Authorization", Value: "Bearer " + creds[p]})
			case 1:
				x.ReqHeaders = append(x.ReqHeaders, hdr{Name: "Cookie", Value: "session=" + creds[p] + "; theme=light"})
			case 2:
				x.ReqHeaders = append(x.ReqHeaders, hdr{Name: "X-API-Key", Value: creds[p]})
			default:
				sep := "?"
				if strings.Contains(x.Target, "?") {
					sep = "&"
				}
				x.Target += sep + "api_key=" + creds[p]
			}
		}
		if reqBody != nil {
			x.ReqHeaders = append(x.ReqHeaders, hdr{Name: "Content-Type", Value: "application/json"}, hdr{Name: "Content-Length", Value: strconv.Itoa(len(reqBody))})
		}
		x.RespHeaders = []hdr{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Request-Id", Value: hexID(r, 16)}, {Name: "Content-Length", Value: strconv.Itoa(len(body))}}
		if status == 201 {
			x.RespHeaders = append(x.RespHeaders, hdr{Name: "Location", Value: "/v1/orders/" + strconv.Itoa(id)})
		}
		out[i] = x
	}
	return out
}

// BenchmarkEngineObserve measures Engine.Observe per transaction on
// simulator-shaped traffic against its spec, once the baselines are past
// their learning period: "observe" is the whole call, "prepare" its
// stateless half and "apply" the stateful half (ObservePrepared) on
// transactions prepared beforehand.
func BenchmarkEngineObserve(b *testing.B) {
	spec, err := LoadSpec("testdata/bench-shop-spec.yaml")
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 14
	traffic := shopTraffic(n)
	span := time.Duration(n) * 20 * time.Millisecond
	warm := func(b *testing.B) *Engine {
		e := mustEngine(b, Options{Specs: []*Spec{spec}})
		// Past the learning periods (a day), so the detectors run.
		for range 6 {
			for _, x := range traffic {
				e.Observe(x)
			}
			shift(traffic, span)
		}
		return e
	}
	b.Run("observe", func(b *testing.B) {
		e := warm(b)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if i > 0 && i%n == 0 {
				b.StopTimer()
				shift(traffic, span)
				b.StartTimer()
			}
			e.Observe(traffic[i%n])
		}
	})
	b.Run("prepare", func(b *testing.B) {
		e := mustEngine(b, Options{Specs: []*Spec{spec}})
		var p Prepared
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e.Prepare(traffic[i%n], &p)
		}
	})
	b.Run("apply", func(b *testing.B) {
		e := warm(b)
		ps := make([]Prepared, n)
		prepare := func() {
			for i, x := range traffic {
				e.Prepare(x, &ps[i])
			}
		}
		prepare()
		// cpu-ns/op is the engine goroutine's thread CPU time per
		// transaction: unlike ns/op, it does not count the waits for a
		// core on a busy machine.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b.ReportAllocs()
		b.ResetTimer()
		var cpu time.Duration
		c0 := cputime.Thread()
		for i := 0; i < b.N; i++ {
			if i > 0 && i%n == 0 {
				cpu += cputime.Thread() - c0
				b.StopTimer()
				shift(traffic, span)
				prepare()
				b.StartTimer()
				c0 = cputime.Thread()
			}
			e.ObservePrepared(traffic[i%n], &ps[i%n])
		}
		cpu += cputime.Thread() - c0
		cputime.Report(b, cpu)
	})
}

// shift moves the transactions' timestamps d later.
func shift(txs []*reassembly.Transaction, d time.Duration) {
	for _, x := range txs {
		x.RequestTime = x.RequestTime.Add(d)
		x.ResponseTime = x.ResponseTime.Add(d)
	}
}

// TestPrepareDerives: what Prepare derives for ObservePrepared (segment
// classes, hashes, network, User-Agent family, size, query kinds) is what
// deriving from the finished view gives: Prepare derives last, after
// everything derive reads.
func TestPrepareDerives(t *testing.T) {
	e := mustEngine(t, Options{})
	var p Prepared
	for _, x := range shopTraffic(300) {
		e.Prepare(x, &p)
		if !p.valid || p.dot {
			continue
		}
		if !p.view.derived {
			t.Fatalf("%s: not derived", x.Target)
		}
		for i, s := range p.segs {
			if c, sfx := classify(s); p.classes[i] != (segInfo{c, sfx}) {
				t.Errorf("%s: segment %q classed %v, classify says %v %q", x.Target, s, p.classes[i], c, sfx)
			}
		}
		again := p.view
		again.qinfo = nil
		again.derive(x)
		if again.clientH != p.view.clientH || again.fpH != p.view.fpH || again.netH != p.view.netH ||
			again.ua != p.view.ua || again.size != p.view.size || fmt.Sprint(again.qinfo) != fmt.Sprint(p.view.qinfo) {
			t.Errorf("%s: derived %+v, again %+v", x.Target, p.view, again)
		}
		if p.view.cred.fingerprint != "" && p.view.principalHash() != (&principalKey{fp: p.view.cred.fingerprint}).hash() {
			t.Errorf("%s: principal hash differs", x.Target)
		}
	}
}

// TestPrepareMatchesSpec: the operations Prepare matches for the engine
// (documented for the method, else for any method) are the ones the
// host's inventory state matches, on documented and undocumented paths
// and on a host the spec does not cover.
func TestPrepareMatchesSpec(t *testing.T) {
	spec, err := LoadSpec("testdata/bench-shop-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Options{Specs: []*Spec{spec}})
	var p Prepared
	var documented, shaped, other int
	for i, x := range shopTraffic(2000) {
		if i%7 == 0 {
			x.Host = "other.example.net"
		}
		if i%11 == 0 {
			x.Method = "DELETE"
		}
		e.Prepare(x, &p)
		if !p.valid || p.dot {
			continue
		}
		if !p.view.specMatched {
			t.Fatalf("%s %s: not matched in Prepare", x.Method, x.Target)
		}
		hs := e.host(p.host)
		if want := hs.matchSpec(p.method, p.segs); p.view.specOp != want {
			t.Fatalf("%s %s on %s: Prepare matched %v, the host %v", x.Method, x.Target, p.host, p.view.specOp, want)
		}
		if p.view.specOp == nil {
			if want := hs.matchSpec("", p.segs); p.view.specAny != want {
				t.Fatalf("%s %s on %s: Prepare matched %v for any method, the host %v", x.Method, x.Target, p.host, p.view.specAny, want)
			}
		}
		switch {
		case p.view.specOp != nil:
			documented++
		case p.view.specAny != nil:
			shaped++
		default:
			other++
		}
	}
	if documented == 0 || shaped == 0 || other == 0 {
		t.Errorf("cases not all covered: %d documented, %d undocumented methods, %d neither", documented, shaped, other)
	}
}
