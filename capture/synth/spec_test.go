package synth

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestSanitizeRefs(t *testing.T) {
	doc := map[string]any{
		"info":        map[string]any{"description": map[string]any{"$ref": "description.yml#/intro"}},
		"definitions": map[string]any{"A": map[string]any{"type": "string"}, "a/b": map[string]any{}},
		"paths": map[string]any{
			"/x": map[string]any{"get": map[string]any{"$ref": "resources/x_get.yml"}},
			"/y": map[string]any{"get": map[string]any{"schema": map[string]any{"$ref": "#/definitions/A"}}},
			"/z": map[string]any{"get": map[string]any{"schema": map[string]any{"$ref": "#/definitions/Missing"}}},
			"/w": map[string]any{"get": map[string]any{"items": []any{map[string]any{"$ref": "#/definitions/a~1b"}}}},
		},
	}
	sanitizeRefs(doc, doc, "")
	js, _ := json.Marshal(doc)
	for _, want := range []string{`"info":{"description":""}`, `"/x":{"get":{}}`, `"/y":{"get":{"schema":{"$ref":"#/definitions/A"}}}`,
		`"/z":{"get":{"schema":{}}}`, `"/w":{"get":{"items":[{"$ref":"#/definitions/a~1b"}]}}`} {
		if !strings.Contains(string(js), want) {
			t.Errorf("%s lacks %s", js, want)
		}
	}
}

func TestPathParams(t *testing.T) {
	declared := openapi3.Parameters{{Value: &openapi3.Parameter{Name: "a", In: "path"}}, {Value: &openapi3.Parameter{Name: "b", In: "query"}}}
	got := pathParams("/x/{a}/y/{b}/{c}", declared)
	var names []string
	for _, p := range got {
		names = append(names, p.Value.In+":"+p.Value.Name)
	}
	if strings.Join(names, " ") != "path:a query:b path:b path:c" {
		t.Errorf("params %v", names)
	}
}

// TestStyledIDs: ids look like the API's own, and differ per object.
func TestStyledIDs(t *testing.T) {
	tests := []struct {
		style        idStyle
		name, parent string
		re           string
	}{
		{stylePrefixed, "customer", "customers", `^cust_[0-9A-Za-z]{24}$`},
		{stylePrefixed, "id", "invoices", `^invo_[0-9A-Za-z]{24}$`},
		{styleGID, "task_gid", "tasks", `^1[0-9]{15}$`},
		{styleGUID, "accountId", "accounts", `^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-A[0-9A-F]{3}-[0-9A-F]{12}$`},
		{styleK8s, "name", "pods", `^[a-z]+-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$`},
		{styleDO, "droplet_id", "droplets", `^[0-9]{8,}$`},
		{styleDO, "app_id", "apps", `^[0-9a-f]{8}-`},
		{styleDO, "domain_name", "domains", `^[a-z]+-[0-9]+$`},
		{styleHex24, "id", "incidents", `^[0-9a-f]{24}$`},
		{styleDefault, "user_uuid", "users", `^[0-9a-f]{8}-[0-9a-f]{4}-`},
	}
	for _, tt := range tests {
		a, ok := styledID(tt.style, tt.name, tt.parent, 7)
		b, _ := styledID(tt.style, tt.name, tt.parent, 8)
		if !ok || !regexp.MustCompile(tt.re).MatchString(a) {
			t.Errorf("style %d %s: %q (ok %v), want %s", tt.style, tt.name, a, ok, tt.re)
		}
		if a == b {
			t.Errorf("style %d %s: objects 7 and 8 share id %q", tt.style, tt.name, a)
		}
	}
	if ns, _ := styledID(styleK8s, "namespace", "namespaces", 3); ns != k8sNamespaces[3] {
		t.Errorf("namespace %q", ns)
	}
	if _, ok := styledID(styleDefault, "id", "users", 1); ok {
		t.Error("the default style has an opinion")
	}
	for title, want := range map[string]idStyle{"Stripe API": stylePrefixed, "Asana": styleGID, "DocuSign REST API": styleGUID,
		"Kubernetes": styleK8s, "DigitalOcean API": styleDO, "Cortex XSOAR API": styleHex24, "Library": styleDefault} {
		if got := pickStyle(title, "api.example.com"); got != want {
			t.Errorf("pickStyle(%q) = %d, want %d", title, got, want)
		}
	}
}

// TestBodyBounds: generated bodies of wide, deep schemas stay small, with
// the required properties kept.
func TestBodyBounds(t *testing.T) {
	wide := &openapi3.Schema{Type: &openapi3.Types{"object"}, Properties: openapi3.Schemas{}, Required: []string{"zz_required"}}
	for i := range 300 {
		wide.Properties[string(rune('a'+i%26))+strings.Repeat("x", i/26)] = openapi3.NewSchemaRef("", openapi3.NewStringSchema())
	}
	wide.Properties["zz_required"] = openapi3.NewSchemaRef("", openapi3.NewIntegerSchema())
	list := &openapi3.Schema{Type: &openapi3.Types{"array"}, Items: openapi3.NewSchemaRef("", &openapi3.Schema{Type: &openapi3.Types{"object"},
		Properties: openapi3.Schemas{"w": openapi3.NewSchemaRef("", wide), "v": openapi3.NewSchemaRef("", wide)}})}
	body := appendJSON(nil, list, 1, 0, 500)
	if len(body) > maxBodyBytes+8<<10 {
		t.Errorf("body of %d bytes", len(body))
	}
	var v []map[string]map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("not JSON: %v\n%.300s", err, body)
	}
	if len(v[0]["w"]) > maxBodyProps || v[0]["w"]["zz_required"] == nil {
		t.Errorf("%d properties, required one %v", len(v[0]["w"]), v[0]["w"]["zz_required"])
	}
}

// TestLoadSplitSpec: a spec whose operations live in absent files still
// drives a simulation, with its path parameters filled in.
func TestLoadSplitSpec(t *testing.T) {
	spec := `openapi: 3.0.0
info: {title: DigitalOcean API, version: "2.0", description: {$ref: "description.yml#/introduction"}}
servers: [{url: "https://api.digitalocean.com"}]
paths:
  /v2/droplets/{droplet_id}:
    get: {$ref: "resources/droplets/droplets_get.yml"}
  /v2/apps/{app_id}:
    get: {$ref: "resources/apps/apps_get.yml"}
`
	path := filepath.Join(t.TempDir(), "do.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	api, err := loadSpec(path, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if api.style != styleDO || api.host != "api.digitalocean.com" || len(api.ops) != 2 {
		t.Fatalf("style %d host %s ops %d", api.style, api.host, len(api.ops))
	}
	for _, op := range api.ops {
		target := op.path
		for _, pr := range op.spec.params {
			target = strings.ReplaceAll(target, "{"+pr.Value.Name+"}", styledParamValue(pr.Value, 5, 5, api.style, op.path))
		}
		if strings.ContainsAny(target, "{}") {
			t.Errorf("%s %s: placeholder left in %s", op.method, op.path, target)
		}
	}
}
