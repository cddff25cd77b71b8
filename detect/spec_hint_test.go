package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// hintSpec is a Kubernetes-like spec: namespaced resources, actions beside
// a parameter, a relative server.
const hintSpec = `openapi: 3.0.3
info: {title: hints, version: "1"}
paths:
  /api/v1/namespaces/{namespace}/pods:
    get: {responses: {"200": {description: ok}}}
  /api/v1/namespaces/{namespace}/pods/{name}:
    get: {responses: {"200": {description: ok}}}
  /user/{username}:
    get: {responses: {"200": {description: ok}}}
  /user/login:
    get: {responses: {"200": {description: ok}}}
  /user/logout:
    get: {responses: {"200": {description: ok}}}
  /invoices/{invoice}/pay:
    post: {responses: {"200": {description: ok}}}
  /invoices/{invoice}/void:
    post: {responses: {"200": {description: ok}}}
  /widgets/{id}:
    get: {responses: {"200": {description: ok}}}
  /unit42intel/sessions:
    get: {responses: {"200": {description: ok}}}
`

func hintSpecT(t *testing.T) *Spec {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hints.yaml")
	if err := os.WriteFile(path, []byte(hintSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPathHints(t *testing.T) {
	s := hintSpecT(t)
	tests := []struct {
		path string
		want []segHint
	}{
		// below a documented parameter position, a word is a value
		{"/api/v1/namespaces/kube-system/services/web", []segHint{hintWord, hintWord, hintWord, hintParam, hintFixed, hintNone}},
		// the last segment may be an undocumented action
		{"/user/createWithArray", []segHint{hintWord, hintNone}},
		// only fixed words documented there: a new word stays a word
		{"/invoices/in_1/mark_uncollectible", []segHint{hintWord, hintParam, hintFixed}},
		{"/unit42intel/search", []segHint{hintWord, hintFixed}},
		{"/elsewhere/x", []segHint{hintFixed, hintNone}},
	}
	for _, tt := range tests {
		got := pathHints([]*Spec{s}, splitPath(tt.path))
		if !slices.Equal(got, tt.want) {
			t.Errorf("pathHints(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
	if pathHints(nil, splitPath("/a/b")) != nil {
		t.Error("hints without specs")
	}
}

// TestShadowUnderDocumentedResource: an undocumented resource under a
// documented parameter position takes the parameter at once, though its
// few values look like words; a new action beside documented ones stays a
// word, and so does a POST of a word beside documented words.
func TestShadowUnderDocumentedResource(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{hintSpecT(t)}})
	i := 0
	obs := func(method, path string) string {
		i++
		return e.Observe(tx(i, method, "k8s.example", path, 200))
	}
	for _, ns := range []string{"default", "kube-system", "payments"} {
		if got := obs("GET", "/api/v1/namespaces/"+ns+"/services"); got != "/api/v1/namespaces/{namespaceId}/services" {
			t.Errorf("%s: %s", ns, got)
		}
	}
	for k := range 30 {
		if got := obs("POST", fmt.Sprintf("/invoices/in_%08dAbC/mark_uncollectible", k)); got != "/invoices/{invoiceId}/mark_uncollectible" {
			t.Fatalf("mark_uncollectible: %s", got)
		}
	}
	if got := obs("POST", "/user/createWithArray"); got != "/user/createWithArray" {
		t.Errorf("POST beside documented words: %s", got)
	}
	// A documented word that reads like an id stays a word.
	if got := obs("GET", "/unit42intel/indicator"); got != "/unit42intel/indicator" {
		t.Errorf("documented word: %s", got)
	}
	// Shaped onto /widgets/{id}: the same word every time is reported as
	// that word; varying words keep the template.
	for range 3 {
		obs("POST", "/widgets/import")
		obs("DELETE", "/widgets/"+fmt.Sprint(i))
	}
	var paths []string
	for _, ep := range e.Report().Endpoints {
		if ep.Documented != nil && !*ep.Documented {
			paths = append(paths, ep.Method+" "+ep.Path)
		}
	}
	for _, want := range []string{"POST /widgets/import", "DELETE /widgets/{id}", "POST /user/createWithArray", "GET /api/v1/namespaces/{namespaceId}/services"} {
		if !slices.Contains(paths, want) {
			t.Errorf("shadow endpoints %q lack %q", paths, want)
		}
	}
}

// TestUnseenOnStrayHosts: a spec with a relative server lists its unseen
// operations on the hosts where it saw one of them, not on every host.
func TestUnseenOnStrayHosts(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{hintSpecT(t)}})
	e.Observe(tx(1, "GET", "k8s.example", "/user/login", 200))
	e.Observe(tx(2, "GET", "10.0.0.1", "/somewhere/else", 200))
	hosts := map[string]int{}
	for _, u := range e.Report().Unseen {
		hosts[u.Host]++
	}
	if hosts["k8s.example"] != len(hintSpecT(t).Ops)-1 || hosts["10.0.0.1"] != 0 {
		t.Errorf("unseen per host %v", hosts)
	}
}

func TestShapedPath(t *testing.T) {
	tests := []struct {
		segs []string
		tmpl string
		want string
	}{
		{[]string{"import", "import"}, "/widgets/{id}", "/widgets/import"},
		{[]string{"import", "export"}, "/widgets/{id}", "/widgets/{id}"},
		{[]string{"42", "42"}, "/widgets/{id}", "/widgets/{id}"}, // a value, not a word
		{[]string{"import"}, "/widgets/{id}/parts", "/widgets/{id}/parts"},
		{[]string{"import"}, "/widgets/{id}.json", "/widgets/{id}.json"},
		{nil, "/widgets/{id}", "/widgets/{id}"},
	}
	for _, tt := range tests {
		var s epStats
		for _, seg := range tt.segs {
			s.noteLastSeg(seg)
		}
		if got := s.shapedPath(tt.tmpl); got != tt.want {
			t.Errorf("%v on %s: %s, want %s", tt.segs, tt.tmpl, got, tt.want)
		}
	}
}

// TestTypedParamsMatch: a documented operation matches only values of its
// parameters' declared types (userId is an integer in petstore-v1.yaml).
func TestTypedParamsMatch(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	for i := range 3 {
		e.Observe(tx(i, "GET", "api.shop.example", "/v1/users/findByStatus", 200))
		e.Observe(tx(10+i, "GET", "api.shop.example", fmt.Sprintf("/v1/users/%d", 40+i), 200))
	}
	got := map[string]bool{}
	for _, ep := range e.Report().Endpoints {
		got[fmt.Sprintf("%s %s %v", ep.Method, ep.Path, *ep.Documented)] = true
	}
	for _, want := range []string{"GET /v1/users/findByStatus false", "GET /v1/users/{userId} true"} {
		if !got[want] {
			t.Errorf("endpoints %v lack %q", got, want)
		}
	}
	var seg specSeg
	for _, tt := range []struct {
		typ  segType
		enum []string
		v    string
		want bool
	}{{segInteger, nil, "42", true}, {segInteger, nil, "-1", true}, {segInteger, nil, "x1", false},
		{segUUID, nil, "550e8400-e29b-41d4-a716-446655440000", true}, {segUUID, nil, "550e8400", false},
		{segEnum, []string{"groups"}, "groups", true}, {segEnum, []string{"groups"}, "other", false}, {segAny, nil, "x", true}} {
		seg.typ, seg.enum = tt.typ, tt.enum
		if seg.accepts(tt.v) != tt.want {
			t.Errorf("type %d accepts(%q) = %v", tt.typ, tt.v, !tt.want)
		}
	}
}
