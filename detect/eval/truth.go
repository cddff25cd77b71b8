package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/shadowtap/shadowtap/detect"
)

// ErrTruthVersion reports a truth.json whose version this package does not read.
var ErrTruthVersion = errors.New("unsupported truth version")

// Truth is the part of the simulator's truth.json that scoring needs.
type Truth struct {
	Version  int    `json:"version"`
	Seed     uint64 `json:"seed"`
	Days     int    `json:"days"`
	Impaired bool   `json:"impaired"`
	Spec     string `json:"spec"`
	Host     string `json:"host"`
	// Server is the API server's address (ip:port): the contract's host
	// of requests without a Host header.
	Server     string      `json:"server"`
	Operations []Operation `json:"operations"`
	Incidents  []Incident  `json:"incidents"`
	Totals     struct {
		Transactions int64 `json:"transactions"`
	} `json:"totals"`
}

// Operation is one operation of the simulated API.
type Operation struct {
	Method       string `json:"method"`
	Path         string `json:"path"`
	Documented   bool   `json:"documented"`
	Used         bool   `json:"used"`
	Transactions int64  `json:"transactions"`
}

// EndpointRef names an operation.
type EndpointRef struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// Incident is one labelled scenario; Negative marks benign traffic that must
// not raise Kind.
type Incident struct {
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Also      []string      `json:"also"`
	Negative  bool          `json:"negative"`
	Clients   []string      `json:"clients"`
	Principal *string       `json:"principal"`
	Endpoints []EndpointRef `json:"endpoints"`
	FirstSeen string        `json:"first_seen"`
	LastSeen  string        `json:"last_seen"`
}

// ReadTruth reads a truth.json file.
func ReadTruth(path string) (*Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening truth: %w", err)
	}
	defer f.Close()
	t, err := DecodeTruth(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// DecodeTruth decodes truth.json from r.
func DecodeTruth(r io.Reader) (*Truth, error) {
	var t Truth
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("decoding truth: %w", err)
	}
	if t.Version != 1 {
		return nil, fmt.Errorf("%w: %d", ErrTruthVersion, t.Version)
	}
	return &t, nil
}

// ReadReport reads a report written by `shadowtap analyze --report`.
func ReadReport(path string) (*detect.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening report: %w", err)
	}
	defer f.Close()
	var r detect.Report
	if err := json.NewDecoder(f).Decode(&r); err != nil {
		return nil, fmt.Errorf("decoding report %s: %w", path, err)
	}
	return &r, nil
}
