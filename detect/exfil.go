package detect

import (
	"fmt"
	"math"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
)

// Low-and-slow extraction: a principal's object reads per 10-minute bucket
// are compared with an allowance of twice its own mean plus slowSlack; a
// run of at least slowRun buckets above it, with slowMinExcess reads in
// excess, is sustained extraction (CUSUM over the run).
const (
	slowSlack     = 6
	slowRun       = 6
	slowMinExcess = 100
	slowAlpha     = 0.05
	// minResponses is the endpoint's responses before a single one is
	// judged against their p99.9 (with few, the largest seen).
	minResponses = 20
	// fewResponses is the endpoint's responses before a single one far
	// above the largest of them (ownFactor times) is judged, while there
	// are fewer than minResponses for a p99.9.
	fewResponses = 5
	// minHostResponses is the host's responses before an endpoint without
	// enough history of its own is judged against the host's p99.9.
	minHostResponses = 200
	// ownFactor and ownMinRequests: a response more than ownFactor times
	// the largest a principal with at least ownMinRequests requests ever
	// received.
	ownFactor      = 16
	ownMinRequests = 20
	// hourlyMinBytes is the smallest hourly volume that can be
	// exfiltration by volume.
	hourlyMinBytes = 8 << 20
)

// exfiltration checks single responses against the endpoint's p99.9, a
// principal's hourly bytes against its own peak, and its object reads
// against a CUSUM allowance (low and slow).
func (b *behaviour) exfiltration(o *obs) {
	b.exfilResponse(o)
	b.exfilHourly(o)
	b.exfilSlow(o)
}

func (b *behaviour) exfilResponse(o *obs) {
	ep := o.ep
	k := episodeKey{kind: epExfiltration, variant: varResponse, who: o.p.key, ep: ep.id}
	// The endpoint's own sizes once it has enough, else the host's: an
	// endpoint first called by the extraction has no history of its own.
	hb := b.hostBaseOf(ep)
	p999, scope := ep.p999Bytes.get(ep.respBytes, 0.999, minResponses), "endpoint"
	if p999 == 0 && hb != nil {
		p999, scope = hb.p999.get(hb.resp, 0.999, minHostResponses), "host"
	}
	// A principal that regularly receives this much (an export job) is
	// not judged again: twice its own largest response is the floor.
	big := o.size >= b.o.ExfilMinBytes && p999 > 0 && float64(o.size) > b.o.ExfilFactor*p999 && o.size > 2*o.p.maxResp
	// An endpoint too new for a baseline of its own: far above what this
	// principal has ever received, and well above the host's p99.9.
	if !big && scope == "host" && o.size >= b.o.ExfilMinBytes && p999 > 0 && o.p.requests >= ownMinRequests &&
		o.size > ownFactor*o.p.maxResp && float64(o.size) > 2*p999 {
		big, scope = true, "principal"
	}
	// An endpoint with a short history of small answers (a lookup that
	// returns one object): far above the largest it ever gave, whatever
	// the rest of the host serves.
	var fewLargest float64
	if !big && scope != "endpoint" && o.size >= b.o.ExfilMinBytes && o.size > 2*o.p.maxResp {
		if n := ep.respBytes.GetCount(); n >= fewResponses {
			if mx, err := ep.respBytes.GetMaxValue(); err == nil && mx > 0 && float64(o.size) > ownFactor*mx {
				big, scope, fewLargest = true, "endpoint-few", mx
			}
		}
	}
	learn := func() {
		if o.size > 0 || o.ok {
			addSize(ep.respBytes, hb, ep.hbSameMap, float64(max(o.size, 1)))
		}
		o.p.maxResp = max(o.p.maxResp, o.size)
	}
	if !big {
		learn()
		return
	}
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap); open != nil {
		b.extendFor(o, open, float64(o.size))
		return
	}
	if o.quiet {
		learn()
		return
	}
	p50 := quantile(ep.respBytes, 0.5, 1)
	if scope == "host" || scope == "principal" {
		p50 = quantile(hb.resp, 0.5, 1)
	}
	ev := map[string]any{
		"response_bytes":           o.size,
		"baseline_p999_bytes":      int64(p999),
		"baseline_scope":           scope,
		"principal_largest_before": o.p.maxResp,
		"baseline_median_bytes":    int64(p50),
		"ratio_to_p999":            roundFigure(float64(o.size) / p999),
		"endpoint_responses":       int64(ep.respBytes.GetCount()),
		"status":                   o.v.status,
	}
	summary := fmt.Sprintf("%s received %s from %s %s, %.0f× the %s's p99.9 response (%s)", whoName(k.who), humanBytes(o.size), ep.key.method, ep.key.path, float64(o.size)/p999, scope, humanBytes(int64(p999)))
	if scope == "principal" {
		ev["baseline_scope"] = "host"
		ev["ratio_to_principal_largest"] = roundFigure(float64(o.size) / float64(max(o.p.maxResp, 1)))
		summary = fmt.Sprintf("%s received %s from %s %s (an endpoint without history), %.0f× the largest response it ever received (%s) and %.1f× the host's p99.9",
			whoName(k.who), humanBytes(o.size), ep.key.method, ep.key.path, float64(o.size)/float64(max(o.p.maxResp, 1)), humanBytes(o.p.maxResp), float64(o.size)/p999)
	}
	if scope == "endpoint-few" {
		ev["baseline_scope"] = "endpoint"
		ev["endpoint_largest_before"] = int64(fewLargest)
		ev["ratio_to_endpoint_largest"] = roundFigure(float64(o.size) / fewLargest)
		delete(ev, "baseline_p999_bytes")
		delete(ev, "ratio_to_p999")
		summary = fmt.Sprintf("%s received %s from %s %s, %.0f× the largest of its %d earlier responses (%s)",
			whoName(k.who), humanBytes(o.size), ep.key.method, ep.key.path, float64(o.size)/fewLargest, int64(ep.respBytes.GetCount()), humanBytes(int64(fewLargest)))
	}
	b.raiseFor(o, k, SeverityHigh, summary, ev, "largest_response_bytes", float64(o.size))
}

func (b *behaviour) exfilHourly(o *obs) {
	p := o.p
	h := o.sec / bucketH
	k := episodeKey{kind: epExfiltration, variant: varHourly, who: p.key}
	if p.hourIdx != h {
		if p.hourIdx >= 0 && b.episodes.active(k, o.ts, b.o.EpisodeGap) == nil {
			p.peakBytes = max(p.peakBytes, p.hourBytes)
		}
		p.hourIdx, p.hourBytes = h, 0
	}
	p.hourBytes += uint64(max(o.size, 0))
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap); open != nil {
		b.extendFor(o, open, float64(p.hourBytes))
		return
	}
	if o.quiet || o.ts.Sub(p.first) < b.o.LearningPeriod {
		return
	}
	thr := max(float64(hourlyMinBytes), b.o.ExfilFactor*float64(p.peakBytes))
	if float64(p.hourBytes) <= thr {
		return
	}
	ev := map[string]any{
		"window":              "1h",
		"bytes":               p.hourBytes,
		"principal_peak_hour": p.peakBytes,
		"threshold":           int64(thr),
	}
	b.raiseFor(o, k, SeverityHigh,
		fmt.Sprintf("%s received %s within the hour, over %.0f× its own busiest hour (%s)", whoName(k.who), humanBytes(int64(p.hourBytes)), b.o.ExfilFactor, humanBytes(int64(p.peakBytes))),
		ev, "bytes_peak_hour", float64(p.hourBytes))
}

// exfilSlow is the low-and-slow detector: a CUSUM of object reads above
// an allowance, per 10-minute bucket, alarming on a sustained run.
func (b *behaviour) exfilSlow(o *obs) {
	p := o.p
	w := o.sec / bucket10
	k := episodeKey{kind: epExfiltration, variant: varSlow, who: p.key}
	allowance := func() float64 { return 2*float64(p.cuMean) + slowSlack }
	if p.cuIdx != w {
		if p.cuIdx >= 0 {
			p.cuStep(float64(p.cuReads), allowance())
			if gap := w - p.cuIdx - 1; gap > 0 { // empty buckets end a run
				p.cuRun, p.cuS, p.cuTotal = 0, 0, 0
			}
		}
		p.cuIdx, p.cuReads = w, 0
	}
	if !o.ok || o.key == 0 {
		return
	}
	p.cuReads++
	if open := b.episodes.active(k, o.ts, b.o.EpisodeGap); open != nil {
		b.extendFor(o, open, float64(p.cuTotal+p.cuReads))
		return
	}
	a := allowance()
	if o.quiet || p.cuRun+1 < slowRun || float64(p.cuReads) <= a || p.cuS < slowMinExcess {
		return
	}
	minutes := int(p.cuRun+1) * 10
	ev := map[string]any{
		"reads_in_run":           p.cuTotal + p.cuReads,
		"run_minutes":            minutes,
		"baseline_reads_per_10m": roundFigure(float64(p.cuMean)),
		"allowance_per_10m":      roundFigure(a),
		"cumulative_excess":      roundFigure(math.Round(float64(p.cuS))),
		"reads_per_hour":         roundFigure(math.Round(float64(p.cuTotal+p.cuReads) * 60 / float64(minutes))),
	}
	b.raiseFor(o, k, SeverityHigh,
		fmt.Sprintf("%s has read objects above its allowance (%.0f per 10 minutes) for %d minutes: %d reads, sustained extraction", whoName(k.who), a, minutes, p.cuTotal+p.cuReads),
		ev, "reads_in_episode", float64(p.cuTotal+p.cuReads))
}

// cuStep closes one 10-minute bucket of x reads.
func (p *principalState) cuStep(x, allowance float64) {
	if x > allowance {
		p.cuRun++
		p.cuS += float32(x - allowance)
		p.cuTotal += uint32(x)
	} else {
		p.cuRun, p.cuS, p.cuTotal = 0, 0, 0
	}
	if x > 0 && p.cuRun < 3 {
		p.cuMean = float32((1-slowAlpha)*float64(p.cuMean) + slowAlpha*x)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// addSize adds a response size (≥ 1) to the endpoint's sketch and, unless
// hb is nil, to the host's. When their index mappings are equal (sameMap)
// the value's bin is found once for both: Add is the bin's store Add for
// any value between the mapping's indexable bounds.
func addSize(ep *ddsketch.DDSketch, hb *hostBase, sameMap bool, v float64) {
	if !sameMap || hb == nil || v <= ep.MinIndexableValue() || v > ep.MaxIndexableValue() {
		_ = ep.Add(v)
		if hb != nil {
			_ = hb.resp.Add(v)
		}
		return
	}
	i := ep.Index(v)
	ep.GetPositiveValueStore().Add(i)
	hb.resp.GetPositiveValueStore().Add(i)
}

// sameMapping reports whether two index mappings put every value in the
// same bin: both logarithmic with the same base and offset, from which the
// library derives the rest (Equals allows a tolerance).
func sameMapping(a, b mapping.IndexMapping) bool {
	x, ok1 := a.(*mapping.LogarithmicMapping)
	y, ok2 := b.(*mapping.LogarithmicMapping)
	if !ok1 || !ok2 {
		return false
	}
	px, py := x.ToProto(), y.ToProto()
	return px.Gamma == py.Gamma && px.IndexOffset == py.IndexOffset && px.Interpolation == py.Interpolation
}
