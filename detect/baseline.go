package detect

// Behavioural baselines and detectors (issue 6). Everything here is driven
// by capture time and bounded:
//
//   - per endpoint (host, method, template as the inventory names it;
//     baselines move to a template when a position becomes a parameter):
//     hour-of-week and hour-of-day volume, response sizes (DDSketch),
//     distinct objects per principal per 30-60 minutes (DDSketch of closed
//     windows), per-principal request counts, status mix, a 10-minute
//     fleet window (requests, not-found, failed logins, distinct keys and
//     clients as 256-bit linear counters) with EWMA baselines;
//   - per principal (JWT sub › API key / cookie / bearer fingerprint ›
//     client address, see auth.go): 10-minute rate and its peak, the
//     networks (/24, /48), user-agent families and tokens seen, hourly
//     bytes and their peak, the largest response, a CUSUM of object
//     reads, and up to maxTrackers per-endpoint object trackers (distinct
//     ids, id walks, not-found ratio);
//   - per login source and /24: failures in 10 minutes and since the last
//     success.
//
// Detectors (enumeration.go, exfil.go, authabuse.go, credmisuse.go,
// rate.go) compare each transaction with these and raise episodes
// (episode.go): one alert per kind, principal or source, and endpoint,
// extended (count, last_seen, peak figure) while it recurs within
// EpisodeGap. Nothing is raised during the LearningPeriod or for
// allow-listed principals, clients and endpoints.

import (
	"math"
	"math/bits"
	"net/netip"
	"strings"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/shadowtap/shadowtap/reassembly"
)

// BehaviourOptions configure the behavioural baselines and the detectors
// that compare traffic with them (enumeration, exfiltration, auth_abuse,
// credential_misuse, rate_anomaly). The zero value works: every field's
// zero means the documented default.
type BehaviourOptions struct {
	// Disable turns the behavioural detectors off (baselines are not kept).
	Disable bool
	// LearningPeriod is the capture time after the first transaction during
	// which baselines learn and nothing is raised, and the history a
	// credential needs before credential_misuse judges it; 0 means 6h.
	// Each baseline also waits for its own minimum of observations.
	LearningPeriod time.Duration
	// MaxPrincipals bounds the principals tracked; 0 means 100000. The least
	// recently seen of a sample is evicted beyond it (counted).
	MaxPrincipals int
	// MaxEndpoints bounds the endpoint baselines; 0 means 5000.
	MaxEndpoints int
	// MaxAlerts bounds the behavioural alert episodes kept; 0 means 10000.
	// Further episodes are counted, not reported.
	MaxAlerts int
	// EpisodeGap ends an episode after this much quiet capture time; a
	// later recurrence is a new alert. 0 means 1h.
	EpisodeGap time.Duration
	// AllowPrincipals are principal fingerprints ("apikey-header:1a2b3c4d")
	// never alerted on (their traffic still feeds the baselines).
	AllowPrincipals []string
	// AllowClients are client networks never alerted on.
	AllowClients []netip.Prefix
	// AllowEndpoints are endpoints never alerted on: "METHOD /path/{id}" or
	// "/path/{id}" (any method), parameter names free.
	AllowEndpoints []string
	// MinDistinct is the fewest distinct objects (ids, lookup keys) one
	// principal must read from one endpoint within 30–60 minutes before
	// enumeration is considered; 0 means 40. The threshold is also at least
	// EnumerationFactor times the endpoint's per-principal p99 and the
	// principal's own peak.
	MinDistinct int
	// EnumerationFactor: 0 means 4.
	EnumerationFactor float64
	// SequentialRun is the run of consecutive numeric ids (steps of 1 or 2)
	// that is an id walk whatever the distinct count; 0 means 25.
	SequentialRun int
	// FleetNotFound is the fewest not-found answers on one endpoint within
	// a 10-minute window, from several sources, that is fleet enumeration
	// (also well above the endpoint's own not-found baseline); 0 means 20.
	FleetNotFound int
	// AuthFailures is the failed logins from one source (or one /24, /48)
	// within 10 minutes that is a burst; 0 means 10 (20 per network).
	AuthFailures int
	// FleetAuthFailures is the failed logins on one endpoint within 10
	// minutes from several sources that is distributed credential
	// stuffing (also well above the endpoint's own baseline); 0 means 25.
	FleetAuthFailures int
	// ExfilFactor is how far above the endpoint's p99.9 a single response
	// (and above the principal's own hourly peak the hour's bytes) must
	// be; 0 means 6.
	ExfilFactor float64
	// ExfilMinBytes is the smallest response (as sent, compressed or not)
	// that can be exfiltration on its own; 0 means 16 KiB.
	ExfilMinBytes int64
	// RateFactor is how far above its hour-of-week (or, before a week of
	// history, hour-of-day) baseline an endpoint's hourly volume must be
	// for rate_anomaly; 0 means 10.
	RateFactor float64
}

func (o BehaviourOptions) withDefaults() BehaviourOptions {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.LearningPeriod <= 0 {
		o.LearningPeriod = 6 * time.Hour
	}
	if o.EpisodeGap <= 0 {
		o.EpisodeGap = time.Hour
	}
	def(&o.MaxPrincipals, 100000)
	def(&o.MaxEndpoints, 5000)
	def(&o.MaxAlerts, 10000)
	def(&o.MinDistinct, 40)
	def(&o.SequentialRun, 25)
	def(&o.FleetNotFound, 20)
	def(&o.AuthFailures, 10)
	def(&o.FleetAuthFailures, 25)
	deff(&o.EnumerationFactor, 4)
	deff(&o.ExfilFactor, 6)
	deff(&o.RateFactor, 10)
	if o.ExfilMinBytes <= 0 {
		o.ExfilMinBytes = 16 << 10
	}
	return o
}

// Time buckets, in seconds of capture time.
const (
	bucket10 = 600  // fleet windows, per-principal rate, CUSUM steps
	bucket30 = 1800 // half of an enumeration window
	bucketH  = 3600
)

// maxTrackers bounds the per-endpoint object trackers of one principal.
const maxTrackers = 6

// principalKey names a principal: its credential fingerprint, or (without
// credentials) its client address.
type principalKey struct {
	fp   string
	addr netip.Addr
}

// principalState is the baseline of one principal.
type principalState struct {
	key         principalKey
	h           uint64     // key.hash()
	client      netip.Addr // of the last request
	first, last time.Time
	requests    uint64

	// Rate: requests in the current 10-minute bucket and the peak of the
	// closed ones.
	rateIdx  int64
	rateReqs uint32
	peakReqs uint32

	// Networks (/24, /48) and user-agent families seen, most recent last.
	nets  [8]uint32
	nNets uint8
	uas   [4]uint32
	nUAs  uint8
	// Tokens (credential values as sent) seen, most recent last.
	toks  [4]uint32
	nToks uint8

	// maxResp is the largest single response not alerted on.
	maxResp int64
	// Response bytes in the current hour and the peak of closed hours.
	hourIdx   int64
	hourBytes uint64
	peakBytes uint64

	// Low-and-slow CUSUM over 10-minute object reads.
	cuIdx   int64
	cuReads uint32
	cuRun   uint16  // consecutive buckets above the allowance
	cuS     float32 // cumulative excess
	cuMean  float32 // EWMA of reads per active bucket
	cuTotal uint32  // reads in the current run

	objs []objTracker
}

// objTracker counts the distinct objects one principal reads from one
// endpoint over a sliding 30–60 minute window (two 30-minute halves of
// 256-bit linear counters), with its id walk and not-found figures.
type objTracker struct {
	ep         *endpointState
	half       int64
	cur, prev  bits256
	reqs, nf   uint32 // in the current and previous halves
	preqs, pnf uint32
	// others and pothers count reads of objects another principal read
	// first (BOLA evidence), in the current and previous halves.
	others, pothers uint32
	lastID          int64
	firstID         int64 // of the current sequential run
	seqRun          uint32
	maxRun          uint32
	peak            uint16 // highest distinct count of a closed window, confirmed
	// pend is the highest distinct count of windows closed since pendAt;
	// it becomes peak once a learning period has passed without an
	// alert, so that an extraction cannot teach its own baseline.
	pend uint16
	// pendAt, last and start are Unix seconds: when pend began, the last
	// request, and the first request of the current window.
	pendAt, last, start int64
	halfStart           int64 // first request of the current half
}

// endpointKey names an endpoint as the inventory does.
type endpointKey struct{ host, method, path string }

// endpointState is the baseline of one endpoint.
type endpointState struct {
	key    endpointKey
	id     uint32
	last   time.Time
	count  uint64
	isAuth bool // a login-like endpoint
	gone   bool // evicted or folded into another
	// objParams: the template has parameters that name objects
	// (objectKeyOf); paramSegs are the indices of the template's
	// segments that hold them (templateParamSegs), nil when it has none
	// or too many to list.
	objParams bool
	paramSegs []uint16
	// hb is the host's baseline once hbKnown (hostBaseOf).
	hb      *hostBase
	hbKnown bool
	// hbSameMap: the host's response sketch maps sizes to bins as
	// respBytes does (addSize), known with hb.
	hbSameMap bool
	// alertedAt is the last time a behavioural episode on this endpoint
	// was raised or extended.
	alertedAt time.Time

	statuses [6]uint64 // 2xx, 3xx, 401/403, 404, other 4xx, 5xx

	respBytes   *ddsketch.DDSketch // response sizes
	winDistinct *ddsketch.DDSketch // per-principal window distinct objects
	peakRates   *ddsketch.DDSketch // per-principal 30-minute request counts
	// Quantiles read on every request are cached and refreshed as the
	// sketches grow (qcache).
	p999Bytes, p99Distinct qcache
	// owners remembers who first read each object (nil until the endpoint
	// names objects).
	owners *ownerTable

	// Hourly volume: the hour in progress, hour-of-week and hour-of-day
	// totals with the number of weeks and days behind them.
	hourIdx   int64
	hourCount uint32
	hourThr   uint32 // rate_anomaly threshold of the current hour (0: none)
	hourExp   float32
	hourBase  uint8 // 1 hour-of-week, 2 hour-of-day
	flaggedAt time.Time
	flagCount uint32
	top       spaceSaving // principals of the current hour
	firstHour int64
	how       [168]uint32
	howWeeks  [168]uint8
	hod       [24]uint32
	hodDays   [24]uint16

	// Fleet window (10 minutes): requests, not-found, failed logins,
	// distinct keys and clients; EWMA baselines over past windows.
	fwIdx                      int64
	fwReqs, fwNF, fwFail, fwOK uint32
	fwKeys, fwClients, fwFailC bits256
	nfMean, failMean           float32
	fwWindows                  uint32
	fwAlerted                  bool
}

func newSketch(acc float64, bins int) *ddsketch.DDSketch {
	s, err := ddsketch.LogCollapsingLowestDenseDDSketch(acc, bins)
	if err != nil {
		panic(err) // constant arguments
	}
	return s
}

func newEndpointState(k endpointKey, id uint32) *endpointState {
	ep := &endpointState{
		key: k, id: id, isAuth: isAuthPath(k.method, k.path), objParams: templateNamesObjects(k.path),
		respBytes: newSketch(0.02, 512), winDistinct: newSketch(0.05, 128), peakRates: newSketch(0.05, 128),
		hourIdx: -1, fwIdx: -1, firstHour: -1,
	}
	if ep.objParams {
		ep.paramSegs = templateParamSegs(k.path)
	}
	return ep
}

// quantile returns the q-quantile of s, or 0 when it holds fewer than min
// values.
func quantile(s *ddsketch.DDSketch, q float64, min float64) float64 {
	if s == nil || s.GetCount() < min {
		return 0
	}
	v, err := s.GetValueAtQuantile(q)
	if err != nil {
		return 0
	}
	return v
}

// ownerTable is a direct-mapped table of objects and the principal that
// first read each successfully: reads of objects another principal read
// first are evidence of broken object-level authorisation. Collisions
// replace the slot (the table forgets, it never grows).
type ownerTable [ownerSlots]uint64 // tag<<32 | owner

const ownerSlots = 512

// readBy records a successful read of object key by principal who and
// reports whether another principal read it first.
func (t *ownerTable) readBy(key uint64, who uint32) bool {
	i := key % ownerSlots
	tag := uint32(key>>32) | 1
	if e := t[i]; uint32(e>>32) == tag {
		return uint32(e) != who
	}
	t[i] = uint64(tag)<<32 | uint64(who)
	return false
}

// hostBase is what is kept per host: its response sizes, the reference
// for endpoints without enough history of their own.
type hostBase struct {
	resp *ddsketch.DDSketch
	p999 qcache
}

// maxHostBases bounds the hosts with a response-size baseline; further
// hosts have none (their endpoints still have theirs).
const maxHostBases = 1000

// hostBaseOf is hostBase for ep's host, cached on ep: hosts are never
// dropped, and once the bound turned one away it turns it away for good.
func (b *behaviour) hostBaseOf(ep *endpointState) *hostBase {
	if !ep.hbKnown {
		ep.hb, ep.hbKnown = b.hostBase(ep.key.host), true
		ep.hbSameMap = ep.hb != nil && sameMapping(ep.respBytes.IndexMapping, ep.hb.resp.IndexMapping)
	}
	return ep.hb
}

func (b *behaviour) hostBase(host string) *hostBase {
	if hb := b.hosts[host]; hb != nil {
		return hb
	}
	if len(b.hosts) >= maxHostBases {
		return nil
	}
	hb := &hostBase{resp: newSketch(0.02, 512)}
	b.hosts[host] = hb
	return hb
}

// qcache caches a sketch quantile, recomputed when the sketch has grown
// by a sixteenth (at least 8 values) since.
type qcache struct {
	v  float64
	at float64 // sketch count when v was computed
}

func (c *qcache) get(s *ddsketch.DDSketch, q, min float64) float64 {
	n := s.GetCount()
	if n < min {
		return 0
	}
	if c.at == 0 || n-c.at >= max(8, c.at/16) || n < c.at {
		c.v, c.at = quantile(s, q, min), n
	}
	return c.v
}

// behaviour holds the baselines and behavioural detectors of an Engine.
type behaviour struct {
	o          BehaviourOptions
	start      time.Time
	principals map[principalKey]*principalState
	endpoints  map[endpointKey]*endpointState
	nextID     uint32
	sources    map[netip.Addr]*srcAuth
	networks   map[netip.Prefix]*srcAuth
	episodes   episodes
	hosts      map[string]*hostBase
	// pcache caches principals by hash (principal): every entry is in
	// principals.
	pcache [principalCacheSlots]*principalState
	allowP map[string]bool
	allowE []endpointPattern

	evictedPrincipals, evictedEndpoints, evictedSources uint64
}

func newBehaviour(o BehaviourOptions) *behaviour {
	b := &behaviour{o: o.withDefaults(),
		principals: map[principalKey]*principalState{}, endpoints: map[endpointKey]*endpointState{},
		sources: map[netip.Addr]*srcAuth{}, networks: map[netip.Prefix]*srcAuth{},
		hosts: map[string]*hostBase{},
	}
	b.episodes.init(b.o.MaxAlerts)
	for _, p := range b.o.AllowPrincipals {
		if b.allowP == nil {
			b.allowP = map[string]bool{}
		}
		b.allowP[p] = true
	}
	for _, s := range b.o.AllowEndpoints {
		b.allowE = append(b.allowE, parseEndpointPattern(s))
	}
	return b
}

// endpointPattern is an allow-listed endpoint.
type endpointPattern struct{ method, path string }

func parseEndpointPattern(s string) endpointPattern {
	s = strings.TrimSpace(s)
	if m, p, ok := strings.Cut(s, " "); ok {
		return endpointPattern{strings.ToUpper(m), normalizeTemplate(strings.TrimSpace(p))}
	}
	return endpointPattern{"", normalizeTemplate(s)}
}

// normalizeTemplate replaces every {name} by {}.
func normalizeTemplate(p string) string {
	if !strings.Contains(p, "{") {
		return p
	}
	var sb strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		j := strings.IndexByte(p, '}')
		if i < 0 || j < i {
			break
		}
		sb.WriteString(p[:i])
		sb.WriteString("{}")
		p = p[j+1:]
	}
	sb.WriteString(p)
	return sb.String()
}

// obs is what the detectors read of one transaction.
type obs struct {
	t        *reassembly.Transaction
	v        *txView
	ts       time.Time
	sec      int64
	p        *principalState
	ep       *endpointState
	size     int64
	key      uint64 // object key hash (0: none)
	numID    int64  // numeric object id, -1 when not numeric
	ok       bool   // 2xx
	notFound bool
	failed   bool // 401/403
	quiet    bool // learning or allow-listed: baselines learn, nothing is raised
}

// observe feeds one transaction with endpoint template path to the
// baselines and detectors.
func (b *behaviour) observe(t *reassembly.Transaction, v *txView, host, method, path string) {
	ts := v.ts
	if ts.IsZero() {
		return
	}
	if !v.derived {
		v.derive(t)
	}
	if b.start.IsZero() || ts.Before(b.start) {
		b.start = ts
	}
	o := obs{t: t, v: v, ts: ts, sec: ts.Unix(), numID: -1}
	k := endpointKey{host, method, path}
	if st := v.stats; st != nil {
		// The inventory's stats remember the baseline found last: it is
		// the one the map holds under k while it is not gone (a baseline
		// leaves the map only as gone) and has k.
		if ep := st.beh; ep != nil && !ep.gone && ep.key == k {
			o.ep = ep
		}
	}
	if o.ep == nil {
		o.ep = b.endpoint(k, ts)
		if v.stats != nil {
			v.stats.beh = o.ep
		}
	}
	o.p = b.principal(v, ts)
	o.size = v.size
	if o.ep.objParams && o.ep.paramSegs == nil {
		o.key, o.numID = objectKeyOf(t.Target, path, true)
	} else {
		o.key, o.numID = objectKeyFast(t.Target, o.ep.paramSegs, v.objQuery, v.objQueryKnown)
	}
	o.ok = v.status >= 200 && v.status < 300
	o.notFound = v.status == 404 || v.status == 410
	o.failed = v.status == 401 || v.status == 403
	o.quiet = ts.Sub(b.start) < b.o.LearningPeriod || b.allowed(&o)

	b.rate(&o)
	b.enumeration(&o)
	b.exfiltration(&o)
	if o.ep.isAuth {
		b.authAbuse(&o)
	}
	b.credMisuse(&o)
	b.record(&o)
}

func (b *behaviour) allowed(o *obs) bool {
	if b.allowP != nil && o.v.cred.fingerprint != "" && b.allowP[o.v.cred.fingerprint] {
		return true
	}
	for _, p := range b.o.AllowClients {
		if p.Contains(o.v.client) {
			return true
		}
	}
	if len(b.allowE) > 0 {
		n := normalizeTemplate(o.ep.key.path)
		for _, e := range b.allowE {
			if (e.method == "" || e.method == o.ep.key.method) && e.path == n {
				return true
			}
		}
	}
	return false
}

// record updates the endpoint's and principal's plain counters.
func (b *behaviour) record(o *obs) {
	ep, p := o.ep, o.p
	ep.count++
	ep.last = o.ts
	s := o.v.status
	switch {
	case s >= 200 && s < 300:
		ep.statuses[0]++
	case s >= 300 && s < 400:
		ep.statuses[1]++
	case s == 401 || s == 403:
		ep.statuses[2]++
	case s == 404:
		ep.statuses[3]++
	case s >= 400 && s < 500:
		ep.statuses[4]++
	case s >= 500:
		ep.statuses[5]++
	}
	p.requests++
	p.last = o.ts
	p.client = o.v.client
}

// principal finds or creates the state of the transaction's principal
// (v derived).
func (b *behaviour) principal(v *txView, ts time.Time) *principalState {
	k := principalKey{fp: v.cred.fingerprint}
	if k.fp == "" {
		k.addr = v.client
	}
	h := v.principalHash()
	slot := &b.pcache[h%principalCacheSlots]
	if p := *slot; p != nil && p.h == h && p.key == k {
		return p
	}
	if p := b.principals[k]; p != nil {
		*slot = p
		return p
	}
	if len(b.principals) >= b.o.MaxPrincipals {
		b.evictPrincipal()
	}
	p := &principalState{key: k, h: h, first: ts, last: ts, rateIdx: -1, hourIdx: -1, cuIdx: -1}
	b.principals[k] = p
	*slot = p
	return p
}

// principalCacheSlots is the size of the principals' lookup cache.
const principalCacheSlots = 1024

// evictPrincipal drops the least recently seen of a few principals (map
// order is random: a sampled LRU).
func (b *behaviour) evictPrincipal() {
	var victim principalKey
	var oldest time.Time
	n := 0
	for k, p := range b.principals {
		if n == 0 || p.last.Before(oldest) {
			victim, oldest = k, p.last
		}
		if n++; n == 8 {
			break
		}
	}
	if slot := &b.pcache[b.principals[victim].h%principalCacheSlots]; *slot == b.principals[victim] {
		*slot = nil
	}
	delete(b.principals, victim)
	b.evictedPrincipals++
}

// endpoint finds or creates the baseline of an endpoint. A template that
// turns a position into a parameter absorbs the baselines of the concrete
// paths it now covers.
func (b *behaviour) endpoint(k endpointKey, ts time.Time) *endpointState {
	if ep := b.endpoints[k]; ep != nil {
		return ep
	}
	if len(b.endpoints) >= b.o.MaxEndpoints {
		var victim endpointKey
		var oldest time.Time
		n := 0
		for vk, ep := range b.endpoints {
			if n == 0 || ep.last.Before(oldest) {
				victim, oldest = vk, ep.last
			}
			if n++; n == 8 {
				break
			}
		}
		b.endpoints[victim].gone = true
		delete(b.endpoints, victim)
		b.evictedEndpoints++
	}
	b.nextID++
	ep := newEndpointState(k, b.nextID)
	ep.last = ts
	if strings.Contains(k.path, "{") {
		for ok, old := range b.endpoints {
			if ok.host == k.host && ok.method == k.method && templateCovers(k.path, ok.path) {
				ep.absorb(old)
				old.gone = true
				delete(b.endpoints, ok)
			}
		}
	}
	b.endpoints[k] = ep
	return ep
}

// templateCovers reports whether template tmpl covers the path p (same
// segments, tmpl's literal segments equal, its parameters anything).
func templateCovers(tmpl, p string) bool {
	if tmpl == p || strings.Contains(tmpl, "{path}") {
		return false
	}
	for {
		ts, trest, tok := strings.Cut(tmpl, "/")
		ps, prest, pok := strings.Cut(p, "/")
		if ts != ps && !strings.Contains(ts, "{") {
			return false
		}
		if tok != pok {
			return false
		}
		if !tok {
			return true
		}
		tmpl, p = trest, prest
	}
}

// absorb merges the baseline of an endpoint that o's template now covers.
func (ep *endpointState) absorb(o *endpointState) {
	ep.count += o.count
	if ep.owners == nil {
		ep.owners = o.owners
	}
	for i := range ep.statuses {
		ep.statuses[i] += o.statuses[i]
	}
	_ = ep.respBytes.MergeWith(o.respBytes)
	_ = ep.winDistinct.MergeWith(o.winDistinct)
	_ = ep.peakRates.MergeWith(o.peakRates)
	if o.hourIdx > ep.hourIdx {
		ep.hourIdx, ep.hourCount = o.hourIdx, ep.hourCount+o.hourCount
	} else if o.hourIdx == ep.hourIdx {
		ep.hourCount += o.hourCount
	}
	if ep.firstHour < 0 || o.firstHour >= 0 && o.firstHour < ep.firstHour {
		ep.firstHour = o.firstHour
	}
	for i := range ep.how {
		ep.how[i] += o.how[i]
		ep.howWeeks[i] = max(ep.howWeeks[i], o.howWeeks[i])
	}
	for i := range ep.hod {
		ep.hod[i] += o.hod[i]
		ep.hodDays[i] = max(ep.hodDays[i], o.hodDays[i])
	}
}

// bits256 is a 256-bit linear counter of distinct values.
type bits256 [4]uint64

func (b *bits256) add(h uint64) {
	i := h & 255
	b[i>>6] |= 1 << (i & 63)
}

func (b *bits256) ones() int {
	return bits.OnesCount64(b[0]) + bits.OnesCount64(b[1]) + bits.OnesCount64(b[2]) + bits.OnesCount64(b[3])
}

// distinct256 estimates the distinct values of the union of two counters;
// a full counter reads as its ceiling (about 1400).
func distinct256(a, b *bits256) float64 {
	ones := bits.OnesCount64(a[0]|b[0]) + bits.OnesCount64(a[1]|b[1]) + bits.OnesCount64(a[2]|b[2]) + bits.OnesCount64(a[3]|b[3])
	return linearCount256[256-ones]
}

// linearCount256[z] is the linear-counting estimate of a 256-bit map with
// z zero bits (z = 0 counts as one), computed once: distinct256 runs on
// every object read.
var linearCount256 = func() (t [257]float64) {
	for z := range t {
		t[z] = -256 * math.Log(float64(max(z, 1))/256)
	}
	return t
}()

// spaceSaving keeps the heaviest principals of an hour (Space-Saving, k=4).
type spaceSaving struct {
	keys   [4]uint64
	counts [4]uint32
	total  uint32
}

func (s *spaceSaving) add(h uint64) {
	s.total++
	mi := 0
	for i := range s.keys {
		if s.keys[i] == h && s.counts[i] > 0 {
			s.counts[i]++
			return
		}
		if s.counts[i] < s.counts[mi] {
			mi = i
		}
	}
	s.keys[mi] = h
	s.counts[mi]++
}

// topShare is the heaviest key's share of the total (an overestimate by at
// most the smallest count).
func (s *spaceSaving) topShare() (uint64, float64) {
	bi := 0
	for i := range s.counts {
		if s.counts[i] > s.counts[bi] {
			bi = i
		}
	}
	if s.total == 0 {
		return 0, 0
	}
	return s.keys[bi], float64(s.counts[bi]) / float64(s.total)
}

// hash is the principal's hash (cached as principalState.h and derived
// by txView.principalHash).
func (p *principalKey) hash() uint64 {
	if p.fp != "" {
		return hashString(p.fp)
	}
	return hashAddr(p.addr)
}

// isAuthPath reports login-like endpoints: a POST (or PUT) whose path
// names a login, sign-in, session or token.
func isAuthPath(method, path string) bool {
	if method != "POST" && method != "PUT" {
		return false
	}
	for _, w := range authWords {
		if containsFold(path, w) {
			return true
		}
	}
	return false
}

var authWords = []string{"login", "signin", "sign-in", "sign_in", "session", "token", "oauth", "authenticate", "logon"}

func containsFold(s, sub string) bool {
	n := len(sub)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// pagingParams are query parameters that shape a response rather than
// name an object.
var pagingParams = map[string]bool{
	"page": true, "page_size": true, "pagesize": true, "per_page": true, "limit": true, "offset": true,
	"size": true, "cursor": true, "sort": true, "order": true, "fields": true, "format": true, "lang": true,
	"locale": true, "n": true, "count": true, "start": true, "pretty": true, "expand": true, "include": true,
}

// objectKey hashes the object a request names: the concrete values at the
// template's parameter positions, and the values of query parameters that
// are neither credentials nor paging. numID is the last path parameter
// when it is a number (for id walks), else -1. It does not allocate.
func objectKey(target, tmpl string) (key uint64, numID int64) {
	return objectKeyOf(target, tmpl, templateNamesObjects(tmpl))
}

// templateNamesObjects reports whether objectKey reads a template's path
// parameters: it has some, and no {path} overflow.
func templateNamesObjects(tmpl string) bool {
	return strings.IndexByte(tmpl, '{') >= 0 && !strings.Contains(tmpl, "{path}")
}

// objectKeyOf is objectKey with templateNamesObjects(tmpl) given.
func objectKeyOf(target, tmpl string, params bool) (key uint64, numID int64) {
	numID = -1
	path, query := pathQuery(target)
	h := uint64(14695981039346656037)
	found := false
	if params {
		tp := strings.TrimPrefix(tmpl, "/")
		pp := strings.TrimPrefix(path, "/")
		for tp != "" || pp != "" {
			var ts, ps string
			ts, tp, _ = strings.Cut(tp, "/")
			ps, pp, _ = strings.Cut(pp, "/")
			if strings.IndexByte(ts, '{') < 0 {
				continue
			}
			found = true
			h = fnvPart(h, ps, '/')
			numID = parseID(ps)
		}
	}
	for query != "" {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		if objectParam(kv) {
			found = true
			h = fnvPart(h, kv, '&')
		}
	}
	return objectKeyDone(h, found, numID)
}

// templateParamSegs lists the indices of the segments of tmpl (after its
// leading slash) that hold a parameter, as objectKeyOf walks them; nil
// when there are more than 64 segments.
func templateParamSegs(tmpl string) []uint16 {
	var idx []uint16
	tp := strings.TrimPrefix(tmpl, "/")
	for i := 0; tp != ""; i++ {
		if i >= 64 {
			return nil
		}
		var ts string
		ts, tp, _ = strings.Cut(tp, "/")
		if strings.IndexByte(ts, '{') >= 0 {
			idx = append(idx, uint16(i))
		}
	}
	return idx
}

// objectQuery finds which of target's query parameters objectKeyOf
// hashes: bit i of mask for the i-th "&"-separated part. ok is false
// when there are more than 64 parts.
func objectQuery(target string) (mask uint64, ok bool) {
	_, query := pathQuery(target)
	for i := 0; query != ""; i++ {
		if i >= 64 {
			return 0, false
		}
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		if objectParam(kv) {
			mask |= 1 << i
		}
	}
	return mask, true
}

// objectParam reports whether objectKeyOf hashes the query part kv: it
// has a value and names neither paging nor a credential.
func objectParam(kv string) bool {
	name, val, _ := strings.Cut(kv, "=")
	if val == "" || len(name) > 32 {
		return false
	}
	var lb [32]byte
	ln := lb[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		ln = append(ln, c)
	}
	return !pagingParams[string(ln)] && !credentialParams[string(ln)] && !apiKeyParams[string(ln)]
}

// objectKeyFast is objectKeyOf with the template's parameter segments
// given (templateParamSegs; nil: none, as when it names no objects) and,
// when qok, the query parts to hash (objectQuery). It reads the target
// only.
func objectKeyFast(target string, params []uint16, qmask uint64, qok bool) (key uint64, numID int64) {
	numID = -1
	path, query := pathQuery(target)
	h := uint64(14695981039346656037)
	found := false
	if len(params) > 0 {
		found = true
		pp := strings.TrimPrefix(path, "/")
		at := 0
		for _, want := range params {
			var ps string
			for {
				ps, pp, _ = strings.Cut(pp, "/")
				at++
				if at > int(want) {
					break
				}
			}
			h = fnvPart(h, ps, '/')
			numID = parseID(ps)
		}
	}
	if qok && qmask == 0 {
		query = ""
	}
	for i := 0; query != ""; i++ {
		var kv string
		kv, query, _ = strings.Cut(query, "&")
		if qok {
			if qmask&(1<<i) == 0 {
				continue
			}
		} else if !objectParam(kv) {
			continue
		}
		found = true
		h = fnvPart(h, kv, '&')
	}
	return objectKeyDone(h, found, numID)
}

// pathQuery splits a request target into its path and its query, without
// the fragment.
func pathQuery(target string) (path, query string) {
	path, query, _ = strings.Cut(target, "?")
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	return path, query
}

// fnvPart folds part and then sep into the FNV-1a hash h.
func fnvPart(h uint64, part string, sep byte) uint64 {
	for i := 0; i < len(part); i++ {
		h = (h ^ uint64(part[i])) * 1099511628211
	}
	return (h ^ uint64(sep)) * 1099511628211
}

// objectKeyDone finishes an object key: none (0, -1) when nothing named an
// object, else the mixed hash, never 0.
func objectKeyDone(h uint64, found bool, numID int64) (uint64, int64) {
	if !found {
		return 0, -1
	}
	h = mix64(h)
	if h == 0 {
		h = 1
	}
	return h, numID
}

// parseID reads a decimal id of at most 18 digits, else -1.
func parseID(s string) int64 {
	if s == "" || len(s) > 18 {
		return -1
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// respSize is the size of t's response as the behaviour judges it: the
// body's bytes as sent, or its sample's when larger and complete.
func respSize(t *reassembly.Transaction) int64 {
	size := t.RespBodyBytes
	if n := int64(len(t.RespBodySample())); n > size && t.Flags&reassembly.FlagRespTruncated == 0 {
		size = n
	}
	return size
}

// netOf hashes a client's network: its /24 (IPv4) or /48 (IPv6).
func netOf(a netip.Addr) uint32 {
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) | 1<<31
	}
	b := a.As16()
	h := uint64(0)
	for i := 0; i < 6; i++ {
		h = h<<8 | uint64(b[i])
	}
	return uint32(mix64(h)) &^ (1 << 31)
}

// uaFamily hashes a User-Agent's family: the browser for Mozilla-style
// agents (Edge, Chrome, Firefox, Safari), else the first product token
// without its version ("curl", "python-requests"). 0 for none.
func uaFamily(ua string) uint32 {
	if ua == "" {
		return 0
	}
	fam := ua
	if strings.HasPrefix(ua, "Mozilla/") {
		fam = "mozilla"
		for _, b := range [...]string{"Edg/", "OPR/", "Chrome/", "Firefox/", "Safari/"} {
			if strings.Contains(ua, b) {
				fam = b
				break
			}
		}
	} else {
		if i := strings.IndexAny(fam, "/ ;("); i >= 0 {
			fam = fam[:i]
		}
	}
	h := uint32(2166136261)
	for i := 0; i < len(fam); i++ {
		c := fam[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * 16777619
	}
	if h == 0 {
		h = 1
	}
	return h
}
