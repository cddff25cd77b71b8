package synth

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"time"
)

// undocQuery is the also-list of leaks through a query parameter no spec
// documents: the request is a secret_exposure and, as truly, a call with an
// undocumented query parameter (a low shadow_endpoint).
var undocQuery = []string{"shadow_endpoint"}

func (s *sim) newIncident(id, kind string, also []string, negative bool, summary string, a *actor) int {
	inc := &incident{
		TruthIncident: TruthIncident{ID: id, Kind: kind, Also: also, Negative: negative, Summary: summary},
		clients:       map[netip.Addr]struct{}{},
		specEps:       map[int]struct{}{},
	}
	if a != nil && a.principal != "" {
		p := a.principal
		inc.Principal = &p
		inc.Subject = a.sub
	}
	s.incidents = append(s.incidents, inc)
	return len(s.incidents) - 1
}

// series plans calls by a from ip as sessions of at most 100 calls, each
// starting when the previous one's think times say it should.
func (s *sim) series(idx int, a *actor, ip netip.Addr, ua string, start time.Time, calls []call) {
	t := start
	for len(calls) > 0 {
		n := min(100, len(calls))
		ss := &session{start: t, a: a, ip: ip, ua: ua, incident: idx, calls: append([]call(nil), calls[:n]...)}
		ss.calls[0].think = 0
		for _, c := range ss.calls {
			t = t.Add(c.think)
		}
		t = t.Add(30 * time.Second) // responses and teardown
		calls = calls[n:]
		if len(calls) > 0 {
			t = t.Add(calls[0].think)
		}
		s.planned = append(s.planned, ss)
	}
}

func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

func (s *sim) attacker(ua string) *actor {
	return &actor{kind: kindAttacker, scheme: "none", ua: ua, rtt: time.Duration(40+s.rng.IntN(120)) * time.Millisecond}
}

// pick returns a user of the given scheme not behind NAT, skipping taken ones.
func (s *sim) pick(scheme string, taken map[*actor]bool) *actor {
	var cands []*actor
	for _, a := range s.users {
		if a.scheme == scheme && !a.natted && !a.v6 && !taken[a] {
			cands = append(cands, a)
		}
	}
	var a *actor
	if len(cands) == 0 {
		// Too few users for this scheme: make one.
		a = &actor{kind: kindUser, cust: 1 + s.rng.Int64N(s.customers), rtt: 30 * time.Millisecond, rate: 2, gzip: true,
			ip: publicIP(s.o.Seed<<24 + uint64(len(s.actors)) + 0x51)}
		if scheme == "apikey-header" || scheme == "apikey-query" {
			a.kind = kindIntegration
			a.ua = intUAs[0]
		} else {
			a.ua = appUAs[0]
		}
		s.credentials(a, scheme, uint64(1<<31+len(s.actors)))
		s.actors = append(s.actors, a)
		s.users = append(s.users, a)
	} else {
		a = cands[s.rng.IntN(len(cands))]
	}
	taken[a] = true
	return a
}

// fakeEmail returns a plausible email that belongs to no customer.
func fakeEmail(r *rand.Rand) string {
	return fmt.Sprintf("%s.%s%d@%s", lower(firstNames[r.IntN(len(firstNames))]), lower(lastNames[r.IntN(len(lastNames))]),
		1000+r.IntN(9000), mailDoms[r.IntN(len(mailDoms))])
}

// planIncidents schedules the labelled scenarios of the built-in API, all in
// the second half of the run so that the first half can serve as baseline.
func (s *sim) planIncidents() {
	r := s.rng
	run := s.end.Sub(s.start)
	taken := map[*actor]bool{}
	ipN := uint64(0)
	newIP := func() netip.Addr { ipN++; return publicIP(s.o.Seed<<40 + 0xbad0000 + ipN) }

	// Optus: an unauthenticated, sequential walk over customer ids on an
	// endpoint that forgot to check credentials.
	{
		a := s.attacker("python-requests/2.31.0")
		idx := s.newIncident("optus-id-walk", "enumeration", []string{"sensitive_data_exposure"}, false,
			"unauthenticated client walks /v1/customers/{id} sequentially; every record comes back with personal data", nil)
		first := 1000 + r.Int64N(5000)
		var cs []call
		for i := range int64(2500) {
			cs = append(cs, call{op: opCustomer, id: first + i, noAuth: true, status: 200, think: between(r, 250*time.Millisecond, 600*time.Millisecond)})
		}
		s.series(idx, a, newIP(), "", s.at(0.62), cs)
	}
	// Trello: lookup-by-email probing spread over hundreds of proxies, a
	// handful of lookups each.
	{
		// Profiles found are returned to callers without credentials: that is
		// also the contract's sensitive_data_exposure.
		idx := s.newIncident("trello-email-probe", "enumeration", []string{"sensitive_data_exposure"}, false,
			"300 source addresses each try a few emails on /v1/customers/lookup without credentials (fleet-wide scraping; most return 404)", nil)
		from, win := s.at(0.55), 8*time.Hour
		for range 300 {
			a := s.attacker(browserUAs[r.IntN(len(browserUAs))])
			var cs []call
			for range 4 + r.IntN(5) {
				c := call{op: opLookup, noAuth: true, think: between(r, 20*time.Second, 120*time.Second)}
				if r.Float64() < 0.3 {
					c.id = 1 + r.Int64N(s.customers)
					c.s = string(customerEmail(nil, c.id))
					c.status = 200
				} else {
					c.s = fakeEmail(r)
					c.status = 404
				}
				cs = append(cs, c)
			}
			s.series(idx, a, newIP(), "", from.Add(time.Duration(r.Int64N(int64(win)))), cs)
		}
	}
	// T-Mobile: a partner key extracting customer records low and slow.
	{
		a := s.pick("apikey-header", taken)
		idx := s.newIncident("low-and-slow-extraction", "exfiltration", []string{"enumeration"}, false,
			"a partner API key pulls customer records far outside its own block, one every ~20 s for many hours", a)
		dur := min(30*time.Hour, time.Duration(float64(run)*0.3))
		var cs []call
		for t := time.Duration(0); t < dur; {
			th := between(r, 10*time.Second, 30*time.Second)
			t += th
			cs = append(cs, call{op: opCustomer, id: 1 + r.Int64N(s.customers), think: th})
		}
		s.series(idx, a, a.ip, "", s.at(0.6), cs)
	}
	// BOLA: a logged-in user reads other customers' orders.
	{
		a := s.pick("jwt", taken)
		idx := s.newIncident("bola-orders", "enumeration", nil, false,
			"an authenticated user walks /v1/orders/{id} through other customers' orders (broken object-level authorisation)", a)
		id := orderID(1+r.Int64N(s.customers-500), 0)
		var cs []call
		for range 400 {
			c := call{op: opOrder, id: id, think: between(r, 3*time.Second, 8*time.Second), status: 404}
			if _, ok := orderOwner(id); ok {
				c.status = 200
			}
			cs = append(cs, c)
			id++
		}
		s.series(idx, a, a.ip, "", s.at(0.7), cs)
	}
	// Exfiltration through huge page sizes.
	{
		a := s.pick("apikey-query", taken)
		idx := s.newIncident("huge-page-exfil", "exfiltration", nil, false,
			"an integration key lists /v1/orders with page_size=2000 (normally 20-50): megabytes per response", a)
		var cs []call
		for p := range 6 {
			cs = append(cs, call{op: opOrders, id: int64(p + 1), n: 2000, think: between(r, 5*time.Second, 10*time.Second)})
		}
		s.series(idx, a, a.ip, "", s.at(0.8), cs)
	}
	// Distributed credential stuffing.
	{
		idx := s.newIncident("credential-stuffing", "auth_abuse", nil, false,
			"150 addresses replay leaked email/password pairs on /v1/auth/login: bursts of 401 with a few successes", nil)
		from, win := s.at(0.66), 90*time.Minute
		wins := 0
		for range 150 {
			a := s.attacker(browserUAs[r.IntN(2)])
			var cs []call
			for range 3 + r.IntN(4) {
				c := call{op: opLogin, noAuth: true, status: 401, think: between(r, 2*time.Second, 15*time.Second)}
				if r.Float64() < 0.5 {
					c.s = string(customerEmail(nil, 1+r.Int64N(s.customers)))
				} else {
					c.s = fakeEmail(r)
				}
				if wins < 2 && r.Float64() < 0.01 {
					c.status = 200
					wins++
				}
				cs = append(cs, c)
			}
			s.series(idx, a, newIP(), "", from.Add(time.Duration(r.Int64N(int64(win)))), cs)
		}
	}
	// Kronos: a stolen API key used from a new network and user agent.
	{
		a := s.pick("apikey-header", taken)
		idx := s.newIncident("stolen-api-key", "credential_misuse", []string{"enumeration", "exfiltration"}, false,
			"a partner API key suddenly used from a hosting network with curl instead of its own client", a)
		var cs []call
		for range 80 {
			c := call{think: between(r, 5*time.Second, 40*time.Second)}
			switch r.IntN(3) {
			case 0:
				c.op, c.id = opCustomer, 1+r.Int64N(s.customers)
			case 1:
				c.op, c.id = opLookup, 1+r.Int64N(s.customers)
				c.s = string(customerEmail(nil, c.id))
			default:
				c.op, c.id, c.n = opOrders, 1+r.Int64N(50), 50
			}
			cs = append(cs, c)
		}
		s.series(idx, a, newIP(), "curl/8.5.0", s.at(0.75), cs)
	}
	// Leaked tokens.
	{
		a := s.pick("jwt", taken)
		idx := s.newIncident("leak-hf-token-url", "secret_exposure", undocQuery, false,
			"a client puts a Hugging Face token (hf_) in the query string of /v1/search", a)
		tok := randToken("hf_", 34, s.o.Seed+1, alnum)
		var cs []call
		for range 4 {
			cs = append(cs, call{op: opSearch, s: words[r.IntN(len(words))], n: 10, query: "hf_token=" + tok, think: between(r, 10*time.Minute, 40*time.Minute)})
		}
		s.series(idx, a, a.ip, "", s.at(0.57), cs)
	}
	{
		a := s.pick("cookie", taken)
		idx := s.newIncident("leak-aws-key-body", "secret_exposure", nil, false,
			"a user pastes AWS credentials (AKIA…) into a profile field sent to PATCH /v1/accounts/me", a)
		key := randToken("AKIA", 16, s.o.Seed+2, upperNum)
		sec := randToken("", 40, s.o.Seed+3, alnum+"/+")
		var cs []call
		for range 2 {
			cs = append(cs, call{op: opPatchMe, bodyAdd: `,"notes":"backup: aws_access_key_id=` + key + ` aws_secret_access_key=` + sec + `"`, think: between(r, time.Minute, 5*time.Minute)})
		}
		s.series(idx, a, a.ip, "", s.at(0.63), cs)
	}
	{
		a := s.pick("apikey-header", taken)
		idx := s.newIncident("leak-github-token-url", "secret_exposure", undocQuery, false,
			"an integration sends a GitHub token (ghp_) as a ref parameter to /v1/products/{sku}", a)
		tok := randToken("ghp_", 36, s.o.Seed+4, alnum)
		var cs []call
		for range 3 {
			cs = append(cs, call{op: opProduct, id: 1 + int64(r.IntN(2000)), query: "ref=" + tok, think: between(r, 20*time.Minute, 2*time.Hour)})
		}
		s.series(idx, a, a.ip, "", s.at(0.72), cs)
	}
	{
		a := s.pick("jwt", taken)
		idx := s.newIncident("leak-stripe-key-response", "secret_exposure", nil, false,
			"the API returns a live Stripe secret key (sk_live_) inside /v1/accounts/me for one merchant account", a)
		key := randToken("sk_live_", 48, s.o.Seed+5, alnum)
		var cs []call
		for range 3 {
			cs = append(cs, call{op: opMe, respAdd: `,"payment_settings":{"provider":"stripe","secret_key":"` + key + `"}`, think: between(r, 30*time.Minute, 3*time.Hour)})
		}
		s.series(idx, a, a.ip, "", s.at(0.83), cs)
	}
	// Personal data to anonymous callers: receipt links that need no login.
	{
		idx := s.newIncident("pii-anonymous-receipts", "sensitive_data_exposure", nil, false,
			"/v1/orders/{id}/receipt answers callers without credentials with names, emails and addresses", nil)
		from, to := s.at(0.58), s.at(0.9)
		for range 25 {
			a := s.attacker(browserUAs[r.IntN(len(browserUAs))])
			var cs []call
			for range 1 + r.IntN(2) {
				cust := 1 + r.Int64N(s.customers)
				cs = append(cs, call{op: opReceipt, id: orderID(cust, 0), noAuth: true, status: 200, think: between(r, 5*time.Second, 60*time.Second)})
			}
			s.series(idx, a, newIP(), "", from.Add(time.Duration(r.Int64N(int64(to.Sub(from))))), cs)
		}
	}
	// An internal debug endpoint in use.
	{
		a := s.attacker("curl/7.88.1")
		idx := s.newIncident("debug-endpoint", "shadow_endpoint", nil, false,
			"the undocumented /v1/debug/config (running configuration, internal hosts) is being called", nil)
		ip := netip.AddrFrom4([4]byte{10, 0, 9, 15})
		from, to := s.at(0.6), s.at(0.95)
		for i := range 10 {
			t := from.Add(time.Duration(int64(to.Sub(from)) / 10 * int64(i)))
			s.series(idx, a, ip, "", t.Add(between(r, 0, time.Hour)), []call{{op: opDebug, noAuth: true}})
		}
	}
	// Hard negatives.
	{
		a := &actor{kind: kindService, cust: 1, ua: "export-job/1.4", ip: netip.AddrFrom4([4]byte{10, 0, 5, 20}), gzip: true, rtt: time.Millisecond}
		s.credentials(a, "apikey-header", 1<<32)
		s.actors = append(s.actors, a)
		idx := s.newIncident("nightly-export", "exfiltration", nil, true,
			"every night at 02:00 a service key exports customers changed since the day before (large, regular, expected)", a)
		for d := range s.o.Days {
			t := s.start.Add(time.Duration(d)*24*time.Hour + 2*time.Hour + between(r, 0, 3*time.Minute))
			s.series(idx, a, a.ip, "", t, []call{{op: opExport, id: int64(d), n: 1500}})
		}
	}
	s.surgeIdx = -1
	if s.o.Days >= 3 {
		day := int(float64(s.o.Days) * 0.85)
		s.surgeFrom = s.start.Add(time.Duration(day)*24*time.Hour + 9*time.Hour)
		s.surgeTo = s.surgeFrom.Add(9 * time.Hour)
		s.surgeIdx = s.newIncident("marketing-surge", "rate_anomaly", nil, true,
			"a marketing campaign day: ordinary users (not behind NAT) come four times as often, 09:00-18:00", nil)
	}
	s.natIdx = s.newIncident("shared-nat", "enumeration", []string{"auth_abuse", "credential_misuse"}, true,
		"about a quarter of ordinary users share "+strconv.Itoa(len(s.natIPs))+" NAT addresses: many principals and objects per address, all benign", nil)
}
