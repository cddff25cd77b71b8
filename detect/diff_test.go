package detect

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDiffReport(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	e.Observe(tx(1, "GET", "api.shop.example", "/v1/users/42?debug=1", 200))
	e.Observe(tx(2, "GET", "api.shop.example", "/v1/users/me", 200))
	x := tx(3, "GET", "api.shop.example", "/v1/internal/export", 200)
	x.RespBody = []byte(`{"email":"a@example.com"}`)
	e.Observe(x)
	e.Observe(tx(4, "GET", "nospec.example", "/x", 200))
	rep := e.Report()

	// The same diff from the report and from its JSON round trip.
	raw, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*Report{"native": &rep, "json": &back} {
		d := DiffReport(r)
		var sb strings.Builder
		if err := d.WriteText(&sb); err != nil {
			t.Fatal(err)
		}
		want := `shadow: observed, not in any spec (1)
  GET     api.shop.example/v1/internal/export  1 requests  — returns email; no authentication
unseen: in a spec, never observed (2)
  GET     api.shop.example/v1/orders/{orderId}.json
  DELETE  api.shop.example/v1/users/{userId}
drifted: in a spec, observed with undocumented parts (1)
  GET     api.shop.example/v1/users/{userId}  1 requests  — undocumented query parameters: debug
`
		if sb.String() != want {
			t.Errorf("%s:\n%s\nwant\n%s", name, sb.String(), want)
		}
		for kind, want := range map[string]bool{DiffShadow: true, DiffUnseen: true, DiffDrifted: true, "any": true, "bogus": false} {
			if d.Has(kind) != want {
				t.Errorf("%s: Has(%q) = %v", name, kind, !want)
			}
		}
	}
	empty := DiffReport(&Report{})
	if empty.Has("any") || empty.Shadow == nil || empty.Unseen == nil || empty.Drifted == nil {
		t.Errorf("empty diff %+v", empty)
	}
}
