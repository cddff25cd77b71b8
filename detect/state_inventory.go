package detect

import (
	"fmt"
	"sort"
)

// hostPartPrefix starts the state key of each host's inventory.
const hostPartPrefix = "host/"

// hostStateVersion is the encoding version of a host's inventory: 2 added
// the endpoint stats' inferred schemas and last-segment watch (version 1
// is still read: those start empty).
const hostStateVersion = 2

// maxTrieDepth bounds the nesting the decoder accepts (paths are split on
// '/', and a request-target is bounded by the parser).
const maxTrieDepth = 4096

// hostPart persists one host's inventory: its learnt trie with the
// learning counters, the stats of documented operations and of
// undocumented methods on documented paths.
type hostPart struct {
	e    *Engine
	hs   *hostState // nil until unmarshalState for a host not yet known
	name string
}

func (p *hostPart) stateKey() string {
	if p.hs != nil {
		return hostPartPrefix + p.hs.name
	}
	return hostPartPrefix + p.name
}

func (p *hostPart) marshalState() ([]byte, error) {
	hs := p.hs
	w := &stateEnc{b: make([]byte, 0, 4096)}
	w.byte(hostStateVersion)
	tr := &hs.trie
	w.u(uint64(tr.nodes))
	w.u(tr.folded)
	w.u(tr.gen)
	encodeNode(w, &tr.root)
	// Documented operations, by method and template.
	ops := make([]*SpecOp, 0, len(hs.documented))
	for op := range hs.documented {
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	w.u(uint64(len(ops)))
	for _, op := range ops {
		w.str(op.Method)
		w.str(op.Path)
		encodeStats(w, hs.documented[op])
	}
	w.u(uint64(len(hs.shaped)))
	for _, k := range sortedShaped(hs.shaped) {
		w.str(k.method)
		w.str(k.path)
		encodeStats(w, hs.shaped[k])
	}
	return w.b, nil
}

func (p *hostPart) unmarshalState(b []byte) error {
	hs := p.hs
	if hs == nil {
		hs = p.e.newHost(p.name)
	}
	d := &stateDec{b: b}
	d.version("host", hostStateVersion)
	nodes := d.u()
	folded := d.u()
	gen := d.u()
	var root node
	decodeNode(d, &root, 0)
	documented := map[*SpecOp]*epStats{}
	n := d.n(3)
	for i := 0; i < n && d.err == nil; i++ {
		method, path := d.str(), d.str()
		st := decodeStats(d)
		if op := hs.specOp(method, path); op != nil {
			documented[op] = st
		}
	}
	var shaped map[shapedKey]*epStats
	n = d.n(3)
	for i := 0; i < n && d.err == nil; i++ {
		k := shapedKey{d.str(), d.str()}
		st := decodeStats(d)
		if shaped == nil {
			shaped = map[shapedKey]*epStats{}
		}
		shaped[k] = st
	}
	if err := d.end(); err != nil {
		return err
	}
	tr := &hs.trie
	tr.root, tr.nodes, tr.folded, tr.gen = root, int(nodes), folded, gen
	tr.root.parent = nil
	for _, c := range tr.root.lit {
		c.parent = &tr.root
	}
	for _, c := range tr.root.params {
		c.parent = &tr.root
	}
	if tr.root.rest != nil {
		tr.root.rest.parent = &tr.root
	}
	hs.documented, hs.shaped = documented, shaped
	p.hs = hs
	p.e.hosts[hs.name] = hs
	p.e.lastHost = nil // it may have been the host replaced
	return nil
}

// newHost makes the state of a host being loaded, with the specs that
// cover it under this engine's options.
func (e *Engine) newHost(name string) *hostState {
	hs := &hostState{name: name, documented: map[*SpecOp]*epStats{}}
	hs.trie.max = e.opts.MaxTemplatesPerHost
	for _, s := range e.opts.Specs {
		if s.covers(name) {
			hs.specs = append(hs.specs, s)
		}
	}
	return hs
}

// specOp finds the documented operation of a host by method and template.
func (hs *hostState) specOp(method, path string) *SpecOp {
	for _, s := range hs.specs {
		for _, op := range s.Ops {
			if op.Method == method && op.Path == path && op.servedBy(hs.name) {
				return op
			}
		}
	}
	return nil
}

// Node flags.
const (
	nodeParam = 1 << iota
	nodeRest
	nodeLearnt
	nodeProbeOnly
)

func encodeNode(w *stateEnc, n *node) {
	var f byte
	if n.isParam {
		f |= nodeParam
	}
	if n.isRest {
		f |= nodeRest
	}
	if n.learnt {
		f |= nodeLearnt
	}
	if n.probeOnly {
		f |= nodeProbeOnly
	}
	w.byte(f)
	w.str(n.label)
	w.u(uint64(n.probeLits))
	w.u(n.hits)
	w.u(uint64(n.winHits))
	w.u(uint64(n.winNew))
	w.u(uint64(n.lastNew))
	w.u(uint64(n.prevNew))
	w.u(uint64(n.windows))
	w.u(uint64(len(n.ep)))
	for _, m := range sortedKeys(n.ep) {
		w.str(m)
		encodeStats(w, n.ep[m])
	}
	w.u(uint64(len(n.lit)))
	for _, k := range sortedKeys(n.lit) {
		encodeNode(w, n.lit[k])
	}
	w.u(uint64(len(n.params)))
	for _, k := range sortedKeys(n.params) {
		encodeNode(w, n.params[k])
	}
	w.bool(n.rest != nil)
	if n.rest != nil {
		encodeNode(w, n.rest)
	}
}

// decodeNode fills n from d; children point back at n.
func decodeNode(d *stateDec, n *node, depth int) {
	if depth > maxTrieDepth {
		d.fail("trie depth")
		return
	}
	f := d.byte()
	n.isParam, n.isRest, n.learnt, n.probeOnly = f&nodeParam != 0, f&nodeRest != 0, f&nodeLearnt != 0, f&nodeProbeOnly != 0
	n.label = d.str()
	n.probeLits = int(d.u())
	n.hits = d.u()
	n.winHits = uint16(d.u())
	n.winNew = uint16(d.u())
	n.lastNew = uint16(d.u())
	n.prevNew = uint16(d.u())
	n.windows = uint32(d.u())
	if k := d.n(2); k > 0 {
		n.ep = make(map[string]*epStats, k)
		for i := 0; i < k && d.err == nil; i++ {
			m := d.str()
			n.ep[m] = decodeStats(d)
		}
	}
	if k := d.n(10); k > 0 {
		n.lit = make(map[string]*node, k)
		for i := 0; i < k && d.err == nil; i++ {
			c := &node{parent: n}
			decodeNode(d, c, depth+1)
			n.lit[c.label] = c
		}
	}
	if k := d.n(10); k > 0 {
		n.params = make(map[string]*node, k)
		for i := 0; i < k && d.err == nil; i++ {
			c := &node{parent: n}
			decodeNode(d, c, depth+1)
			n.params[c.label] = c
		}
	}
	if d.bool() {
		n.rest = &node{parent: n}
		decodeNode(d, n.rest, depth+1)
	}
}

func encodeStats(w *stateEnc, s *epStats) {
	w.u(s.count)
	w.time(s.first)
	w.time(s.last)
	codes := make([]int, 0, len(s.statuses))
	for c := range s.statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	w.u(uint64(len(codes)))
	for _, c := range codes {
		w.i(int64(c))
		w.u(s.statuses[c])
	}
	encodeSketch(w, &s.clients)
	encodeSketch(w, &s.principals)
	w.u(uint64(s.auth))
	w.u(uint64(s.sensitive))
	w.strSet(s.query)
	w.addr(s.firstClient)
	w.strSet(s.credNames)
	w.strSet(s.respTypes)
	w.addr(s.lastClient)
	w.strSet(s.undocQuery)
	w.u(s.undocCount)
	w.time(s.undocFirst)
	w.time(s.undocLast)
	w.addr(s.undocClient)
	s.schemas.encode(w) // inferred schemas (schema.go)
	w.str(s.lastSeg)    // shapedPath (inventory.go)
	w.bool(s.segVaries)
}

func decodeStats(d *stateDec) *epStats {
	s := &epStats{}
	s.count = d.u()
	s.first = d.time()
	s.last = d.time()
	if k := d.n(2); k > 0 {
		s.statuses = make(map[int]uint64, k)
		for i := 0; i < k && d.err == nil; i++ {
			c := int(d.i())
			s.statuses[c] = d.u()
		}
	}
	decodeSketch(d, &s.clients)
	decodeSketch(d, &s.principals)
	s.auth = authSet(d.u())
	s.sensitive = sensitiveSet(d.u())
	s.query = d.strSet()
	s.firstClient = d.addr()
	s.credNames = d.strSet()
	s.respTypes = d.strSet()
	s.lastClient = d.addr()
	s.undocQuery = d.strSet()
	s.undocCount = d.u()
	s.undocFirst = d.time()
	s.undocLast = d.time()
	s.undocClient = d.addr()
	if d.ver < 2 {
		return s
	}
	s.schemas = decodeBodySchemas(d) // inferred schemas (schema.go)
	s.lastSeg = d.str()              // shapedPath (inventory.go)
	s.segVaries = d.bool()
	return s
}

// encodeSketch writes a sketch: 0 and its exact hashes, or 1 and its
// HyperLogLog registers.
func encodeSketch(w *stateEnc, s *sketch) {
	if s.regs == nil {
		w.byte(0)
		w.u(uint64(len(s.exact)))
		for _, h := range s.exact {
			w.b = append(w.b, byte(h>>56), byte(h>>48), byte(h>>40), byte(h>>32), byte(h>>24), byte(h>>16), byte(h>>8), byte(h))
		}
		return
	}
	w.byte(1)
	w.bytes(s.regs)
}

func decodeSketch(d *stateDec, s *sketch) {
	switch d.byte() {
	case 0:
		n := d.n(8)
		if n > sketchExact {
			d.fail("sketch size")
			return
		}
		if n == 0 {
			return
		}
		s.exact = make([]uint64, n)
		for i := range s.exact {
			b := d.b[:8]
			s.exact[i] = uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
			d.b = d.b[8:]
		}
	case 1:
		regs := d.raw()
		if d.err == nil && len(regs) != sketchM {
			d.fail(fmt.Sprintf("sketch registers (%d)", len(regs)))
			return
		}
		s.regs = append([]uint8(nil), regs...)
	default:
		d.fail("sketch kind")
	}
}
