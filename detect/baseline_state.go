package detect

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/DataDog/sketches-go/ddsketch"
)

// Persistence of the behavioural baselines and episodes (statePart): one
// part holding endpoints, principals, login sources and episodes, in a
// compact binary encoding (stateEnc), sorted so that equal state encodes
// to equal bytes.

const behaviourStateVersion = 1

func (b *behaviour) stateKey() string { return "behaviour" }

func (b *behaviour) marshalState() ([]byte, error) {
	var w stateEnc
	w.byte(behaviourStateVersion)
	w.time(b.start)
	w.u(uint64(b.nextID))
	w.u(b.evictedPrincipals)
	w.u(b.evictedEndpoints)
	w.u(b.evictedSources)

	eps := make([]*endpointState, 0, len(b.endpoints))
	for _, ep := range b.endpoints {
		eps = append(eps, ep)
	}
	slices.SortFunc(eps, func(x, y *endpointState) int { return cmp.Compare(x.id, y.id) })
	w.u(uint64(len(eps)))
	for _, ep := range eps {
		if err := ep.encode(&w); err != nil {
			return nil, err
		}
	}

	ps := make([]*principalState, 0, len(b.principals))
	for _, p := range b.principals {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(x, y *principalState) int {
		if c := cmp.Compare(x.key.fp, y.key.fp); c != 0 {
			return c
		}
		return x.key.addr.Compare(y.key.addr)
	})
	w.u(uint64(len(ps)))
	for _, p := range ps {
		p.encode(&w)
	}

	hosts := sortedKeys(b.hosts)
	w.u(uint64(len(hosts)))
	for _, h := range hosts {
		hb := b.hosts[h]
		w.str(h)
		encodeDD(&w, hb.resp)
		w.f64(hb.p999.v)
		w.f64(hb.p999.at)
	}
	encodeSources(&w, b.sources, func(a netip.Addr) { w.addr(a) }, func(x, y netip.Addr) int { return x.Compare(y) })
	encodeSources(&w, b.networks, func(p netip.Prefix) { w.addr(p.Addr()); w.u(uint64(p.Bits())) }, func(x, y netip.Prefix) int {
		if c := x.Addr().Compare(y.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(x.Bits(), y.Bits())
	})

	w.u(uint64(len(b.episodes.list)))
	w.u(b.episodes.dropped)
	for _, e := range b.episodes.list {
		w.byte(e.key.kind)
		w.byte(e.key.variant)
		w.str(e.key.who.fp)
		w.addr(e.key.who.addr)
		w.u(uint64(e.key.ep))
		if err := encodeAlertHead(&w, &e.alert); err != nil {
			return nil, fmt.Errorf("encoding behavioural alert: %w", err)
		}
		w.time(e.first)
		w.time(e.last)
		w.u(e.count)
		w.f64(e.peak)
		w.str(e.peakName)
		w.u(e.aux)
		w.str(e.auxName)
		w.u(e.aux2)
	}
	return w.b, nil
}

func (b *behaviour) unmarshalState(data []byte) error {
	d := stateDec{b: data}
	d.version("behaviour", behaviourStateVersion)
	nb := newBehaviour(b.o)
	nb.start = d.time()
	nb.nextID = uint32(d.u())
	nb.evictedPrincipals = d.u()
	nb.evictedEndpoints = d.u()
	nb.evictedSources = d.u()

	byID := map[uint32]*endpointState{}
	n := d.n(8)
	for i := 0; i < n && d.err == nil; i++ {
		ep := decodeEndpoint(&d)
		if d.err != nil {
			break
		}
		nb.endpoints[ep.key] = ep
		byID[ep.id] = ep
	}
	n = d.n(8)
	for i := 0; i < n && d.err == nil; i++ {
		p := decodePrincipal(&d, byID)
		if d.err == nil {
			nb.principals[p.key] = p
		}
	}
	n = d.n(4)
	for i := 0; i < n && d.err == nil; i++ {
		h := d.str()
		hb := &hostBase{resp: newSketch(0.02, 512)}
		decodeDD(&d, hb.resp)
		hb.p999.v, hb.p999.at = d.f64(), d.f64()
		if len(nb.hosts) < maxHostBases {
			nb.hosts[h] = hb
		}
	}
	decodeSources(&d, nb.sources, func() netip.Addr { return d.addr() })
	decodeSources(&d, nb.networks, func() netip.Prefix {
		a := d.addr()
		bitsN := int(d.u())
		p, err := a.Prefix(bitsN)
		if err != nil {
			d.fail("prefix")
		}
		return p
	})

	n = d.n(8)
	nb.episodes.dropped = d.u()
	for i := 0; i < n && d.err == nil; i++ {
		e := &episode{}
		e.key.kind = d.byte()
		e.key.variant = d.byte()
		e.key.who.fp = d.str()
		e.key.who.addr = d.addr()
		e.key.ep = uint32(d.u())
		e.alert = decodeAlertHead(&d)
		e.first = d.time()
		e.last = d.time()
		e.count = d.u()
		e.peak = d.f64()
		e.peakName = d.str()
		e.aux = d.u()
		e.auxName = d.str()
		e.aux2 = d.u()
		if d.err == nil && (e.key.kind == 0 || int(e.key.kind) >= len(episodeKinds)) {
			d.fail("episode kind")
		}
		nb.episodes.list = append(nb.episodes.list, e)
		nb.episodes.open[e.key] = e
	}
	if err := d.end(); err != nil {
		return fmt.Errorf("decoding behaviour state: %w", err)
	}
	for _, ep := range b.endpoints {
		ep.gone = true // replaced: caches holding it must look again
	}
	*b = *nb
	return nil
}

func encodeDD(w *stateEnc, s *ddsketch.DDSketch) {
	var buf []byte
	s.Encode(&buf, true)
	w.bytes(buf)
}

func decodeDD(d *stateDec, s *ddsketch.DDSketch) {
	raw := d.raw()
	if d.err != nil {
		return
	}
	if err := s.DecodeAndMergeWith(raw); err != nil {
		d.fail("sketch")
	}
}

func encodeBits(w *stateEnc, b *bits256) {
	for _, x := range b {
		w.u(x)
	}
}

func decodeBits(d *stateDec) (b bits256) {
	for i := range b {
		b[i] = d.u()
	}
	return b
}

func (ep *endpointState) encode(w *stateEnc) error {
	w.str(ep.key.host)
	w.str(ep.key.method)
	w.str(ep.key.path)
	w.u(uint64(ep.id))
	w.time(ep.last)
	w.u(ep.count)
	for _, s := range ep.statuses {
		w.u(s)
	}
	w.time(ep.alertedAt)
	encodeDD(w, ep.respBytes)
	encodeDD(w, ep.winDistinct)
	encodeDD(w, ep.peakRates)
	for _, c := range []*qcache{&ep.p999Bytes, &ep.p99Distinct} {
		w.f64(c.v)
		w.f64(c.at)
	}
	w.i(ep.hourIdx)
	w.u(uint64(ep.hourCount))
	w.u(uint64(ep.hourThr))
	w.f64(float64(ep.hourExp))
	w.byte(ep.hourBase)
	w.time(ep.flaggedAt)
	w.u(uint64(ep.flagCount))
	for i := range ep.top.keys {
		w.u(ep.top.keys[i])
		w.u(uint64(ep.top.counts[i]))
	}
	w.u(uint64(ep.top.total))
	w.i(ep.firstHour)
	for i := range ep.how {
		w.u(uint64(ep.how[i]))
		w.byte(ep.howWeeks[i])
	}
	for i := range ep.hod {
		w.u(uint64(ep.hod[i]))
		w.u(uint64(ep.hodDays[i]))
	}
	w.i(ep.fwIdx)
	w.u(uint64(ep.fwReqs))
	w.u(uint64(ep.fwNF))
	w.u(uint64(ep.fwFail))
	w.u(uint64(ep.fwOK))
	encodeBits(w, &ep.fwKeys)
	encodeBits(w, &ep.fwClients)
	encodeBits(w, &ep.fwFailC)
	w.f64(float64(ep.nfMean))
	w.f64(float64(ep.failMean))
	w.u(uint64(ep.fwWindows))
	w.bool(ep.fwAlerted)
	w.bool(ep.owners != nil)
	if ep.owners != nil {
		for _, e := range ep.owners {
			w.u(e)
		}
	}
	return nil
}

func decodeEndpoint(d *stateDec) *endpointState {
	k := endpointKey{d.str(), d.str(), d.str()}
	ep := newEndpointState(k, uint32(d.u()))
	ep.last = d.time()
	ep.count = d.u()
	for i := range ep.statuses {
		ep.statuses[i] = d.u()
	}
	ep.alertedAt = d.time()
	decodeDD(d, ep.respBytes)
	decodeDD(d, ep.winDistinct)
	decodeDD(d, ep.peakRates)
	for _, c := range []*qcache{&ep.p999Bytes, &ep.p99Distinct} {
		c.v = d.f64()
		c.at = d.f64()
	}
	ep.hourIdx = d.i()
	ep.hourCount = uint32(d.u())
	ep.hourThr = uint32(d.u())
	ep.hourExp = float32(d.f64())
	ep.hourBase = d.byte()
	ep.flaggedAt = d.time()
	ep.flagCount = uint32(d.u())
	for i := range ep.top.keys {
		ep.top.keys[i] = d.u()
		ep.top.counts[i] = uint32(d.u())
	}
	ep.top.total = uint32(d.u())
	ep.firstHour = d.i()
	for i := range ep.how {
		ep.how[i] = uint32(d.u())
		ep.howWeeks[i] = d.byte()
	}
	for i := range ep.hod {
		ep.hod[i] = uint32(d.u())
		ep.hodDays[i] = uint16(d.u())
	}
	ep.fwIdx = d.i()
	ep.fwReqs = uint32(d.u())
	ep.fwNF = uint32(d.u())
	ep.fwFail = uint32(d.u())
	ep.fwOK = uint32(d.u())
	ep.fwKeys = decodeBits(d)
	ep.fwClients = decodeBits(d)
	ep.fwFailC = decodeBits(d)
	ep.nfMean = float32(d.f64())
	ep.failMean = float32(d.f64())
	ep.fwWindows = uint32(d.u())
	ep.fwAlerted = d.bool()
	if d.bool() {
		ep.owners = new(ownerTable)
		for i := range ep.owners {
			ep.owners[i] = d.u()
		}
	}
	return ep
}

func (p *principalState) encode(w *stateEnc) {
	w.str(p.key.fp)
	w.addr(p.key.addr)
	w.addr(p.client)
	w.time(p.first)
	w.time(p.last)
	w.u(p.requests)
	w.i(p.rateIdx)
	w.u(uint64(p.rateReqs))
	w.u(uint64(p.peakReqs))
	w.byte(p.nNets)
	for i := 0; i < int(p.nNets); i++ {
		w.u(uint64(p.nets[i]))
	}
	w.byte(p.nUAs)
	for i := 0; i < int(p.nUAs); i++ {
		w.u(uint64(p.uas[i]))
	}
	w.byte(p.nToks)
	for i := 0; i < int(p.nToks); i++ {
		w.u(uint64(p.toks[i]))
	}
	w.i(p.hourIdx)
	w.u(p.hourBytes)
	w.u(p.peakBytes)
	w.i(p.maxResp)
	w.i(p.cuIdx)
	w.u(uint64(p.cuReads))
	w.u(uint64(p.cuRun))
	w.f64(float64(p.cuS))
	w.f64(float64(p.cuMean))
	w.u(uint64(p.cuTotal))
	live := 0
	for i := range p.objs {
		if !p.objs[i].ep.gone {
			live++
		}
	}
	w.u(uint64(live))
	for i := range p.objs {
		tr := &p.objs[i]
		if tr.ep.gone {
			continue
		}
		w.u(uint64(tr.ep.id))
		w.i(tr.half)
		encodeBits(w, &tr.cur)
		encodeBits(w, &tr.prev)
		w.u(uint64(tr.reqs))
		w.u(uint64(tr.nf))
		w.u(uint64(tr.preqs))
		w.u(uint64(tr.pnf))
		w.u(uint64(tr.others))
		w.u(uint64(tr.pothers))
		w.i(tr.lastID)
		w.i(tr.firstID)
		w.u(uint64(tr.seqRun))
		w.u(uint64(tr.maxRun))
		w.u(uint64(tr.peak))
		w.u(uint64(tr.pend))
		w.i(tr.pendAt)
		w.i(tr.last)
		w.i(tr.start)
		w.i(tr.halfStart)
	}
}

func decodePrincipal(d *stateDec, byID map[uint32]*endpointState) *principalState {
	p := &principalState{}
	p.key.fp = d.str()
	p.key.addr = d.addr()
	p.h = p.key.hash()
	p.client = d.addr()
	p.first = d.time()
	p.last = d.time()
	p.requests = d.u()
	p.rateIdx = d.i()
	p.rateReqs = uint32(d.u())
	p.peakReqs = uint32(d.u())
	p.nNets = d.byte()
	if int(p.nNets) > len(p.nets) {
		d.fail("networks")
		return p
	}
	for i := 0; i < int(p.nNets); i++ {
		p.nets[i] = uint32(d.u())
	}
	p.nUAs = d.byte()
	if int(p.nUAs) > len(p.uas) {
		d.fail("user agents")
		return p
	}
	for i := 0; i < int(p.nUAs); i++ {
		p.uas[i] = uint32(d.u())
	}
	p.nToks = d.byte()
	if int(p.nToks) > len(p.toks) {
		d.fail("tokens")
		return p
	}
	for i := 0; i < int(p.nToks); i++ {
		p.toks[i] = uint32(d.u())
	}
	p.hourIdx = d.i()
	p.hourBytes = d.u()
	p.peakBytes = d.u()
	p.maxResp = d.i()
	p.cuIdx = d.i()
	p.cuReads = uint32(d.u())
	p.cuRun = uint16(d.u())
	p.cuS = float32(d.f64())
	p.cuMean = float32(d.f64())
	p.cuTotal = uint32(d.u())
	n := d.n(8)
	if n > maxTrackers {
		d.fail("trackers")
		return p
	}
	for i := 0; i < n && d.err == nil; i++ {
		var tr objTracker
		ep := byID[uint32(d.u())]
		tr.half = d.i()
		tr.cur = decodeBits(d)
		tr.prev = decodeBits(d)
		tr.reqs = uint32(d.u())
		tr.nf = uint32(d.u())
		tr.preqs = uint32(d.u())
		tr.pnf = uint32(d.u())
		tr.others = uint32(d.u())
		tr.pothers = uint32(d.u())
		tr.lastID = d.i()
		tr.firstID = d.i()
		tr.seqRun = uint32(d.u())
		tr.maxRun = uint32(d.u())
		tr.peak = uint16(d.u())
		tr.pend = uint16(d.u())
		tr.pendAt = d.i()
		tr.last = d.i()
		tr.start = d.i()
		tr.halfStart = d.i()
		if ep != nil {
			tr.ep = ep
			p.objs = append(p.objs, tr)
		}
	}
	return p
}

func encodeSources[K comparable](w *stateEnc, m map[K]*srcAuth, key func(K), less func(x, y K) int) {
	keys := slices.SortedFunc(maps.Keys(m), less)
	w.u(uint64(len(keys)))
	for _, k := range keys {
		s := m[k]
		key(k)
		w.i(s.win)
		w.u(uint64(s.fails))
		w.u(uint64(s.reqs))
		w.u(uint64(s.recent))
		w.time(s.lastFail)
		w.time(s.lastSeen)
	}
}

func decodeSources[K comparable](d *stateDec, m map[K]*srcAuth, key func() K) {
	n := d.n(6)
	for i := 0; i < n && d.err == nil; i++ {
		k := key()
		s := &srcAuth{}
		s.win = d.i()
		s.fails = uint32(d.u())
		s.reqs = uint32(d.u())
		s.recent = uint32(d.u())
		s.lastFail = d.time()
		s.lastSeen = d.time()
		if d.err == nil {
			m[k] = s
		}
	}
}
