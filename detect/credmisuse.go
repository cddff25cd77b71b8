package detect

import "fmt"

// Credential misuse thresholds: a credential is known once it has
// knownRequests requests over at least the learning period (with less
// history, whoever used it first — owner or thief — would be the
// baseline); its rate is far above its own when a 10-minute bucket
// exceeds rateFactorCred times its busiest one and rateMinCred requests.
const (
	knownRequests  = 2
	pinnedRequests = 50
	rateFactorCred = 10
	rateMinCred    = 200
)

// credMisuse watches each credential's networks, user-agent families and
// rate.
func (b *behaviour) credMisuse(o *obs) {
	p := o.p
	// Rate buckets (all principals: the endpoint peaks use them too).
	w := o.sec / bucket10
	rk := episodeKey{kind: epCredMisuse, variant: varRate, who: p.key}
	if p.rateIdx != w {
		if p.rateIdx >= 0 && b.episodes.active(rk, o.ts, b.o.EpisodeGap) == nil {
			p.peakReqs = max(p.peakReqs, p.rateReqs)
		}
		p.rateIdx, p.rateReqs = w, 0
	}
	p.rateReqs++
	netH, ua := o.v.netH, o.v.ua
	if o.v.cred.fingerprint == "" {
		p.learnNet(netH, ua)
		return
	}
	known := o.ts.Sub(p.first) >= b.o.LearningPeriod && p.requests >= knownRequests && p.nNets > 0

	// A token the principal never used is a new login (a user's second
	// device, a renewed JWT): its network and agent are learnt, not judged.
	newToken := !p.hasToken(o.v.cred.token)
	if newToken {
		p.learnToken(o.v.cred.token)
	}
	nk := episodeKey{kind: epCredMisuse, variant: varNetworkChange, who: p.key}
	newNet, newUA := !p.hasNet(netH), ua != 0 && !p.hasUA(ua)
	if open := b.episodes.active(nk, o.ts, b.o.EpisodeGap); open != nil && uint64(netH) == open.aux2 {
		b.extendFor(o, open, 0)
	} else if known && !newToken && !o.quiet && newNet && (newUA || p.nNets == 1 && p.requests >= pinnedRequests) {
		sev := SeverityMedium
		what := "a new network"
		if newUA {
			sev, what = SeverityHigh, "a new network and a new user-agent family"
		}
		ev := map[string]any{
			"new_network":               prefixOf(o.v.client).String(),
			"new_user_agent_family":     newUA,
			"known_networks":            int(p.nNets),
			"known_user_agent_families": int(p.nUAs),
			"principal_requests":        p.requests,
			"principal_first_seen":      FormatTime(p.first),
		}
		if ep := b.raiseFor(o, nk, sev, fmt.Sprintf("credential %s used from %s (%s) after %s from %s", p.key.fp, what, prefixOf(o.v.client), counted(p.requests, "request"), counted(p.nNets, "known network")), ev, "", 0); ep != nil {
			ep.aux2 = uint64(netH)
		}
	}
	p.learnNet(netH, ua)

	// Far above its own rate.
	if open := b.episodes.active(rk, o.ts, b.o.EpisodeGap); open != nil {
		b.extendFor(o, open, float64(p.rateReqs))
		return
	}
	if !known || o.quiet || p.rateReqs < rateMinCred || p.rateReqs < rateFactorCred*p.peakReqs {
		return
	}
	ev := map[string]any{"window": "10m", "requests": p.rateReqs, "principal_peak_10m": p.peakReqs}
	b.raiseFor(o, rk, SeverityMedium,
		fmt.Sprintf("credential %s made %d requests within 10 minutes, over %d× its busiest 10 minutes (%d)", p.key.fp, p.rateReqs, rateFactorCred, p.peakReqs),
		ev, "requests_peak_10m", float64(p.rateReqs))
}

func (p *principalState) hasNet(h uint32) bool {
	for i := 0; i < int(p.nNets); i++ {
		if p.nets[i] == h {
			return true
		}
	}
	return false
}

func (p *principalState) hasUA(h uint32) bool {
	for i := 0; i < int(p.nUAs); i++ {
		if p.uas[i] == h {
			return true
		}
	}
	return false
}

// learnNet remembers a network and a user-agent family, the oldest making
// room when full.
func (p *principalState) learnNet(netH, ua uint32) {
	if !p.hasNet(netH) {
		if int(p.nNets) == len(p.nets) {
			copy(p.nets[:], p.nets[1:])
			p.nNets--
		}
		p.nets[p.nNets] = netH
		p.nNets++
	}
	if ua != 0 && !p.hasUA(ua) {
		if int(p.nUAs) == len(p.uas) {
			copy(p.uas[:], p.uas[1:])
			p.nUAs--
		}
		p.uas[p.nUAs] = ua
		p.nUAs++
	}
}

func (p *principalState) hasToken(h uint32) bool {
	for i := 0; i < int(p.nToks); i++ {
		if p.toks[i] == h {
			return true
		}
	}
	return false
}

// learnToken remembers a token, the oldest making room when full.
func (p *principalState) learnToken(h uint32) {
	if int(p.nToks) == len(p.toks) {
		copy(p.toks[:], p.toks[1:])
		p.nToks--
	}
	p.toks[p.nToks] = h
	p.nToks++
}
