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
		add("GET", "api.shop.example", fmt.Sprintf("/v1/internal/jobs/%d", i), 500, nil, "text/plain")
	}
	add("DELETE", "api.shop.example", "/v1/users/7", 204, []hdr{{Name: "Authorization", Value: "Basic dTpw"}}, "")
	for _, u := range names("writer", 40) {
		add("GET", "blog.example", "/authors/"+u+"/posts?page=2&api_key=x", 200, nil, "application/json")
	}
	add("GET", "blog.example", "/authors/someone/posts", 200, nil, "application/json")
	add("POST", "blog.example", "/comments", 0, []hdr{{Name: "Cookie", Value: "sessionid=s; theme=dark"}, {Name: "Authorization", Value: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"}}, "")
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
}
