package detect

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// behaviourTraffic prepares n transactions of steady benign traffic (users
// reading their records and orders, logins) and their views.
func behaviourTraffic(n int) ([]reassembly.Transaction, []txView, []string) {
	txs := make([]reassembly.Transaction, n)
	views := make([]txView, n)
	tmpls := make([]string, n)
	for i := range txs {
		u := i % 500
		at := bday0.Add(2*24*time.Hour + time.Duration(i)*700*time.Millisecond)
		client := netip.AddrFrom4([4]byte{198, 51, byte(u / 250), byte(1 + u%250)})
		t := reassembly.Transaction{Client: netip.AddrPortFrom(client, 40000), RequestTime: at, Host: "api.test", Method: "GET",
			Status: 200, RespBodyBytes: 900, ReqHeaders: []reassembly.Header{{Name: "User-Agent", Value: "ShopApp/3.1 (iOS)"}}}
		v := txView{ts: at, client: client, status: 200, cred: credential{authJWT, Fingerprint("jwt", "usr_"+strconv.Itoa(u)), uint32(u)}}
		switch i % 4 {
		case 0, 1:
			t.Target, tmpls[i] = "/v1/customers/"+strconv.Itoa(1000+u), "/v1/customers/{id}"
		case 2:
			t.Target, tmpls[i] = "/v1/orders?page=1&page_size=20", "/v1/orders"
			t.RespBodyBytes = 8000
		default:
			t.Method, t.Target, tmpls[i] = "POST", "/v1/auth/login", "/v1/auth/login"
			v.cred = credential{}
			if i%40 == 3 {
				t.Status, v.status = 401, 401
			}
		}
		txs[i], views[i] = t, v
	}
	return txs, views, tmpls
}

// warmBehaviour returns a behaviour that has seen the traffic once.
func warmBehaviour(txs []reassembly.Transaction, views []txView, tmpls []string) *behaviour {
	b := newBehaviour(BehaviourOptions{})
	for i := range txs {
		b.observe(&txs[i], &views[i], "api.test", txs[i].Method, tmpls[i])
	}
	return b
}

// BenchmarkBehaviourObserve is the whole behavioural path per transaction.
func BenchmarkBehaviourObserve(b *testing.B) {
	txs, views, tmpls := behaviourTraffic(20000)
	bh := warmBehaviour(txs, views, tmpls)
	shift := time.Duration(len(txs)) * 700 * time.Millisecond
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(txs)
		if j == 0 {
			for k := range views { // keep time moving forward
				views[k].ts = views[k].ts.Add(shift)
				txs[k].RequestTime = views[k].ts
			}
		}
		bh.observe(&txs[j], &views[j], "api.test", txs[j].Method, tmpls[j])
	}
}

// BenchmarkDetector measures each detector alone on the prepared
// observation of a transaction (baselines warm, nothing raised).
func BenchmarkDetector(b *testing.B) {
	txs, views, tmpls := behaviourTraffic(20000)
	detectors := []struct {
		name string
		pick int // a transaction of the kind the detector works on
		run  func(bh *behaviour, o *obs)
	}{
		{"enumeration", 0, (*behaviour).enumeration},
		{"exfiltration", 0, (*behaviour).exfiltration},
		{"auth_abuse", 3, (*behaviour).authAbuse},
		{"credential_misuse", 0, (*behaviour).credMisuse},
		{"rate_anomaly", 0, (*behaviour).rate},
	}
	for _, d := range detectors {
		b.Run(d.name, func(b *testing.B) {
			bh := warmBehaviour(txs, views, tmpls)
			t, v := txs[d.pick], views[d.pick]
			o := obs{t: &t, v: &v, numID: -1}
			o.ep = bh.endpoints[endpointKey{"api.test", t.Method, tmpls[d.pick]}]
			o.p = bh.principal(&v, v.ts)
			o.size = t.RespBodyBytes
			o.key, o.numID = objectKey(t.Target, tmpls[d.pick])
			o.ok, o.failed = v.status == 200, v.status == 401
			start := views[len(views)-1].ts
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				o.ts = start.Add(time.Duration(i) * 3 * time.Second)
				o.sec = o.ts.Unix()
				v.ts = o.ts
				d.run(bh, &o)
			}
		})
	}
}

// TestBehaviourObserveAllocs pins the steady state of the behavioural
// path (known principal and endpoint, nothing raised) at zero allocations.
func TestBehaviourObserveAllocs(t *testing.T) {
	txs, views, tmpls := behaviourTraffic(4000)
	bh := warmBehaviour(txs, views, tmpls)
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		j := i % len(txs)
		views[j].ts = views[j].ts.Add(time.Duration(len(txs)) * 700 * time.Millisecond)
		txs[j].RequestTime = views[j].ts
		bh.observe(&txs[j], &views[j], "api.test", txs[j].Method, tmpls[j])
		i++
	})
	// DDSketch's dense store grows now and then; amortised it is below
	// one allocation per call.
	if n >= 1 {
		t.Errorf("behaviour.observe allocates %.2f times per transaction", n)
	}
	if len(bh.alerts()) != 0 {
		t.Errorf("steady benign traffic raised %v", kinds(bh.alerts()))
	}
}

// BenchmarkEngineBehaviour is the engine's steady-state cost per
// transaction with the behavioural detectors on and off.
func BenchmarkEngineBehaviour(b *testing.B) {
	traffic := benchTraffic(1 << 14)
	for _, off := range []bool{false, true} {
		name := "on"
		if off {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			e := mustEngine(b, Options{Behaviour: BehaviourOptions{Disable: off}})
			for _, x := range traffic {
				e.Observe(x)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				x := traffic[i&(len(traffic)-1)]
				x.RequestTime = x.RequestTime.Add(time.Millisecond * time.Duration(len(traffic)) * time.Duration(min(1, i&(len(traffic)-1))))
				e.Observe(x)
			}
		})
	}
}
