package detect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"time"
)

// The engine persists itself as a set of parts, each a value under its own
// key, written by Save and read back by Load so that analysing a capture in
// two runs over one store gives the report of one run over both.
//
// Key layout (documented with the store's in storage/doc.go):
//
//	s/manifest       which slot holds the last complete snapshot
//	s/<slot>/<part>  one part of the snapshot; slot is "a" or "b"
//	a/<id>           one alert episode (StoredAlert as JSON), with a TTL
//	v/endpoints      the report's endpoints and unseen (JSON), for queries
//	k/<id>           an operator's acknowledgement of alert <id>
//
// Save writes the parts to the slot the manifest does not name, then the
// manifest in a second batch: a crash before the manifest leaves the last
// complete snapshot in place.

// statePart is one piece of engine state that persists itself. Each
// detector's state implements it and is listed by Engine.stateParts.
type statePart interface {
	// stateKey names the part; it is unique, stable across versions,
	// and made of printable characters.
	stateKey() string
	// marshalState encodes the part; the encoding starts with its own
	// version byte so that it can evolve.
	marshalState() ([]byte, error)
	// unmarshalState replaces the part's state with the encoded one.
	unmarshalState([]byte) error
}

// stateParts lists every part of the engine's state: the engine's own
// counters, one part per inventoried host, and the detectors. Detectors
// added later add their line here.
func (e *Engine) stateParts() []statePart {
	parts := []statePart{
		(*engineCounters)(e),
		&e.secrets,
		&e.pii,
		&e.pii.volume,
	}
	if e.behave != nil {
		parts = append(parts, e.behave)
	}
	for _, name := range sortedKeys(e.hosts) {
		parts = append(parts, &hostPart{e: e, hs: e.hosts[name]})
	}
	return parts
}

// partFor returns the part that loads key: one listed by stateParts, or a
// new host for a "host/" key.
func (e *Engine) partFor(key string) statePart {
	for _, p := range e.stateParts() {
		if p.stateKey() == key {
			return p
		}
	}
	if name, ok := strings.CutPrefix(key, hostPartPrefix); ok {
		return &hostPart{e: e, name: name}
	}
	return nil
}

// Store keys (see the layout above).
var (
	manifestKey    = []byte("s/manifest")
	alertPrefix    = []byte("a/")
	ackPrefix      = []byte("k/")
	endpointsKey   = []byte("v/endpoints")
	statePrefixFmt = "s/%c/"
)

// manifestVersion is the encoding version of the manifest.
const manifestVersion = 1

// DefaultAlertRetention is how long stored alerts live when SaveOptions
// says nothing.
const DefaultAlertRetention = 90 * 24 * time.Hour

// SaveOptions tune Save. The zero value works.
type SaveOptions struct {
	// AlertRetention is the TTL of stored alert episodes, renewed at each
	// save while the engine still holds the episode; 0 means
	// DefaultAlertRetention.
	AlertRetention time.Duration
}

// manifest says which slot holds the complete snapshot.
type manifest struct {
	slot  byte // 'a' or 'b'; 0 when there is none
	gen   uint64
	parts []manifestPart
}

type manifestPart struct {
	key string
	crc uint32
}

func (m *manifest) marshal() []byte {
	var w stateEnc
	w.byte(manifestVersion)
	w.byte(m.slot)
	w.u(m.gen)
	w.u(uint64(len(m.parts)))
	for _, p := range m.parts {
		w.str(p.key)
		w.u(uint64(p.crc))
	}
	return w.b
}

func (m *manifest) unmarshal(b []byte) error {
	d := stateDec{b: b}
	d.version("manifest", manifestVersion)
	m.slot = d.byte()
	m.gen = d.u()
	n := d.n(2)
	m.parts = make([]manifestPart, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.parts = append(m.parts, manifestPart{d.str(), uint32(d.u())})
	}
	if d.err == nil && m.slot != 'a' && m.slot != 'b' {
		d.fail("slot")
	}
	return d.end()
}

func readManifest(s Store) (manifest, error) {
	var m manifest
	b, err := s.Get(manifestKey)
	if errors.Is(err, ErrNotFound) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("reading state manifest: %w", err)
	}
	if err := m.unmarshal(b); err != nil {
		return m, fmt.Errorf("reading state manifest: %w", err)
	}
	return m, nil
}

// snapshot encodes the engine's complete state and returns the mutations
// that store it, in two batches to apply in order: the parts and alerts,
// then the manifest that makes them current.
func (e *Engine) snapshot(s Store, o SaveOptions) (parts, commit []Mutation, gen uint64, err error) {
	if o.AlertRetention <= 0 {
		o.AlertRetention = DefaultAlertRetention
	}
	prev, err := readManifest(s)
	if err != nil {
		return nil, nil, 0, err
	}
	next := manifest{slot: 'a', gen: prev.gen + 1}
	if prev.slot == 'a' {
		next.slot = 'b'
	}
	prefix := fmt.Sprintf(statePrefixFmt, next.slot)
	written := map[string]bool{}
	for _, p := range e.stateParts() {
		b, err := p.marshalState()
		if err != nil {
			return nil, nil, 0, fmt.Errorf("encoding state part %s: %w", p.stateKey(), err)
		}
		k := p.stateKey()
		next.parts = append(next.parts, manifestPart{k, crc32.ChecksumIEEE(b)})
		written[prefix+k] = true
		parts = append(parts, Mutation{Key: []byte(prefix + k), Value: b})
	}
	// Keys of the slot left by older snapshots (parts that no longer
	// exist) go.
	err = s.Scan([]byte(prefix), func(k, _ []byte) error {
		if !written[string(k)] {
			parts = append(parts, Mutation{Key: bytes.Clone(k), Delete: true})
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("listing state slot: %w", err)
	}
	rep := e.Report()
	current := make(map[string]bool, len(rep.Alerts))
	for i := range rep.Alerts {
		sa := StoredAlert{ID: AlertID(&rep.Alerts[i]), Alert: rep.Alerts[i]}
		b, err := marshalJSON(&sa)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("encoding alert: %w", err)
		}
		current[sa.ID] = true
		parts = append(parts, Mutation{Key: append(bytes.Clone(alertPrefix), sa.ID...), Value: b, TTL: o.AlertRetention})
	}
	// A shadow_endpoint alert is the endpoint itself: when its template is
	// learnt into a parameter (/users/alice → /users/{userId}) the old one
	// goes. Other episodes stay until their retention ends, whether or not
	// the engine still holds them.
	err = s.Scan(alertPrefix, func(k, v []byte) error {
		if current[string(k[len(alertPrefix):])] {
			return nil
		}
		var a struct {
			Kind string `json:"kind"`
		}
		if json.Unmarshal(v, &a) == nil && a.Kind == KindShadowEndpoint {
			parts = append(parts, Mutation{Key: bytes.Clone(k), Delete: true})
		}
		return nil
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("listing stored alerts: %w", err)
	}
	view, err := marshalJSON(&endpointsView{Endpoints: rep.Endpoints, Unseen: rep.Unseen, Warnings: rep.Summary.Warnings})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("encoding endpoints: %w", err)
	}
	parts = append(parts, Mutation{Key: bytes.Clone(endpointsKey), Value: view})
	commit = []Mutation{{Key: bytes.Clone(manifestKey), Value: next.marshal()}}
	return parts, commit, next.gen, nil
}

// Snapshot is a saved state not yet written: the engine encoded it, the
// store has not yet seen it.
type Snapshot struct {
	parts, commit []Mutation
	gen           uint64
}

// Generation numbers the snapshot: one more than the store's last.
func (sn *Snapshot) Generation() uint64 { return sn.gen }

// SavedGeneration returns the generation of the last complete snapshot in
// s (0 when it holds none).
func SavedGeneration(s Store) (uint64, error) {
	m, err := readManifest(s)
	return m.gen, err
}

// Snapshot encodes the engine's complete state for s (the store's
// manifest decides the slot written). Write applies it; it needs no
// engine, so the engine may go on observing meanwhile — but the next
// Snapshot for the same store must wait until Write returned.
func (e *Engine) Snapshot(s Store, o SaveOptions) (*Snapshot, error) {
	p, c, gen, err := e.snapshot(s, o)
	if err != nil {
		return nil, err
	}
	return &Snapshot{p, c, gen}, nil
}

// Write applies the snapshot to s: the parts and alerts, then the
// manifest that makes them current.
func (sn *Snapshot) Write(s Store) error {
	if err := s.Apply(sn.parts); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	if err := s.Apply(sn.commit); err != nil {
		return fmt.Errorf("committing state: %w", err)
	}
	return nil
}

// Save writes the engine's complete state to s (Snapshot then Write).
func (e *Engine) Save(s Store) error { return e.SaveWith(s, SaveOptions{}) }

// SaveWith is Save with options.
func (e *Engine) SaveWith(s Store, o SaveOptions) error {
	sn, err := e.Snapshot(s, o)
	if err != nil {
		return err
	}
	return sn.Write(s)
}

// Load replaces the engine's state with the last snapshot saved in s. An
// empty store leaves the engine as it is. Call it before the first
// Observe; the engine's options (specs, bounds) are its own, not the
// store's: documented operations a spec no longer holds are dropped.
func (e *Engine) Load(s Store) error {
	m, err := readManifest(s)
	if err != nil || m.slot == 0 {
		return err
	}
	prefix := fmt.Sprintf(statePrefixFmt, m.slot)
	for _, mp := range m.parts {
		b, err := s.Get([]byte(prefix + mp.key))
		if err != nil {
			return fmt.Errorf("reading state part %s: %w", mp.key, err)
		}
		if crc32.ChecksumIEEE(b) != mp.crc {
			return fmt.Errorf("state part %s: %w: checksum mismatch", mp.key, errCorrupt)
		}
		p := e.partFor(mp.key)
		if p == nil {
			// A part this build does not know (written by a newer
			// one): its state is not read.
			continue
		}
		if err := p.unmarshalState(b); err != nil {
			return fmt.Errorf("decoding state part %s: %w", mp.key, err)
		}
	}
	return nil
}

// engineCounters is the part holding the engine's own counters.
type engineCounters Engine

func (*engineCounters) stateKey() string { return "engine" }

func (c *engineCounters) marshalState() ([]byte, error) {
	var w stateEnc
	w.byte(1)
	w.u(c.foldedHosts)
	w.u(c.dotProbes)
	return w.b, nil
}

func (c *engineCounters) unmarshalState(b []byte) error {
	d := stateDec{b: b}
	d.version("engine", 1)
	c.foldedHosts = d.u()
	c.dotProbes = d.u()
	return d.end()
}
