package detect

import (
	"slices"
	"testing"
)

func TestLoadSpecMore(t *testing.T) {
	tests := []struct {
		file    string
		hosts   []string
		anyHost bool
		ops     []string
		query   map[string][]string // "METHOD path" → documented query names
	}{
		{"openapi31-relative.json", nil, true,
			[]string{"GET /api/accounts/acct_{id}", "GET /api/files/{name}.json", "GET /api/users/me", "GET /api/users/{id}", "PATCH /api/users/{id}"},
			map[string][]string{"GET /api/users/{id}": {"expand", "fields"}, "PATCH /api/users/{id}": {"fields"}}},
		{"server-vars.yaml", []string{"eu.api.example.org", "legacy.example.org:8080"}, false,
			[]string{"GET /things", "GET /v2/things"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := loadSpec(t, tc.file)
			var ops []string
			for _, op := range s.Ops {
				ops = append(ops, op.Method+" "+op.Path)
				if want, ok := tc.query[op.Method+" "+op.Path]; ok {
					got := slices.Clone(op.Query)
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("%s %s: query %q, want %q", op.Method, op.Path, got, want)
					}
				}
			}
			if !slices.Equal(ops, tc.ops) || !slices.Equal(s.Hosts, tc.hosts) || s.AnyHost != tc.anyHost {
				t.Errorf("got hosts %q any=%v ops %q", s.Hosts, s.AnyHost, ops)
			}
		})
	}
}

// TestSpecMatching checks which documented operation a concrete request
// lands on: literals beat parameters, parameters with a literal prefix or
// suffix, trailing slashes and queries, and misses.
func TestSpecMatching(t *testing.T) {
	s := loadSpec(t, "openapi31-relative.json")
	e := mustEngine(t, Options{Specs: []*Spec{s}})
	tests := []struct {
		method, target, want string
		documented           bool
	}{
		{"GET", "/api/users/42", "/api/users/{id}", true},
		{"GET", "/api/users/me", "/api/users/me", true},
		{"GET", "/api/users/42/?expand=x", "/api/users/{id}", true},
		{"get", "/api/users/7", "/api/users/{id}", true},
		{"PATCH", "/api/users/me", "/api/users/{id}", true}, // no PATCH on /users/me: the parameter takes it
		{"GET", "/api/files/report.json", "/api/files/{name}.json", true},
		{"GET", "/api/accounts/acct_1MqJ2", "/api/accounts/acct_{id}", true},
		{"DELETE", "/api/users/42", "", false}, // method not documented
		{"GET", "/api/files/report.xml", "", false},
		{"GET", "/api/accounts/acct_", "", false}, // empty parameter value
		{"GET", "/api/accounts/cus_1MqJ2", "", false},
		{"GET", "/users/42", "", false},           // without the server's base path
		{"GET", "/api/users/42/extra", "", false}, // deeper than any template
	}
	for i, tc := range tests {
		got := e.Observe(tx(i, tc.method, "any.example", tc.target, 200))
		if tc.documented && got != tc.want {
			t.Errorf("%s %s → %q, want %q", tc.method, tc.target, got, tc.want)
		}
		ep := findEndpoint(e.Report(), "any.example", got)
		if ep == nil || ep.Documented == nil || *ep.Documented != tc.documented {
			t.Errorf("%s %s → %q: endpoint %+v, want documented=%v", tc.method, tc.target, got, ep, tc.documented)
		}
	}
}

// TestSeveralSpecs: two specs for two hosts; each host is matched against
// its own spec only, unseen operations are per host, a third host is null.
func TestSeveralSpecs(t *testing.T) {
	shop := loadSpec(t, "petstore-v1.yaml")   // api.shop.example
	things := loadSpec(t, "server-vars.yaml") // eu.api.example.org, legacy.example.org:8080
	e := mustEngine(t, Options{Specs: []*Spec{shop, things}})
	e.Observe(tx(1, "GET", "api.shop.example", "/v1/users/1", 200))
	e.Observe(tx(2, "GET", "eu.api.example.org", "/v2/things", 200))
	e.Observe(tx(3, "GET", "eu.api.example.org", "/v1/users/1", 200)) // shop's path on the other host
	e.Observe(tx(4, "GET", "third.example", "/v2/things", 200))
	e.Observe(tx(5, "GET", "eu.api.example.org", "/things", 200)) // the legacy server's path
	rep := e.Report()
	want := map[string]string{
		"api.shop.example /v1/users/{userId}":   "true",
		"eu.api.example.org /v2/things":         "true",
		"eu.api.example.org /v1/users/{userId}": "false",
		"third.example /v2/things":              "null",
		"eu.api.example.org /things":            "false",
	}
	for _, ep := range rep.Endpoints {
		k := ep.Host + " " + ep.Path
		d := "null"
		if ep.Documented != nil {
			d = map[bool]string{true: "true", false: "false"}[*ep.Documented]
		}
		if want[k] != d {
			t.Errorf("%s: documented %s, want %q", k, d, want[k])
		}
		delete(want, k)
	}
	if len(want) != 0 {
		t.Errorf("missing endpoints %v", want)
	}
	var unseen []string
	for _, u := range rep.Unseen {
		unseen = append(unseen, u.Host+" "+u.Method+" "+u.Path)
	}
	// Each server's base path belongs to its host: /things is the legacy
	// server's, /v2/things the regional one's.
	wantUnseen := []string{
		"api.shop.example GET /v1/orders/{orderId}.json", "api.shop.example GET /v1/users/me", "api.shop.example DELETE /v1/users/{userId}",
		"legacy.example.org:8080 GET /things",
	}
	if !slices.Equal(unseen, wantUnseen) {
		t.Errorf("unseen\n got %q\nwant %q", unseen, wantUnseen)
	}
}

func findEndpoint(rep Report, host, path string) *Endpoint {
	for i := range rep.Endpoints {
		if rep.Endpoints[i].Host == host && rep.Endpoints[i].Path == path {
			return &rep.Endpoints[i]
		}
	}
	return nil
}
