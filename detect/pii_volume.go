package detect

import (
	"fmt"
	"math/bits"
	"sort"
	"strings"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/shadowtap/shadowtap/reassembly"
)

// The second half of sensitive_data_exposure: a principal receiving far
// more distinct personal values than usual. Each principal (as the engine
// names it: its credential's fingerprint) has a HyperLogLog sketch of the
// personal values it received in the current hour of capture time; when
// the hour closes, the distinct count goes into the principal's own peak
// and into a histogram of all principals' hours. After a learning period an
// hour whose distinct count passes both a floor and a multiple of the
// larger of the principal's peak and the principals' 99th percentile opens
// an episode.

const (
	// piiWindow is the window over which distinct values are counted.
	piiWindow = time.Hour
	// piiLearning is how long after the first observation nothing is
	// raised: the baselines fill first.
	piiLearning = 24 * time.Hour
	// piiVolumeFloor is the fewest distinct personal values in a window
	// that may raise an alert.
	piiVolumeFloor = 1000
	// piiVolumeFactor is how many times its baseline a window must be.
	piiVolumeFactor = 20
	// piiMinHours is how many principal-hours the population percentile
	// needs before it counts as a baseline.
	piiMinHours = 100
	// maxPIIPrincipals bounds the principals tracked; beyond it new ones
	// are counted in dropped and not tracked.
	maxPIIPrincipals = 20000
	// maxPIIVolumeEpisodes bounds the open volume episodes.
	maxPIIVolumeEpisodes = 1024
	// piiHLLPrecision sets the sketches' size: 2^10 one-byte registers when
	// dense (about 3% error), far less while sparse.
	piiHLLPrecision = 10
	// piiCheckEvery spaces the estimates taken while a window fills.
	piiCheckEvery = 64
	// piiExact is how many distinct values a window keeps as plain hashes
	// before they go into a sketch (piiPrincipal.add).
	piiExact = 128
)

// piiPrincipal is what is kept per principal.
type piiPrincipal struct {
	key    string    // the principal
	window time.Time // start of the current window
	sketch *hyperloglog.Sketch
	// exact holds the window's distinct value hashes while sketch is nil,
	// in the order of their sparse index (add); its array is reused from
	// window to window.
	exact    []uint64
	inserted uint64 // values inserted in the current window (with repeats)
	checked  uint64 // inserted when the window was last estimated
	peak     uint64 // largest distinct count of a closed window
	last     time.Time
}

// piiVolumeEpisode is one open volume alert for one principal.
type piiVolumeEpisode struct {
	alert       Alert
	first, last time.Time
	detected    time.Time
	distinct    uint64 // largest distinct count seen in the episode
	baseline    uint64
	types       sensitiveSet
}

// piiVolume is the per-principal distinct-value detector. It is owned by
// the piiDetector.
type piiVolume struct {
	start      time.Time
	principals map[string]*piiPrincipal
	// dropped counts observations of principals beyond maxPIIPrincipals;
	// droppedEpisodes the episodes beyond maxPIIVolumeEpisodes.
	dropped, droppedEpisodes uint64
	// hours is a histogram of closed principal-hours by the bit length of
	// their distinct count.
	hours    [64]uint64
	episodes map[string]*piiVolumeEpisode
	// cache holds principals by their fingerprint's hash (observe): every
	// entry is in principals.
	cache [piiCacheSlots]*piiPrincipal
	// exactEst[n] is a sketch's estimate of n values held exactly (0: not
	// computed yet; exactEstimate).
	exactEst [piiExact + 1]uint64
}

// piiCacheSlots is the size of the principals' lookup cache.
const piiCacheSlots = 1024

// valueHash is the fingerprint of a personal value, normalised so that
// spellings of one value agree (case of e-mails, separators of numbers).
func valueHash(t dataType, v []byte) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset) ^ uint64(t)
	// FNV-1a, one loop per normalisation (the type is tested once, not
	// per byte).
	switch t {
	case dtEmail:
		for _, c := range v {
			if c-'A' < 26 {
				c += 'a' - 'A'
			}
			h = (h ^ uint64(c)) * prime
		}
	case dtPhone, dtCard, dtIBAN, dtSSN:
		for _, c := range v {
			if isAlnum(c) {
				h = (h ^ uint64(c)) * prime
			}
		}
	default:
		for _, c := range v {
			h = (h ^ uint64(c)) * prime
		}
	}
	return mix64(h) // so that every bit depends on every byte
}

// p99 is the 99th percentile of closed principal-hours, rounded up to a
// power of two, or 0 without enough of them.
func (d *piiVolume) p99() uint64 {
	var n uint64
	for _, c := range d.hours {
		n += c
	}
	if n < piiMinHours {
		return 0
	}
	var cum uint64
	for b, c := range d.hours {
		if cum += c; cum*100 >= n*99 {
			return 1 << b
		}
	}
	return 1 << 63
}

// closeWindow ends a principal's window.
func (d *piiVolume) closeWindow(p *piiPrincipal) {
	if p.inserted == 0 {
		return
	}
	c := d.estimate(p)
	d.hours[bits.Len64(c)]++
	p.peak = max(p.peak, c)
	p.sketch = nil
	p.exact = p.exact[:0]
	p.inserted, p.checked = 0, 0
}

// The window's sketch is made only once it holds more than piiExact
// distinct values: until then the values' hashes are kept in a list,
// which answers the estimate through exactEstimate. The estimates are the
// sketch's own, whatever the order, repeats and interleaved estimates of
// the insertions: the library's sketch is sparse while it holds at most
// 2^p distinct (sparse-encoded) values and its sparse estimate depends on
// their number only; past that it is dense and its registers depend on
// the set of hashes only. Hashes whose top 25 bits differ (the sparse
// index) encode differently, so up to piiExact such hashes count as that
// many values; a pair sharing them (about one window in 4,000) goes
// into the sketch. TestPIIExactSketch checks all of it against the
// library.

// add adds a value's hash to the principal's window.
func (p *piiPrincipal) add(h uint64) {
	if p.sketch == nil {
		// exact is sorted by sparse index, which no two of its hashes
		// share: a short list is scanned, a longer one halved.
		key, n := h>>(64-25), len(p.exact)
		i := 0
		if n <= 16 {
			for i < n && p.exact[i]>>(64-25) < key {
				i++
			}
		} else {
			for j := n; i < j; {
				m := int(uint(i+j) >> 1)
				if p.exact[m]>>(64-25) < key {
					i = m + 1
				} else {
					j = m
				}
			}
		}
		found := i < n && p.exact[i]>>(64-25) == key
		if found && p.exact[i] == h {
			return
		}
		if !found && n < piiExact {
			p.exact = append(p.exact, 0)
			copy(p.exact[i+1:], p.exact[i:n])
			p.exact[i] = h
			return
		}
		// A shared sparse index (the sketch decides) or a full list.
		p.sketch, _ = hyperloglog.NewSketch(piiHLLPrecision, true)
		for _, x := range p.exact {
			p.sketch.InsertHash(x)
		}
		p.exact = p.exact[:0]
	}
	p.sketch.InsertHash(h)
}

// estimate is the distinct values in the principal's window, as its
// sketch estimates them.
func (d *piiVolume) estimate(p *piiPrincipal) uint64 {
	if p.sketch != nil {
		return p.sketch.Estimate()
	}
	return d.exactEstimate(len(p.exact))
}

// exactEstimate is a sketch's estimate of n ≤ piiExact distinct values of
// distinct sparse indices, asked of the library once.
func (d *piiVolume) exactEstimate(n int) uint64 {
	if n == 0 {
		return 0
	}
	if e := d.exactEst[n]; e != 0 {
		return e
	}
	sk, _ := hyperloglog.NewSketch(piiHLLPrecision, true)
	for i := range n {
		sk.InsertHash(uint64(i) << (64 - 25))
	}
	d.exactEst[n] = sk.Estimate()
	return d.exactEst[n]
}

// windowSketch is the principal's window as a sketch (nil: no values),
// made from the exact list if need be without keeping it.
func (p *piiPrincipal) windowSketch() *hyperloglog.Sketch {
	if p.sketch != nil || len(p.exact) == 0 {
		return p.sketch
	}
	sk, _ := hyperloglog.NewSketch(piiHLLPrecision, true)
	for _, x := range p.exact {
		sk.InsertHash(x)
	}
	return sk
}

// observe adds the personal values of one 2xx response (personalValues)
// to its principal's window and raises or extends the principal's episode.
func (d *piiVolume) observe(v *txView, t *reassembly.Transaction, vals []personalValue, host, method, path string) {
	principal := v.cred.fingerprint
	if principal == "" || t.Status < 200 || t.Status >= 300 || v.ts.IsZero() {
		return
	}
	if d.start.IsZero() || v.ts.Before(d.start) {
		d.start = v.ts
	}
	if !v.derived {
		v.derive(t)
	}
	slot := &d.cache[v.fpH%piiCacheSlots]
	p := *slot
	if p == nil || p.key != principal {
		p = d.principals[principal]
	}
	if p == nil {
		if len(d.principals) >= maxPIIPrincipals {
			d.evict(v.ts)
			if len(d.principals) >= maxPIIPrincipals {
				d.dropped++
				return
			}
		}
		if d.principals == nil {
			d.principals = map[string]*piiPrincipal{}
		}
		p = &piiPrincipal{key: principal, window: v.ts.Truncate(piiWindow)}
		d.principals[principal] = p
	}
	*slot = p
	if !v.ts.Before(p.window.Add(piiWindow)) {
		d.closeWindow(p)
		p.window = v.ts.Truncate(piiWindow)
	}
	p.last = v.ts
	var types sensitiveSet
	for _, f := range vals {
		p.add(f.hash)
		p.inserted++
		types |= dataInfo[f.typ].bit
	}
	if types == 0 || p.inserted < piiVolumeFloor || v.ts.Sub(d.start) < piiLearning {
		return
	}
	ep := d.episodes[principal]
	if ep == nil && p.inserted-p.checked < piiCheckEvery {
		return // estimate only every piiCheckEvery values
	}
	p.checked = p.inserted
	distinct := d.estimate(p)
	baseline := max(p.peak, d.p99())
	if ep == nil {
		if distinct < piiVolumeFloor || distinct < piiVolumeFactor*baseline {
			return
		}
		if len(d.episodes) >= maxPIIVolumeEpisodes {
			d.droppedEpisodes++
			return
		}
		if d.episodes == nil {
			d.episodes = map[string]*piiVolumeEpisode{}
		}
		pr := principal
		ep = &piiVolumeEpisode{first: p.window, detected: v.ts, baseline: baseline, alert: Alert{
			Kind: KindSensitiveDataExposure, Severity: SeverityHigh, Host: host, Method: method, Path: path,
			Client: v.client.String(), Principal: &pr,
		}}
		d.episodes[principal] = ep
	}
	ep.alert.Count++
	ep.last = v.ts
	ep.types |= types
	ep.distinct = max(ep.distinct, distinct)
}

// evict drops the principals idle for more than two windows, to make room.
func (d *piiVolume) evict(now time.Time) {
	for k, p := range d.principals {
		if now.Sub(p.last) > 2*piiWindow {
			d.closeWindow(p)
			if slot := &d.cache[hashString(k)%piiCacheSlots]; *slot == p {
				*slot = nil
			}
			delete(d.principals, k)
		}
	}
}

func (d *piiVolume) alerts() []Alert {
	out := make([]Alert, 0, len(d.episodes))
	for _, ep := range d.episodes {
		a := ep.alert
		a.FirstSeen, a.LastSeen = FormatTime(ep.first), FormatTime(ep.last)
		if ep.types&(sensCard|sensIBAN|sensSSN) != 0 {
			a.Severity = SeverityCritical
		}
		a.Summary = fmt.Sprintf("principal %s received about %d distinct personal values (%s) within an hour, %d times its baseline of %d",
			*a.Principal, ep.distinct, strings.Join(ep.types.names(), ", "), ep.distinct/max(ep.baseline, 1), ep.baseline)
		a.Evidence = map[string]any{
			"detected_at":     FormatTime(ep.detected),
			"data_types":      ep.types.names(),
			"distinct_values": ep.distinct,
			"baseline":        ep.baseline,
			"window":          piiWindow.String(),
			"requests":        a.Count,
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].Principal < *out[j].Principal })
	return out
}

// Persistence: the volume watch is its own state part ("pii-volume"),
// listed by Engine.stateParts beside the piiDetector's episodes. Sketches
// are stored in the library's binary form; values never, only their hashes
// inside the sketches.

const piiVolumeStateVersion = 1

func (*piiVolume) stateKey() string { return "pii-volume" }

func (d *piiVolume) marshalState() ([]byte, error) {
	w := &stateEnc{}
	w.byte(piiVolumeStateVersion)
	w.time(d.start)
	w.u(d.dropped)
	w.u(d.droppedEpisodes)
	for _, c := range d.hours {
		w.u(c)
	}
	keys := make([]string, 0, len(d.principals))
	for k := range d.principals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.u(uint64(len(keys)))
	for _, k := range keys {
		p := d.principals[k]
		w.str(k)
		w.time(p.window)
		w.time(p.last)
		w.u(p.inserted)
		w.u(p.checked)
		w.u(p.peak)
		var sk []byte
		if s := p.windowSketch(); s != nil {
			s.Estimate() // compacts the sparse form: the same values, the same bytes
			var err error
			if sk, err = s.MarshalBinary(); err != nil {
				return nil, fmt.Errorf("encoding the sketch of %s: %w", k, err)
			}
		}
		w.bytes(sk)
	}
	keys = keys[:0]
	for k := range d.episodes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.u(uint64(len(keys)))
	for _, k := range keys {
		ep := d.episodes[k]
		w.str(k)
		if err := encodeAlertHead(w, &ep.alert); err != nil {
			return nil, err
		}
		w.time(ep.first)
		w.time(ep.last)
		w.time(ep.detected)
		w.u(ep.distinct)
		w.u(ep.baseline)
		w.u(uint64(ep.types))
	}
	return w.b, nil
}

func (d *piiVolume) unmarshalState(b []byte) error {
	r := &stateDec{b: b}
	r.version("pii-volume", piiVolumeStateVersion)
	var v piiVolume
	v.start = r.time()
	v.dropped = r.u()
	v.droppedEpisodes = r.u()
	for i := range v.hours {
		v.hours[i] = r.u()
	}
	n := r.n(8)
	if n > 0 {
		v.principals = make(map[string]*piiPrincipal, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		p := &piiPrincipal{key: k, window: r.time(), last: r.time(), inserted: r.u(), checked: r.u(), peak: r.u()}
		if sk := r.raw(); len(sk) > 0 && r.err == nil {
			p.sketch, _ = hyperloglog.NewSketch(piiHLLPrecision, true)
			if err := p.sketch.UnmarshalBinary(sk); err != nil {
				r.fail("pii-volume sketch")
			}
		}
		v.principals[k] = p
	}
	n = r.n(8)
	if n > 0 {
		v.episodes = make(map[string]*piiVolumeEpisode, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		k := r.str()
		ep := &piiVolumeEpisode{alert: decodeAlertHead(r)}
		ep.first, ep.last, ep.detected = r.time(), r.time(), r.time()
		ep.distinct, ep.baseline = r.u(), r.u()
		ep.types = sensitiveSet(r.u())
		if ep.alert.Principal == nil {
			r.fail("pii-volume episode without principal")
		}
		v.episodes[k] = ep
	}
	if err := r.end(); err != nil {
		return err
	}
	*d = v
	return nil
}
