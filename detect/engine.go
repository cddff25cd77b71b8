package detect

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unique"

	"github.com/shadowtap/shadowtap/reassembly"
)

// Options configure an Engine. The zero value works.
type Options struct {
	// Specs document the API; endpoints on hosts they cover are matched
	// against them (their templates win) and the rest are shadow.
	Specs []*Spec
	// MaxHosts bounds the hosts inventoried; 0 means 1000. Requests to
	// further hosts are counted in one "(other hosts)" entry.
	MaxHosts int
	// MaxTemplatesPerHost bounds the path-trie nodes per host; 0 means
	// 2000. Requests beyond it fold into a counted {path} template.
	MaxTemplatesPerHost int
	// TrustXFF takes a request's client from the first X-Forwarded-For hop
	// (when it parses as an IP) instead of the connection's source.
	TrustXFF bool
	// Behaviour configures the behavioural baselines and detectors
	// (baseline.go); the zero value is the defaults.
	Behaviour BehaviourOptions
}

// shapedKey names an undocumented method on a documented path.
type shapedKey struct{ method, path string }

// maxShaped bounds the undocumented methods on documented paths kept per
// host; beyond it they go through templating like any undocumented path.
const maxShaped = 1024

// otherMethod is the method under which a template's methods beyond
// maxMethods are counted.
const otherMethod = "(other)"

// otherHosts is the host under which requests beyond MaxHosts are counted.
const otherHosts = "(other hosts)"

// Engine consumes transactions in capture-time order and keeps the endpoint
// inventory. It is not safe for concurrent use: feed it from one goroutine,
// except for Prepare, which any number of goroutines may call at once
// (see Prepared).
type Engine struct {
	opts  Options
	hosts map[string]*hostState
	// lastHost is the host found last (host), nil after a load replaced
	// hosts.
	lastHost *hostState
	// foldedHosts counts requests to hosts beyond MaxHosts.
	foldedHosts uint64
	// dotProbes counts requests whose path had dot-segments.
	dotProbes uint64
	secrets   secretDetector
	pii       piiDetector
	// scratch is Observe's Prepared, reused.
	scratch Prepared
	// behave holds the behavioural baselines and detectors (nil when
	// disabled).
	behave *behaviour
	// creds is Prepare's cache of credentials (auth.go).
	creds *credCache
	// keys are the credential names the specs declare (auth.go); nil
	// when none.
	keys *keyNames
}

// hostState is the inventory of one host.
type hostState struct {
	name string
	// nameH is name's handle when the state was made for a prepared
	// transaction's host (zero otherwise): host compares handles first.
	nameH unique.Handle[string]
	trie  trie
	specs []*Spec // the specs covering this host
	// documented holds the stats of spec operations, by operation.
	documented map[*SpecOp]*epStats
	// shaped holds undocumented methods on documented paths, by method
	// and the spec's template (at most maxShaped).
	shaped map[shapedKey]*epStats
}

// NewEngine returns an engine.
func NewEngine(opts Options) (*Engine, error) {
	if opts.MaxHosts <= 0 {
		opts.MaxHosts = 1000
	}
	if opts.MaxTemplatesPerHost <= 0 {
		opts.MaxTemplatesPerHost = 2000
	}
	for i, s := range opts.Specs {
		if s == nil {
			return nil, fmt.Errorf("spec %d is nil", i)
		}
		if s.index == nil {
			// Indexed now, before Prepare's goroutines match against it.
			s.buildIndex()
		}
	}
	e := &Engine{opts: opts, hosts: map[string]*hostState{}, creds: newCredCache(), keys: newKeyNames(opts.Specs)}
	if !opts.Behaviour.Disable {
		e.behave = newBehaviour(opts.Behaviour)
	}
	return e, nil
}

// txView is what the inventory reads of a transaction.
type txView struct {
	ts        time.Time
	client    netip.Addr
	status    int
	auth      authSet
	cred      credential
	sensitive sensitiveSet
	credNames []credName // credentials by where they were, for export
	respType  string     // response media type
	// raw and query feed the inferred schemas (schema.go).
	raw   *reassembly.Transaction
	query []queryParam

	// What the state updates read of the transaction alone, derived on the
	// preparing goroutine (derive) rather than the engine's: hashes of the
	// client and the credential's fingerprint, the client's network, the
	// User-Agent family, the response size the behaviour judges, and each
	// query parameter's value kind and whether it names a credential.
	// derived is false in a view built by hand (tests), which the readers
	// derive first.
	derived bool
	// stats are the inventory's stats the transaction was recorded in
	// (inventory), whose behaviour baseline the behaviour finds there.
	stats   *epStats
	clientH uint64 // hashAddr(client)
	fpH     uint64 // hashString(cred.fingerprint); 0 without one
	netH    uint32 // netOf(client)
	ua      uint32 // uaFamily of the User-Agent
	size    int64  // respSize
	qinfo   []queryInfo
	// objQuery marks the target's query parts that name an object
	// (objectQuery), when objQueryKnown.
	objQuery      uint64
	objQueryKnown bool
	// hostH is the handle of the Prepared's host, whose string the host
	// field holds (Prepared.derive); zero when not prepared.
	hostH unique.Handle[string]
	// specOp and specAny are, when specMatched, the documented operation
	// matching the request's method and path and (without one) the
	// operation matching the path whatever the method, among the specs
	// covering the Prepared's host (Prepared.derive): hostState.matchSpec's
	// answers for that host, found on the preparing goroutine.
	specOp, specAny *SpecOp
	specMatched     bool
}

// queryInfo is what the inventory reads of one query parameter besides its
// name: its value's kind (queryKind) and whether its name is a
// credential's (credentialParams).
type queryInfo struct {
	kind uint8
	cred bool
}

// derive fills the view's derived fields from t (nil: none of its
// headers or body).
func (v *txView) derive(t *reassembly.Transaction) {
	v.derived = true
	v.clientH = hashAddr(v.client)
	v.fpH = 0
	if v.cred.fingerprint != "" {
		v.fpH = hashString(v.cred.fingerprint)
	}
	v.netH = netOf(v.client)
	v.ua, v.size = 0, 0
	v.objQuery, v.objQueryKnown = 0, false
	if t != nil {
		v.ua = uaFamily(t.ReqHeader("User-Agent"))
		v.size = respSize(t)
		v.objQuery, v.objQueryKnown = objectQuery(t.Target)
	}
	v.qinfo = v.qinfo[:0]
	for _, q := range v.query {
		v.qinfo = append(v.qinfo, queryInfo{kind: queryKind(q.value), cred: credentialParams[paramKey(q.name)]})
	}
}

// principalHash is principalKey.hash of the view's principal.
func (v *txView) principalHash() uint64 {
	if v.cred.fingerprint != "" {
		return v.fpH
	}
	return v.clientH
}

// segInfo is a path segment's class and literal suffix (classify).
type segInfo struct {
	class  segClass
	suffix string
}

// derive computes in Prepare what ObservePrepared reads of the transaction
// alone: the path segments' classes and the view's derived fields.
//
// It also replaces the host, method and response media type by equal
// strings the engine has seen before (the host's canonical copy,
// constants for common methods and types), so that the engine goroutine
// finds them equal to its own by their pointers, without reading the
// transaction's bytes from another core's cache.
func (p *Prepared) derive(t *reassembly.Transaction) {
	p.classes = p.classes[:0]
	for _, s := range p.segs {
		c, sfx := classify(s)
		p.classes = append(p.classes, segInfo{c, sfx})
	}
	p.method = commonMethod(p.method)
	if h := p.lastHost; h != (unique.Handle[string]{}) && h.Value() == p.host {
		p.view.hostH = h
	} else {
		p.view.hostH = unique.Make(p.host)
		p.lastHost = p.view.hostH
	}
	p.host = p.view.hostH.Value()
	p.view.respType = commonMediaType(p.view.respType)
	p.view.derive(t)
	if e := p.by; e != nil && len(e.opts.Specs) > 0 {
		v := &p.view
		v.specOp = matchSpecs(e.opts.Specs, true, p.host, p.method, p.segs)
		if v.specOp == nil {
			v.specAny = matchSpecs(e.opts.Specs, true, p.host, "", p.segs)
		}
		v.specMatched = true
	}
}

// commonMethod returns the constant equal to m for the common methods,
// else m.
func commonMethod(m string) string {
	c, _ := knownMethod(m)
	return c
}

// knownMethod returns the constant equal to m and true for the common
// methods, else m and false.
func knownMethod(m string) (string, bool) {
	switch m {
	case "GET":
		return "GET", true
	case "POST":
		return "POST", true
	case "PUT":
		return "PUT", true
	case "PATCH":
		return "PATCH", true
	case "DELETE":
		return "DELETE", true
	case "HEAD":
		return "HEAD", true
	case "OPTIONS":
		return "OPTIONS", true
	}
	return m, false
}

// commonMediaType returns the constant equal to t for common media
// types, else t.
func commonMediaType(t string) string {
	c, _ := knownMediaType(t)
	return c
}

// knownMediaType returns the constant equal to t and true for common
// media types, else t and false.
func knownMediaType(t string) (string, bool) {
	switch t {
	case "application/json":
		return "application/json", true
	case "text/html":
		return "text/html", true
	case "text/plain":
		return "text/plain", true
	case "application/xml":
		return "application/xml", true
	case "text/xml":
		return "text/xml", true
	case "application/grpc":
		return "application/grpc", true
	case "application/octet-stream":
		return "application/octet-stream", true
	case "application/problem+json":
		return "application/problem+json", true
	case "application/x-www-form-urlencoded":
		return "application/x-www-form-urlencoded", true
	case "application/javascript":
		return "application/javascript", true
	case "text/css":
		return "text/css", true
	case "image/png":
		return "image/png", true
	case "image/jpeg":
		return "image/jpeg", true
	}
	return t, false
}

// Observe adds one transaction to the inventory and returns its endpoint
// template ("" for a response seen without its request). The template is
// the one known now; the report aggregates by the final, learnt one.
// It is Prepare and ObservePrepared in one.
func (e *Engine) Observe(t *reassembly.Transaction) string {
	p := &e.scratch
	e.Prepare(t, p)
	path := e.ObservePrepared(t, p)
	p.reset()
	p.view.raw = nil
	return path
}

// inventory adds a prepared transaction with a request to the inventory
// and returns its endpoint template ("" for requests kept out of it).
func (e *Engine) inventory(t *reassembly.Transaction, p *Prepared) string {
	segs := p.segs
	if p.dot {
		// No client of a real API sends /../ (servers resolve it away):
		// these are path-traversal probes, kept out of the inventory and
		// counted. Detectors see them through their own paths.
		e.dotProbes++
		return ""
	}
	v := &p.view
	hs := e.hostOf(p.host, v.hostH)
	query := v.query
	method := p.method
	// Prepare matched the path against the specs of p.host: its answers
	// hold unless the host was folded into otherHosts.
	pre := v.specMatched && hs.name == p.host
	var op *SpecOp
	if pre {
		op = v.specOp
	} else {
		op = hs.matchSpec(method, segs)
	}
	if op != nil {
		st := hs.documented[op]
		if st == nil {
			st = &epStats{}
			hs.documented[op] = st
		}
		st.record(v)
		v.stats = st
		undoc := false
		for _, q := range query {
			if !contains(op.Query, q.name) && !credentialParams[paramKey(q.name)] {
				undoc = true
				break
			}
		}
		if undoc {
			st.addUndocQuery(query, op.Query)
		}
		return op.Path
	}
	// An undocumented method on a documented path takes the spec's
	// template: the parameters are known even if this operation is not.
	if pre {
		op = v.specAny
	} else {
		op = hs.matchSpec("", segs)
	}
	if op != nil && op.shapes(method, segs) {
		k := shapedKey{method, op.Path}
		st := hs.shaped[k]
		if st == nil && len(hs.shaped) < maxShaped {
			st = &epStats{}
			if hs.shaped == nil {
				hs.shaped = map[shapedKey]*epStats{}
			}
			hs.shaped[k] = st
		}
		if st != nil {
			st.record(v)
			v.stats = st
			st.noteLastSeg(segs[len(segs)-1])
			return op.Path
		}
	}
	var n *node
	classes := p.classes
	if len(classes) != len(segs) {
		classes = nil // not derived: insertClassed classifies
	}
	if t.Protocol == reassembly.ProtoGRPC {
		// /pkg.Service/Method names an operation, never an object: every
		// segment stays a word.
		n = hs.trie.insertClassed(segs, classes, v.status, wordHints(len(segs)))
	} else {
		n = hs.trie.insertClassed(segs, classes, v.status, pathHints(hs.specs, segs))
	}
	if n.isRest {
		hs.trie.folded++
	}
	if n.ep == nil {
		n.ep = map[string]*epStats{}
	}
	st := n.ep[method]
	if st == nil && len(n.ep) >= maxMethods {
		method = otherMethod
		st = n.ep[method]
	}
	if st == nil {
		st = &epStats{}
		n.ep[method] = st
	}
	st.record(v)
	v.stats = st
	return hs.trie.templateOf(n)
}

// clientOf is the contract's client: the source IP, or the first
// X-Forwarded-For hop when the engine trusts it.
func (e *Engine) clientOf(t *reassembly.Transaction) netip.Addr {
	if e.opts.TrustXFF {
		if xff := t.ReqHeader("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
				return a.Unmap()
			}
		}
	}
	return t.Client.Addr()
}

func (e *Engine) host(name string) *hostState {
	return e.hostOf(name, unique.Handle[string]{})
}

// hostOf is host with name's handle (zero: unknown).
func (e *Engine) hostOf(name string, h unique.Handle[string]) *hostState {
	// Most traffic goes to one host: the last one found is tried first.
	// Every host is kept under its own name, so the cache answers as the
	// map would.
	if hs := e.lastHost; hs != nil && (h != unique.Handle[string]{} && hs.nameH == h || hs.name == name) {
		return hs
	}
	hs := e.hosts[name]
	if hs != nil {
		e.lastHost = hs
		return hs
	}
	if len(e.hosts) >= e.opts.MaxHosts {
		e.foldedHosts++
		name = otherHosts
		if hs = e.hosts[name]; hs != nil {
			return hs
		}
	}
	hs = &hostState{name: name, documented: map[*SpecOp]*epStats{}}
	if h != (unique.Handle[string]{}) && h.Value() == name {
		hs.nameH = h
	}
	hs.trie.max = e.opts.MaxTemplatesPerHost
	for _, s := range e.opts.Specs {
		if s.covers(name) {
			hs.specs = append(hs.specs, s)
		}
	}
	e.hosts[name] = hs
	e.lastHost = hs
	return hs
}

// matchSpec finds the most specific documented operation for a path; the
// method "" matches any.
func (hs *hostState) matchSpec(method string, segs []string) *SpecOp {
	return matchSpecs(hs.specs, false, hs.name, method, segs)
}

// matchSpecs is matchSpec for a host named host among specs (only those
// covering host when filter is set, in their order).
func matchSpecs(specs []*Spec, filter bool, host, method string, segs []string) *SpecOp {
	var best *SpecOp
	bestScore := -1
	for _, s := range specs {
		if filter && !s.covers(host) {
			continue
		}
		s.candidates(segs, func(op *SpecOp) {
			if (method != "" && op.Method != method) || !op.servedBy(host) {
				return
			}
			if sc := op.matchFor(method, segs); sc > bestScore {
				best, bestScore = op, sc
			}
		})
	}
	return best
}

// EndpointHost is the contract's host of a transaction: the Host header
// without a default port, else the server's IP.
func EndpointHost(t *reassembly.Transaction) string {
	if t.Host != "" {
		return normalizeHost(t.Host)
	}
	return t.Server.Addr().String()
}

// normalizeHost lower-cases a host and drops a default port (:80 or :443,
// whatever the scheme: a sensor rarely knows it for sure, and
// api.example.com:443 is the same API as api.example.com).
func normalizeHost(h string) string {
	if n, ok := plainHost(h); ok {
		return n
	}
	return normalizeHostFull(h)
}

// normalizeHostFull is normalizeHost for every host.
func normalizeHostFull(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		return strings.TrimSuffix(h, ".")
	}
	if port == "80" || port == "443" || port == "" {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return h
}

// plainHost is normalizeHost for the common case, without allocating: a
// lower-case name or IPv4 address, with at most a port, not ending in a
// dot. ok is false for anything else (upper case, spaces, IPv6 brackets,
// a trailing dot), which normalizeHost handles in full.
func plainHost(h string) (string, bool) {
	colon := -1
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		case c == ':' && colon < 0:
			colon = i
		default:
			return "", false
		}
	}
	host := h
	if colon >= 0 {
		host = h[:colon]
	}
	if host == "" || host[len(host)-1] == '.' {
		return "", false
	}
	if colon < 0 {
		return h, true
	}
	if port := h[colon+1:]; port == "80" || port == "443" || port == "" {
		return host, true
	}
	return h, true
}

// Report returns the inventory and the alerts so far. Summary and
// GeneratedAt are left for the caller.
func (e *Engine) Report() Report {
	rep := Report{Version: ReportVersion, Endpoints: []Endpoint{}, Unseen: []Unseen{}, Alerts: []Alert{}}
	rep.Summary.Warnings = []string{}
	names := sortedKeys(e.hosts)
	var folded uint64
	for _, name := range names {
		hs := e.hosts[name]
		var documented *bool
		if len(hs.specs) > 0 {
			documented = new(bool)
		}
		walk(&hs.trie.root, func(n *node) {
			path := template(n)
			for _, m := range sortedKeys(n.ep) {
				ep := endpointOf(name, m, path, documented, n.ep[m])
				rep.Endpoints = append(rep.Endpoints, ep)
				if documented != nil {
					rep.Alerts = append(rep.Alerts, shadowAlert(&ep, n.ep[m]))
				}
			}
		})
		for _, k := range sortedShaped(hs.shaped) {
			st := hs.shaped[k]
			ep := endpointOf(name, k.method, st.shapedPath(k.path), documented, st)
			rep.Endpoints = append(rep.Endpoints, ep)
			rep.Alerts = append(rep.Alerts, shadowAlert(&ep, st))
		}
		folded += hs.trie.folded
		yes := true
		for _, s := range hs.specs {
			listUnseen := s.unseenOn(name, hs.documented)
			for _, op := range s.Ops {
				if !op.servedBy(name) {
					continue
				}
				if st := hs.documented[op]; st != nil {
					ep := endpointOf(name, op.Method, op.Path, &yes, st)
					rep.Endpoints = append(rep.Endpoints, ep)
					if len(st.undocQuery) > 0 {
						rep.Alerts = append(rep.Alerts, undocQueryAlert(&ep, st))
					}
				} else if listUnseen {
					rep.Unseen = append(rep.Unseen, Unseen{Host: name, Method: op.Method, Path: op.Path})
				}
			}
		}
	}
	// Specs naming hosts never seen: all their operations are unseen there.
	for _, s := range e.opts.Specs {
		for _, h := range s.Hosts {
			if e.hosts[h] == nil {
				for _, op := range s.Ops {
					if !op.servedBy(h) {
						continue
					}
					rep.Unseen = append(rep.Unseen, Unseen{Host: h, Method: op.Method, Path: op.Path})
				}
			}
		}
	}
	if folded > 0 {
		rep.Summary.Warnings = append(rep.Summary.Warnings, fmt.Sprintf("%d requests folded into {path} templates: a host reached its limit of %d templates", folded, e.opts.MaxTemplatesPerHost))
	}
	if e.dotProbes > 0 {
		rep.Summary.Warnings = append(rep.Summary.Warnings, fmt.Sprintf("%d requests with dot-segments in the path (path traversal probes) left out of the inventory", e.dotProbes))
	}
	if e.foldedHosts > 0 {
		rep.Summary.Warnings = append(rep.Summary.Warnings, fmt.Sprintf("%d requests counted under %q: more than %d hosts", e.foldedHosts, otherHosts, e.opts.MaxHosts))
	}
	sort.SliceStable(rep.Endpoints, func(i, j int) bool {
		a, b := rep.Endpoints[i], rep.Endpoints[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	sort.SliceStable(rep.Unseen, func(i, j int) bool {
		a, b := rep.Unseen[i], rep.Unseen[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
	rep.Unseen = dedupUnseen(rep.Unseen)
	rep.Alerts = append(rep.Alerts, e.secrets.alerts()...)
	rep.Alerts = append(rep.Alerts, e.pii.alerts()...)
	if e.behave != nil {
		rep.Alerts = append(rep.Alerts, e.behave.alerts()...)
		rep.Summary.Warnings = append(rep.Summary.Warnings, e.behave.warnings()...)
	}
	if e.secrets.dropped > 0 {
		rep.Summary.Warnings = append(rep.Summary.Warnings, fmt.Sprintf("%d secret sightings not reported one by one: more than %d secret_exposure episodes", e.secrets.dropped, maxSecretEpisodes))
	}
	sort.SliceStable(rep.Alerts, func(i, j int) bool {
		a, b := rep.Alerts[i], rep.Alerts[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		return a.Severity < b.Severity
	})
	return rep
}

func sortedShaped(m map[shapedKey]*epStats) []shapedKey {
	keys := make([]shapedKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].path != keys[j].path {
			return keys[i].path < keys[j].path
		}
		return keys[i].method < keys[j].method
	})
	return keys
}

func dedupUnseen(u []Unseen) []Unseen {
	out := u[:0]
	for i, x := range u {
		if i == 0 || x != u[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func endpointOf(host, method, path string, documented *bool, st *epStats) Endpoint {
	ep := Endpoint{
		Host: host, Method: method, Path: path, Documented: documented,
		Count: st.count, FirstSeen: FormatTime(st.first), LastSeen: FormatTime(st.last),
		Statuses: map[string]int{}, Clients: st.clients.count(),
		Auth: st.auth.names(), Sensitive: st.sensitive.names(),
	}
	for code, n := range st.statuses {
		ep.Statuses[strconv.Itoa(code)] = int(n)
	}
	return ep
}

// undocQueryAlert reports query parameters that a documented operation does
// not declare. It is a low-severity shadow_endpoint: the operation is known
// but part of its surface is not (the choice keeps the v1 vocabulary closed;
// evidence.undocumented_query names the parameters, never their values).
// Credential parameters are the API's auth scheme and are not reported.
func undocQueryAlert(ep *Endpoint, st *epStats) Alert {
	names := sortedKeys(st.undocQuery)
	return Alert{
		Kind: KindShadowEndpoint, Severity: SeverityLow,
		Host: ep.Host, Method: ep.Method, Path: ep.Path,
		Client: st.undocClient.String(), FirstSeen: FormatTime(st.undocFirst), LastSeen: FormatTime(st.undocLast), Count: st.undocCount,
		Summary: fmt.Sprintf("%s %s is documented but was called with undocumented query parameters: %s", ep.Method, ep.Path, strings.Join(names, ", ")),
		Evidence: map[string]any{
			"detected_at":        FormatTime(st.undocFirst),
			"undocumented_query": names,
			"requests":           st.undocCount,
		},
	}
}

// shadowAlert reports an endpoint no covering spec documents.
func shadowAlert(ep *Endpoint, st *epStats) Alert {
	sev := SeverityMedium
	why := ""
	if st.sensitive != 0 {
		sev, why = SeverityHigh, "; it returns "+strings.Join(ep.Sensitive, ", ")
	} else if st.auth == authNone {
		sev, why = SeverityHigh, "; it is called without authentication"
	}
	return Alert{
		Kind: KindShadowEndpoint, Severity: sev,
		Host: ep.Host, Method: ep.Method, Path: ep.Path,
		Client: st.firstClient.String(), FirstSeen: ep.FirstSeen, LastSeen: ep.LastSeen, Count: st.count,
		Summary: fmt.Sprintf("%s %s is not in any spec for %s but served %s from %s%s", ep.Method, ep.Path, ep.Host, counted(st.count, "request"), counted(ep.Clients, "client"), why),
		Evidence: map[string]any{
			"detected_at": ep.FirstSeen,
			"requests":    st.count,
			"clients":     ep.Clients,
			"principals":  st.principals.count(),
			"statuses":    ep.Statuses,
			"auth":        ep.Auth,
			"sensitive":   ep.Sensitive,
		},
	}
}

// outcomeOf is the status the inventory and the detectors see: the HTTP
// status, or for a gRPC call whose grpc-status was seen, its HTTP
// equivalent (the mapping of grpc-gateway and Envoy), so that
// UNAUTHENTICATED counts as a failed login and NOT_FOUND as a miss.
func outcomeOf(t *reassembly.Transaction) int {
	if t.Protocol != reassembly.ProtoGRPC || t.GRPC == nil || t.GRPC.Status < 0 {
		return t.Status
	}
	if t.GRPC.Status < len(grpcHTTP) {
		return grpcHTTP[t.GRPC.Status]
	}
	return 500
}

// grpcHTTP maps gRPC status codes 0..16 to HTTP statuses.
var grpcHTTP = [...]int{
	200, // OK
	499, // CANCELLED
	500, // UNKNOWN
	400, // INVALID_ARGUMENT
	504, // DEADLINE_EXCEEDED
	404, // NOT_FOUND
	409, // ALREADY_EXISTS
	403, // PERMISSION_DENIED
	429, // RESOURCE_EXHAUSTED
	400, // FAILED_PRECONDITION
	409, // ABORTED
	400, // OUT_OF_RANGE
	501, // UNIMPLEMENTED
	500, // INTERNAL
	503, // UNAVAILABLE
	500, // DATA_LOSS
	401, // UNAUTHENTICATED
}
