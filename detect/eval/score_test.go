package eval

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/detect"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func ptr[T any](v T) *T { return &v }

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/v1/customers/{id}", "/v1/customers/{}"},
		{"/v1/customers/{customerId}", "/v1/customers/{}"},
		{"/v1/orders/{id}.json", "/v1/orders/{}.json"},
		{"/a/{x}-{y}/b/{z}", "/a/{}-{}/b/{}"},
		{"/v1/search", "/v1/search"},
		{"/broken/{id", "/broken/{id"},
		{"/apis/apps/", "/apis/apps"},
		{"/users/{id}/", "/users/{}"},
		{"/", "/"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizePath(tt.in); got != tt.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHasConcreteID(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/v1/customers/{id}", false},
		{"/v1/customers/42", true},
		{"/v1/orders/{id}.json", false},
		{"/v1/orders/1234.json", true},
		{"/v2/stations", false},
		{"/oauth2/token", false},
		{"/v1/items/3f2b9c1e-8d4a-4f6b-9e2d-1a2b3c4d5e6f", true},
		{"/v1/blobs/a1b2c3d4e5", true},
		{"/v1/deadbeef", false}, // hex letters only: a word
		{"/v1/users/usr_2939", true},
		{"/v1/products/SKU-00123", true},
		{"/v1/lookup/alice@example.com", true},
		{"/v1/lookup/alice%40example.com", true},
		{"/v1/{a}2{b}", true}, // a literal digit between parameters
		{"/", false},
		{"/api/1.0/tasks/{task_gid}", false}, // a dotted API version
		{"/v2.1/accounts/{id}", false},
		{"/api/1.0/tasks/1201234567890123", true},
		{"/files/1.1234", true},
	}
	for _, tt := range tests {
		if got := HasConcreteID(tt.path); got != tt.want {
			t.Errorf("HasConcreteID(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func op(method, path string, documented, used bool) Operation {
	return Operation{Method: method, Path: path, Documented: documented, Used: used}
}

func ep(method, path string, documented *bool) detect.Endpoint {
	return detect.Endpoint{Host: "api.test", Method: method, Path: path, Documented: documented}
}

func TestScoreSets(t *testing.T) {
	truth := &Truth{Version: 1, Host: "api.test", Operations: []Operation{
		op("GET", "/v1/customers/{id}", true, true),
		op("GET", "/v1/orders", true, true),
		op("DELETE", "/v1/customers/{id}", true, false),
		op("POST", "/v1/token", true, false),
		op("GET", "/v1/admin", false, true),
		op("POST", "/v1/orders/{id}/refund", false, true),
	}}
	tests := []struct {
		name                      string
		report                    detect.Report
		templates, shadow, unseen PR
		concrete                  int
	}{
		{
			name: "perfect with other parameter names",
			report: detect.Report{
				Endpoints: []detect.Endpoint{
					ep("GET", "/v1/customers/{customerId}", ptr(true)),
					ep("get", "/v1/orders", ptr(true)),
					ep("GET", "/v1/admin", ptr(false)),
					ep("POST", "/v1/orders/{orderId}/refund", ptr(false)),
				},
				Unseen: []detect.Unseen{{Host: "api.test", Method: "DELETE", Path: "/v1/customers/{x}"}, {Method: "POST", Path: "/v1/token"}},
			},
			templates: PR{TP: 4}, shadow: PR{TP: 2}, unseen: PR{TP: 2},
		},
		{
			name: "concrete ids, duplicates, other host, missed ones",
			report: detect.Report{
				Endpoints: []detect.Endpoint{
					ep("GET", "/v1/customers/{id}", ptr(true)),
					ep("GET", "/v1/customers/{cid}", ptr(true)), // duplicate template
					ep("GET", "/v1/customers/42", ptr(false)),   // id left: wrong template, wrong shadow
					{Host: "10.0.0.1", Method: "GET", Path: "/v1/orders", Documented: nil},
					ep("GET", "/v1/admin", ptr(true)), // shadow op reported as documented
				},
				Unseen: []detect.Unseen{{Method: "GET", Path: "/v1/orders"}},
			},
			templates: PR{TP: 2, FP: 3, FN: 2},
			shadow:    PR{FP: 1, FN: 2},
			unseen:    PR{FP: 1, FN: 2},
			concrete:  1,
		},
		{
			name:      "empty report",
			report:    detect.Report{},
			templates: PR{FN: 4}, shadow: PR{FN: 2}, unseen: PR{FN: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(truth, &tt.report)
			if r.Templates != tt.templates {
				t.Errorf("templates = %+v, want %+v", r.Templates, tt.templates)
			}
			if r.Shadow != tt.shadow {
				t.Errorf("shadow = %+v, want %+v", r.Shadow, tt.shadow)
			}
			if r.Unseen != tt.unseen {
				t.Errorf("unseen = %+v, want %+v", r.Unseen, tt.unseen)
			}
			if r.ConcreteIDPaths != tt.concrete {
				t.Errorf("concrete-id paths = %d, want %d", r.ConcreteIDPaths, tt.concrete)
			}
		})
	}
}

const t0 = "2026-03-03T05:00:00.000000500Z" // nanoseconds: alerts carry microseconds

func at(d time.Duration) string {
	base, _ := time.Parse(time.RFC3339Nano, t0)
	return base.Add(d).Format(time.RFC3339Nano)
}

func alert(kind, method, path, client string, principal *string, firstSeen, detectedAt string) detect.Alert {
	a := detect.Alert{Kind: kind, Host: "api.test", Method: method, Path: path, Client: client, Principal: principal,
		FirstSeen: firstSeen, Evidence: map[string]any{}}
	if detectedAt != "" {
		a.Evidence["detected_at"] = detectedAt
	}
	return a
}

func incidentTruth() *Truth {
	return &Truth{Version: 1, Host: "api.test",
		Operations: []Operation{
			op("GET", "/v1/customers/{id}", true, true),
			op("GET", "/v1/debug", false, true),
			op("GET", "/v1/export", true, true),
		},
		Incidents: []Incident{
			{ID: "walk", Kind: "enumeration", Also: []string{"sensitive_data_exposure"}, Clients: []string{"203.0.113.7"},
				Endpoints: []EndpointRef{{"GET", "/v1/customers/{id}"}}, FirstSeen: t0, LastSeen: at(time.Hour)},
			{ID: "stolen", Kind: "credential_misuse", Clients: []string{"198.51.100.9"}, Principal: ptr("apikey-header:0123abcd"),
				Endpoints: []EndpointRef{{"GET", "/v1/customers/{id}"}}, FirstSeen: at(2 * time.Hour), LastSeen: at(3 * time.Hour)},
			{ID: "anyone", Kind: "rate_anomaly",
				Endpoints: []EndpointRef{{"GET", "/v1/export"}}, FirstSeen: at(5 * time.Hour), LastSeen: at(6 * time.Hour)},
			{ID: "export", Kind: "exfiltration", Negative: true, Clients: []string{"10.0.5.20"}, Principal: ptr("apikey-header:3e40d88f"),
				Endpoints: []EndpointRef{{"GET", "/v1/export"}}, FirstSeen: at(-24 * time.Hour), LastSeen: at(24 * time.Hour)},
		},
	}
}

func TestScoreIncidents(t *testing.T) {
	type want struct {
		detected map[string]time.Duration // incident id → TTD; absent = missed
		false_   int
		negative int
	}
	tests := []struct {
		name   string
		alerts []detect.Alert
		want   want
	}{
		{
			name: "kind, endpoint with another parameter name, client, detected_at",
			alerts: []detect.Alert{
				alert("enumeration", "GET", "/v1/customers/{customerId}", "203.0.113.7", nil, t0, at(90*time.Second)),
			},
			want: want{detected: map[string]time.Duration{"walk": 90 * time.Second}},
		},
		{
			name: "also kind counts; earliest matching alert gives the TTD",
			alerts: []detect.Alert{
				alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(10*time.Minute)),
				alert("sensitive_data_exposure", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(2*time.Minute)),
			},
			want: want{detected: map[string]time.Duration{"walk": 2 * time.Minute}},
		},
		{
			name: "microsecond capture time just before the incident's first request is detection at 0",
			alerts: []detect.Alert{
				alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, "2026-03-03T05:00:00Z", ""),
			},
			want: want{detected: map[string]time.Duration{"walk": 0}},
		},
		{
			name: "wrong kind, wrong endpoint, wrong client are false alerts",
			alerts: []detect.Alert{
				alert("auth_abuse", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(time.Minute)),
				alert("enumeration", "GET", "/v1/export", "203.0.113.7", nil, t0, at(time.Minute)),
				alert("enumeration", "GET", "/v1/customers/{id}", "192.0.2.1", nil, t0, at(time.Minute)),
			},
			want: want{false_: 3},
		},
		{
			name: "outside the window: too early, and after last_seen plus tolerance",
			alerts: []detect.Alert{
				alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, at(-time.Hour), at(-time.Minute)),
				alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(time.Hour+6*time.Minute)),
			},
			want: want{false_: 2},
		},
		{
			name: "within the tolerance after last_seen; first_seen when detected_at is absent",
			alerts: []detect.Alert{
				alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(time.Hour+4*time.Minute)),
				alert("credential_misuse", "GET", "/v1/customers/{id}", "", nil, at(2*time.Hour+time.Minute), ""),
			},
			want: want{detected: map[string]time.Duration{"walk": time.Hour + 4*time.Minute}, false_: 1},
		},
		{
			name: "principal alone matches; an alert without endpoint matches any of the incident's",
			alerts: []detect.Alert{
				alert("credential_misuse", "", "", "192.0.2.200", ptr("apikey-header:0123abcd"), at(2*time.Hour), at(2*time.Hour+30*time.Second)),
			},
			want: want{detected: map[string]time.Duration{"stolen": 30 * time.Second}},
		},
		{
			name: "client with a port and an incident naming nobody",
			alerts: []detect.Alert{
				alert("credential_misuse", "GET", "/v1/customers/{id}", "198.51.100.9:5555", nil, at(2*time.Hour), ""),
				alert("rate_anomaly", "GET", "/v1/export", "192.0.2.77", nil, at(5*time.Hour+time.Second), ""),
			},
			want: want{detected: map[string]time.Duration{"stolen": 0, "anyone": time.Second}},
		},
		{
			name: "hard negatives: any kind on their clients or principal and endpoints",
			alerts: []detect.Alert{
				alert("exfiltration", "GET", "/v1/export", "10.0.5.20", nil, t0, ""),
				alert("rate_anomaly", "GET", "/v1/export", "10.9.9.9", ptr("apikey-header:3e40d88f"), at(-10*time.Hour), ""),
				alert("exfiltration", "GET", "/v1/customers/{id}", "10.0.5.20", nil, t0, ""), // not its endpoint
			},
			want: want{false_: 3, negative: 2},
		},
		{
			name: "shadow_endpoint on a truth shadow operation is true; on a documented one false",
			alerts: []detect.Alert{
				alert("shadow_endpoint", "GET", "/v1/debug", "10.0.9.15", nil, t0, ""),
				alert("shadow_endpoint", "GET", "/v1/customers/{id}", "10.0.9.15", nil, t0, ""),
			},
			want: want{false_: 1},
		},
		{
			name: "alert on another host never matches",
			alerts: []detect.Alert{
				func() detect.Alert {
					a := alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, "")
					a.Host = "other.test"
					return a
				}(),
			},
			want: want{false_: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			truth := incidentTruth()
			r := Score(truth, &detect.Report{Alerts: tt.alerts})
			if len(r.Incidents) != 3 {
				t.Fatalf("got %d labelled incidents, want 3 (negatives excluded)", len(r.Incidents))
			}
			for _, in := range r.Incidents {
				ttd, want := tt.want.detected[in.ID]
				if in.Detected != want {
					t.Errorf("%s: detected = %v, want %v", in.ID, in.Detected, want)
				} else if want && in.TTD != ttd {
					t.Errorf("%s: ttd = %v, want %v", in.ID, in.TTD, ttd)
				}
			}
			if r.Alerts != len(tt.alerts) || r.FalseAlerts != tt.want.false_ || r.FalseOnNegatives != tt.want.negative {
				t.Errorf("alerts %d false %d negatives %d, want %d %d %d", r.Alerts, r.FalseAlerts, r.FalseOnNegatives,
					len(tt.alerts), tt.want.false_, tt.want.negative)
			}
		})
	}
}

func TestPR(t *testing.T) {
	tests := []struct {
		pr   PR
		p, r string
	}{
		{PR{TP: 3, FP: 1, FN: 0}, "0.750", "1.000"},
		{PR{TP: 0, FP: 0, FN: 2}, "-", "0.000"},
		{PR{}, "-", "-"},
	}
	for _, tt := range tests {
		if p, r := ratio(tt.pr.Precision()), ratio(tt.pr.Recall()); p != tt.p || r != tt.r {
			t.Errorf("%+v: precision %s recall %s, want %s %s", tt.pr, p, r, tt.p, tt.r)
		}
	}
}

func TestDecodeTruth(t *testing.T) {
	if _, err := DecodeTruth(strings.NewReader(`{"version": 2}`)); !errors.Is(err, ErrTruthVersion) {
		t.Errorf("version 2: err = %v, want ErrTruthVersion", err)
	}
	tr, err := DecodeTruth(strings.NewReader(`{"version": 1, "host": "h", "operations": [{"method": "GET", "path": "/a", "documented": true, "used": true, "transactions": 3}],
		"incidents": [{"id": "x", "kind": "enumeration", "principal": null, "negative": true, "first_seen": "` + t0 + `"}], "totals": {"transactions": 9}}`))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Host != "h" || len(tr.Operations) != 1 || tr.Operations[0].Transactions != 3 || !tr.Incidents[0].Negative || tr.Totals.Transactions != 9 {
		t.Errorf("decoded %+v", tr)
	}
}

// TestWriteTable pins the documented output format (testdata/table.golden;
// -update rewrites it).
func TestWriteTable(t *testing.T) {
	truth := incidentTruth()
	truth.Spec, truth.Seed, truth.Days, truth.Totals.Transactions = "builtin", 1, 3, 1234
	rep := &detect.Report{
		Endpoints: []detect.Endpoint{ep("GET", "/v1/customers/{cid}", ptr(true)), ep("GET", "/v1/debug", ptr(false)), ep("GET", "/v1/customers/7", ptr(false))},
		Alerts: []detect.Alert{
			alert("enumeration", "GET", "/v1/customers/{id}", "203.0.113.7", nil, t0, at(83*time.Second)),
			alert("credential_misuse", "", "", "", ptr("apikey-header:0123abcd"), at(2*time.Hour), at(2*time.Hour+250*time.Millisecond)),
			alert("exfiltration", "GET", "/v1/export", "10.0.5.20", nil, t0, ""),
		},
	}
	s1 := NewScenario("builtin", truth, Score(truth, rep))
	truth2 := incidentTruth()
	truth2.Spec, truth2.Impaired = "x.yaml", true
	s2 := NewScenario("x", truth2, Score(truth2, &detect.Report{}))
	var buf bytes.Buffer
	if err := WriteTable(&buf, []Scenario{s1, s2}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("table differs from %s:\n%s", golden, buf.String())
	}
}

// TestScoreOwnWords: literal segments of the truth's own operations are
// the API's words, not ids left in a path.
func TestScoreOwnWords(t *testing.T) {
	tr := &Truth{Host: "api.test", Operations: []Operation{
		op("GET", "/v2/1-clicks", true, true),
		op("GET", "/v2/metrics/load_15", true, true),
		op("GET", "/v2/items/{id}", true, true),
	}}
	r := Score(tr, &detect.Report{Endpoints: []detect.Endpoint{
		ep("GET", "/v2/1-clicks", ptr(true)),
		ep("GET", "/v2/metrics/load_15", ptr(true)),
		ep("GET", "/v2/items/1234", ptr(false)),
	}})
	if r.ConcreteIDPaths != 1 {
		t.Errorf("concrete-id paths = %d, want 1 (/v2/items/1234 only)", r.ConcreteIDPaths)
	}
}

// TestScoreServerAddress: the server's address stands for the truth's host
// (requests without a Host header); the same template there is no duplicate.
func TestScoreServerAddress(t *testing.T) {
	tr := &Truth{Host: "api.test", Server: "10.0.0.9:80", Operations: []Operation{
		op("GET", "/v1/items/{id}", true, true),
		op("GET", "/v1/other", true, true),
	}}
	r := Score(tr, &detect.Report{Endpoints: []detect.Endpoint{
		ep("GET", "/v1/items/{id}", ptr(true)),
		{Host: "10.0.0.9", Method: "GET", Path: "/v1/items/{itemId}"},
		{Host: "10.0.0.9", Method: "GET", Path: "/v1/other"},
		{Host: "10.0.0.8", Method: "GET", Path: "/v1/other"},
		ep("GET", "/v1/items/{x}", ptr(true)), // a duplicate on the same host
	}})
	if want := (PR{TP: 2, FP: 2}); r.Templates != want {
		t.Errorf("templates %+v, want %+v", r.Templates, want)
	}
}

// TestScoreUnseenServerAddress: unseen entries under the server's address
// are not scored.
func TestScoreUnseenServerAddress(t *testing.T) {
	tr := &Truth{Host: "api.test", Server: "10.0.0.9:80", Operations: []Operation{
		op("GET", "/v1/items/{id}", true, true),
		op("GET", "/v1/never", true, false),
	}}
	r := Score(tr, &detect.Report{Unseen: []detect.Unseen{
		{Host: "api.test", Method: "GET", Path: "/v1/never"},
		{Host: "10.0.0.9", Method: "GET", Path: "/v1/items/{id}"},
		{Host: "10.0.0.8", Method: "GET", Path: "/v1/never"},
	}})
	if want := (PR{TP: 1, FP: 1}); r.Unseen != want {
		t.Errorf("unseen %+v, want %+v", r.Unseen, want)
	}
}
