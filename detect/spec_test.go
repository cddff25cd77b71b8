package detect

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func loadSpec(t *testing.T, name string) *Spec {
	t.Helper()
	s, err := LoadSpec("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadSpec(t *testing.T) {
	tests := []struct {
		file    string
		hosts   []string
		anyHost bool
		ops     []string
	}{
		{"petstore-v1.yaml", []string{"api.shop.example"}, false, []string{"GET /v1/orders/{orderId}.json", "GET /v1/users/me", "DELETE /v1/users/{userId}", "GET /v1/users/{userId}"}},
		{"legacy-swagger2.json", nil, true, []string{"GET /api/items", "PUT /api/items/{id}"}},
		{"relative-31.yaml", nil, true, []string{"GET /v2/health"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s := loadSpec(t, tc.file)
			var ops []string
			for _, op := range s.Ops {
				ops = append(ops, op.Method+" "+op.Path)
			}
			if !slices.Equal(ops, tc.ops) || !slices.Equal(s.Hosts, tc.hosts) || s.AnyHost != tc.anyHost {
				t.Errorf("got hosts %q any=%v ops %q", s.Hosts, s.AnyHost, ops)
			}
		})
	}
}

func TestLoadSpecErrors(t *testing.T) {
	if _, err := LoadSpec("testdata/missing.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for _, f := range []string{"not-a-spec.yaml", "no-version.yaml"} {
		if _, err := LoadSpec("testdata/" + f); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: %v, want ErrBadSpec", f, err)
		}
	}
}

// TestSpecInventory checks documented/undocumented/null, spec templates
// winning, unseen operations, shadow alerts and undocumented query params.
func TestSpecInventory(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	i := 0
	obs := func(method, host, target string, status int, mod func(*txT)) string {
		i++
		x := tx(i, method, host, target, status)
		if mod != nil {
			mod(x)
		}
		return e.Observe(x)
	}
	if got := obs("GET", "api.shop.example", "/v1/users/42?fields=name", 200, nil); got != "/v1/users/{userId}" {
		t.Errorf("spec template lost: %q", got)
	}
	if got := obs("GET", "api.shop.example:443", "/v1/users/me", 200, nil); got != "/v1/users/me" {
		t.Errorf("literal beats parameter: %q", got)
	}
	obs("GET", "api.shop.example", "/v1/orders/A12.json", 200, nil)
	obs("GET", "api.shop.example", "/v1/users/43?debug=1&api_key=s3cr3t", 200, nil)
	obs("GET", "api.shop.example", "/v1/internal/export", 200, func(x *txT) {
		x.RespBody = []byte(`{"email":"ann@example.com"}`)
	})
	obs("POST", "api.shop.example", "/v1/users/42", 201, func(x *txT) {
		x.ReqHeaders = []hdr{{Name: "Authorization", Value: "Bearer abc"}}
	})
	obs("GET", "other.example", "/v1/users/42", 200, nil)
	rep := e.Report()

	docs := map[string]string{}
	for _, ep := range rep.Endpoints {
		d := "null"
		if ep.Documented != nil {
			d = map[bool]string{true: "true", false: "false"}[*ep.Documented]
		}
		docs[ep.Host+" "+ep.Method+" "+ep.Path] = d
	}
	want := map[string]string{
		"api.shop.example GET /v1/users/{userId}":        "true",
		"api.shop.example GET /v1/users/me":              "true",
		"api.shop.example GET /v1/orders/{orderId}.json": "true",
		"api.shop.example GET /v1/internal/export":       "false",
		"api.shop.example POST /v1/users/{userId}":       "false",
		"other.example GET /v1/users/{userId}":           "null",
	}
	for k, v := range want {
		if docs[k] != v {
			t.Errorf("%s: documented %s, want %s (all: %v)", k, docs[k], v, docs)
		}
	}
	if len(docs) != len(want) {
		t.Errorf("endpoints %v", docs)
	}
	if len(rep.Unseen) != 1 || rep.Unseen[0] != (Unseen{"api.shop.example", "DELETE", "/v1/users/{userId}"}) {
		t.Errorf("unseen %+v", rep.Unseen)
	}
	var got []string
	for _, a := range rep.Alerts {
		got = append(got, a.Kind+" "+a.Severity+" "+a.Method+" "+a.Path)
		if a.Evidence["detected_at"] == "" || a.Evidence["detected_at"] == nil {
			t.Errorf("alert without detected_at: %+v", a)
		}
		if strings.Contains(a.Summary, "s3cr3t") {
			t.Errorf("secret in summary: %s", a.Summary)
		}
	}
	wantAlerts := []string{
		"shadow_endpoint high GET /v1/internal/export",
		"shadow_endpoint low GET /v1/users/{userId}",
		"shadow_endpoint medium POST /v1/users/{userId}",
	}
	if !slices.Equal(got, wantAlerts) {
		t.Errorf("alerts\n got %q\nwant %q", got, wantAlerts)
	}
	for _, a := range rep.Alerts {
		if a.Severity == SeverityLow {
			if q := a.Evidence["undocumented_query"].([]string); !slices.Equal(q, []string{"debug"}) {
				t.Errorf("undocumented query %q", q)
			}
		}
	}
}

func TestSpecRelativeServerCoversEveryHost(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "legacy-swagger2.json")}})
	e.Observe(tx(1, "PUT", "a.example", "/api/items/x1", 200))
	e.Observe(tx(2, "GET", "b.example:8080", "/api/items?page=2", 200))
	rep := e.Report()
	for _, ep := range rep.Endpoints {
		if ep.Documented == nil || !*ep.Documented {
			t.Errorf("%+v not documented", ep)
		}
	}
	if len(rep.Endpoints) != 2 || rep.Endpoints[1].Host != "b.example:8080" {
		t.Errorf("endpoints %+v", rep.Endpoints)
	}
	if len(rep.Alerts) != 0 {
		t.Errorf("alerts %+v", rep.Alerts)
	}
}

// TestUndocumentedMethodTakesSpecTemplate: a method the spec does not
// document on a path it does takes the spec's template at once, even when
// the values look like words and are too few to learn.
func TestUndocumentedMethodTakesSpecTemplate(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	for i, id := range []string{"alpha", "beta", "gamma"} {
		if got := e.Observe(tx(i, "PATCH", "api.shop.example", "/v1/users/"+id, 200)); got != "/v1/users/{userId}" {
			t.Errorf("PATCH /v1/users/%s -> %q", id, got)
		}
	}
	rep := e.Report()
	var shadow []string
	for _, a := range rep.Alerts {
		shadow = append(shadow, a.Method+" "+a.Path)
	}
	if !slices.Equal(shadow, []string{"PATCH /v1/users/{userId}"}) {
		t.Errorf("alerts %q", shadow)
	}
	for _, ep := range rep.Endpoints {
		if ep.Method == "PATCH" && (ep.Documented == nil || *ep.Documented || ep.Count != 3) {
			t.Errorf("%+v", ep)
		}
	}
}
