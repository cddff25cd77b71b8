package detect

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// samplePrefix starts the keys of sampled transactions:
// t/<16 hex digits of capture time in Unix ns>/<16 hex digits of sequence>,
// so that a scan returns them in capture-time order.
var samplePrefix = []byte("t/")

// DefaultSampleRetention is how long stored transaction samples live when
// nothing else is said.
const DefaultSampleRetention = 7 * 24 * time.Hour

// TxSample is one sampled transaction as kept in a store: the fields of the
// contract's transactions output, with the endpoint template in place of
// the request-target (a path or query may carry personal data; the
// template does not).
type TxSample struct {
	TS            string   `json:"ts"`
	Client        string   `json:"client"`
	Server        string   `json:"server"`
	Method        string   `json:"method"`
	Host          string   `json:"host"`
	Endpoint      string   `json:"endpoint"`
	Status        int      `json:"status"`
	ReqBodyBytes  int64    `json:"req_body_bytes"`
	RespBodyBytes int64    `json:"resp_body_bytes"`
	LatencyMS     *float64 `json:"latency_ms"`
	Protocol      string   `json:"protocol,omitempty"`
}

// SampleMutation returns the write that stores one sample taken at capture
// time ts; seq tells apart samples of the same nanosecond.
func SampleMutation(ts time.Time, seq uint64, s *TxSample, ttl time.Duration) (Mutation, error) {
	if ttl <= 0 {
		ttl = DefaultSampleRetention
	}
	b, err := marshalJSON(s)
	if err != nil {
		return Mutation{}, fmt.Errorf("encoding sample: %w", err)
	}
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(ts.UnixNano()))
	binary.BigEndian.PutUint64(raw[8:], seq)
	k := make([]byte, 0, len(samplePrefix)+33)
	k = append(k, samplePrefix...)
	k = hex.AppendEncode(k, raw[:8])
	k = append(k, '/')
	k = hex.AppendEncode(k, raw[8:])
	return Mutation{Key: k, Value: b, TTL: ttl}, nil
}

// ReadSamples calls fn for every stored sample taken at or after since,
// in capture-time order.
func ReadSamples(s Store, since time.Time, fn func(*TxSample) error) error {
	var from []byte
	if !since.IsZero() {
		var raw [8]byte
		binary.BigEndian.PutUint64(raw[:], uint64(since.UnixNano()))
		from = hex.AppendEncode(bytes.Clone(samplePrefix), raw[:])
	}
	return s.Scan(samplePrefix, func(k, v []byte) error {
		if from != nil && bytes.Compare(k[:len(from)], from) < 0 {
			return nil
		}
		var x TxSample
		if err := json.Unmarshal(v, &x); err != nil {
			return fmt.Errorf("reading sample %s: %w", k, err)
		}
		return fn(&x)
	})
}
