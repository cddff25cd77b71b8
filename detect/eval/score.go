package eval

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/detect"
)

// Tolerances of the incident window (see the package doc).
const (
	windowBefore = time.Millisecond
	windowAfter  = 5 * time.Minute
)

// PR counts true positives, false positives and false negatives.
type PR struct {
	TP, FP, FN int
}

// Precision is TP/(TP+FP); ok is false when nothing was reported.
func (p PR) Precision() (v float64, ok bool) {
	if p.TP+p.FP == 0 {
		return 0, false
	}
	return float64(p.TP) / float64(p.TP+p.FP), true
}

// Recall is TP/(TP+FN); ok is false when there was nothing to find.
func (p PR) Recall() (v float64, ok bool) {
	if p.TP+p.FN == 0 {
		return 0, false
	}
	return float64(p.TP) / float64(p.TP+p.FN), true
}

// Add sums two counts.
func (p PR) Add(q PR) PR { return PR{p.TP + q.TP, p.FP + q.FP, p.FN + q.FN} }

// IncidentResult is the outcome for one labelled incident.
type IncidentResult struct {
	ID   string
	Kind string
	// Detected is true when an alert matched (package doc).
	Detected bool
	// TTD is the time from the incident's first request to the earliest
	// matching alert; AlertKind is that alert's kind.
	TTD       time.Duration
	AlertKind string
}

// Result is the score of one report against its truth.
type Result struct {
	Templates PR
	// ConcreteIDPaths counts distinct reported paths still holding an id.
	ConcreteIDPaths int
	Shadow          PR
	Unseen          PR
	// Incidents lists the labelled (non-negative) incidents in truth order.
	Incidents []IncidentResult
	// Alerts is the number of alerts; FalseAlerts those matching no
	// incident; FalseOnNegatives the false ones on a hard negative.
	Alerts           int
	FalseAlerts      int
	FalseOnNegatives int
}

// Detected counts the detected incidents.
func (r *Result) Detected() int {
	n := 0
	for _, i := range r.Incidents {
		if i.Detected {
			n++
		}
	}
	return n
}

// NormalizePath replaces every `{name}` of a path template by `{}` and
// drops a trailing slash (/apis/apps/ is /apis/apps).
func NormalizePath(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
		if p == "" {
			p = "/"
		}
	}
	if !strings.Contains(p, "{") {
		return p
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(p[i:], '}')
		if j < 0 {
			break
		}
		b.WriteString(p[:i])
		b.WriteString("{}")
		p = p[i+j+1:]
	}
	b.WriteString(p)
	return b.String()
}

type opKey struct{ method, path string }

func key(method, path string) opKey { return opKey{strings.ToUpper(method), NormalizePath(path)} }

var (
	uuidRE  = regexp.MustCompile(`(?i)^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	digitRE = regexp.MustCompile(`[0-9]{4,}`)
	hexRE   = regexp.MustCompile(`(?i)^[0-9a-f]{8,}$`)
	// dotted API versions (/api/1.0, /v2.1) are not ids
	versionRE = regexp.MustCompile(`(?i)^v?[0-9]{1,2}(\.[0-9]{1,2})+$`)
)

// HasConcreteID reports whether a reported path still holds a concrete id
// in a literal (non-parameter) part of a segment (package doc).
func HasConcreteID(p string) bool { return hasConcreteID(p, nil) }

// hasConcreteID is HasConcreteID skipping the segments in words (the
// API's own words: /v2/1-clicks, /metrics/droplet/load_15).
func hasConcreteID(p string, words map[string]bool) bool {
	for _, seg := range strings.Split(p, "/") {
		lit := stripParams(seg)
		if lit == "" || versionRE.MatchString(lit) || words[seg] {
			continue
		}
		if uuidRE.MatchString(lit) || strings.Contains(lit, "@") || strings.Contains(strings.ToLower(lit), "%40") {
			return true
		}
		for _, tok := range strings.FieldsFunc(lit, func(r rune) bool { return strings.ContainsRune("-_.~,;:@+=", r) }) {
			if allDigits(tok) || digitRE.MatchString(tok) {
				return true
			}
			if hexRE.MatchString(tok) && strings.ContainsAny(tok, "0123456789") && strings.IndexFunc(tok, isLetter) >= 0 {
				return true
			}
		}
	}
	return false
}

// stripParams removes the `{...}` parts of a segment, leaving separators
// so that literals on either side stay apart.
func stripParams(seg string) string {
	for {
		i := strings.IndexByte(seg, '{')
		if i < 0 {
			return seg
		}
		j := strings.IndexByte(seg[i:], '}')
		if j < 0 {
			return seg
		}
		seg = seg[:i] + "~" + seg[i+j+1:]
	}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

// sameClient compares source addresses, tolerating a port and IPv6 spelling.
func sameClient(a, b string) bool {
	if a == b {
		return a != ""
	}
	pa, ok1 := parseAddr(a)
	pb, ok2 := parseAddr(b)
	return ok1 && ok2 && pa == pb
}

func parseAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// alertTime is evidence.detected_at, else first_seen.
func alertTime(a *detect.Alert) (time.Time, bool) {
	if v, ok := a.Evidence["detected_at"].(string); ok {
		if t, ok := parseTime(v); ok {
			return t, true
		}
	}
	return parseTime(a.FirstSeen)
}

// incident is an Incident prepared for matching.
type incident struct {
	*Incident
	kinds       []string
	endpoints   map[opKey]bool
	first, last time.Time
	timed       bool
}

func prepare(in *Incident) incident {
	p := incident{Incident: in, kinds: append([]string{in.Kind}, in.Also...), endpoints: map[opKey]bool{}}
	for _, e := range in.Endpoints {
		p.endpoints[key(e.Method, e.Path)] = true
	}
	f, ok1 := parseTime(in.FirstSeen)
	l, ok2 := parseTime(in.LastSeen)
	p.first, p.last, p.timed = f, l, ok1 && ok2
	return p
}

// where reports whether the alert's endpoint and who match the incident.
func (p *incident) where(a *detect.Alert) bool {
	if a.Method != "" || a.Path != "" {
		if !p.endpoints[key(a.Method, a.Path)] {
			return false
		}
	}
	if len(p.Clients) == 0 && p.Principal == nil {
		return true
	}
	for _, c := range p.Clients {
		if sameClient(c, a.Client) {
			return true
		}
	}
	return p.Principal != nil && a.Principal != nil && *p.Principal == *a.Principal
}

// match reports whether the alert matches the labelled incident, and when.
func (p *incident) match(a *detect.Alert) (time.Time, bool) {
	if !slices.Contains(p.kinds, a.Kind) || !p.where(a) {
		return time.Time{}, false
	}
	t, ok := alertTime(a)
	if !ok || !p.timed || t.Before(p.first.Add(-windowBefore)) || t.After(p.last.Add(windowAfter)) {
		return time.Time{}, false
	}
	return t, true
}

// Score compares a report with the truth of the capture it was made from.
func Score(t *Truth, r *detect.Report) Result {
	var res Result
	serverIP := ""
	if a, ok := parseAddr(t.Server); ok {
		serverIP = a.String()
	}
	onHost := func(h string) bool {
		return h == "" || t.Host == "" || h == t.Host || serverIP != "" && strings.Trim(h, "[]") == serverIP
	}

	used, shadow, unseen := map[opKey]bool{}, map[opKey]bool{}, map[opKey]bool{}
	for _, o := range t.Operations {
		k := key(o.Method, o.Path)
		if o.Used {
			used[k] = true
			if !o.Documented {
				shadow[k] = true
			}
		} else if o.Documented {
			unseen[k] = true
		}
	}

	res.Templates = matchSet(used, func(yield func(h string, k opKey)) {
		for _, e := range r.Endpoints {
			yield(e.Host, key(e.Method, e.Path))
		}
	}, onHost)
	res.Shadow = matchSet(shadow, func(yield func(h string, k opKey)) {
		for _, e := range r.Endpoints {
			if e.Documented != nil && !*e.Documented {
				yield(e.Host, key(e.Method, e.Path))
			}
		}
	}, onHost)
	res.Unseen = matchSet(unseen, func(yield func(h string, k opKey)) {
		for _, u := range r.Unseen {
			// The server's address stands for the host only in requests
			// without a Host header: what it did not see says nothing.
			if serverIP != "" && strings.Trim(u.Host, "[]") == serverIP && u.Host != t.Host {
				continue
			}
			yield(u.Host, key(u.Method, u.Path))
		}
	}, onHost)

	paths := map[string]bool{}
	for _, e := range r.Endpoints {
		paths[e.Path] = true
	}
	for _, a := range r.Alerts {
		if a.Path != "" {
			paths[a.Path] = true
		}
	}
	words := map[string]bool{}
	for _, o := range t.Operations {
		for _, seg := range strings.Split(o.Path, "/") {
			if !strings.Contains(seg, "{") {
				words[seg] = true
			}
		}
	}
	for p := range paths {
		if hasConcreteID(p, words) {
			res.ConcreteIDPaths++
		}
	}

	var positives, negatives []incident
	for i := range t.Incidents {
		in := &t.Incidents[i]
		if in.Negative {
			negatives = append(negatives, prepare(in))
		} else {
			positives = append(positives, prepare(in))
		}
	}
	res.Incidents = make([]IncidentResult, len(positives))
	for i, p := range positives {
		res.Incidents[i] = IncidentResult{ID: p.ID, Kind: p.Kind}
	}
	res.Alerts = len(r.Alerts)
	for ai := range r.Alerts {
		a := &r.Alerts[ai]
		matched := false
		if onHost(a.Host) {
			for i := range positives {
				at, ok := positives[i].match(a)
				if !ok {
					continue
				}
				matched = true
				ir := &res.Incidents[i]
				ttd := max(at.Sub(positives[i].first), 0)
				if !ir.Detected || ttd < ir.TTD || ttd == ir.TTD && a.Kind < ir.AlertKind {
					ir.Detected, ir.TTD, ir.AlertKind = true, ttd, a.Kind
				}
			}
			if !matched && a.Kind == detect.KindShadowEndpoint && shadow[key(a.Method, a.Path)] {
				matched = true
			}
		}
		if matched {
			continue
		}
		res.FalseAlerts++
		if !onHost(a.Host) {
			continue
		}
		for i := range negatives {
			if negatives[i].where(a) {
				res.FalseOnNegatives++
				break
			}
		}
	}
	return res
}

// matchSet scores reported keys against a truth set: each truth key matches
// at most one reported entry per host, the first one counts, further ones
// on the same host are false positives.
func matchSet(truth map[opKey]bool, each func(func(string, opKey)), onHost func(string) bool) PR {
	var pr PR
	type hostKey struct {
		host string
		k    opKey
	}
	seen, seenOn := map[opKey]bool{}, map[hostKey]bool{}
	each(func(h string, k opKey) {
		switch {
		case !onHost(h) || !truth[k]:
			pr.FP++
		case !seen[k]:
			seen[k], seenOn[hostKey{h, k}] = true, true
			pr.TP++
		case !seenOn[hostKey{h, k}]:
			// The same operation again under the server's address (requests
			// without a Host header): neither right nor wrong once more.
			seenOn[hostKey{h, k}] = true
		default:
			pr.FP++
		}
	})
	pr.FN = len(truth) - pr.TP
	return pr
}
