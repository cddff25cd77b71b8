package detect

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

const (
	// literalLimit is how many distinct fixed-looking words may sit under
	// one parent before the position is learnt to be a parameter
	// (usernames, slugs).
	literalLimit = 24
	// literalLimitBesideParam replaces literalLimit under a node that
	// already has a parameter child.
	literalLimitBesideParam = 8
	// literalHardLimit is how many distinct words one position may hold
	// whatever their frequencies; beyond it the position is data.
	literalHardLimit = 64
	// growthWindow is the number of literal hits per window over which
	// the arrival rate of new words is measured; growthMinNew new words in
	// a window (after the first) say the words keep coming.
	growthWindow = 64
	growthMinNew = 8
	// maxMethods bounds the methods kept per path template; further
	// (non-standard) methods are counted under otherMethod.
	maxMethods = 12
	// maxQueryNameLen truncates query parameter names kept.
	maxQueryNameLen = 64
	// maxLiteralLen: longer segments are data, never fixed words.
	maxLiteralLen = 64
	// maxQueryNames bounds the query parameter names kept per endpoint.
	maxQueryNames = 64
	// maxCredNames and maxRespTypes bound the credential names and
	// response media types kept per endpoint (for spec export).
	maxCredNames = 8
	maxRespTypes = 8
)

// node is one position of a host's path trie. Literal children hold fixed
// words, params the parameter children keyed by their literal suffix
// ("" or ".json"), rest the overflow child that takes all remaining
// segments once the host's template budget is spent.
type node struct {
	parent  *node
	label   string // the literal word, or the suffix of a parameter
	isParam bool
	isRest  bool
	learnt  bool // literal children were folded into a parameter
	// probeOnly marks a literal node that only probe requests (404 and
	// the like, see isProbe) ever reached; probeLits counts such literal
	// children. Probes are no evidence that a word exists, so a scanner
	// walking a word list does not teach a position to be a parameter.
	probeOnly bool
	probeLits int
	// hits counts the requests that went on from this node to a literal
	// child: with len(lit) it says whether new words keep arriving.
	hits uint64
	// winHits and winNew count literal hits and new words in the current
	// window; lastNew is the new words of the last complete window and
	// windows the complete windows so far.
	winHits, winNew uint16
	lastNew         uint16
	prevNew         uint16 // new words of the window before lastNew's
	windows         uint32
	lit             map[string]*node
	// lastLit is the literal child insertClassed took last (nil: none),
	// always lit[lastLit.label]: a cache.
	lastLit *node
	params  map[string]*node
	rest    *node
	ep      map[string]*epStats // by method
	// tmpl caches template(n), valid while tmplGen is the trie's gen+1.
	tmpl    string
	tmplGen uint64
}

// epStats is what the inventory keeps per endpoint.
type epStats struct {
	count       uint64
	first, last time.Time
	statuses    map[int]uint64
	clients     sketch // distinct client IPs
	principals  sketch // distinct credential fingerprints
	auth        authSet
	sensitive   sensitiveSet
	query       map[string]struct{}
	firstClient netip.Addr
	credNames   map[string]struct{} // "in:name" of credentials seen
	respTypes   map[string]struct{} // response media types
	// lastRespType and lastCred are the media type and credential name
	// recorded last; beh is the behaviour's baseline of the endpoint found
	// last (behaviour.observe). Not state: caches.
	lastRespType string
	lastCred     credName
	beh          *endpointState
	lastClient   netip.Addr // of the request recorded last

	// Undocumented query parameters of a documented operation.
	undocQuery            map[string]struct{}
	undocCount            uint64
	undocFirst, undocLast time.Time
	undocClient           netip.Addr

	// schemas describes the JSON bodies and query values (schema.go).
	schemas bodySchemas
	// lastSeg is, for an undocumented method shaped onto a spec template,
	// the last path segment while every request had the same one;
	// segVaries is set once they differed (shapedPath).
	lastSeg   string
	segVaries bool
}

// noteLastSeg records the last path segment of a request shaped onto a
// spec template.
func (s *epStats) noteLastSeg(seg string) {
	switch {
	case s.segVaries:
	case s.lastSeg == "":
		s.lastSeg = truncate(seg, maxLiteralLen)
	case s.lastSeg != seg:
		s.segVaries, s.lastSeg = true, ""
	}
}

// shapedPath is the path to report for an undocumented method shaped onto
// the spec template tmpl: when the template ends in a parameter but every
// request named the same fixed word there (POST /widgets/import against
// /widgets/{id}), that word — an action of its own, not a value.
func (s *epStats) shapedPath(tmpl string) string {
	if s.segVaries || s.lastSeg == "" || !strings.HasSuffix(tmpl, "}") {
		return tmpl
	}
	i := strings.LastIndexByte(tmpl, '/')
	if i < 0 || !strings.HasPrefix(tmpl[i+1:], "{") || strings.Count(tmpl[i+1:], "{") != 1 {
		return tmpl
	}
	if c, _ := classify(s.lastSeg); c != classLiteral {
		return tmpl
	}
	return tmpl[:i+1] + s.lastSeg
}

// addUndocQuery records the query parameters of the request just recorded
// (so s.last and s.lastClient are this request's) that are neither
// documented nor credential parameters; the caller has found one.
func (s *epStats) addUndocQuery(query []queryParam, documented []string) {
	if s.undocQuery == nil {
		s.undocQuery = map[string]struct{}{}
	}
	s.undocCount++
	if s.undocFirst.IsZero() {
		s.undocFirst = s.last
		s.undocClient = s.lastClient
	}
	s.undocLast = s.last
	for _, q := range query {
		if contains(documented, q.name) || credentialParams[paramKey(q.name)] {
			continue
		}
		if len(s.undocQuery) < maxQueryNames {
			s.undocQuery[truncate(q.name, maxQueryNameLen)] = struct{}{}
		}
	}
}

func (s *epStats) record(t *txView) {
	if !t.derived {
		t.derive(t.raw)
	}
	if s.count == 0 || t.ts.Before(s.first) {
		s.first = t.ts
		s.firstClient = t.client
	}
	if !t.ts.Before(s.last) {
		s.last = t.ts
	}
	s.lastClient = t.client
	s.count++
	if t.status > 0 {
		if s.statuses == nil {
			s.statuses = map[int]uint64{}
		}
		s.statuses[t.status]++
	}
	s.clients.add(t.clientH)
	if t.cred.fingerprint != "" {
		s.principals.add(t.fpH)
	}
	s.auth |= t.auth
	s.sensitive |= t.sensitive
	for _, c := range t.credNames {
		// As with the response type: a name presented again is in the
		// set or the set is full.
		if c != s.lastCred {
			c.addTo(&s.credNames)
			s.lastCred = c
		}
	}
	// A type presented again is in the set or the set is full (sets only
	// grow): either way nothing to do.
	if t.respType != "" && t.respType != s.lastRespType {
		addBounded(&s.respTypes, t.respType, maxRespTypes)
		s.lastRespType = t.respType
	}
	if t.raw != nil || len(t.query) > 0 {
		s.schemas.observeInfo(t.raw, t.query, t.qinfo, s.count)
	}
	for _, q := range t.query {
		if s.query == nil {
			s.query = map[string]struct{}{}
		}
		if len(s.query) < maxQueryNames {
			addKey(s.query, truncate(q.name, maxQueryNameLen))
		}
	}
}

// addBounded adds v to the set *m unless it already holds max values.
func addBounded(m *map[string]struct{}, v string, max int) {
	if *m == nil {
		*m = map[string]struct{}{}
	}
	if len(*m) < max {
		addKey(*m, truncate(v, maxQueryNameLen))
	}
}

// addKey adds k to the set m; a key already there costs a lookup only.
func addKey(m map[string]struct{}, k string) {
	if _, ok := m[k]; !ok {
		m[k] = struct{}{}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *epStats) merge(o *epStats) {
	if o.count == 0 {
		return
	}
	if s.count == 0 || o.first.Before(s.first) {
		s.first, s.firstClient = o.first, o.firstClient
	}
	if o.last.After(s.last) {
		s.last = o.last
	}
	s.count += o.count
	for k, v := range o.statuses {
		if s.statuses == nil {
			s.statuses = map[int]uint64{}
		}
		s.statuses[k] += v
	}
	s.clients.merge(&o.clients)
	s.principals.merge(&o.principals)
	s.auth |= o.auth
	s.sensitive |= o.sensitive
	for c := range o.credNames {
		addBounded(&s.credNames, c, maxCredNames)
	}
	for c := range o.respTypes {
		addBounded(&s.respTypes, c, maxRespTypes)
	}
	s.schemas.merge(&o.schemas)
	for q := range o.query {
		if s.query == nil {
			s.query = map[string]struct{}{}
		}
		if len(s.query) < maxQueryNames {
			s.query[q] = struct{}{}
		}
	}
}

// apiRoots are the words after which a one- or two-digit number is an API
// version, not an id (/rest/api/2, /api/3, /version/1).
var apiRoots = map[string]bool{"api": true, "apis": true, "rest": true, "version": true, "versions": true}

// trie is one host's learnt templates.
type trie struct {
	root   node
	nodes  int
	max    int
	folded uint64 // requests that landed in an overflow node
	// gen changes whenever nodes move (learning), invalidating the
	// templates cached on nodes.
	gen uint64
}

// templateOf returns n's template, cached until the trie next changes shape.
func (tr *trie) templateOf(n *node) string {
	if n.tmplGen != tr.gen+1 {
		n.tmpl, n.tmplGen = template(n), tr.gen+1
	}
	return n.tmpl
}

// insert finds (creating as needed) the node of a concrete path.
func (tr *trie) insert(segs []string) *node { return tr.insertStatus(segs, 0) }

// isProbe reports statuses that say nothing about whether a path exists:
// scanners walking word lists collect them (not found, not allowed, bad
// request, unauthenticated before routing).
func isProbe(status int) bool {
	switch status {
	case 400, 401, 404, 405, 406, 410, 414, 501:
		return true
	}
	return false
}

// insertStatus is insert for a request answered with status (0 when no
// response was seen): new words answered with a probe status do not count
// as growth of their position.
//
// specs are the specs covering the host (pathHints): where their templates
// have a parameter a path is below, the segment is one whatever it looks
// like; a word they document there is a literal whatever it looks like;
// where they document fixed words only, a new word is learnt to be a
// parameter only past literalHardLimit siblings.
func (tr *trie) insertStatus(segs []string, status int, specs ...*Spec) *node {
	return tr.insertHinted(segs, status, pathHints(specs, segs))
}

// wordHints returns hints that keep n segments words (gRPC's
// /pkg.Service/Method) up to literalHardLimit siblings.
func wordHints(n int) []segHint {
	h := make([]segHint, n)
	for i := range h {
		h[i] = hintWord
	}
	return h
}

// insertHinted is insertStatus with the hints given (nil: none).
func (tr *trie) insertHinted(segs []string, status int, hints []segHint) *node {
	return tr.insertClassed(segs, nil, status, hints)
}

// insertClassed is insertHinted with the segments' classes given (as
// classify finds them; nil: classify them here).
func (tr *trie) insertClassed(segs []string, classes []segInfo, status int, hints []segHint) *node {
	probe := isProbe(status)
	n := &tr.root
	for i, s := range segs {
		var class segClass
		var suffix string
		if classes != nil {
			class, suffix = classes[i].class, classes[i].suffix
		} else {
			class, suffix = classify(s)
		}
		hint := hintNone
		if hints != nil {
			hint = hints[i]
		}
		switch {
		case hint == hintParam && class == classLiteral && len(s) <= maxLiteralLen:
			class = classToken
		case hint == hintWord && len(s) <= maxLiteralLen:
			class, suffix = classLiteral, ""
		}
		if class == classDate && n == &tr.root {
			class = classLiteral // a dated API version (/2010-04-01/Accounts)
		}
		if class == classInt && suffix == "" && len(s) <= 2 && !n.isParam && apiRoots[strings.ToLower(n.label)] {
			class = classLiteral // a numbered API version (/rest/api/2/issue)
		}
		if class == classLiteral && !n.learnt {
			// The child taken last is tried first: consecutive requests
			// often share a path's words.
			child := n.lastLit
			if child == nil || child.label != s {
				child = n.lit[s]
			}
			// A word only probes had reached, now served, is new evidence.
			promoted := child != nil && child.probeOnly && !probe
			if promoted {
				child.probeOnly = false
				n.probeLits--
			}
			n.countHit((child == nil || promoted) && !probe)
			if child == nil || promoted {
				if tr.keepsGrowing(n) && (hint != hintFixed && hint != hintWord || len(n.lit)-n.probeLits >= literalHardLimit) {
					tr.learn(n)
					n = tr.paramChild(n, "")
					if n == nil {
						return tr.overflowAt(&tr.root)
					}
					continue
				}
			}
			if child == nil {
				// Probes may fill half of the budget only, so that a scan
				// cannot leave real endpoints found later without templates.
				if tr.nodes >= tr.max || probe && tr.nodes >= tr.max/2 {
					return tr.overflowAt(n)
				}
				child = &node{parent: n, label: s, probeOnly: probe}
				if probe {
					n.probeLits++
				}
				if n.lit == nil {
					n.lit = map[string]*node{}
				}
				n.lit[s] = child
				tr.nodes++
			}
			n.lastLit = child
			n = child
			continue
		}
		if class == classLiteral {
			suffix = ""
		}
		next := tr.paramChild(n, suffix)
		if next == nil {
			return tr.overflowAt(n)
		}
		n = next
	}
	return n
}

// countHit accounts one request going on to a literal child (a new word
// when fresh).
func (n *node) countHit(fresh bool) {
	n.hits++
	n.winHits++
	if fresh {
		n.winNew++
	}
	if n.winHits == growthWindow {
		n.windows++
		n.prevNew, n.lastNew, n.winHits, n.winNew = n.lastNew, n.winNew, 0, 0
	}
}

// keepsGrowing reports whether n's literal children are data rather than
// fixed words: at least literalLimit of them under a non-root, non-version
// parent, with at least four fifths of the requests through n having
// brought a new word (usernames, slugs), or new words still arriving at
// growthMinNew per growthWindow hits after the first window (popular and
// rare ids mixed, Zipf-like) — or literalHardLimit of them whatever the mix.
// Fixed resource names saturate: their count stays put while requests grow.
// Words that only probes reached (isProbe: a scanner's 404s) do not count.
//
// Beside a parameter child that the segment rules already found (ids), the
// bar drops to literalLimitBesideParam: words there are more likely values
// the rules could not recognise (T8X9), while true fixed siblings (me,
// search) are few.
func (tr *trie) keepsGrowing(n *node) bool {
	d := uint64(len(n.lit) - n.probeLits)
	limit := uint64(literalLimit)
	if n.params[""] != nil {
		limit = literalLimitBesideParam
	}
	if d < limit || n.parent == nil || (!n.isParam && isVersion(n.label)) {
		return false
	}
	// The ratio needs half as many hits again as the limit: a client
	// walking a fixed set in turn (a crawler, a health checker) brings only
	// new words at first, and a set smaller than that stops there.
	// The window rule needs the arrival rate to hold up (not fall by a third
	// or more per window): a finite set sampled at random is discovered at a
	// geometrically falling rate (e^-64/N per window: 0.28 for N=50), values
	// at a steady one.
	return d*5 >= n.hits*4 && n.hits >= limit*3/2 || d >= literalHardLimit ||
		(n.windows >= 2 && n.lastNew >= growthMinNew && uint32(n.lastNew)*3 >= uint32(n.prevNew)*2)
}

// overflowAt returns n's overflow child, which takes every request whose
// template could not be created.
func (tr *trie) overflowAt(n *node) *node {
	if n.rest == nil {
		n.rest = &node{parent: n, isRest: true}
	}
	return n.rest
}

func (tr *trie) paramChild(n *node, suffix string) *node {
	child := n.params[suffix]
	if child == nil {
		if tr.nodes >= tr.max {
			return nil
		}
		child = &node{parent: n, label: suffix, isParam: true}
		if n.params == nil {
			n.params = map[string]*node{}
		}
		n.params[suffix] = child
		tr.nodes++
	}
	return child
}

// learn folds n's literal children into its plain parameter child.
func (tr *trie) learn(n *node) {
	tr.gen++
	n.learnt = true
	n.probeLits = 0 // its literal children go
	p := tr.paramChild(n, "")
	if p == nil {
		p = tr.overflowAt(n)
	}
	lits := n.lit
	n.lit, n.lastLit = nil, nil
	for _, c := range lits {
		tr.mergeInto(p, c)
	}
}

// mergeInto merges src's subtree into dst, freeing src's nodes.
func (tr *trie) mergeInto(dst, src *node) {
	tr.nodes--
	mergeEndpoints(dst, src)
	// The hits that brought src its literal children come along with them:
	// without them the merged position would hold many words for few hits
	// and look like values at once.
	dst.hits += src.hits
	for w, c := range src.lit {
		if dst.learnt {
			p := tr.paramChild(dst, "")
			if p == nil {
				p = tr.overflowAt(dst)
			}
			tr.mergeInto(p, c)
			continue
		}
		if d := dst.lit[w]; d != nil {
			if d.probeOnly && !c.probeOnly {
				d.probeOnly = false
				dst.probeLits--
			}
			tr.mergeInto(d, c)
		} else {
			if dst.lit == nil {
				dst.lit = map[string]*node{}
			}
			c.parent = dst
			dst.lit[w] = c
			if c.probeOnly {
				dst.probeLits++
			}
		}
	}
	for sfx, c := range src.params {
		if d := dst.params[sfx]; d != nil {
			tr.mergeInto(d, c)
		} else {
			if dst.params == nil {
				dst.params = map[string]*node{}
			}
			c.parent = dst
			dst.params[sfx] = c
		}
	}
	if src.rest != nil {
		if dst.rest == nil {
			src.rest.parent = dst
			dst.rest = src.rest
		} else {
			tr.mergeIntoRest(dst.rest, src.rest)
		}
	}
}

func (tr *trie) mergeIntoRest(dst, src *node) { mergeEndpoints(dst, src) }

// mergeEndpoints merges src's per-method stats into dst's, keeping dst
// within maxMethods (the surplus goes to otherMethod).
func mergeEndpoints(dst, src *node) {
	for _, m := range sortedKeys(src.ep) {
		s := src.ep[m]
		if dst.ep == nil {
			dst.ep = map[string]*epStats{}
		}
		if dst.ep[m] == nil && len(dst.ep) >= maxMethods {
			m = otherMethod
		}
		if d := dst.ep[m]; d != nil {
			d.merge(s)
		} else {
			dst.ep[m] = s
		}
	}
}

// template renders the OpenAPI-style path of n, naming parameters after
// their parent resource.
func template(n *node) string {
	var chain []*node
	for x := n; x != nil && x.parent != nil; x = x.parent {
		chain = append(chain, x)
	}
	if len(chain) == 0 {
		return "/"
	}
	var b strings.Builder
	used := map[string]int{}
	prev := ""
	for i := len(chain) - 1; i >= 0; i-- {
		x := chain[i]
		b.WriteByte('/')
		switch {
		case x.isRest:
			b.WriteString("{path}")
		case x.isParam:
			name := paramName(prev)
			used[name]++
			if used[name] > 1 {
				name += strconv.Itoa(used[name])
			}
			b.WriteString("{" + name + "}" + x.label)
			prev = "{"
		default:
			b.WriteString(x.label)
			prev = x.label
		}
	}
	return b.String()
}

// walk calls fn for every node holding endpoint stats, in a stable order.
func walk(n *node, fn func(*node)) {
	if len(n.ep) > 0 {
		fn(n)
	}
	for _, k := range sortedKeys(n.lit) {
		walk(n.lit[k], fn)
	}
	for _, k := range sortedKeys(n.params) {
		walk(n.params[k], fn)
	}
	if n.rest != nil {
		walk(n.rest, fn)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
