package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// volumeTx is a 2xx response carrying n customer records (e-mail and
// phone) numbered from first, to the principal with credential cred.
func volumeTx(at time.Duration, cred string, first, n int) (*txView, *txT, []finding) {
	t := tx(0, "GET", "api.example.com", "/v1/customers", 200)
	t.RequestTime = t0.Add(at)
	var body bytes.Buffer
	body.WriteString(`{"customers":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":%d,"email":"user%d@mail.example","phone":"+1 415 555 %04d"}`, first+i, first+i, (first+i)%10000)
	}
	body.WriteString(`]}`)
	t.RespBody = body.Bytes()
	v := &txView{ts: t.RequestTime, client: netip.MustParseAddr("10.0.0.9"), cred: credential{scheme: authAPIKeyHeader, fingerprint: cred}}
	return v, t, theScanner.scan(t.RespBody, scanPersonal, nil)
}

func TestPIIVolume(t *testing.T) {
	var d piiVolume
	obs := func(at time.Duration, cred string, first, n int) {
		v, tr, fs := volumeTx(at, cred, first, n)
		d.observe(v, tr, personalValues(tr.RespBody, fs, nil), "api.example.com", "GET", "/v1/customers")
	}
	// 30 hours of 150 principals each reading a few customers an hour; an
	// export principal reading 2,500 every night from the first one.
	for h := range 30 {
		at := time.Duration(h) * time.Hour
		for p := range 150 {
			obs(at+time.Duration(p)*time.Second, "apikey-header:p"+strconv.Itoa(p), (p*31+h*7)%5000, 3)
		}
		if h%24 == 2 {
			for k := range 25 {
				obs(at+time.Duration(k)*time.Minute, "apikey-header:export", k*100, 100)
			}
		}
	}
	if a := d.alerts(); len(a) != 0 {
		t.Fatalf("alerts on ordinary traffic and the nightly export: %+v", a)
	}
	// Hour 31: one ordinary principal pulls 3,000 distinct customers.
	for k := range 30 {
		obs(31*time.Hour+time.Duration(k)*time.Minute, "apikey-header:p7", 10000+k*100, 100)
	}
	a := d.alerts()
	if len(a) != 1 || *a[0].Principal != "apikey-header:p7" || a[0].Kind != KindSensitiveDataExposure {
		t.Fatalf("want one alert for p7, got %+v", a)
	}
	ev := a[0].Evidence
	if n := ev["distinct_values"].(uint64); n < 1000 || n > 7000 {
		t.Errorf("distinct values %d (3,000 customers, 6,000 values)", n)
	}
	if ev["baseline"].(uint64) >= 100 || ev["detected_at"] == "" {
		t.Errorf("evidence %+v", ev)
	}
	// Learning: the same spike in the first day raises nothing.
	var fresh piiVolume
	d = fresh
	for k := range 30 {
		obs(time.Duration(k)*time.Minute, "apikey-header:p7", k*100, 100)
	}
	if a := d.alerts(); len(a) != 0 {
		t.Fatalf("alert while learning: %+v", a)
	}
}

// TestPIIVolumeState: the volume watch survives a save and a load whole,
// and a corrupt part is refused.
func TestPIIVolumeState(t *testing.T) {
	var d piiVolume
	for h := range 27 {
		for p := range 20 {
			v, tr, fs := volumeTx(time.Duration(h)*time.Hour+time.Duration(p)*time.Second, "jwt:p"+strconv.Itoa(p), p*10+h, 5)
			d.observe(v, tr, personalValues(tr.RespBody, fs, nil), "api.example.com", "GET", "/v1/customers")
		}
	}
	for k := range 30 {
		v, tr, fs := volumeTx(26*time.Hour+time.Duration(k)*time.Minute, "jwt:p3", 9000+k*100, 100)
		d.observe(v, tr, personalValues(tr.RespBody, fs, nil), "api.example.com", "GET", "/v1/customers")
	}
	if len(d.episodes) != 1 {
		t.Fatalf("%d episodes", len(d.episodes))
	}
	b, err := d.marshalState()
	if err != nil {
		t.Fatal(err)
	}
	var back piiVolume
	if err := back.unmarshalState(b); err != nil {
		t.Fatal(err)
	}
	b2, err := back.marshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Error("the state changed in a round trip")
	}
	if got, want := mustJSON(t, back.alerts()), mustJSON(t, d.alerts()); got != want {
		t.Errorf("alerts after load:\n%s\nwant\n%s", got, want)
	}
	if p, q := d.principals["jwt:p3"], back.principals["jwt:p3"]; p.sketch.Estimate() != q.sketch.Estimate() {
		t.Error("sketch estimate changed")
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)/2], append(bytes.Clone(b), 0)} {
		if err := back.unmarshalState(bad); err == nil {
			t.Errorf("corrupt state of %d bytes accepted", len(bad))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPIIVolumeMemory bounds the state kept per active principal (one that
// received 30 personal values this hour) by the bytes allocated while
// tracking it, garbage included: the bound is 2 KiB on average.
func TestPIIVolumeMemory(t *testing.T) {
	const n = 2000
	var d piiVolume
	txs := make([]struct {
		v  *txView
		t  *txT
		fs []finding
	}, n)
	for i := range txs {
		txs[i].v, txs[i].t, txs[i].fs = volumeTx(time.Duration(i)*time.Millisecond, "jwt:principal-"+strconv.Itoa(i), i*15, 15)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, x := range txs {
		d.observe(x.v, x.t, personalValues(x.t.RespBody, x.fs, nil), "h", "GET", "/p")
	}
	runtime.ReadMemStats(&after)
	per := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("%.0f bytes allocated per active principal (%d values each)", per, len(txs[0].fs))
	if per > 2048 {
		t.Errorf("%.0f bytes per principal, over 2 KiB", per)
	}
	runtime.KeepAlive(txs)
}

// TestPIIExactSketch: a window's estimates and saved sketch are those of
// the library's sketch fed every value as it came (repeats included) and
// asked for estimates along the way, whether the window stays a list of
// hashes, goes into a sketch part way or passes the sketch's sparse limit;
// also with hashes sharing a sparse index.
func TestPIIExactSketch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var d piiVolume
	for round := range 400 {
		pool := make([]uint64, []int{1, 5, 60, 127, 128, 129, 300, 1500, 4000}[round%9])
		for i := range pool {
			pool[i] = r.Uint64()
			if i > 0 && r.IntN(8) == 0 {
				// The same top 25 bits (sparse index) as another value.
				pool[i] = pool[r.IntN(i)]&^(1<<39-1) | r.Uint64()&(1<<39-1)
			}
		}
		p := &piiPrincipal{exact: make([]uint64, 0, r.IntN(4))}
		ref, _ := hyperloglog.NewSketch(piiHLLPrecision, true)
		n := 1 + r.IntN(3*len(pool))
		for i := range n {
			h := pool[r.IntN(len(pool))]
			if i < len(pool) && r.IntN(2) == 0 {
				h = pool[i] // most of the pool shows up
			}
			p.add(h)
			ref.InsertHash(h)
			if r.IntN(50) == 0 || i == n-1 {
				if got, want := d.estimate(p), ref.Estimate(); got != want {
					t.Fatalf("round %d (pool %d), value %d: estimate %d, the library's %d", round, len(pool), i, got, want)
				}
			}
		}
		ws := p.windowSketch()
		ws.Estimate() // as marshalState compacts it
		got, err := ws.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := ref.MarshalBinary()
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d (pool %d): the saved sketch differs from the library's", round, len(pool))
		}
		if len(pool) <= 100 && p.sketch == nil && len(p.exact) == 0 {
			t.Fatalf("round %d: no values kept", round)
		}
	}
}

// BenchmarkPIIWindow: principal-hours shaped like the bench capture's
// (distinct values per hour: median 4, 90th percentile 26; a quarter of
// the values repeats), all within the list (piiExact), added and
// estimated.
func BenchmarkPIIWindow(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	var windows [][]uint64
	for _, distinct := range []int{1, 2, 3, 4, 4, 4, 5, 6, 8, 12, 18, 26, 40, 58, 120} {
		w := make([]uint64, distinct+distinct/3)
		for i := range w {
			w[i] = r.Uint64()
			if i >= distinct {
				w[i] = w[r.IntN(distinct)]
			}
		}
		windows = append(windows, w)
	}
	var d piiVolume
	p := &piiPrincipal{}
	b.ReportAllocs()
	for b.Loop() {
		for _, w := range windows {
			for _, h := range w {
				p.add(h)
				p.inserted++
			}
			d.closeWindow(p)
		}
	}
}

// refValueHash is valueHash written plainly, the normalisation decided per
// byte.
func refValueHash(t dataType, v []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset) ^ uint64(t)
	for _, c := range v {
		switch t {
		case dtEmail:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
		case dtPhone, dtCard, dtIBAN, dtSSN:
			if !isAlnum(c) {
				continue
			}
		}
		h = (h ^ uint64(c)) * prime
	}
	return mix64(h)
}

// TestValueHash: the fingerprints are refValueHash's (they are kept in
// state and sketches: they must not change), spellings of one value agree,
// and types do not.
func TestValueHash(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  dataType
		a, b string
		same bool
	}{
		{"email case", dtEmail, "Ann.Lee@Mail.Example", "ann.lee@mail.example", true},
		{"email other", dtEmail, "ann.lee@mail.example", "ann.lea@mail.example", false},
		{"phone separators", dtPhone, "+1 (415) 555-0100", "14155550100", true},
		{"card spaces", dtCard, "4532 0151 1283 0366", "4532015112830366", true},
		{"iban groups", dtIBAN, "DE89 3704 0044 0532 0130 00", "DE89370400440532013000", true},
		{"ssn dashes", dtSSN, "536-22-8461", "536228461", true},
		{"address exact", dtAddress, "12 Main St", "12 main st", false},
		{"birthdate exact", dtBirthdate, "1987-06-15", "1987-06-15", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := valueHash(tc.typ, []byte(tc.a)), valueHash(tc.typ, []byte(tc.b))
			if (ha == hb) != tc.same {
				t.Errorf("valueHash(%q) == valueHash(%q): %v, want %v", tc.a, tc.b, ha == hb, tc.same)
			}
			if ha != refValueHash(tc.typ, []byte(tc.a)) || hb != refValueHash(tc.typ, []byte(tc.b)) {
				t.Error("valueHash differs from refValueHash")
			}
		})
	}
	if valueHash(dtPhone, []byte("4155550100")) == valueHash(dtSSN, []byte("4155550100")) {
		t.Error("a phone number and an SSN of the same digits share a fingerprint")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		v := make([]byte, r.IntN(300))
		for i := range v {
			v[i] = byte(r.IntN(256))
		}
		typ := dataType(r.IntN(int(dtCount)))
		if got, want := valueHash(typ, v), refValueHash(typ, v); got != want {
			t.Fatalf("valueHash(%s, %q) = %x, want %x", typ, v, got, want)
		}
	}
}

// BenchmarkValueHash measures the fingerprints of personal values of the
// kinds the bench bodies hold (an address object is the longest).
func BenchmarkValueHash(b *testing.B) {
	vals := []struct {
		typ dataType
		v   []byte
	}{
		{dtEmail, []byte("Mia.Novak272@Mail.Example")},
		{dtPhone, []byte("+1-686-555-0485")},
		{dtBirthdate, []byte("1989-09-25")},
		{dtAddress, []byte(`{"street":"485 Station St","city":"Georgetown","postal_code":"91611","country":"US"}`)},
	}
	n := 0
	for _, x := range vals {
		n += len(x.v)
	}
	b.SetBytes(int64(n))
	b.ReportAllocs()
	var sink uint64
	for range b.N {
		for _, x := range vals {
			sink ^= valueHash(x.typ, x.v)
		}
	}
	if sink == 1 {
		b.Log(sink)
	}
}
