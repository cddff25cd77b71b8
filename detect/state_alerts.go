package detect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StoredAlert is an alert episode as kept in a store: the contract's alert
// plus a stable id, and its acknowledgement when an operator gave one.
type StoredAlert struct {
	// ID names the episode across saves and runs (see AlertID).
	ID string `json:"id"`
	Alert
	// Ack is set by ReadAlerts when the alert was acknowledged.
	Ack *Ack `json:"ack,omitempty"`
}

// Ack is an operator's acknowledgement of an alert.
type Ack struct {
	At time.Time `json:"at"`
	By string    `json:"by,omitempty"`
}

// AlertID is the stable id of an alert episode: 16 hex characters of a
// SHA-256 over what identifies the episode (kind, endpoint, client,
// principal, the fingerprint of a secret and when it was raised), so that
// the same episode keeps its id as it grows, across saves and runs.
func AlertID(a *Alert) string {
	h := sha256.New()
	principal := ""
	if a.Principal != nil {
		principal = *a.Principal
	}
	var fp, detected string
	if a.Evidence != nil {
		fp, _ = a.Evidence["fingerprint"].(string)
		detected, _ = a.Evidence["detected_at"].(string)
	}
	if a.Kind == KindShadowEndpoint {
		// A shadow endpoint's episode is the endpoint itself; its first
		// client and time may move earlier as traffic is merged.
		detected, principal = "", ""
		if _, ok := a.Evidence["undocumented_query"]; ok {
			detected = "undocumented_query"
		}
		a2 := *a
		a2.Client = ""
		a = &a2
	}
	for _, s := range []string{a.Kind, a.Host, a.Method, a.Path, a.Client, principal, fp, detected} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// endpointsView is the report's inventory as saved for query commands.
type endpointsView struct {
	Endpoints []Endpoint `json:"endpoints"`
	Unseen    []Unseen   `json:"unseen"`
	Warnings  []string   `json:"warnings"`
}

// ReadEndpoints returns the inventory of the last save in s (the
// report's endpoints and unseen operations), or empty lists.
func ReadEndpoints(s Store) ([]Endpoint, []Unseen, error) {
	var v endpointsView
	b, err := s.Get(endpointsKey)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("reading endpoints: %w", err)
	}
	if err == nil {
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, nil, fmt.Errorf("reading endpoints: %w", err)
		}
	}
	if v.Endpoints == nil {
		v.Endpoints = []Endpoint{}
	}
	if v.Unseen == nil {
		v.Unseen = []Unseen{}
	}
	return v.Endpoints, v.Unseen, nil
}

// ReadAlerts calls fn for every alert episode held in s (those within
// their retention), in id order, with its acknowledgement if any.
func ReadAlerts(s Store, fn func(*StoredAlert) error) error {
	acks := map[string]*Ack{}
	err := s.Scan(ackPrefix, func(k, v []byte) error {
		var a Ack
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("reading acknowledgement %s: %w", k, err)
		}
		acks[string(k[len(ackPrefix):])] = &a
		return nil
	})
	if err != nil {
		return err
	}
	return s.Scan(alertPrefix, func(k, v []byte) error {
		var a StoredAlert
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("reading alert %s: %w", k, err)
		}
		a.Ack = acks[a.ID]
		return fn(&a)
	})
}

// ErrNoAlert is returned by AckAlert for an id the store does not hold.
var ErrNoAlert = errors.New("no such alert")

// AckAlert records an operator's acknowledgement of alert id (kept until
// removed, beyond the alert's own retention).
func AckAlert(s Store, id string, ack Ack) error {
	if _, err := s.Get(append(bytes.Clone(alertPrefix), id...)); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("alert %s: %w", id, ErrNoAlert)
		}
		return err
	}
	b, err := json.Marshal(&ack)
	if err != nil {
		return err
	}
	return s.Apply([]Mutation{{Key: append(bytes.Clone(ackPrefix), id...), Value: b}})
}
