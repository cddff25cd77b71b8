package detect

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Persistence of the secret_exposure and sensitive_data_exposure
// detectors. Episodes hold fingerprints and types only, never a secret.

const (
	secretsStateVersion = 1
	piiStateVersion     = 1
)

// encodeAlertHead writes the alert fields the detectors fill in when an
// episode opens; evidence is a small map of JSON values.
func encodeAlertHead(w *stateEnc, a *Alert) error {
	w.str(a.Kind)
	w.str(a.Severity)
	w.str(a.Host)
	w.str(a.Method)
	w.str(a.Path)
	w.str(a.Client)
	w.bool(a.Principal != nil)
	if a.Principal != nil {
		w.str(*a.Principal)
	}
	w.str(a.FirstSeen)
	w.str(a.LastSeen)
	w.u(a.Count)
	w.str(a.Summary)
	ev := []byte{}
	if a.Evidence != nil {
		var err error
		if ev, err = json.Marshal(a.Evidence); err != nil {
			return err
		}
	}
	w.bytes(ev)
	return nil
}

func decodeAlertHead(d *stateDec) Alert {
	var a Alert
	a.Kind = d.str()
	a.Severity = d.str()
	a.Host = d.str()
	a.Method = d.str()
	a.Path = d.str()
	a.Client = d.str()
	if d.bool() {
		p := d.str()
		a.Principal = &p
	}
	a.FirstSeen = d.str()
	a.LastSeen = d.str()
	a.Count = d.u()
	a.Summary = d.str()
	if ev := d.raw(); len(ev) > 0 && d.err == nil {
		if err := json.Unmarshal(ev, &a.Evidence); err != nil {
			d.fail("evidence")
		}
	}
	return a
}

func (*secretDetector) stateKey() string { return "secrets" }

func (sd *secretDetector) marshalState() ([]byte, error) {
	w := &stateEnc{}
	w.byte(secretsStateVersion)
	w.u(sd.dropped)
	keys := slices.SortedFunc(maps.Keys(sd.episodes), func(a, b secretKey) int {
		return cmp.Or(strings.Compare(a.host, b.host), strings.Compare(a.path, b.path),
			strings.Compare(a.method, b.method), strings.Compare(a.fingerprint, b.fingerprint))
	})
	w.u(uint64(len(keys)))
	for _, k := range keys {
		ep := sd.episodes[k]
		w.str(k.host)
		w.str(k.method)
		w.str(k.path)
		w.str(k.fingerprint)
		if err := encodeAlertHead(w, &ep.alert); err != nil {
			return nil, err
		}
		w.time(ep.first)
		w.time(ep.last)
		w.u(uint64(len(ep.wheres)))
		for _, where := range sortedKeys(ep.wheres) {
			w.str(where)
			w.bool(ep.wheres[where])
		}
	}
	return w.b, nil
}

func (sd *secretDetector) unmarshalState(b []byte) error {
	d := &stateDec{b: b}
	d.version("secrets", secretsStateVersion)
	dropped := d.u()
	n := d.n(8)
	episodes := make(map[secretKey]*secretEpisode, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := secretKey{host: d.str(), method: d.str(), path: d.str(), fingerprint: d.str()}
		ep := &secretEpisode{alert: decodeAlertHead(d)}
		ep.first = d.time()
		ep.last = d.time()
		m := d.n(2)
		ep.wheres = make(map[string]bool, m)
		for j := 0; j < m && d.err == nil; j++ {
			where := d.str()
			ep.wheres[where] = d.bool()
		}
		episodes[k] = ep
	}
	if err := d.end(); err != nil {
		return err
	}
	if len(episodes) == 0 {
		episodes = nil
	}
	sd.episodes, sd.dropped = episodes, dropped
	return nil
}

func (*piiDetector) stateKey() string { return "pii" }

func (pd *piiDetector) marshalState() ([]byte, error) {
	w := &stateEnc{}
	w.byte(piiStateVersion)
	w.u(pd.dropped)
	keys := slices.SortedFunc(maps.Keys(pd.episodes), func(a, b piiKey) int {
		return cmp.Or(strings.Compare(a.host, b.host), strings.Compare(a.path, b.path), strings.Compare(a.method, b.method))
	})
	w.u(uint64(len(keys)))
	for _, k := range keys {
		ep := pd.episodes[k]
		w.str(k.host)
		w.str(k.method)
		w.str(k.path)
		if err := encodeAlertHead(w, &ep.alert); err != nil {
			return nil, err
		}
		w.time(ep.first)
		w.time(ep.last)
		w.time(ep.detected)
		w.u(uint64(ep.types))
		w.bool(ep.moreClients)
		clients := slices.SortedFunc(maps.Keys(ep.clients), netip.Addr.Compare)
		w.u(uint64(len(clients)))
		for _, c := range clients {
			w.addr(c)
		}
	}
	return w.b, nil
}

func (pd *piiDetector) unmarshalState(b []byte) error {
	d := &stateDec{b: b}
	d.version("pii", piiStateVersion)
	dropped := d.u()
	n := d.n(8)
	episodes := make(map[piiKey]*piiEpisode, n)
	for i := 0; i < n && d.err == nil; i++ {
		k := piiKey{host: d.str(), method: d.str(), path: d.str()}
		ep := &piiEpisode{alert: decodeAlertHead(d)}
		ep.first = d.time()
		ep.last = d.time()
		ep.detected = d.time()
		ep.types = sensitiveSet(d.u())
		ep.moreClients = d.bool()
		m := d.n(1)
		ep.clients = make(map[netip.Addr]struct{}, m)
		for j := 0; j < m && d.err == nil; j++ {
			ep.clients[d.addr()] = struct{}{}
		}
		episodes[k] = ep
	}
	if err := d.end(); err != nil {
		return err
	}
	if len(episodes) == 0 {
		episodes = nil
	}
	pd.episodes, pd.dropped = episodes, dropped
	return nil
}
