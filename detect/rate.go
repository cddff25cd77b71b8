package detect

import (
	"fmt"
	"math"
	"time"
)

// rateMinCount is the fewest requests in an hour that can be a
// rate_anomaly; hodMinDays the days of hour-of-day history needed before
// an endpoint's hours are judged.
const (
	rateMinCount = 100
	hodMinDays   = 3
)

// hourOfWeek maps an hour since the Unix epoch (a Thursday) to 0..167,
// Monday 00:00 first.
func hourOfWeek(h int64) int {
	d := h / 24
	return int((d+3)%7)*24 + int(h%24)
}

// expected returns the endpoint's expected volume for hour h and which
// baseline says so (1 hour-of-week, 2 hour-of-day; 0 none yet). With both,
// the larger wins: a surge must stand out from either.
func (ep *endpointState) expected(h int64) (float64, uint8) {
	how, hod := hourOfWeek(h), int(h%24)
	e, base := 0.0, uint8(0)
	if ep.hodDays[hod] >= hodMinDays {
		e, base = float64(ep.hod[hod])/float64(ep.hodDays[hod]), 2
	}
	if ep.howWeeks[how] >= 1 {
		if w := float64(ep.how[how]) / float64(ep.howWeeks[how]); base == 0 || w > e {
			e, base = w, 1
		}
	}
	return e, base
}

// closeHour adds a complete hour of n requests to the baselines.
func (ep *endpointState) closeHour(h int64, n uint32) {
	how, hod := hourOfWeek(h), int(h%24)
	ep.how[how] += n
	if ep.howWeeks[how] < 255 {
		ep.howWeeks[how]++
	}
	ep.hod[hod] += n
	if ep.hodDays[hod] < 65535 {
		ep.hodDays[hod]++
	}
}

// rate advances the endpoint's hour and flags a volume far above its
// hour-of-week (or hour-of-day) baseline. The flag is raised when the hour
// closes, unless another behavioural alert on the endpoint or one
// principal's share explains it.
func (b *behaviour) rate(o *obs) {
	ep := o.ep
	h := o.sec / bucketH
	if ep.hourIdx != h {
		if ep.hourIdx >= 0 && h > ep.hourIdx {
			b.closeRateHour(o, ep)
			n := ep.hourCount
			if !ep.flaggedAt.IsZero() {
				n = uint32(ep.hourExp) // an anomalous hour does not teach
			}
			if ep.hourIdx != ep.firstHour {
				ep.closeHour(ep.hourIdx, n)
			}
			for g := ep.hourIdx + 1; g < h && g < ep.hourIdx+24*14; g++ {
				ep.closeHour(g, 0)
			}
		}
		if ep.firstHour < 0 {
			ep.firstHour = h
		}
		ep.hourIdx, ep.hourCount, ep.top = h, 0, spaceSaving{}
		ep.flaggedAt, ep.flagCount = time.Time{}, 0
		e, base := ep.expected(h)
		ep.hourExp, ep.hourBase, ep.hourThr = float32(e), base, 0
		if base != 0 {
			ep.hourThr = uint32(math.Ceil(max(b.o.RateFactor*e, e+8*math.Sqrt(e), rateMinCount)))
		}
	}
	ep.hourCount++
	ep.top.add(o.p.h)
	if ep.hourThr > 0 && ep.hourCount >= ep.hourThr && ep.flaggedAt.IsZero() && !o.quiet {
		ep.flaggedAt = o.ts
	}
}

// rateVerdict says whether the flagged hour of ep is a rate_anomaly, and
// builds its alert.
func (b *behaviour) rateVerdict(ep *endpointState) (Alert, bool) {
	if ep.flaggedAt.IsZero() {
		return Alert{}, false
	}
	hourStart := time.Unix(ep.hourIdx*bucketH, 0).UTC()
	if !ep.alertedAt.Before(hourStart) {
		return Alert{}, false // a behavioural alert on this endpoint explains it
	}
	_, share := ep.top.topShare()
	if share >= 0.5 {
		return Alert{}, false // one principal: its own detectors judge it
	}
	e := float64(ep.hourExp)
	base := "hour-of-day"
	if ep.hourBase == 1 {
		base = "hour-of-week"
	}
	return Alert{
		Kind: KindRateAnomaly, Severity: SeverityMedium,
		Host: ep.key.host, Method: ep.key.method, Path: ep.key.path,
		Summary: fmt.Sprintf("%s %s served %d requests in the hour from %s, %.1f× its %s baseline (%.0f)",
			ep.key.method, ep.key.path, ep.hourCount, hourStart.Format("2006-01-02 15:04"), float64(ep.hourCount)/max(e, 1), base, e),
		Evidence: map[string]any{
			"window":              "1h",
			"hour_start":          FormatTime(hourStart),
			"observed":            ep.hourCount,
			"expected":            roundFigure(e),
			"threshold":           ep.hourThr,
			"baseline":            base,
			"ratio":               roundFigure(float64(ep.hourCount) / max(e, 1)),
			"top_principal_share": roundFigure(share),
			"flagged_at":          FormatTime(ep.flaggedAt),
		},
	}, true
}

// closeRateHour raises the closing hour's rate_anomaly, if any; o is the
// first transaction after it.
func (b *behaviour) closeRateHour(o *obs, ep *endpointState) {
	a, ok := b.rateVerdict(ep)
	if !ok {
		return
	}
	k := episodeKey{kind: epRate, variant: varRate, ep: ep.id}
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap+time.Hour); open != nil {
		open.extend(o.ts, float64(ep.hourCount))
		open.count += uint64(ep.hourCount) - 1
		return
	}
	if ep := b.episodes.raise(k, o.ts, a, "observed_peak_hour", float64(ep.hourCount)); ep != nil {
		ep.first = ep.alertFirst(a)
		ep.count = uint64(o.ep.hourCount)
	}
}

// alertFirst is when the flagged hour began.
func (ep *episode) alertFirst(a Alert) time.Time {
	if s, ok := a.Evidence["hour_start"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t
		}
	}
	return ep.first
}

// pendingRate returns the rate_anomaly of hours still open at report time.
func (b *behaviour) pendingRate() []Alert {
	var out []Alert
	for _, ep := range b.endpoints {
		a, ok := b.rateVerdict(ep)
		if !ok {
			continue
		}
		a.FirstSeen = a.Evidence["hour_start"].(string)
		a.LastSeen = FormatTime(ep.last)
		a.Count = uint64(ep.hourCount)
		a.Evidence["detected_at"] = FormatTime(ep.flaggedAt)
		out = append(out, a)
	}
	return out
}
