package detect

import (
	"fmt"
	"math"
	"time"
)

// fleetAlpha is the weight of one 10-minute window in the endpoints' EWMA
// baselines (a half-life of about eight hours).
const fleetAlpha = 1.0 / 72

// fleetMinWindows is the endpoint history (in 10-minute windows, one
// hour) before its fleet baselines are trusted.
const fleetMinWindows = 6

// raiseFor opens an episode about the transaction o (its endpoint unless
// k.ep is 0, its client, and k.who as principal).
func (b *behaviour) raiseFor(o *obs, k episodeKey, sev, summary string, ev map[string]any, peakName string, peak float64) *episode {
	a := Alert{Severity: sev, Client: clientString(o.v.client), Summary: summary, Evidence: ev}
	if k.ep != 0 {
		a.Host, a.Method, a.Path = o.ep.key.host, o.ep.key.method, o.ep.key.path
		o.ep.alertedAt = o.ts
	}
	if k.variant != varFleet && k.variant != varSource && k.variant != varNetwork && k.variant != varRate {
		a.Principal = principalOf(k.who)
	}
	return b.episodes.raise(k, o.ts, a, peakName, peak)
}

// extendFor extends an open episode with o.
func (b *behaviour) extendFor(o *obs, ep *episode, peak float64) {
	ep.extend(o.ts, peak)
	if ep.key.ep != 0 {
		o.ep.alertedAt = o.ts
	}
}

// tracker finds (or makes room for) p's object tracker of endpoint ep.
func (b *behaviour) tracker(p *principalState, ep *endpointState, ts time.Time) *objTracker {
	for i := range p.objs {
		if p.objs[i].ep == ep {
			return &p.objs[i]
		}
	}
	// Not found: a new tracker, in the room of a gone endpoint's or the
	// least recently used one when all are taken (the endpoints are
	// read only here, off the common path).
	oldest := -1
	for i := range p.objs {
		tr := &p.objs[i]
		if tr.ep.gone || oldest < 0 || tr.last < p.objs[oldest].last {
			oldest = i
		}
	}
	if len(p.objs) < maxTrackers {
		if len(p.objs) == cap(p.objs) { // grow 1, 2, 4, maxTrackers
			objs := make([]objTracker, len(p.objs), min(max(1, 2*cap(p.objs)), maxTrackers))
			copy(objs, p.objs)
			p.objs = objs
		}
		p.objs = append(p.objs, objTracker{})
		oldest = len(p.objs) - 1
	}
	p.objs[oldest] = objTracker{ep: ep, half: -1, lastID: -1, last: ts.Unix()}
	return &p.objs[oldest]
}

// rotate moves a tracker's window to the half-hour half, recording the
// closing window in the endpoint's baseline (unless it was alerted on).
func (tr *objTracker) rotate(half int64, alerted bool) {
	if tr.half == half {
		return
	}
	if alerted {
		tr.pend = 0 // what led up to an alert teaches nothing
	}
	if tr.half >= 0 && tr.reqs > 0 && !alerted {
		d := distinct256(&tr.prev, &tr.cur)
		_ = tr.ep.winDistinct.Add(d)
		_ = tr.ep.peakRates.Add(float64(tr.reqs))
		if d > float64(tr.pend) {
			if tr.pend == 0 {
				tr.pendAt = tr.last
			}
			tr.pend = uint16(min(d, 65535))
		}
	}
	if tr.half >= 0 && half == tr.half+1 && tr.reqs > 0 {
		tr.prev, tr.preqs, tr.pnf, tr.pothers = tr.cur, tr.reqs, tr.nf, tr.others
		tr.start = tr.halfStart
	} else {
		tr.prev, tr.preqs, tr.pnf, tr.pothers = bits256{}, 0, 0, 0
		tr.start = 0
	}
	tr.cur, tr.reqs, tr.nf, tr.others = bits256{}, 0, 0, 0
	tr.half, tr.halfStart = half, 0
}

// enumeration tracks the distinct objects each principal reads per
// endpoint and the endpoint's fleet-wide not-found rate.
func (b *behaviour) enumeration(o *obs) {
	b.fleetWindow(o)
	if o.key == 0 {
		return
	}
	p, ep := o.p, o.ep
	k := episodeKey{kind: epEnumeration, variant: varPrincipal, who: p.key, ep: ep.id}
	open := b.episodes.active(k, o.ts, b.o.EpisodeGap)
	tr := b.tracker(p, ep, o.ts)
	tr.last = o.sec
	tr.rotate(o.sec/bucket30, open != nil)
	if tr.halfStart == 0 {
		tr.halfStart = o.sec
	}
	if tr.start == 0 {
		tr.start = o.sec
	}
	if tr.pend > 0 && o.sec-tr.pendAt >= int64(b.o.LearningPeriod/time.Second) {
		tr.peak, tr.pend = max(tr.peak, tr.pend), 0
	}
	tr.cur.add(o.key)
	tr.reqs++
	if o.notFound {
		tr.nf++
	}
	if o.ok {
		if ep.owners == nil {
			ep.owners = new(ownerTable)
		}
		if ep.owners.readBy(o.key, uint32(p.h)) {
			tr.others++
		}
	}
	if o.numID >= 0 && tr.lastID >= 0 {
		switch d := o.numID - tr.lastID; {
		case d >= 1 && d <= 2:
			if tr.seqRun == 0 {
				tr.firstID = tr.lastID
			}
			tr.seqRun++
			tr.maxRun = max(tr.maxRun, tr.seqRun)
		case d != 0:
			tr.seqRun = 0
		}
	}
	if o.numID >= 0 {
		tr.lastID = o.numID
	}
	distinct := distinct256(&tr.prev, &tr.cur)
	if open != nil {
		b.extendFor(o, open, distinct)
	} else if !o.quiet {
		b.enumerationCheck(o, tr, k, distinct)
	}
}

func (b *behaviour) enumerationCheck(o *obs, tr *objTracker, k episodeKey, distinct float64) {
	ep := o.ep
	p99 := ep.p99Distinct.get(ep.winDistinct, 0.99, 50)
	thr := max(float64(b.o.MinDistinct), b.o.EnumerationFactor*p99, b.o.EnumerationFactor*float64(tr.peak))
	reqs, nf := tr.reqs+tr.preqs, tr.nf+tr.pnf
	epNF := 0.0
	if ep.count > 0 {
		epNF = float64(ep.statuses[3]) / float64(ep.count)
	}
	nfRatio := float64(nf) / float64(max(reqs, 1))
	var why string
	switch {
	case tr.seqRun >= uint32(b.o.SequentialRun) && distinct >= float64(b.o.SequentialRun)/2:
		why = fmt.Sprintf("walked %d consecutive ids", tr.seqRun)
	case distinct >= thr:
		why = fmt.Sprintf("read %.0f distinct objects within an hour (threshold %.0f)", distinct, thr)
	case reqs >= 20 && nf >= 15 && nfRatio >= 0.5 && nfRatio >= 5*epNF:
		why = fmt.Sprintf("got not-found for %d of %d lookups (endpoint norm %.1f%%)", nf, reqs, 100*epNF)
	default:
		return
	}
	unauth := o.v.cred.fingerprint == ""
	sev := SeverityHigh
	switch {
	case unauth && nfRatio < 0.5:
		sev = SeverityCritical
	case nfRatio >= 0.5:
		sev = SeverityMedium
	}
	ev := map[string]any{
		"window":                     "30-60m",
		"distinct_objects":           roundFigure(math.Round(distinct)),
		"threshold":                  roundFigure(math.Round(thr)),
		"endpoint_p99_per_principal": roundFigure(p99),
		"principal_peak":             int(tr.peak),
		"requests":                   reqs,
		"not_found":                  nf,
		"not_found_ratio":            roundFigure(nfRatio),
		"endpoint_not_found_ratio":   roundFigure(epNF),
		"sequential_run":             tr.maxRun,
		"authenticated":              !unauth,
	}
	if tr.seqRun > 0 {
		ev["walk_from_id"], ev["walk_to_id"] = tr.firstID, tr.lastID
	}
	if o.ok || nf < reqs {
		ev["objects_returned"] = reqs - nf
		// BOLA evidence: of the objects returned, those another principal
		// had read first (their likely owner).
		ev["objects_first_read_by_others"] = tr.others + tr.pothers
	}
	if e := b.raiseFor(o, k, sev, fmt.Sprintf("%s %s on %s %s", whoName(k.who), why, o.ep.key.method, o.ep.key.path), ev, "distinct_objects_peak", distinct); e != nil {
		// The episode covers the window that led to it.
		e.count = uint64(reqs)
		if tr.start > 0 && tr.start < o.sec {
			e.first = time.Unix(tr.start, 0).UTC()
		}
	}
}

// fleetWindow advances the endpoint's 10-minute fleet window and checks
// the fleet variant of enumeration: many sources, each quiet, together
// drawing not-found answers far above the endpoint's own norm.
func (b *behaviour) fleetWindow(o *obs) {
	ep := o.ep
	w := o.sec / bucket10
	if ep.fwIdx != w {
		if ep.fwIdx >= 0 && w > ep.fwIdx {
			if !ep.fwAlerted {
				decay := math.Pow(1-fleetAlpha, float64(min(w-ep.fwIdx-1, 1000)))
				ep.nfMean = float32((float64(ep.nfMean)*(1-fleetAlpha) + fleetAlpha*float64(ep.fwNF)) * decay)
				ep.failMean = float32((float64(ep.failMean)*(1-fleetAlpha) + fleetAlpha*float64(ep.fwFail)) * decay)
			}
			ep.fwWindows += uint32(min(w-ep.fwIdx, 1<<20))
		}
		ep.fwIdx = w
		ep.fwReqs, ep.fwNF, ep.fwFail, ep.fwOK = 0, 0, 0, 0
		ep.fwKeys, ep.fwClients, ep.fwFailC = bits256{}, bits256{}, bits256{}
		ep.fwAlerted = false
	}
	ep.fwReqs++
	if o.key != 0 {
		ep.fwKeys.add(o.key)
	}
	ca := o.v.clientH
	ep.fwClients.add(ca)
	switch {
	case o.notFound:
		ep.fwNF++
	case o.failed:
		ep.fwFail++
		ep.fwFailC.add(ca)
	case o.ok:
		ep.fwOK++
	}
	if !o.notFound || o.key == 0 {
		return
	}
	k := episodeKey{kind: epEnumeration, variant: varFleet, ep: ep.id}
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap); open != nil {
		ep.fwAlerted = true
		b.extendFor(o, open, float64(ep.fwNF))
		return
	}
	if o.quiet || ep.fwWindows < fleetMinWindows {
		return
	}
	mean := float64(ep.nfMean)
	thr := max(float64(b.o.FleetNotFound), 5*mean+6*math.Sqrt(mean))
	clients := distinct256(&ep.fwClients, &bits256{})
	if float64(ep.fwNF) < thr || ep.fwNF*2 < ep.fwReqs || clients < 5 {
		return
	}
	ep.fwAlerted = true
	ev := map[string]any{
		"window":                     "10m",
		"not_found":                  ep.fwNF,
		"requests":                   ep.fwReqs,
		"not_found_ratio":            roundFigure(float64(ep.fwNF) / float64(ep.fwReqs)),
		"distinct_keys":              roundFigure(math.Round(distinct256(&ep.fwKeys, &bits256{}))),
		"distinct_clients":           roundFigure(math.Round(clients)),
		"requests_per_client":        roundFigure(float64(ep.fwReqs) / clients),
		"baseline_not_found_per_10m": roundFigure(mean),
		"threshold":                  roundFigure(math.Round(thr)),
		"unauthenticated":            o.v.cred.fingerprint == "",
	}
	b.raiseFor(o, k, SeverityHigh,
		fmt.Sprintf("%d not-found answers on %s %s within 10 minutes from %.0f sources, each quiet (baseline %.1f per 10 minutes): distributed enumeration",
			ep.fwNF, ep.key.method, ep.key.path, clients, mean), ev, "not_found_peak_per_10m", float64(ep.fwNF))
}
