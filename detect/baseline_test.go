package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

// bday0 is a Monday: the behavioural tests run days of traffic from it.
var bday0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// bsim feeds synthetic transactions to a behaviour directly (the engine's
// inventory is not needed to judge behaviour: the template is given).
type bsim struct {
	b   *behaviour
	rng *rand.Rand
	t   reassembly.Transaction
	v   txView
}

func newBsim(o BehaviourOptions) *bsim {
	return &bsim{b: newBehaviour(o), rng: rand.New(rand.NewPCG(1, 2))}
}

// req is one synthetic request.
type req struct {
	at             time.Time
	client         string
	cred           string // "" none; "apikey-header:k" / "jwt:sub|token"
	ua             string
	method, target string
	tmpl           string
	status         int
	size           int64
}

func (s *bsim) do(r req) {
	s.t = reassembly.Transaction{
		Client: netip.AddrPortFrom(netip.MustParseAddr(r.client), 40000), RequestTime: r.at,
		Method: r.method, Target: r.target, Host: "api.test", Status: r.status, RespBodyBytes: r.size,
	}
	if r.ua != "" {
		s.t.ReqHeaders = []reassembly.Header{{Name: "User-Agent", Value: r.ua}}
	}
	s.v = txView{ts: r.at, client: s.t.Client.Addr(), status: r.status}
	if r.cred != "" {
		scheme, val, _ := cut2(r.cred, ":")
		sub, tok, ok := cut2(val, "|")
		if !ok {
			tok = sub
		}
		s.v.cred = credential{scheme: authAPIKeyHeader, fingerprint: Fingerprint(scheme, sub), token: uint32(hashString(tok))}
	}
	s.b.observe(&s.t, &s.v, "api.test", r.method, r.tmpl)
}

func cut2(s, sep string) (string, string, bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if s[i:i+len(sep)] == sep {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// background plays days of benign traffic: users reading their own
// records and orders, integrations their block of customers, logins with
// a few failures, on a daily cycle.
func (s *bsim) background(from time.Time, days int) {
	for d := 0; d < days; d++ {
		for h := 0; h < 24; h++ {
			n := 6
			if h >= 8 && h < 20 {
				n = 30
			}
			for i := 0; i < n; i++ {
				at := from.Add(time.Duration(d*24+h)*time.Hour + time.Duration(s.rng.IntN(3600))*time.Second)
				u := s.rng.IntN(200)
				client := fmt.Sprintf("198.51.%d.%d", u/100, 1+u%100)
				cred := fmt.Sprintf("jwt:usr_%d|tok%d", u, u)
				ua := "ShopApp/3.1 (iOS)"
				cust := 1000 + u
				switch s.rng.IntN(5) {
				case 0, 1:
					s.do(req{at: at, client: client, cred: cred, ua: ua, method: "GET", target: "/v1/customers/" + strconv.Itoa(cust), tmpl: "/v1/customers/{id}", status: 200, size: 900})
				case 2:
					s.do(req{at: at, client: client, cred: cred, ua: ua, method: "GET", target: "/v1/orders?page=1&page_size=20", tmpl: "/v1/orders", status: 200, size: 8000 + int64(s.rng.IntN(2000))})
				case 3:
					st := 200
					if s.rng.IntN(20) == 0 {
						st = 401
					}
					s.do(req{at: at, client: client, ua: ua, method: "POST", target: "/v1/auth/login", tmpl: "/v1/auth/login", status: st, size: 300})
				default:
					k := s.rng.IntN(4)
					email := fmt.Sprintf("c%d%%40example.com", 1000+k*40+s.rng.IntN(40))
					st := 200
					if s.rng.IntN(50) == 0 {
						st = 404
					}
					s.do(req{at: at, client: fmt.Sprintf("192.0.2.%d", 10+k), cred: fmt.Sprintf("apikey-header:partner%d", k), ua: "partner-sync/2.0",
						method: "GET", target: "/v1/customers/lookup?email=" + email, tmpl: "/v1/customers/lookup", status: st, size: 900})
				}
			}
		}
	}
}

func (s *bsim) alerts() []Alert { return s.b.alerts() }

func kinds(as []Alert) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Kind]++
	}
	return m
}

func TestBehaviourDetectors(t *testing.T) {
	attackAt := bday0.Add(4*24*time.Hour + 10*time.Hour)
	tests := []struct {
		name   string
		opts   BehaviourOptions
		attack func(s *bsim)
		want   string // the kind expected (once), "" for none
		check  func(t *testing.T, a Alert)
	}{
		{"benign only", BehaviourOptions{}, func(s *bsim) {}, "", nil},
		{"sequential id walk", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 300; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 400 * time.Millisecond), client: "203.0.113.7", ua: "python-requests/2.31",
					method: "GET", target: "/v1/customers/" + strconv.Itoa(5000+i), tmpl: "/v1/customers/{id}", status: 200, size: 900})
			}
		}, KindEnumeration, func(t *testing.T, a Alert) {
			if a.Client != "203.0.113.7" || a.Principal != nil || a.Count != 300 {
				t.Errorf("client %q principal %v count %d", a.Client, a.Principal, a.Count)
			}
			if a.Evidence["sequential_run"].(uint32) < 25 || a.Severity != SeverityCritical {
				t.Errorf("evidence %v severity %s", a.Evidence, a.Severity)
			}
		}},
		{"BOLA: a user walks other users' records", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 60; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 5 * time.Second), client: "198.51.0.9", cred: "jwt:usr_8|tok8", ua: "ShopApp/3.1 (iOS)",
					method: "GET", target: "/v1/customers/" + strconv.Itoa(1000+i), tmpl: "/v1/customers/{id}", status: 200, size: 900})
			}
		}, KindEnumeration, func(t *testing.T, a Alert) {
			if n, _ := a.Evidence["objects_first_read_by_others"].(uint32); n < 10 {
				t.Errorf("objects of others %v, want most of the walk (evidence %v)", a.Evidence["objects_first_read_by_others"], a.Evidence)
			}
		}},
		{"random ids far above the norm", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 120; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 20 * time.Second), client: "192.0.2.10", cred: "apikey-header:partner0", ua: "partner-sync/2.0",
					method: "GET", target: "/v1/customers/" + strconv.Itoa(s.rng.IntN(900000)), tmpl: "/v1/customers/{id}", status: 200, size: 900})
			}
		}, KindEnumeration, func(t *testing.T, a Alert) {
			if a.Principal == nil || *a.Principal != Fingerprint("apikey-header", "partner0") {
				t.Errorf("principal %v", a.Principal)
			}
			if d, _ := a.Evidence["distinct_objects"].(int64); d < 40 {
				t.Errorf("distinct %v", a.Evidence)
			}
		}},
		{"fleet lookup probing", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 200; i++ {
				st := 404
				if i%4 == 0 {
					st = 200
				}
				s.do(req{at: attackAt.Add(time.Duration(i) * 3 * time.Second), client: fmt.Sprintf("203.0.%d.%d", i/50, 1+i%50), ua: "Mozilla/5.0 Chrome/120",
					method: "GET", target: fmt.Sprintf("/v1/customers/lookup?email=x%d%%40mail.test", i), tmpl: "/v1/customers/lookup", status: st, size: 100})
			}
		}, KindEnumeration, func(t *testing.T, a Alert) {
			if a.Principal != nil || a.Path != "/v1/customers/lookup" || a.Evidence["distinct_clients"] == nil {
				t.Errorf("alert %+v", a)
			}
		}},
		{"one huge answer from an endpoint with a short history of small ones", BehaviourOptions{}, func(s *bsim) {
			// /v1/widgets/{id} answered 8 small lookups during the week; the
			// host's other answers (orders pages, 8-10 KB) hide nothing.
			for i := 0; i < 8; i++ {
				s.do(req{at: attackAt.Add(-time.Duration(8-i) * 6 * time.Hour), client: "198.51.0.20", cred: "jwt:usr_20|tok20", ua: "ShopApp/3.1 (iOS)",
					method: "GET", target: "/v1/widgets/" + strconv.Itoa(i), tmpl: "/v1/widgets/{id}", status: 200, size: 1200})
			}
			// usr_5 reads orders pages (8-10 KB) in the background, so the
			// answer is no outlier for the principal or the host.
			s.do(req{at: attackAt, client: "198.51.0.6", cred: "jwt:usr_5|tok5", ua: "ShopApp/3.1 (iOS)",
				method: "GET", target: "/v1/widgets/7?limit=2000", tmpl: "/v1/widgets/{id}", status: 200, size: 60000})
		}, KindExfiltration, func(t *testing.T, a Alert) {
			// The sketch keeps sizes to 2%.
			if l, _ := a.Evidence["endpoint_largest_before"].(int64); a.Path != "/v1/widgets/{id}" || l < 1176 || l > 1224 {
				t.Errorf("alert %s %v", a.Path, a.Evidence)
			}
		}},
		{"credential stuffing", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 150; i++ {
				st := 401
				if i == 100 {
					st = 200
				}
				c := fmt.Sprintf("203.%d.7.9", i/3)
				s.do(req{at: attackAt.Add(time.Duration(i) * 5 * time.Second), client: c, method: "POST", target: "/v1/auth/login", tmpl: "/v1/auth/login", status: st})
			}
		}, KindAuthAbuse, func(t *testing.T, a Alert) {
			if a.Severity != SeverityCritical || a.Evidence["failing_sources"] == nil {
				t.Errorf("alert %s %v", a.Severity, a.Evidence)
			}
		}},
		{"one source hammering logins", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 12; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 10 * time.Second), client: "203.0.113.9", method: "POST", target: "/v1/auth/login", tmpl: "/v1/auth/login", status: 401})
			}
		}, KindAuthAbuse, func(t *testing.T, a Alert) {
			if a.Client != "203.0.113.9" || a.Evidence["failures"] == nil {
				t.Errorf("alert %+v", a)
			}
		}},
		{"stolen key from a new network", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 5; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * time.Minute), client: "100.64.9.9", cred: "apikey-header:partner1", ua: "curl/8.5.0",
					method: "GET", target: "/v1/orders?page=1", tmpl: "/v1/orders", status: 200, size: 8000})
			}
		}, KindCredentialMisuse, func(t *testing.T, a Alert) {
			if a.Count != 5 || a.Path != "" || a.Severity != SeverityHigh {
				t.Errorf("alert %+v", a)
			}
		}},
		{"same user's new device is a new token", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 5; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * time.Minute), client: "100.64.9.9", cred: "jwt:usr_7|laptop-token", ua: "Mozilla/5.0 Firefox/120",
					method: "GET", target: "/v1/orders?page=1", tmpl: "/v1/orders", status: 200, size: 8000})
			}
		}, "", nil},
		{"huge response", BehaviourOptions{}, func(s *bsim) {
			s.do(req{at: attackAt, client: "192.0.2.11", cred: "apikey-header:partner1", ua: "partner-sync/2.0",
				method: "GET", target: "/v1/orders?page=1&page_size=2000", tmpl: "/v1/orders", status: 200, size: 900000})
		}, KindExfiltration, func(t *testing.T, a Alert) {
			if a.Evidence["baseline_p999_bytes"] == nil || a.Evidence["response_bytes"].(int64) != 900000 {
				t.Errorf("evidence %v", a.Evidence)
			}
		}},
		{"low and slow", BehaviourOptions{MinDistinct: 1000, SequentialRun: 100000}, func(s *bsim) {
			for i := 0; i < 360; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 20 * time.Second), client: "192.0.2.12", cred: "apikey-header:partner2", ua: "partner-sync/2.0",
					method: "GET", target: "/v1/customers/" + strconv.Itoa(s.rng.IntN(900000)), tmpl: "/v1/customers/{id}", status: 200, size: 900})
			}
		}, KindExfiltration, func(t *testing.T, a Alert) {
			at, _ := time.Parse(time.RFC3339Nano, a.Evidence["detected_at"].(string))
			if at.Sub(attackAt) > time.Hour+10*time.Minute {
				t.Errorf("detected after %s", at.Sub(attackAt))
			}
		}},
		{"volume far above the hour-of-day baseline", BehaviourOptions{}, func(s *bsim) {
			for i := 0; i < 1500; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 2 * time.Second), client: fmt.Sprintf("203.0.%d.%d", i%200/100, 1+i%100), ua: "Mozilla/5.0 Chrome/120",
					method: "GET", target: "/v1/orders?page=1", tmpl: "/v1/orders", status: 200, size: 8000})
			}
			s.do(req{at: attackAt.Add(2 * time.Hour), client: "198.51.100.1", method: "GET", target: "/v1/orders?page=1", tmpl: "/v1/orders", status: 200, size: 8000})
		}, KindRateAnomaly, func(t *testing.T, a Alert) {
			if a.Evidence["expected"] == nil || a.Evidence["baseline"] != "hour-of-day" {
				t.Errorf("evidence %v", a.Evidence)
			}
		}},
		{"allow-listed principal", BehaviourOptions{AllowPrincipals: []string{Fingerprint("apikey-header", "partner1")}}, func(s *bsim) {
			s.do(req{at: attackAt, client: "100.64.9.9", cred: "apikey-header:partner1", ua: "curl/8.5.0",
				method: "GET", target: "/v1/orders?page=1&page_size=2000", tmpl: "/v1/orders", status: 200, size: 900000})
		}, "", nil},
		{"learning period", BehaviourOptions{LearningPeriod: 30 * 24 * time.Hour}, func(s *bsim) {
			for i := 0; i < 300; i++ {
				s.do(req{at: attackAt.Add(time.Duration(i) * 400 * time.Millisecond), client: "203.0.113.7",
					method: "GET", target: "/v1/customers/" + strconv.Itoa(5000+i), tmpl: "/v1/customers/{id}", status: 200, size: 900})
			}
		}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newBsim(tc.opts)
			s.background(bday0, 4)
			if n := len(s.alerts()); n != 0 {
				t.Fatalf("benign background raised %d alerts: %+v", n, s.alerts())
			}
			tc.attack(s)
			got := s.alerts()
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("alerts %+v, want none", got)
				}
				return
			}
			var match []Alert
			for _, a := range got {
				if a.Kind == tc.want {
					match = append(match, a)
				}
			}
			if len(match) != 1 {
				t.Fatalf("%d %s alerts (all: %v), want one episode", len(match), tc.want, kinds(got))
			}
			a := match[0]
			if _, ok := a.Evidence["detected_at"].(string); !ok || a.Summary == "" || a.Severity == "" {
				t.Errorf("alert lacks detected_at, summary or severity: %+v", a)
			}
			if tc.check != nil {
				tc.check(t, a)
			}
		})
	}
}

// TestBehaviourStateRoundTrip: state encoded, decoded and encoded again is
// the same, and a restored behaviour goes on to the same alerts.
func TestBehaviourStateRoundTrip(t *testing.T) {
	s := newBsim(BehaviourOptions{})
	s.background(bday0, 5)
	at := bday0.Add(5*24*time.Hour + 9*time.Hour)
	for i := 0; i < 100; i++ {
		s.do(req{at: at.Add(time.Duration(i) * time.Second), client: "203.0.113.7", method: "GET",
			target: "/v1/customers/" + strconv.Itoa(7000+i), tmpl: "/v1/customers/{id}", status: 200, size: 900})
	}
	b1, err := s.b.marshalState()
	if err != nil {
		t.Fatal(err)
	}
	r := newBehaviour(BehaviourOptions{})
	if err := r.unmarshalState(b1); err != nil {
		t.Fatal(err)
	}
	b2, err := r.marshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("re-encoded state differs (%d vs %d bytes)", len(b1), len(b2))
	}
	// Both go on with the same traffic and report the same.
	s2 := &bsim{b: r, rng: rand.New(rand.NewPCG(9, 9))}
	s.rng = rand.New(rand.NewPCG(9, 9))
	s.background(bday0.Add(5*24*time.Hour+10*time.Hour), 1)
	s2.background(bday0.Add(5*24*time.Hour+10*time.Hour), 1)
	j1, _ := json.Marshal(s.alerts())
	j2, _ := json.Marshal(s2.alerts())
	if !bytes.Equal(j1, j2) {
		t.Errorf("restored alerts differ:\n%s\n%s", j1, j2)
	}
	for _, bad := range [][]byte{nil, {9}, b1[:len(b1)/2], append(append([]byte{}, b1...), 0)} {
		if err := newBehaviour(BehaviourOptions{}).unmarshalState(bad); err == nil {
			t.Errorf("corrupt state of %d bytes accepted", len(bad))
		}
	}
}

// TestBehaviourBounds: principals and endpoints beyond the bounds are
// evicted and counted.
func TestBehaviourBounds(t *testing.T) {
	s := newBsim(BehaviourOptions{MaxPrincipals: 50, MaxEndpoints: 10})
	for i := 0; i < 500; i++ {
		s.do(req{at: bday0.Add(time.Duration(i) * time.Second), client: fmt.Sprintf("10.1.%d.%d", i/200, 1+i%200), method: "GET",
			target: fmt.Sprintf("/p%d/x", i%40), tmpl: fmt.Sprintf("/p%d/x", i%40), status: 200})
	}
	if len(s.b.principals) > 50 || len(s.b.endpoints) > 10 {
		t.Errorf("%d principals, %d endpoints kept", len(s.b.principals), len(s.b.endpoints))
	}
	if s.b.evictedPrincipals == 0 || s.b.evictedEndpoints == 0 || len(s.b.warnings()) < 2 {
		t.Errorf("evictions not counted: %d %d %v", s.b.evictedPrincipals, s.b.evictedEndpoints, s.b.warnings())
	}
}

// TestBehaviourRekey: a template that turns a position into a parameter
// absorbs the baselines of the concrete paths it covers.
func TestBehaviourRekey(t *testing.T) {
	s := newBsim(BehaviourOptions{})
	for i := 0; i < 5; i++ {
		s.do(req{at: bday0.Add(time.Duration(i) * time.Second), client: "10.1.1.1", method: "GET", target: "/u/" + strconv.Itoa(i), tmpl: "/u/" + strconv.Itoa(i), status: 200})
	}
	s.do(req{at: bday0.Add(time.Minute), client: "10.1.1.1", method: "GET", target: "/u/9", tmpl: "/u/{id}", status: 200})
	if len(s.b.endpoints) != 1 {
		t.Fatalf("%d endpoint baselines, want 1", len(s.b.endpoints))
	}
	for _, ep := range s.b.endpoints {
		if ep.count != 6 {
			t.Errorf("count %d, want 6", ep.count)
		}
	}
}

func TestObjectKey(t *testing.T) {
	tests := []struct {
		target, tmpl string
		keyed        bool
		id           int64
	}{
		{"/v1/customers/123", "/v1/customers/{id}", true, 123},
		{"/v1/customers/123/orders", "/v1/customers/{id}/orders", true, 123},
		{"/v1/customers/lookup?email=a%40b.c", "/v1/customers/lookup", true, -1},
		{"/v1/orders?page=2&page_size=20", "/v1/orders", false, -1},
		{"/v1/orders?api_key=secret", "/v1/orders", false, -1},
		{"/v1/products/SKU-1", "/v1/products/{sku}", true, -1},
		{"/static/a/b", "/static/{path}", false, -1},
	}
	for _, tc := range tests {
		k, id := objectKey(tc.target, tc.tmpl)
		if (k != 0) != tc.keyed || id != tc.id {
			t.Errorf("objectKey(%q, %q) = %x, %d", tc.target, tc.tmpl, k, id)
		}
	}
	a, _ := objectKey("/v1/customers/1", "/v1/customers/{id}")
	b, _ := objectKey("/v1/customers/2", "/v1/customers/{id}")
	if a == b {
		t.Error("different objects, same key")
	}
	if n := testing.AllocsPerRun(100, func() { objectKey("/v1/customers/lookup?email=a%40b.c&page=1", "/v1/customers/lookup") }); n != 0 {
		t.Errorf("objectKey allocates %.0f times", n)
	}
}

// TestObjectKeyFast: objectKeyFast, given the template's parameter
// segments and the query parts Prepare marks, keys every target as
// objectKeyOf does (with the marks and without), on odd paths and queries
// too: empty, doubled and trailing slashes, templates longer or shorter
// than the path, fragments, parts without values, mixed-case names.
func TestObjectKeyFast(t *testing.T) {
	tmpls := []string{
		"/v1/customers/{id}", "/v1/customers/{id}/orders", "/v1/customers/lookup", "/v1/orders",
		"/{tenant}/items/{item}", "/a/{x}/", "/{x}", "/", "", "v1/{id}", "/a//{b}", "/static/{path}",
		"/x/{id}.json", "/a/b/c/d/{e}/f/{g}",
	}
	targets := []string{
		"/v1/customers/123", "/v1/customers/123/orders?page=2", "/v1/customers/lookup?email=a%40b.c&page=1",
		"/v1/orders?page=2&page_size=20", "/v1/orders?api_key=secret&q=kettle", "/v1/orders?Q=1&LIMIT=5#frag&x=1",
		"/acme/items/42", "/acme/items/", "/a/b/", "/a//b", "//", "/", "", "?x=1", "/x?=1&y=&&z=2",
		"/x/7.json?A=b&api_key=k&Page=3&" + strings.Repeat("n", 40) + "=1", "/a/b/c/d/9/f/10/extra/more",
		"/v1/customers/lookup?" + strings.Repeat("k=v&", 70),
	}
	r := rand.New(rand.NewPCG(1, 2))
	parts := []string{"a", "", "12", "{id}", "x{y}", "SKU-1", "v1"}
	qparts := []string{"q=1", "page=2", "API_KEY=z", "e=", "=v", "x=a=b", "Sort=asc", "id=7"}
	for range 400 {
		var b strings.Builder
		for range r.IntN(5) {
			b.WriteString("/" + parts[r.IntN(len(parts))])
		}
		if r.IntN(2) == 0 {
			b.WriteString("?")
			for j := range r.IntN(4) {
				if j > 0 {
					b.WriteString("&")
				}
				b.WriteString(qparts[r.IntN(len(qparts))])
			}
		}
		targets = append(targets, b.String())
		if r.IntN(4) == 0 {
			tmpls = append(tmpls, strings.Split(b.String(), "?")[0])
		}
	}
	for _, x := range shopTraffic(300) {
		targets = append(targets, x.Target)
	}
	for _, tmpl := range tmpls {
		params := templateNamesObjects(tmpl)
		var segs []uint16
		if params {
			segs = templateParamSegs(tmpl)
		}
		for _, target := range targets {
			wk, wid := objectKeyOf(target, tmpl, params)
			mask, ok := objectQuery(target)
			for _, known := range []bool{ok, false} {
				if k, id := objectKeyFast(target, segs, mask, known); k != wk || id != wid {
					t.Fatalf("objectKeyFast(%q, %q, %v) = %x, %d; objectKeyOf %x, %d", target, tmpl, known, k, id, wk, wid)
				}
			}
		}
	}
}

func TestUAFamily(t *testing.T) {
	same := [][2]string{
		{"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36", "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/121.0 Safari/537.36"},
		{"curl/8.5.0", "curl/7.88.1"},
		{"python-requests/2.31.0", "python-requests/2.28"},
	}
	for _, p := range same {
		if uaFamily(p[0]) != uaFamily(p[1]) {
			t.Errorf("%q and %q differ", p[0], p[1])
		}
	}
	if uaFamily("curl/8.5.0") == uaFamily("partner-sync/2.0") || uaFamily("Mozilla/5.0 Firefox/120") == uaFamily("Mozilla/5.0 Chrome/120 Safari/537") {
		t.Error("different families, same hash")
	}
}

// TestBehaviourStateSize measures the memory per active principal and per
// endpoint (heap growth while they are created by realistic traffic) and
// their encoded sizes, and prints the figures.
func TestBehaviourStateSize(t *testing.T) {
	const principals, endpoints = 20000, 200
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	s := newBsim(BehaviourOptions{MaxPrincipals: 1 << 20})
	// Endpoints first, each with a day of hourly traffic from a few
	// principals so that their sketches and hour tables fill.
	h0 := heap()
	for e := 0; e < endpoints; e++ {
		for h := 0; h < 48; h++ {
			for i := 0; i < 20; i++ {
				s.do(req{at: bday0.Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Minute), client: "10.9.0." + strconv.Itoa(1+i),
					method: "GET", target: fmt.Sprintf("/e%d/%d", e, s.rng.IntN(100000)), tmpl: fmt.Sprintf("/e%d/{id}", e), status: 200 + 204*(i%10/9),
					size: int64(500 + s.rng.IntN(50000))})
			}
		}
	}
	h1 := heap()
	perEP := float64(h1-h0) / endpoints
	// Principals: each reads objects from several endpoints.
	for p := 0; p < principals; p++ {
		client := fmt.Sprintf("10.%d.%d.%d", 20+p/65000, p/250%250, 1+p%250)
		for i := 0; i < 8; i++ {
			s.do(req{at: bday0.Add(48*time.Hour + time.Duration(p)*100*time.Millisecond), client: client, cred: fmt.Sprintf("apikey-header:k%d", p), ua: "app/1.0",
				method: "GET", target: fmt.Sprintf("/e%d/%d", i*7%endpoints, s.rng.IntN(100000)), tmpl: fmt.Sprintf("/e%d/{id}", i*7%endpoints), status: 200, size: 1000})
		}
	}
	h2 := heap()
	perP := float64(h2-h1) / principals
	enc, err := s.b.marshalState()
	if err != nil {
		t.Fatal(err)
	}
	var epEnc stateEnc
	for _, ep := range s.b.endpoints {
		_ = ep.encode(&epEnc)
	}
	t.Logf("memory: %.0f B per active principal (≤ 2048), %.0f B per endpoint (≤ 32768); encoded: %.0f B per endpoint, %d B total for %d principals and %d endpoints",
		perP, perEP, float64(len(epEnc.b))/float64(len(s.b.endpoints)), len(enc), len(s.b.principals), len(s.b.endpoints))
	if perP > 2048 {
		t.Errorf("%.0f bytes per principal, budget 2048", perP)
	}
	if perEP > 32768 {
		t.Errorf("%.0f bytes per endpoint, budget 32768", perEP)
	}
	runtime.KeepAlive(s)
}

// TestAddSize: a response size added to the endpoint's and the host's
// sketches at once (one bin lookup) leaves both as two Adds would.
func TestAddSize(t *testing.T) {
	if !sameMapping(newSketch(0.02, 512).IndexMapping, newSketch(0.02, 512).IndexMapping) {
		t.Fatal("two sketches of one accuracy map differently")
	}
	if sameMapping(newSketch(0.02, 512).IndexMapping, newSketch(0.05, 512).IndexMapping) {
		t.Fatal("sketches of different accuracies map alike")
	}
	r := rand.New(rand.NewPCG(1, 2))
	ep, hb := newSketch(0.02, 512), &hostBase{resp: newSketch(0.02, 512)}
	ep2, hb2 := newSketch(0.02, 512), newSketch(0.02, 512)
	for i := range 20000 {
		v := float64(1 + r.IntN(1<<uint(r.IntN(40))))
		if i%1000 == 0 {
			v = 1
		}
		addSize(ep, hb, true, v)
		_ = ep2.Add(v)
		_ = hb2.Add(v)
	}
	var a, b, c, d []byte
	ep.Encode(&a, false)
	ep2.Encode(&b, false)
	hb.resp.Encode(&c, false)
	hb2.Encode(&d, false)
	if !bytes.Equal(a, b) || !bytes.Equal(c, d) {
		t.Error("addSize left the sketches otherwise than Add")
	}
}

// TestDistinct256: the table gives the linear-counting formula's values.
func TestDistinct256(t *testing.T) {
	var a, b bits256
	for ones := 0; ones <= 256; ones++ {
		z := max(256-ones, 1)
		if got, want := distinct256(&a, &b), -256*math.Log(float64(z)/256); got != want {
			t.Fatalf("%d ones: %v, want %v", ones, got, want)
		}
		if ones < 256 {
			if ones%2 == 0 {
				a[ones/64] |= 1 << (ones % 64)
			} else {
				b[ones/64] |= 1 << (ones % 64)
			}
		}
	}
}
