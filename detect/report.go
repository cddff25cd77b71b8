package detect

import (
	"fmt"
	"time"
)

// ReportVersion is the version of the JSON output contract.
const ReportVersion = 1

// Alert kinds: the contract's closed vocabulary.
const (
	KindShadowEndpoint        = "shadow_endpoint"
	KindEnumeration           = "enumeration"
	KindExfiltration          = "exfiltration"
	KindAuthAbuse             = "auth_abuse"
	KindCredentialMisuse      = "credential_misuse"
	KindSecretExposure        = "secret_exposure"
	KindSensitiveDataExposure = "sensitive_data_exposure"
	KindRateAnomaly           = "rate_anomaly"
)

// Severities, from least to most urgent.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Report is the contract's report document.
type Report struct {
	Version     int        `json:"version"`
	GeneratedAt time.Time  `json:"generated_at"`
	Summary     Summary    `json:"summary"`
	Endpoints   []Endpoint `json:"endpoints"`
	Unseen      []Unseen   `json:"unseen"`
	Alerts      []Alert    `json:"alerts"`
}

// Summary holds the capture-level counters; the caller fills it from the
// pipeline's statistics.
type Summary struct {
	Packets      uint64   `json:"packets"`
	Bytes        uint64   `json:"bytes"`
	Flows        uint64   `json:"flows"`
	Transactions uint64   `json:"transactions"`
	ParseErrors  uint64   `json:"parse_errors"`
	FirstTS      string   `json:"first_ts"`
	LastTS       string   `json:"last_ts"`
	Warnings     []string `json:"warnings"`
}

// Endpoint is one (host, method, path template) of the inventory.
type Endpoint struct {
	Host       string         `json:"host"`
	Method     string         `json:"method"`
	Path       string         `json:"path"`
	Documented *bool          `json:"documented"`
	Count      uint64         `json:"count"`
	FirstSeen  string         `json:"first_seen"`
	LastSeen   string         `json:"last_seen"`
	Statuses   map[string]int `json:"statuses"`
	Clients    int            `json:"clients"`
	Auth       []string       `json:"auth"`
	Sensitive  []string       `json:"sensitive"`
}

// Unseen is a documented operation never observed.
type Unseen struct {
	Host   string `json:"host"`
	Method string `json:"method"`
	Path   string `json:"path"`
}

// Alert is one episode of suspicious traffic.
type Alert struct {
	Kind      string         `json:"kind"`
	Severity  string         `json:"severity"`
	Host      string         `json:"host"`
	Method    string         `json:"method"`
	Path      string         `json:"path"`
	Client    string         `json:"client"`
	Principal *string        `json:"principal"`
	FirstSeen string         `json:"first_seen"`
	LastSeen  string         `json:"last_seen"`
	Count     uint64         `json:"count"`
	Summary   string         `json:"summary"`
	Evidence  map[string]any `json:"evidence"`
}

// FormatTime renders a capture time per the contract (RFC3339Nano, UTC); the
// zero time is "".
// counted writes a count and its noun for a summary, the noun plural
// unless the count is one: "1 client", "3 clients".
func counted[N ~int | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
