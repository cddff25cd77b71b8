package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/reassembly"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// goldenTransactions is a fixed, synthetic day of traffic: documented
// operations on a spec'd host (with undocumented query parameters and a
// credential query parameter), a shadow endpoint returning personal data,
// usernames the inventory must learn, a host no spec covers, a response
// without its request, and every authentication scheme.
func goldenTransactions() []*reassembly.Transaction {
	var out []*reassembly.Transaction
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	add := func(i int, client string, method, host, target string, status int, h []hdr, body string) {
		out = append(out, &reassembly.Transaction{
			Client:       netip.MustParseAddrPort(client + ":40000"),
			Server:       netip.MustParseAddrPort("192.0.2.1:443"),
			RequestTime:  at(i),
			ResponseTime: at(i).Add(3 * time.Millisecond),
			Method:       method, Target: target, Host: host, Status: status,
			ReqHeaders: h, RespBody: []byte(body),
		})
	}
	bearer := []hdr{{Name: "Authorization", Value: "Bearer opaque-token-1"}}
	jwt := []hdr{{Name: "Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"}}
	basic := []hdr{{Name: "Authorization", Value: "Basic Ym9iOnNlY3JldA=="}}
	for i := range 6 {
		add(i, fmt.Sprintf("203.0.113.%d", 1+i%3), "GET", "api.example.com", fmt.Sprintf("/v1/customers/cus_%06dAbCdEf", i), 200, bearer, `{"id":"x"}`)
	}
	add(10, "203.0.113.1", "GET", "api.example.com", "/v1/customers?limit=10&expand=all", 200, jwt, `[]`)
	add(11, "203.0.113.2", "GET", "api.example.com:443", "/v1/customers?api_key=k3y", 200, nil, `[]`)
	add(12, "203.0.113.2", "GET", "api.example.com", "/v1/orders/1001.json", 200, []hdr{{Name: "X-API-Key", Value: "k"}}, `{}`)
	add(13, "203.0.113.2", "GET", "api.example.com", "/v1/orders/1002.json", 404, []hdr{{Name: "X-API-Key", Value: "k"}}, `{}`)
	// Shadow: an export nobody documented, unauthenticated, leaking PII.
	add(20, "198.51.100.9", "GET", "api.example.com", "/v1/internal/export", 200, nil,
		`{"email":"ann@example.com","ssn":"536-22-8461","card":"4532 0151 1283 0366"}`)
	add(21, "198.51.100.9", "GET", "api.example.com", "/v1/internal/export", 500, nil, ``)
	// Shadow, authenticated: an undocumented write.
	add(22, "203.0.113.3", "POST", "api.example.com", "/v1/customers/cus_000001AbCdEf/notes", 201, basic, ``)
	// A host no spec covers: usernames learnt into a parameter, cookies.
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
		"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda",
		"zack", "amber", "bruno", "cyril", "dora", "edgar", "fiona", "gus", "hank", "iris",
		"jack", "kara", "liam", "mona", "nate", "opal", "pete", "quin", "rita", "sam"}
	for i, u := range users {
		add(30+i, fmt.Sprintf("10.0.0.%d", 1+i%5), "GET", "blog.example.net", "/users/"+u+"/posts", 200,
			[]hdr{{Name: "Cookie", Value: "theme=dark; session=s" + u}}, `{}`)
	}
	add(80, "10.0.0.1", "GET", "blog.example.net", "/feed.xml", 304, nil, ``)
	// A response seen without its request contributes nothing.
	out = append(out, &reassembly.Transaction{
		Client: netip.MustParseAddrPort("10.0.0.1:40001"), Server: netip.MustParseAddrPort("192.0.2.1:80"),
		ResponseTime: at(90), Status: 200, Flags: reassembly.FlagNoRequest,
	})
	return out
}

func goldenReport(t *testing.T) Report {
	t.Helper()
	spec, err := LoadSpec("testdata/golden-spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Options{Specs: []*Spec{spec}})
	for _, x := range goldenTransactions() {
		e.Observe(x)
	}
	rep := e.Report()
	rep.GeneratedAt = t0.Add(time.Hour)
	rep.Summary.FirstTS = FormatTime(t0)
	rep.Summary.LastTS = FormatTime(t0.Add(90 * time.Second))
	return rep
}

// TestReportGolden pins the report JSON (go test ./detect -run Golden -update
// rewrites testdata/report.golden.json).
func TestReportGolden(t *testing.T) {
	got, err := json.MarshalIndent(goldenReport(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const path = "testdata/report.golden.json"
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (rerun with -update after checking the change):\n%s", path, firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			return fmt.Sprintf("line %d:\n got %s\nwant %s", i+1, x, y)
		}
	}
	return ""
}

// TestReportContract checks the report's JSON shape against the contract
// (shared/contract.md, v1): exact key sets, lists never null, documented
// null where no spec covers the host.
func TestReportContract(t *testing.T) {
	keys := map[string][]string{
		"report":   {"version", "generated_at", "summary", "endpoints", "unseen", "alerts"},
		"summary":  {"packets", "bytes", "flows", "transactions", "parse_errors", "first_ts", "last_ts", "warnings"},
		"endpoint": {"host", "method", "path", "documented", "count", "first_seen", "last_seen", "statuses", "clients", "auth", "sensitive"},
		"unseen":   {"host", "method", "path"},
		"alert":    {"kind", "severity", "host", "method", "path", "client", "principal", "first_seen", "last_seen", "count", "summary", "evidence"},
	}
	check := func(what string, obj map[string]any) {
		t.Helper()
		var got []string
		for k := range obj {
			got = append(got, k)
		}
		sort.Strings(got)
		want := slices.Clone(keys[what])
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s keys %q, want %q", what, got, want)
		}
	}
	for _, tc := range []struct {
		name string
		rep  Report
	}{{"golden", goldenReport(t)}, {"empty engine", mustEngine(t, Options{}).Report()}} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.rep)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			check("report", doc)
			check("summary", doc["summary"].(map[string]any))
			if doc["version"] != 1.0 {
				t.Errorf("version %v", doc["version"])
			}
			for _, list := range []string{"endpoints", "unseen", "alerts"} {
				if _, ok := doc[list].([]any); !ok {
					t.Errorf("%s is %v, want a list", list, doc[list])
				}
			}
			if _, ok := doc["summary"].(map[string]any)["warnings"].([]any); !ok {
				t.Error("summary.warnings is not a list")
			}
			for _, x := range doc["endpoints"].([]any) {
				ep := x.(map[string]any)
				check("endpoint", ep)
				for _, l := range []string{"auth", "sensitive"} {
					if _, ok := ep[l].([]any); !ok {
						t.Errorf("endpoint %s: %s is %v, want a list", ep["path"], l, ep[l])
					}
				}
				if _, ok := ep["statuses"].(map[string]any); !ok {
					t.Errorf("endpoint %s: statuses not an object", ep["path"])
				}
				switch d := ep["documented"]; ep["host"] {
				case "api.example.com":
					if _, ok := d.(bool); !ok {
						t.Errorf("%s %s: documented %v, want a bool (spec covers the host)", ep["host"], ep["path"], d)
					}
				default:
					if d != nil {
						t.Errorf("%s %s: documented %v, want null (no spec for the host)", ep["host"], ep["path"], d)
					}
				}
			}
			for _, x := range doc["unseen"].([]any) {
				check("unseen", x.(map[string]any))
			}
			for _, x := range doc["alerts"].([]any) {
				a := x.(map[string]any)
				check("alert", a)
				if ev, ok := a["evidence"].(map[string]any); !ok || ev["detected_at"] == nil {
					t.Errorf("alert %v: evidence without detected_at", a["path"])
				}
				if !slices.Contains([]string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}, a["severity"].(string)) {
					t.Errorf("severity %v", a["severity"])
				}
			}
		})
	}
}
