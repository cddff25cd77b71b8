package synth

// Truth is what a simulation put on the wire: truth.json.
type Truth struct {
	Version  int     `json:"version"`
	Seed     uint64  `json:"seed"`
	Days     int     `json:"days"`
	Users    int     `json:"users"`
	Scale    float64 `json:"scale"`
	Impaired bool    `json:"impaired"`
	// Spec is "builtin" or the --spec file's base name.
	Spec string `json:"spec"`
	// Host is the Host header of every request; Server the server's address.
	Host   string `json:"host"`
	Server string `json:"server"`
	// Start and End bound the simulated time (RFC3339Nano).
	Start string `json:"start"`
	End   string `json:"end"`
	// PrincipalRule says how principals below are computed.
	PrincipalRule string           `json:"principal_rule"`
	Operations    []TruthOperation `json:"operations"`
	Incidents     []TruthIncident  `json:"incidents"`
	Totals        TruthTotals      `json:"totals"`
}

// TruthOperation is one operation of the API.
type TruthOperation struct {
	Method string `json:"method"`
	// Path is the template as the contract reports it (base path included).
	Path       string `json:"path"`
	Documented bool   `json:"documented"`
	Used       bool   `json:"used"`
	// Transactions counts the request/response pairs sent to it.
	Transactions int64 `json:"transactions"`
}

// TruthEndpoint names an operation.
type TruthEndpoint struct {
	Method string `json:"method"`
	Path   string `json:"path"`
}

// TruthIncident is one labelled scenario: an attack to detect or, with
// Negative set, benign traffic that must not raise Kind.
type TruthIncident struct {
	ID string `json:"id"`
	// Kind is the contract alert kind expected (for negatives: the kind a
	// naive detector would wrongly raise).
	Kind string `json:"kind"`
	// Also lists other kinds a detector may legitimately raise for it.
	Also     []string `json:"also,omitempty"`
	Negative bool     `json:"negative"`
	Summary  string   `json:"summary"`
	// Clients are the source IPs involved (sorted).
	Clients []string `json:"clients"`
	// Principal is the credential's fingerprint (see PrincipalRule); null
	// for unauthenticated traffic.
	Principal *string `json:"principal"`
	// Subject is the JWT sub claim when the principal is a JWT.
	Subject   string          `json:"subject,omitempty"`
	Endpoints []TruthEndpoint `json:"endpoints"`
	// FirstSeen and LastSeen bound the incident's requests (RFC3339Nano).
	FirstSeen    string `json:"first_seen"`
	LastSeen     string `json:"last_seen"`
	Transactions int64  `json:"transactions"`
}

// TruthTotals sums up the capture.
type TruthTotals struct {
	// Transactions (= requests) sent; with impairments some may be hidden
	// from the capture.
	Transactions int64 `json:"transactions"`
	// Responses counts final responses sent (interim 100s excluded).
	Responses   int64 `json:"responses"`
	Connections int64 `json:"connections"`
	// NonHTTPConnections carry no HTTP (impaired runs only).
	NonHTTPConnections int64 `json:"non_http_connections"`
	// MalformedRequests were sent but are not valid HTTP (impaired runs
	// only); they are not in Transactions.
	MalformedRequests      int64  `json:"malformed_requests"`
	ImpairedConnections    int64  `json:"impaired_connections"`
	IncidentTransactions   int64  `json:"incident_transactions"`
	NegativeTransactions   int64  `json:"negative_transactions"`
	Principals             int    `json:"principals"`
	Packets                uint64 `json:"packets"`
	Bytes                  uint64 `json:"bytes"`
	OperationsTotal        int    `json:"operations_total"`
	OperationsUsed         int    `json:"operations_used"`
	OperationsUndocumented int    `json:"operations_undocumented"`
}
