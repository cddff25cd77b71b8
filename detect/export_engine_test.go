package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// exportTraffic covers a documented host (with an undocumented endpoint),
// learnt usernames, and every credential placement.
func exportTraffic() []*txT {
	var out []*txT
	add := func(method, host, target string, status int, h []hdr, ct string) {
		x := tx(len(out), method, host, target, status)
		x.ReqHeaders = h
		if ct != "" {
			x.RespHeaders = []hdr{{Name: "Content-Type", Value: ct}}
		}
		out = append(out, x)
	}
	for i := range 20 {
		add("GET", "api.shop.example", fmt.Sprintf("/v1/users/%d?fields=id", i), 200, []hdr{{Name: "X-API-Key", Value: "k"}}, "application/json; charset=utf-8")
		// Bodies: formats, an optional property, a nullable one, arrays.
		nick := ""
		if i%2 == 0 {
			nick = fmt.Sprintf(`"nickname":"n%d",`, i)
		}
		manager := "null"
		if i%3 == 0 {
			manager = fmt.Sprintf(`"4f1c2a7e-0b3d-4c5e-9f6a-%012d"`, i)
		}
		out[len(out)-1].RespBody = fmt.Appendf(nil, `{"id":%d,"email":"user%d@example.com",%s"created":"2024-01-%02dT10:00:00Z","last_ip":"192.0.2.%d","score":%d.5,"manager":%s,"tags":["a","b"],"address":{"city":"Lyon","zip":"6900%d"}}`,
			i, i, nick, i+1, i, i, manager, i%10)
		add("GET", "api.shop.example", fmt.Sprintf("/v1/internal/jobs/%d", i), 500, nil, "text/plain")
	}
	add("DELETE", "api.shop.example", "/v1/users/7", 204, []hdr{{Name: "Authorization", Value: "Basic dTpw"}}, "")
	for _, u := range names("writer", 40) {
		add("GET", "blog.example", "/authors/"+u+"/posts?page=2&api_key=x", 200, nil, "application/json")
	}
	add("GET", "blog.example", "/authors/someone/posts", 200, nil, "application/json")
	add("POST", "blog.example", "/comments", 0, []hdr{{Name: "Cookie", Value: "sessionid=s; theme=dark"}, {Name: "Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"}, {Name: "Content-Type", Value: "application/json"}}, "")
	out[len(out)-1].ReqBody = []byte(`{"post":12,"text":"nice \"post\"","notify":true}`)
	return out
}

func TestExportEngineSpec(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	traffic := exportTraffic()
	for _, x := range traffic {
		e.Observe(x)
	}
	rep := e.Report()
	raw, err := json.MarshalIndent(e.ExportSpec(ExportOptions{Title: "shop"}), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	raw = append(raw, '\n')
	const golden = "testdata/export-engine.golden.json"
	if *update {
		if err := os.WriteFile(golden, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(raw, want) {
		t.Errorf("export differs from %s (%v); go test -run ExportEngine -update to accept:\n%s", golden, err, raw)
	}

	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatalf("loading the export: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("export does not validate: %v", err)
	}
	var got, want []string
	for path, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			got = append(got, m+" "+path)
		}
	}
	for _, ep := range rep.Endpoints {
		want = append(want, ep.Method+" "+ep.Path)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("operations\n got %q\nwant %q", got, want)
	}
	var schemes []string
	for name, ss := range doc.Components.SecuritySchemes {
		schemes = append(schemes, name+"="+ss.Value.Type+"/"+ss.Value.In+ss.Value.Scheme+"/"+ss.Value.Name)
	}
	sort.Strings(schemes)
	wantSchemes := []string{"basicAuth=http/basic/", "cookieKey_sessionid=apiKey/cookie/sessionid", "headerKey_X-API-Key=apiKey/header/X-API-Key", "jwtAuth=http/bearer/", "queryKey_api_key=apiKey/query/api_key"}
	if !slices.Equal(schemes, wantSchemes) {
		t.Errorf("security schemes\n got %q\nwant %q", schemes, wantSchemes)
	}
	op := doc.Paths.Find("/authors/{authorId}/posts").Get
	if op == nil || len(op.Parameters) != 2 || op.Parameters.GetByInAndName("query", "page") == nil || op.Parameters.GetByInAndName("query", "api_key") != nil {
		t.Errorf("authors' posts parameters: %+v", op)
	}
	if sec := *op.Security; len(sec) != 2 || len(sec[1]) != 0 {
		t.Errorf("optional api key: %+v", sec)
	}

	// Exported per host and loaded back as specs, the exports document all
	// of the traffic (the all-hosts document merges paths across hosts).
	var specs []*Spec
	for _, host := range []string{"api.shop.example", "blog.example"} {
		raw, err := json.Marshal(e.ExportSpec(ExportOptions{Host: host}))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), host+".json")
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		spec, err := LoadSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, spec)
	}
	e2 := mustEngine(t, Options{Specs: specs})
	for _, x := range traffic {
		e2.Observe(x)
	}
	rep2 := e2.Report()
	for _, ep := range rep2.Endpoints {
		if ep.Documented == nil || !*ep.Documented {
			t.Errorf("replayed %s %s %s not documented by its own export", ep.Host, ep.Method, ep.Path)
		}
	}
	if len(rep2.Alerts) != 0 || len(rep2.Unseen) != 0 {
		t.Errorf("replay: alerts %+v unseen %+v", rep2.Alerts, rep2.Unseen)
	}
	// Its own export describes the traffic's bodies and query values: no drift.
	if d := e2.SchemaDrift(); len(d) != 0 {
		t.Errorf("replay drifts from its own export: %+v", d)
	}
	// The inferred response schema: types, formats, required and nullable.
	users := doc.Paths.Find("/v1/users/{userId}")
	if users == nil || users.Get == nil {
		t.Fatal("no GET /v1/users/{userId} in the export")
	}
	rs := users.Get.Responses.Status(200).Value.Content.Get("application/json").Schema.Value
	for prop, want := range map[string]string{"id": "integer", "email": "string/email", "created": "string/date-time",
		"last_ip": "string/ipv4", "score": "number", "manager": "string,null/uuid", "tags": "array", "address": "object", "nickname": "string"} {
		p := rs.Properties[prop]
		if p == nil {
			t.Errorf("response property %s missing", prop)
			continue
		}
		got := strings.Join(*p.Value.Type, ",")
		if p.Value.Format != "" {
			got += "/" + p.Value.Format
		}
		if got != want {
			t.Errorf("response property %s: %s, want %s", prop, got, want)
		}
	}
	if slices.Contains(rs.Required, "nickname") || !slices.Contains(rs.Required, "email") || !slices.Contains(rs.Required, "manager") {
		t.Errorf("required %q: want email and manager, not nickname", rs.Required)
	}
	rb := doc.Paths.Find("/comments").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	if len(rb.Properties) != 3 || !rb.Properties["notify"].Value.Type.Is("boolean") {
		t.Errorf("request body schema %+v", rb.Properties)
	}
}
