package detect

import (
	"fmt"
	"math"
	"net/netip"
	"time"
)

// successAfter is the recent failures from one source after which a
// successful login is reported.
const successAfter = 5

// srcAuth counts one source's (or network's) logins in a 10-minute window
// and its failures since its last success.
type srcAuth struct {
	win      int64
	fails    uint32
	reqs     uint32
	recent   uint32 // failures since the last success, within an hour
	lastFail time.Time
	lastSeen time.Time
}

func (s *srcAuth) add(o *obs) {
	w := o.sec / bucket10
	if s.win != w {
		s.win, s.fails, s.reqs = w, 0, 0
	}
	s.reqs++
	s.lastSeen = o.ts
	if o.ts.Sub(s.lastFail) > time.Hour {
		s.recent = 0
	}
	if o.failed {
		s.fails++
		s.recent++
		s.lastFail = o.ts
	}
}

// source returns the login counters of a client address (sampled-LRU
// bounded like the principals).
func (b *behaviour) source(a netip.Addr) *srcAuth {
	return srcAuthOf(b.sources, a, b.o.MaxPrincipals/4+1, &b.evictedSources)
}

// network returns the login counters of a client network, bounded alike.
func (b *behaviour) network(p netip.Prefix) *srcAuth {
	return srcAuthOf(b.networks, p, b.o.MaxPrincipals/4+1, &b.evictedSources)
}

// srcAuthOf returns m[k], creating it; at limit entries it first evicts the
// least recently seen of 8 sampled ones and counts it in evicted.
func srcAuthOf[K comparable](m map[K]*srcAuth, k K, limit int, evicted *uint64) *srcAuth {
	if s := m[k]; s != nil {
		return s
	}
	if len(m) >= limit {
		var victim K
		var oldest time.Time
		n := 0
		for vk, s := range m {
			if n == 0 || s.lastSeen.Before(oldest) {
				victim, oldest = vk, s.lastSeen
			}
			if n++; n == 8 {
				break
			}
		}
		delete(m, victim)
		*evicted++
	}
	s := &srcAuth{win: -1}
	m[k] = s
	return s
}

// prefixOf is a client's /24 (IPv4) or /48 (IPv6).
func prefixOf(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bitsN := 48
	if a.Is4() {
		bitsN = 24
	}
	p, _ := a.Prefix(bitsN)
	return p
}

// authAbuse watches login-like endpoints: failure bursts per source, per
// network and fleet-wide, and a success after many failures.
func (b *behaviour) authAbuse(o *obs) {
	if !o.v.client.IsValid() {
		return
	}
	ep := o.ep
	src := b.source(o.v.client)
	src.add(o)
	pfx := prefixOf(o.v.client)
	nw := b.network(pfx)
	nw.add(o)
	who := principalKey{addr: o.v.client}

	// Fleet: failures on the endpoint within the window.
	fk := episodeKey{kind: epAuthAbuse, variant: varFleet, ep: ep.id}
	fleet := b.episodes.active(fk, o.ts, b.o.EpisodeGap)
	if o.failed {
		switch {
		case fleet != nil:
			ep.fwAlerted = true
			b.extendFor(o, fleet, float64(ep.fwFail))
		case !o.quiet && ep.fwWindows >= fleetMinWindows:
			mean := float64(ep.failMean)
			thr := max(float64(b.o.FleetAuthFailures), 5*mean+6*math.Sqrt(mean))
			clients := distinct256(&ep.fwFailC, &bits256{})
			if float64(ep.fwFail) >= thr && clients >= 5 {
				ep.fwAlerted = true
				ev := map[string]any{
					"window":                "10m",
					"failures":              ep.fwFail,
					"requests":              ep.fwReqs,
					"failing_sources":       roundFigure(math.Round(clients)),
					"failures_per_source":   roundFigure(float64(ep.fwFail) / clients),
					"baseline_failures_10m": roundFigure(mean),
					"threshold":             roundFigure(math.Round(thr)),
				}
				b.raiseFor(o, fk, SeverityHigh,
					fmt.Sprintf("%d failed logins on %s %s within 10 minutes from %.0f sources (baseline %.1f): distributed credential stuffing",
						ep.fwFail, ep.key.method, ep.key.path, clients, mean), ev, "failures_peak_10m", float64(ep.fwFail))
			}
		}
	}
	if o.ok && fleet != nil && src.recent > 0 {
		// A success from a source that just failed, during stuffing.
		fleet.alert.Severity = SeverityCritical
		fleet.aux++
		fleet.auxName = "successes_after_failures"
		if fleet.alert.Evidence != nil {
			fleet.alert.Evidence["first_success_at"] = FormatTime(o.ts)
		}
	}

	// Per source and per network bursts.
	b.authBurst(o, src, episodeKey{kind: epAuthAbuse, variant: varSource, who: who, ep: ep.id}, uint32(b.o.AuthFailures), pfx)
	b.authBurst(o, nw, episodeKey{kind: epAuthAbuse, variant: varNetwork, who: principalKey{addr: pfx.Addr()}, ep: ep.id}, 2*uint32(b.o.AuthFailures), pfx)

	// A success after many failures from the same source.
	if o.ok && src.recent >= successAfter {
		sk := episodeKey{kind: epAuthAbuse, variant: varSuccess, who: who, ep: ep.id}
		if open := b.episodes.active(sk, o.ts, b.o.EpisodeGap); open != nil {
			b.extendFor(o, open, float64(src.recent))
		} else if !o.quiet {
			ev := map[string]any{"failures_before_success": src.recent, "last_failure_at": FormatTime(src.lastFail)}
			b.raiseFor(o, sk, SeverityHigh,
				fmt.Sprintf("login succeeded on %s %s from %s after %s", ep.key.method, ep.key.path, clientString(o.v.client), counted(src.recent, "failure")),
				ev, "", 0)
		}
	}
	if o.ok {
		src.recent = 0
	}
}

func (b *behaviour) authBurst(o *obs, s *srcAuth, k episodeKey, thr uint32, pfx netip.Prefix) {
	if !o.failed {
		return
	}
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap); open != nil {
		b.extendFor(o, open, float64(s.fails))
		return
	}
	if o.quiet || s.fails < thr || s.fails*2 < s.reqs {
		return
	}
	name := "source " + clientString(o.v.client)
	if k.variant == varNetwork {
		name = "network " + pfx.String()
	}
	ev := map[string]any{"window": "10m", "failures": s.fails, "requests": s.reqs, "threshold": thr}
	b.raiseFor(o, k, SeverityHigh,
		fmt.Sprintf("%d failed logins on %s %s from %s within 10 minutes", s.fails, o.ep.key.method, o.ep.key.path, name),
		ev, "failures_peak_10m", float64(s.fails))
}
