package synth

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// ErrBadOptions is returned for simulator options out of range.
var ErrBadOptions = errors.New("invalid simulation options")

// SimOptions configure a simulation. The zero value simulates the built-in
// API for 7 days with 120 users and seed 0.
type SimOptions struct {
	// Days of simulated traffic; 0 means 7.
	Days int
	// Users is the number of ordinary API users; 0 means 120.
	Users int
	// Seed makes the run reproducible: same options, same bytes.
	Seed uint64
	// Impair adds loss, retransmission, reordering, mid-stream and one-sided
	// captures, pipelining, 100-continue, malformed requests, non-HTTP flows,
	// VLAN tags and IPv6 clients.
	Impair bool
	// Scale multiplies the ordinary population (and so the capture's size)
	// for performance captures; 0 means 1. Incidents are not scaled.
	Scale float64
	// Spec, when set, is an OpenAPI 3.x or Swagger 2.0 document (YAML or
	// JSON) that replaces the built-in API.
	Spec string
	// Start is the beginning of simulated time; zero means
	// 2026-03-02T00:00:00Z (a Monday).
	Start time.Time
}

// Simulate writes dir/traffic.pcap, dir/documented.yaml and dir/truth.json
// and returns the truth.
func Simulate(dir string, o SimOptions) (*Truth, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	f, err := os.Create(filepath.Join(dir, "traffic.pcap"))
	if err != nil {
		return nil, fmt.Errorf("creating capture: %w", err)
	}
	var doc bytes.Buffer
	t, err := SimulateTo(f, &doc, o)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing capture: %w", cerr)
	}
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "documented.yaml"), doc.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("writing documented.yaml: %w", err)
	}
	js, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding truth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), append(js, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("writing truth.json: %w", err)
	}
	return t, nil
}

// SimulateTo streams the capture to pcap and the documented spec to doc.
func SimulateTo(pcap, doc io.Writer, o SimOptions) (*Truth, error) {
	s, err := newSim(o)
	if err != nil {
		return nil, err
	}
	pw, err := NewWriter(pcap, WriterOptions{})
	if err != nil {
		return nil, err
	}
	s.pw = pw
	s.merger = NewMerger(pw)
	if err := s.run(); err != nil {
		return nil, err
	}
	if err := s.merger.Flush(); err != nil {
		return nil, err
	}
	if err := pw.Flush(); err != nil {
		return nil, err
	}
	if _, err := doc.Write(s.documentedYAML()); err != nil {
		return nil, fmt.Errorf("writing documented spec: %w", err)
	}
	return s.truth(), nil
}

type actorKind uint8

const (
	kindUser actorKind = iota
	kindIntegration
	kindAdmin
	kindService
	kindAttacker
)

// actor is someone calling the API.
type actor struct {
	kind      actorKind
	cust      int64 // own customer id
	scheme    string
	cred      string
	sub       string
	principal string
	ua        string
	ip        netip.Addr
	rate      float64 // sessions per day
	gzip      bool
	rtt       time.Duration
	natted    bool
	v6        bool
}

// call is one request a session makes.
type call struct {
	op      opKind
	id      int64
	n       int
	s       string
	think   time.Duration // pause before the call
	noAuth  bool
	status  int    // forced status; 0 lets the API decide
	query   string // extra query parameters (leaks)
	bodyAdd string // extra request body field (leaks)
	respAdd string // extra response field (leaks)
	spec    int    // spec-driven operation index
}

// session is a burst of calls by one actor from one address.
type session struct {
	start    time.Time
	a        *actor
	ip       netip.Addr // zero: the actor's
	ua       string     // "": the actor's
	calls    []call
	incident int // index into sim.incidents, -1 for none
	raw      []byte
}

type incident struct {
	TruthIncident
	first, last time.Time
	clients     map[netip.Addr]struct{}
	specEps     map[int]struct{}
}

type sim struct {
	o          SimOptions
	rng        *rand.Rand
	start, end time.Time
	host       string
	server     netip.AddrPort
	server6    netip.AddrPort
	ops        []*operation
	byKind     [numOps]*operation
	spec       *specAPI
	actors     []*actor
	users      []*actor // kindUser and kindIntegration, for the hourly draw
	natIPs     []netip.Addr
	ports      map[netip.Addr]uint16
	incidents  []*incident
	planned    []*session // incident and negative sessions, sorted by start
	pw         *Writer
	merger     *Merger
	opCount    []int64
	tot        TruthTotals
	buf        []byte
	customers  int64
	skuZipf    *rand.Zipf
	wordZipf   *rand.Zipf
	surgeFrom  time.Time
	surgeTo    time.Time
	surgeIdx   int
	natIdx     int
	principals map[string]struct{}
	cz         Compressor
	reqBuf     []byte
	respBuf    []byte
}

func newSim(o SimOptions) (*sim, error) {
	if o.Days == 0 {
		o.Days = 7
	}
	if o.Users == 0 {
		o.Users = 120
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Days < 0 || o.Days > 366 || o.Users < 0 || o.Scale < 0 || math.IsNaN(o.Scale) || o.Scale > 1e5 {
		return nil, fmt.Errorf("days %d, users %d, scale %g: %w", o.Days, o.Users, o.Scale, ErrBadOptions)
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	}
	s := &sim{
		o:          o,
		rng:        rand.New(rand.NewPCG(o.Seed, 0x5eed5eed)),
		start:      o.Start,
		end:        o.Start.Add(time.Duration(o.Days) * 24 * time.Hour),
		host:       "api.example.com",
		server:     netip.MustParseAddrPort("10.20.0.10:80"),
		server6:    netip.MustParseAddrPort("[2001:db8:20::10]:80"),
		ports:      map[netip.Addr]uint16{},
		principals: map[string]struct{}{},
		cz:         Compressor{GzipLevel: gzip.HuffmanOnly},
	}
	if o.Spec != "" {
		api, err := loadSpec(o.Spec, s.rng)
		if err != nil {
			return nil, err
		}
		s.spec = api
		s.ops = api.ops
		s.host = api.host
	} else {
		s.ops = builtinOps()
		for _, op := range s.ops {
			s.byKind[op.kind] = op
		}
	}
	s.opCount = make([]int64, len(s.ops))
	s.skuZipf = rand.NewZipf(s.rng, 1.15, 2, 1999)
	s.wordZipf = rand.NewZipf(s.rng, 1.3, 1, uint64(len(words)-1))
	nUsers := int(math.Round(float64(o.Users) * o.Scale))
	s.customers = int64(max(5000, nUsers*20))
	s.population(nUsers)
	if s.spec != nil {
		s.planSpecIncidents()
	} else {
		s.planIncidents()
	}
	slices.SortStableFunc(s.planned, func(a, b *session) int { return a.start.Compare(b.start) })
	return s, nil
}

// at returns the simulated time at fraction f of the run.
func (s *sim) at(f float64) time.Time {
	return s.start.Add(time.Duration(f * float64(s.end.Sub(s.start))))
}

var (
	browserUAs = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:129.0) Gecko/20100101 Firefox/129.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36 Edg/128.0.0.0",
	}
	appUAs = []string{"ShopWise-iOS/5.12.1 (iPhone; iOS 17.6)", "ShopWise-Android/5.12.0 (Pixel 8; Android 14)", "ShopWise-iOS/5.11.4 (iPad; iOS 17.5)", "okhttp/4.12.0"}
	intUAs = []string{"acme-sync/2.4 (+https://acme.example)", "Zapier", "orderbridge/1.9 go-http-client", "python-requests/2.32.3", "Apache-HttpClient/4.5.14 (Java/17.0.10)"}
)

// publicIP returns a deterministic public-looking IPv4 address for n.
func publicIP(n uint64) netip.Addr {
	for {
		h := mix(n)
		a := [4]byte{byte(h), byte(h >> 8), byte(h >> 16), byte(h >> 24)}
		switch {
		case a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 || a[0] == 100 && a[1] >= 64 && a[1] < 128,
			a[0] == 172 && a[1] >= 16 && a[1] < 32, a[0] == 192 && a[1] == 168, a[0] == 169 && a[1] == 254,
			a[3] == 0 || a[3] == 255:
			n += 0x1000193
			continue
		}
		return netip.AddrFrom4(a)
	}
}

func ip6For(n uint64) netip.Addr {
	h := mix(n ^ 0x66)
	var a [16]byte
	copy(a[:], []byte{0x20, 0x01, 0x0d, 0xb8, byte(h), byte(h >> 8), 0, 0})
	for i := 8; i < 16; i++ {
		a[i] = byte(mix(h + uint64(i)))
	}
	return netip.AddrFrom16(a)
}

// newActor fills credentials for a with the given scheme.
func (s *sim) credentials(a *actor, scheme string, n uint64) {
	a.scheme = scheme
	seed := s.o.Seed*1000003 + n
	switch scheme {
	case "jwt":
		a.sub = "usr_" + strconv.FormatInt(a.cust, 10)
		a.cred = makeJWT(a.sub, s.start.Unix()-int64(mix(seed)%(20*86400)), seed)
		a.principal = Fingerprint("jwt", a.sub)
	case "cookie":
		a.cred = randToken("", 32, seed, hexChars)
		a.principal = Fingerprint("cookie", a.cred)
	case "apikey-header", "apikey-query":
		a.cred = randToken("ak_live_", 32, seed, alnum)
		a.principal = Fingerprint(scheme, a.cred)
	case "none":
		return
	}
	s.principals[a.principal] = struct{}{}
}

func (s *sim) population(n int) {
	r := s.rng
	// Shared NAT: corporate gateways and a carrier-grade NAT; ~25% of
	// users sit behind one of them.
	nNAT := max(2, n/60)
	for i := range nNAT {
		s.natIPs = append(s.natIPs, publicIP(uint64(s.o.Seed)<<20+uint64(0xa7a7+i)))
	}
	for i := range n {
		a := &actor{kind: kindUser, cust: 1 + int64(mix(uint64(i)^s.o.Seed)%uint64(s.customers)), rtt: time.Duration(5+r.IntN(80)) * time.Millisecond}
		u := r.Float64()
		switch {
		case u < 0.55:
			s.credentials(a, "jwt", uint64(i))
			a.ua = appUAs[r.IntN(len(appUAs))]
			a.gzip = true
		case u < 0.78:
			s.credentials(a, "cookie", uint64(i))
			a.ua = browserUAs[r.IntN(len(browserUAs))]
			a.gzip = true
		case u < 0.92:
			a.kind = kindIntegration
			s.credentials(a, "apikey-header", uint64(i))
			a.ua = intUAs[r.IntN(len(intUAs))]
		default:
			a.kind = kindIntegration
			s.credentials(a, "apikey-query", uint64(i))
			a.ua = intUAs[r.IntN(len(intUAs))]
			a.gzip = r.IntN(2) == 0
		}
		// Activity: log-normal, ~2.5 sessions a day on average; integrations poll more.
		a.rate = math.Exp(r.NormFloat64()*0.8) * 1.8
		if a.kind == kindIntegration {
			a.rate *= 3
		}
		if r.Float64() < 0.25 && a.kind == kindUser {
			a.ip = s.natIPs[r.IntN(len(s.natIPs))]
			a.natted = true
		} else {
			a.ip = publicIP(s.o.Seed<<32 + uint64(i))
		}
		if s.o.Impair && r.Float64() < 0.1 && !a.natted {
			a.ip = ip6For(s.o.Seed<<32 + uint64(i))
			a.v6 = true
		}
		s.actors = append(s.actors, a)
		s.users = append(s.users, a)
	}
	// Support staff on the internal network, using the admin console.
	for i := range 3 {
		a := &actor{kind: kindAdmin, cust: int64(i + 1), ua: browserUAs[i%len(browserUAs)], ip: netip.AddrFrom4([4]byte{10, 0, 8, byte(20 + i)}), rate: 4, gzip: true, rtt: 2 * time.Millisecond}
		s.credentials(a, "cookie", uint64(1<<30+i))
		s.actors = append(s.actors, a)
		s.users = append(s.users, a)
	}
}

// cycle is the relative activity at t: a daily curve peaking mid-afternoon
// and quieter weekends; it averages about 1 over a week.
func (s *sim) cycle(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	d := 0.15 + 0.85*math.Pow(math.Max(0, math.Sin((h-6)/24*2*math.Pi*0.75+0.0)), 1.5)
	if h < 6 || h > 23 {
		d = 0.12
	}
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		d *= 0.55
	}
	return d * 1.9
}

// poisson draws a Poisson variate of mean m.
func poisson(r *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	if m > 30 {
		return max(0, int(math.Round(m+math.Sqrt(m)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (s *sim) run() error {
	const slot = 10 * time.Minute
	pi := 0
	var batch []*session
	for t := s.start; t.Before(s.end); t = t.Add(slot) {
		batch = batch[:0]
		mult := s.cycle(t) * slot.Hours() / 24
		surge := !t.Before(s.surgeFrom) && t.Before(s.surgeTo)
		for _, a := range s.users {
			m := a.rate * mult
			if a.kind == kindAdmin {
				if t.Weekday() == time.Saturday || t.Weekday() == time.Sunday || t.Hour() < 8 || t.Hour() >= 18 {
					continue
				}
				m = a.rate * slot.Hours() / 10
			}
			if surge && a.kind == kindUser {
				m *= 4
			}
			for range poisson(s.rng, m) {
				ss := &session{start: t.Add(time.Duration(s.rng.Int64N(int64(slot)))), a: a, incident: -1}
				if a.natted {
					ss.incident = s.natIdx
				}
				if surge && a.kind == kindUser && !a.natted {
					ss.incident = s.surgeIdx
				}
				s.normalCalls(ss)
				batch = append(batch, ss)
			}
		}
		for pi < len(s.planned) && s.planned[pi].start.Before(t.Add(slot)) {
			batch = append(batch, s.planned[pi])
			pi++
		}
		if s.o.Impair {
			batch = s.impairExtras(t, slot, batch)
		}
		slices.SortStableFunc(batch, func(a, b *session) int { return a.start.Compare(b.start) })
		for _, ss := range batch {
			if err := s.merger.Drain(ss.start); err != nil {
				return err
			}
			if err := s.play(ss); err != nil {
				return err
			}
		}
	}
	for ; pi < len(s.planned); pi++ { // sessions planned past the end
		ss := s.planned[pi]
		if err := s.merger.Drain(ss.start); err != nil {
			return err
		}
		if err := s.play(ss); err != nil {
			return err
		}
	}
	return nil
}

func think(r *rand.Rand) time.Duration {
	// Mostly a few seconds, a long tail of reading time.
	return time.Duration(math.Exp(r.NormFloat64()*0.9+0.9) * float64(time.Second))
}

// normalCalls fills a benign session for its actor.
func (s *sim) normalCalls(ss *session) {
	if s.spec != nil {
		s.specCalls(ss)
		return
	}
	r, a := s.rng, ss.a
	n := 1 + int(math.Exp(r.NormFloat64()*0.7+1.4))
	n = min(n, 40)
	add := func(c call) {
		if len(ss.calls) > 0 {
			c.think = think(r)
		}
		ss.calls = append(ss.calls, c)
	}
	ownOrder := func() int64 { return orderID(a.cust, r.IntN(ordersOf(a.cust))) }
	switch a.kind {
	case kindUser:
		if a.scheme == "jwt" && r.Float64() < 0.25 || a.scheme == "cookie" && r.Float64() < 0.1 {
			add(call{op: opLogin})
		}
		for range n {
			switch w := r.IntN(100); {
			case w < 30:
				add(call{op: opProduct, id: 1 + int64(s.skuZipf.Uint64())})
			case w < 45:
				add(call{op: opSearch, s: words[s.wordZipf.Uint64()], n: []int{10, 20, 20, 50}[r.IntN(4)]})
			case w < 59:
				add(call{op: opMe})
			case w < 69:
				add(call{op: opOrder, id: ownOrder()})
			case w < 77:
				add(call{op: opCustomerOrders, id: a.cust})
			case w < 82:
				add(call{op: opOrders, id: 1, n: 20})
			case w < 86:
				add(call{op: opCustomer, id: a.cust})
			case w < 89:
				add(call{op: opReceipt, id: ownOrder()})
			case w < 95:
				add(call{op: opProduct, id: 1 + int64(s.skuZipf.Uint64())})
			case w < 98:
				add(call{op: opCreateOrder, id: 1 + int64(s.skuZipf.Uint64())})
			case w < 99:
				add(call{op: opPatchMe})
			default:
				add(call{op: opProduct, id: 2001 + int64(r.IntN(300))}) // unknown SKU: 404
			}
		}
	case kindIntegration:
		// A partner system syncing its own customers: a block of managed ids.
		base := a.cust
		for range n {
			switch w := r.IntN(100); {
			case w < 45:
				add(call{op: opCustomer, id: base + int64(r.IntN(40))})
			case w < 60:
				id := base + int64(r.IntN(40))
				add(call{op: opLookup, id: id, s: string(customerEmail(nil, id))})
			case w < 80:
				add(call{op: opOrders, id: 1 + int64(r.IntN(3)), n: 50})
			case w < 92:
				c := base + int64(r.IntN(40))
				add(call{op: opOrder, id: orderID(c, r.IntN(ordersOf(c)))})
			default:
				add(call{op: opCustomerOrders, id: base + int64(r.IntN(40))})
			}
		}
	case kindAdmin:
		for range n {
			switch w := r.IntN(100); {
			case w < 35:
				add(call{op: opAdminUsers, id: 1 + int64(r.IntN(20))})
			case w < 75:
				add(call{op: opCustomer, id: 1 + r.Int64N(s.customers)})
			case w < 92:
				c := 1 + r.Int64N(s.customers)
				add(call{op: opOrder, id: orderID(c, 0)})
			default:
				c := 1 + r.Int64N(s.customers)
				add(call{op: opRefund, id: orderID(c, 0)})
			}
		}
	}
}

// nextPort returns a fresh ephemeral port for ip.
func (s *sim) nextPort(ip netip.Addr) uint16 {
	p, ok := s.ports[ip]
	if !ok {
		p = 32768 + uint16(mix(uint64(len(s.ports))^s.o.Seed)%20000)
	}
	p++
	if p < 32768 || p > 60999 {
		p = 32768
	}
	s.ports[ip] = p
	return p
}

const keepAliveIdle = 15 * time.Second

// play puts one session on the wire through a recorder handed to the merger.
func (s *sim) play(ss *session) error {
	a := ss.a
	ip := ss.ip
	if !ip.IsValid() {
		ip = a.ip
	}
	rec := s.merger.Recorder()
	var inc *incident
	if ss.incident >= 0 {
		inc = s.incidents[ss.incident]
	}
	var conn *Conn
	reqs := 0
	now := ss.start
	open := func() error {
		srv := s.server
		if ip.Is6() {
			srv = s.server6
		}
		o := ConnOptions{Client: netip.AddrPortFrom(ip, s.nextPort(ip)), Server: srv, RTT: a.rtt, Seed: s.rng.Uint64()}
		if o.RTT == 0 {
			o.RTT = 20 * time.Millisecond
		}
		if s.o.Impair {
			s.impairConn(&o)
		}
		c, err := NewConn(rec, now, o)
		if err != nil {
			return err
		}
		conn = c
		reqs = 0
		s.tot.Connections++
		return nil
	}
	closeIdle := func() error {
		if conn == nil {
			return nil
		}
		conn.Advance(keepAliveIdle)
		err := conn.Close(ServerToClient)
		now = conn.Now()
		conn = nil
		return err
	}
	if ss.raw != nil {
		if err := open(); err != nil {
			return err
		}
		if err := conn.Exchange(ss.raw, nil, 0); err != nil {
			return err
		}
		if err := conn.Close(ClientToServer); err != nil {
			return err
		}
		s.merger.Add(rec)
		return nil
	}
	for i := 0; i < len(ss.calls); i++ {
		c := &ss.calls[i]
		if conn != nil {
			if c.think > keepAliveIdle || reqs >= 100 {
				t := conn.Now().Add(c.think)
				if err := closeIdle(); err != nil {
					return err
				}
				now = t
			} else {
				conn.Advance(c.think)
			}
		} else if c.think > 0 {
			now = now.Add(c.think)
		}
		if conn == nil {
			if err := open(); err != nil {
				return err
			}
		}
		// Pipelining (impaired runs): several GETs in one write.
		if s.o.Impair && s.spec == nil && s.rng.Float64() < 0.03 && i+2 < len(ss.calls) && pipelinable(ss.calls[i:i+3]) {
			var rq, rs [][]byte
			first := conn.Now()
			for j := range 3 {
				q, p, _ := s.render(ss, &ss.calls[i+j])
				rq, rs = append(rq, bytes.Clone(q)), append(rs, bytes.Clone(p))
				s.count(ss, inc, &ss.calls[i+j], ip, first)
			}
			if err := conn.Pipeline(rq, rs, 3*time.Millisecond); err != nil {
				return err
			}
			i += 2
			reqs += 3
			continue
		}
		s.count(ss, inc, c, ip, conn.Now())
		req, resp, srvTime := s.render(ss, c)
		var err error
		if s.o.Impair && c.op == opCreateOrder && s.spec == nil && s.rng.Float64() < 0.3 {
			head, body := splitHead(req)
			err = conn.Continue(head, body, resp, srvTime)
		} else {
			err = conn.Exchange(req, resp, srvTime)
		}
		if err != nil {
			return err
		}
		reqs++
	}
	if conn != nil {
		if err := closeIdle(); err != nil {
			return err
		}
	}
	s.merger.Add(rec)
	return nil
}

func pipelinable(cs []call) bool {
	for _, c := range cs {
		if c.op == opLogin || c.op == opCreateOrder || c.op == opPatchMe || c.op == opRefund || c.think > keepAliveIdle || c.spec != 0 {
			return false
		}
	}
	return true
}

func splitHead(req []byte) (head, body []byte) {
	i := bytes.Index(req, []byte("\r\n\r\n"))
	return req[:i+4], req[i+4:]
}

// count records a transaction in the truth.
func (s *sim) count(ss *session, inc *incident, c *call, ip netip.Addr, ts time.Time) {
	s.tot.Transactions++
	s.tot.Responses++
	idx := s.opIndex(c)
	s.opCount[idx]++
	if inc == nil {
		return
	}
	if inc.Negative {
		s.tot.NegativeTransactions++
	} else {
		s.tot.IncidentTransactions++
	}
	inc.Transactions++
	if inc.first.IsZero() || ts.Before(inc.first) {
		inc.first = ts
	}
	if ts.After(inc.last) {
		inc.last = ts
	}
	inc.clients[ip] = struct{}{}
	inc.specEps[idx] = struct{}{}
}

func (s *sim) opIndex(c *call) int {
	if s.spec != nil {
		return c.spec
	}
	for i, op := range s.ops {
		if op.kind == c.op {
			return i
		}
	}
	return 0
}

// truth assembles truth.json.
func (s *sim) truth() *Truth {
	t := &Truth{
		Version: 1, Seed: s.o.Seed, Days: s.o.Days, Users: s.o.Users, Scale: s.o.Scale, Impaired: s.o.Impair,
		Spec: "builtin", Host: s.host, Server: s.server.String(),
		Start: s.start.Format(time.RFC3339Nano), End: s.end.Format(time.RFC3339Nano),
		PrincipalRule: "scheme:first 8 hex digits of SHA-256(value); scheme is the contract auth name (jwt, cookie, apikey-header, apikey-query); value is the JWT sub claim for jwt, else the credential itself (cookie value, API key)",
	}
	if s.o.Spec != "" {
		t.Spec = filepath.Base(s.o.Spec)
	}
	for i, op := range s.ops {
		t.Operations = append(t.Operations, TruthOperation{Method: op.method, Path: op.path, Documented: op.documented, Used: s.opCount[i] > 0, Transactions: s.opCount[i]})
		t.Totals.OperationsTotal++
		if s.opCount[i] > 0 {
			t.Totals.OperationsUsed++
		}
		if !op.documented {
			t.Totals.OperationsUndocumented++
		}
	}
	slices.SortFunc(t.Operations, func(a, b TruthOperation) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Method, b.Method))
	})
	for _, inc := range s.incidents {
		ti := inc.TruthIncident
		ti.Clients = []string{}
		var ips []netip.Addr
		for ip := range inc.clients {
			ips = append(ips, ip)
		}
		slices.SortFunc(ips, netip.Addr.Compare)
		for _, ip := range ips {
			ti.Clients = append(ti.Clients, ip.String())
		}
		ti.Endpoints = []TruthEndpoint{}
		var idx []int
		for i := range inc.specEps {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		for _, i := range idx {
			ti.Endpoints = append(ti.Endpoints, TruthEndpoint{Method: s.ops[i].method, Path: s.ops[i].path})
		}
		if !inc.first.IsZero() {
			ti.FirstSeen = inc.first.Format(time.RFC3339Nano)
			ti.LastSeen = inc.last.Format(time.RFC3339Nano)
		}
		t.Incidents = append(t.Incidents, ti)
	}
	t.Totals.Transactions = s.tot.Transactions
	t.Totals.Responses = s.tot.Responses
	t.Totals.Connections = s.tot.Connections
	t.Totals.NonHTTPConnections = s.tot.NonHTTPConnections
	t.Totals.MalformedRequests = s.tot.MalformedRequests
	t.Totals.ImpairedConnections = s.tot.ImpairedConnections
	t.Totals.IncidentTransactions = s.tot.IncidentTransactions
	t.Totals.NegativeTransactions = s.tot.NegativeTransactions
	t.Totals.Principals = len(s.principals)
	t.Totals.Packets = s.pw.Packets()
	t.Totals.Bytes = s.pw.Bytes()
	return t
}
