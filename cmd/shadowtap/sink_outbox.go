package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/detect"
)

// outbox keeps in the store every alert a sink was handed and has not yet
// delivered: alerts still queued when the daemon stops or crashes, dropped
// from a full queue, or whose delivery failed are handed to the sink again
// (replay) after the next start, after a reload and at each state flush,
// until delivered or expired. Delivery is at least once: an alert
// delivered just before a crash, whose entry was not yet removed, is
// delivered again.
//
// Entries live under d/pending/<alert id>/<sink name> (the daemon's own
// prefix, see storage/doc.go), hold the alert as the sinks send it and
// expire with the alert retention. The methods are safe for concurrent use.
type outbox struct {
	store detect.Store
	ttl   time.Duration
	log   zerolog.Logger

	mu sync.Mutex
	// inflight is the entries handed to a sink and not yet settled: a
	// replay skips them.
	inflight map[string]struct{}
	// errors counts store operations that failed (the alert is still
	// handed to the sink; only its durability is lost).
	errors atomic.Uint64
}

var pendingPrefix = []byte("d/pending/")

func newOutbox(s detect.Store, ttl time.Duration, log zerolog.Logger) *outbox {
	if ttl <= 0 {
		ttl = detect.DefaultAlertRetention
	}
	return &outbox{store: s, ttl: ttl, log: log, inflight: map[string]struct{}{}}
}

func pendingKey(sink string, m *alertMsg) string {
	return string(pendingPrefix) + detect.AlertID(&m.alert) + "/" + sink
}

// put records m as handed to sink. It reports false when the entry is
// already in flight (a replay racing a delivery), and the caller must not
// hand it over again.
func (o *outbox) put(sink string, m *alertMsg) bool {
	k := pendingKey(sink, m)
	o.mu.Lock()
	if _, ok := o.inflight[k]; ok {
		o.mu.Unlock()
		return false
	}
	o.inflight[k] = struct{}{}
	o.mu.Unlock()
	if err := o.store.Apply([]detect.Mutation{{Key: []byte(k), Value: m.body, TTL: o.ttl}}); err != nil {
		o.errors.Add(1)
		o.log.Error().Err(err).Str("sink", sink).Msg("alert not recorded in the outbox: it will not be retried after a restart")
	}
	return true
}

// delivered removes m's entry for sink.
func (o *outbox) delivered(sink string, m *alertMsg) {
	k := pendingKey(sink, m)
	if err := o.store.Apply([]detect.Mutation{{Key: []byte(k), Delete: true}}); err != nil {
		o.errors.Add(1)
		o.log.Error().Err(err).Str("sink", sink).Msg("delivered alert not cleared from the outbox: it may be delivered again")
	}
	o.mu.Lock()
	delete(o.inflight, k)
	o.mu.Unlock()
}

// release leaves m's entry for sink in the store for a later replay: its
// delivery failed or it was dropped.
func (o *outbox) release(sink string, m *alertMsg) {
	k := pendingKey(sink, m)
	o.mu.Lock()
	delete(o.inflight, k)
	o.mu.Unlock()
}

// pendingAlert is one outbox entry.
type pendingAlert struct {
	sink string
	msg  *alertMsg
}

// pending lists the entries not in flight, in key order. Entries that do
// not decode are removed (they cannot be sent) and counted.
func (o *outbox) pending() ([]pendingAlert, error) {
	var out []pendingAlert
	var bad [][]byte
	err := o.store.Scan(pendingPrefix, func(k, v []byte) error {
		o.mu.Lock()
		_, busy := o.inflight[string(k)]
		o.mu.Unlock()
		if busy {
			return nil
		}
		rest := string(k[len(pendingPrefix):])
		_, sink, ok := strings.Cut(rest, "/")
		var sa sinkAlert
		if !ok || sink == "" || json.Unmarshal(v, &sa) != nil {
			bad = append(bad, bytes.Clone(k))
			return nil
		}
		out = append(out, pendingAlert{sink: sink, msg: &alertMsg{alert: sa.Alert, body: bytes.Clone(v)}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the alert outbox: %w", err)
	}
	if len(bad) > 0 {
		o.errors.Add(uint64(len(bad)))
		o.drop(bad)
	}
	return out, nil
}

// drop removes entries by key.
func (o *outbox) drop(keys [][]byte) {
	muts := make([]detect.Mutation, len(keys))
	for i, k := range keys {
		muts[i] = detect.Mutation{Key: k, Delete: true}
	}
	if err := o.store.Apply(muts); err != nil {
		o.errors.Add(1)
		o.log.Error().Err(err).Msg("removing outbox entries")
	}
}

// replay hands every pending entry to its sink again; entries of sinks no
// longer configured are removed. It returns the number handed over.
func (o *outbox) replay(ss *sinkSet) int {
	list, err := o.pending()
	if err != nil {
		o.errors.Add(1)
		o.log.Error().Err(err).Msg("alerts pending delivery not replayed")
		return 0
	}
	var gone [][]byte
	n := 0
	for _, p := range list {
		s := ss.byName(p.sink)
		if s == nil {
			gone = append(gone, []byte(pendingKey(p.sink, p.msg)))
			continue
		}
		if s.offer(p.msg) {
			n++
		}
	}
	if len(gone) > 0 {
		o.log.Info().Int("alerts", len(gone)).Msg("alerts pending for sinks no longer configured were discarded")
		o.drop(gone)
	}
	return n
}
