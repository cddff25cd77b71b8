package detect

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenTraffic is a fixed mix of documented, shadow and unknown-host
// traffic with every auth scheme and some sensitive responses.
func goldenTraffic() []*txT {
	var out []*txT
	add := func(method, host, target string, status int, hdrs []hdr, body string) {
		x := tx(len(out), method, host, target, status)
		x.ReqHeaders = hdrs
		x.RespBody = []byte(body)
		out = append(out, x)
	}
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
	for i := range 40 {
		add("GET", "api.shop.example", fmt.Sprintf("/v1/users/%d", 100+i), 200,
			[]hdr{{Name: "Authorization", Value: "Bearer " + jwt}}, `{"id":1,"name":"x"}`)
	}
	add("GET", "api.shop.example", "/v1/users/me?fields=id&trace=1", 200, []hdr{{Name: "Authorization", Value: "Basic dTpw"}}, `{}`)
	add("GET", "api.shop.example", "/v1/orders/A1B2C3.json", 404, []hdr{{Name: "X-API-Key", Value: "k1"}}, ``)
	for i := range 30 {
		add("GET", "api.shop.example", fmt.Sprintf("/v1/admin/customers/%d/export", i), 200, nil,
			`{"email":"c@example.org","phone":"+44 20 7946 0958","card":"4111 1111 1111 1111","iban":"GB82WEST12345698765432"}`)
	}
	for _, u := range []string{"ann", "bob", "cyd", "dee", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lou",
		"max", "ned", "oli", "pam", "quin", "ray", "sue", "tom", "uma", "val", "wes", "xan", "yan", "zed", "abe", "bea", "cal", "dan"} {
		add("GET", "blog.example", "/authors/"+u+"/posts?api_key=secret1", 200, []hdr{{Name: "Cookie", Value: "sessionid=abc; theme=dark"}}, ``)
	}
	add("POST", "blog.example:80", "/authors", 201, nil, `{"ssn":"123-45-6789"}`)
	add("GET", "10.9.9.9", "/metrics", 200, nil, `token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB`)
	out[len(out)-1].Host = ""
	out[len(out)-1].Server = out[len(out)-1].Server // server IP fallback below
	return out
}

func TestGoldenReport(t *testing.T) {
	spec := loadSpec(t, "petstore-v1.yaml")
	e := mustEngine(t, Options{Specs: []*Spec{spec}})
	var endpoints []string
	for _, x := range goldenTraffic() {
		endpoints = append(endpoints, RedactURI(x.Target)+" -> "+e.Observe(x))
	}
	rep := e.Report()
	rep.GeneratedAt = t0
	got, err := json.MarshalIndent(struct {
		Report       Report   `json:"report"`
		Transactions []string `json:"transactions"`
	}{rep, endpoints}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	const golden = "testdata/report.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("report differs from %s (go test -run Golden -update to accept):\n%s", golden, got)
	}
	for _, secret := range []string{"secret1", "dTpw", "ghp_0123", "c2lnbmF0dXJl", "123-45-6789", "c@example.org"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("secret or personal value %q in the output", secret)
		}
	}
}
