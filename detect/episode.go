package detect

import (
	"fmt"
	"net/netip"
	"time"
)

// Behavioural alert kinds as small numbers, for episode keys.
const (
	epEnumeration uint8 = iota + 1
	epExfiltration
	epAuthAbuse
	epCredMisuse
	epRate
)

var episodeKinds = [...]string{"", KindEnumeration, KindExfiltration, KindAuthAbuse, KindCredentialMisuse, KindRateAnomaly}

// episodeKey identifies one episode: a kind (and variant: per principal,
// per source, per network, fleet), who (principal or client address; none
// for fleet episodes) and the endpoint (0 for principal-wide ones).
type episodeKey struct {
	kind    uint8
	variant uint8
	who     principalKey
	ep      uint32
}

// Episode variants.
const (
	varPrincipal uint8 = iota
	varSource
	varNetwork
	varFleet
	varSequential
	varNotFound
	varResponse
	varHourly
	varSlow
	varNetworkChange
	varRate
	varSuccess
)

// episode is one behavioural alert in the making.
type episode struct {
	key         episodeKey
	alert       Alert // kind, severity, endpoint, client, principal, summary, evidence at detection
	first, last time.Time
	count       uint64
	// peak is the highest figure seen during the episode (its name in the
	// evidence: peakName), updated without allocating.
	peak     float64
	peakName string
	// aux is a second counter shown as auxName; aux2 a detector's note
	// (credential_misuse: the new network's hash).
	aux     uint64
	auxName string
	aux2    uint64
}

// episodes holds the behavioural episodes in the order they were raised.
type episodes struct {
	max     int
	list    []*episode
	open    map[episodeKey]*episode
	dropped uint64
	// filter has the bit of filterHash set for every key in open, as of
	// when open held filterN keys (open only grows): active answers most
	// lookups of keys without an episode from it, without hashing the
	// key for the map. Rebuilt when open changed behind its back (a load).
	filter  [episodeFilterWords]uint64
	filterN int
}

// episodeFilterWords sizes episodes.filter (64 bits a word).
const episodeFilterWords = 256

// filterHash is a cheap hash of k for episodes.filter: its small fields,
// and of the principal the fingerprint's length and first and last
// bytes, or the address.
func (k *episodeKey) filterHash() uint64 {
	x := uint64(k.kind)<<56 ^ uint64(k.variant)<<48 ^ uint64(k.ep)
	if fp := k.who.fp; fp != "" {
		n := len(fp)
		var a, b uint64
		for i := 0; i < 8 && i < n; i++ {
			a = a<<8 | uint64(fp[i])
			b = b<<8 | uint64(fp[n-1-i])
		}
		x ^= mix64(a^uint64(n)<<32) ^ b
	} else if k.who.addr.IsValid() {
		x ^= hashAddr(k.who.addr)
	}
	return mix64(x)
}

// filterBit is h's word and bit in episodes.filter.
func filterBit(h uint64) (int, uint64) {
	return int(h>>6) % episodeFilterWords, 1 << (h & 63)
}

// syncFilter brings the filter up to date with open.
func (e *episodes) syncFilter() {
	if e.filterN == len(e.open) {
		return
	}
	e.filter = [episodeFilterWords]uint64{}
	for k := range e.open {
		w, bit := filterBit(k.filterHash())
		e.filter[w] |= bit
	}
	e.filterN = len(e.open)
}

func (e *episodes) init(max int) {
	e.max = max
	e.open = map[episodeKey]*episode{}
	e.filter, e.filterN = [episodeFilterWords]uint64{}, 0
}

// active returns the open episode of k when its last request is within gap
// of ts.
func (e *episodes) active(k episodeKey, ts time.Time, gap time.Duration) *episode {
	if len(e.open) == 0 {
		return nil
	}
	e.syncFilter()
	if w, bit := filterBit(k.filterHash()); e.filter[w]&bit == 0 {
		return nil
	}
	ep := e.open[k]
	if ep == nil || ts.Sub(ep.last) > gap {
		return nil
	}
	return ep
}

// extend adds one request at ts to an open episode.
func (ep *episode) extend(ts time.Time, peak float64) {
	if ts.After(ep.last) {
		ep.last = ts
	}
	ep.count++
	if peak > ep.peak {
		ep.peak = peak
	}
}

// raise opens a new episode; it returns nil (and counts) when the bound is
// reached.
func (e *episodes) raise(k episodeKey, ts time.Time, a Alert, peakName string, peak float64) *episode {
	if len(e.list) >= e.max {
		e.dropped++
		return nil
	}
	a.Kind = episodeKinds[k.kind]
	if a.Evidence == nil {
		a.Evidence = map[string]any{}
	}
	a.Evidence["detected_at"] = FormatTime(ts)
	ep := &episode{key: k, alert: a, first: ts, last: ts, count: 1, peak: peak, peakName: peakName}
	e.list = append(e.list, ep)
	inSync := e.filterN == len(e.open)
	e.open[k] = ep
	if inSync {
		w, bit := filterBit(k.filterHash())
		e.filter[w] |= bit
		e.filterN = len(e.open)
	}
	return ep
}

// alerts returns the episodes as contract alerts.
func (e *episodes) alerts() []Alert {
	out := make([]Alert, 0, len(e.list))
	for _, ep := range e.list {
		a := ep.alert
		a.FirstSeen, a.LastSeen, a.Count = FormatTime(ep.first), FormatTime(ep.last), ep.count
		ev := make(map[string]any, len(a.Evidence)+2)
		for k, v := range a.Evidence {
			ev[k] = v
		}
		if ep.peakName != "" {
			ev[ep.peakName] = roundFigure(ep.peak)
		}
		if ep.auxName != "" {
			ev[ep.auxName] = ep.aux
		}
		a.Evidence = ev
		out = append(out, a)
	}
	return out
}

// roundFigure keeps evidence figures readable: integers stay integers,
// others get two decimals.
func roundFigure(v float64) any {
	if v == float64(int64(v)) {
		return int64(v)
	}
	return float64(int64(v*100+0.5)) / 100
}

// principalOf is the contract's principal of an alert: the fingerprint,
// or null for unauthenticated callers (named by client instead).
func principalOf(k principalKey) *string {
	if k.fp == "" {
		return nil
	}
	p := k.fp
	return &p
}

// clientString renders a client address for an alert ("" when unknown).
func clientString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// whoName names a principal in a summary: its fingerprint, else its address.
func whoName(k principalKey) string {
	if k.fp != "" {
		return k.fp
	}
	return "unauthenticated client " + clientString(k.addr)
}

// alerts returns the behavioural alerts: the episodes raised and the
// rate anomalies of hours still open.
func (b *behaviour) alerts() []Alert {
	return append(b.episodes.alerts(), b.pendingRate()...)
}

// warnings reports what the bounds dropped.
func (b *behaviour) warnings() []string {
	var w []string
	if b.episodes.dropped > 0 {
		w = append(w, fmt.Sprintf("%d behavioural alerts not reported: more than %d episodes", b.episodes.dropped, b.o.MaxAlerts))
	}
	if n := b.evictedPrincipals; n > 0 {
		w = append(w, fmt.Sprintf("%d principals' baselines evicted: more than %d principals", n, b.o.MaxPrincipals))
	}
	if n := b.evictedEndpoints; n > 0 {
		w = append(w, fmt.Sprintf("%d endpoint baselines evicted: more than %d endpoints", n, b.o.MaxEndpoints))
	}
	if n := b.evictedSources; n > 0 {
		w = append(w, fmt.Sprintf("%d login sources' counters evicted", n))
	}
	return w
}
