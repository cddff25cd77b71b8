package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

// describe infers the response schema of the bodies, as one endpoint sees
// them, and renders it compactly (type[/format], * = required).
func describe(bodies ...string) (string, *bodySchemas) {
	var b bodySchemas
	for i, body := range bodies {
		t := &reassembly.Transaction{Method: "GET", Status: 200, RespBody: []byte(body),
			RespHeaders: []reassembly.Header{{Name: "Content-Type", Value: "application/json"}}}
		b.observe(t, nil, uint64(i+1))
	}
	return render(b.resp), &b
}

func render(n *schemaNode) string {
	if n == nil {
		return "-"
	}
	s := n.openAPI()
	var out strings.Builder
	var walk func(prefix string, n *schemaNode)
	walk = func(prefix string, n *schemaNode) {
		s := n.openAPI()
		if s.Type != nil {
			out.WriteString(strings.Join(*s.Type, ","))
		}
		if s.Format != "" {
			out.WriteString("/" + s.Format)
		}
		if len(n.props) > 0 {
			out.WriteString("{")
			for i, p := range n.props {
				if i > 0 {
					out.WriteString(" ")
				}
				out.WriteString(p.name)
				if p.seen >= n.objects {
					out.WriteString("*")
				}
				out.WriteString(":")
				walk(prefix+p.name+".", p.node)
			}
			out.WriteString("}")
		}
		if n.items != nil {
			out.WriteString("[")
			walk(prefix+"[]", n.items)
			out.WriteString("]")
		}
	}
	_ = s
	walk("", n)
	return out.String()
}

func TestSchemaInference(t *testing.T) {
	tests := []struct {
		name   string
		bodies []string
		want   string
	}{
		{"scalars and formats", []string{`{"a":1,"b":1.5,"c":true,"d":null,"e":"x@y.io","f":"550e8400-e29b-41d4-a716-446655440000","g":"2024-02-29T10:00:00.5+01:00","h":"2024-02-29","i":"10.1.2.3","j":"plain"}`},
			`object{a*:integer b*:number c*:boolean d*:null e*:string/email f*:string/uuid g*:string/date-time h*:string/date i*:string/ipv4 j*:string}`},
		{"optional and nullable", []string{`{"a":1,"b":"x"}`, `{"a":2,"b":null}`, `{"a":3.25}`},
			`object{a*:number b:string,null}`},
		{"mixed formats drop the format", []string{`{"e":"x@y.io"}`, `{"e":"not an email"}`},
			`object{e*:string}`},
		{"arrays of objects", []string{`[{"id":1},{"id":2,"x":"y"}]`, `[]`},
			`array[object{id*:integer x:string}]`},
		{"escaped strings have no format", []string{`{"e":"x\u0040y.io"}`},
			`object{e*:string}`},
		{"invalid and truncated bodies are skipped", []string{`{"a":1}`, `{"a":`, `not json`},
			`object{a*:integer}`},
		{"top-level scalar", []string{`"2024-01-01"`, `"2025-12-31"`}, `string/date`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := describe(tt.bodies...)
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestSchemaBounds: depth, properties per object, nodes per schema and
// array elements looked at are all capped.
func TestSchemaBounds(t *testing.T) {
	deep := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	got, _ := describe(deep)
	if d := strings.Count(got, "{"); d != maxSchemaDepth {
		t.Errorf("depth %d described, want %d: %s", d, maxSchemaDepth, got)
	}
	var wide strings.Builder
	wide.WriteString("{")
	for i := range 500 {
		if i > 0 {
			wide.WriteString(",")
		}
		fmt.Fprintf(&wide, `"p%03d":{"q":[1,2,3]}`, i)
	}
	wide.WriteString("}")
	_, b := describe(wide.String())
	if len(b.resp.props) != maxSchemaProps || !b.resp.propsCapped {
		t.Errorf("%d properties kept (capped %v), want %d", len(b.resp.props), b.resp.propsCapped, maxSchemaProps)
	}
	// Many bodies with new property names: the node budget holds.
	var bodies []string
	for i := range 200 {
		bodies = append(bodies, fmt.Sprintf(`{"k%d":{"x%d":{"y":1}}}`, i, i))
	}
	_, b = describe(bodies...)
	if n := countNodes(b.resp); n > maxSchemaNodes || b.respNodes > maxSchemaNodes {
		t.Errorf("%d nodes (budget says %d), over %d", n, b.respNodes, maxSchemaNodes)
	}
	// Only the first elements of an array are looked at.
	arr := `[{"a":1}` + strings.Repeat(`,{"a":1}`, 50) + `,{"late":1}]`
	if got, _ := describe(arr); strings.Contains(got, "late") {
		t.Errorf("element past %d described: %s", maxSchemaItems, got)
	}
}

func countNodes(n *schemaNode) int {
	if n == nil {
		return 0
	}
	c := 1 + countNodes(n.items)
	for _, p := range n.props {
		c += countNodes(p.node)
	}
	return c
}

// TestSchemaSampling: after the first bodies only one in schemaEvery is
// looked at; query values are typed on every request.
func TestSchemaSampling(t *testing.T) {
	var b bodySchemas
	for i := range 1000 {
		t := &reassembly.Transaction{Method: "POST", ReqBody: []byte(`{"a":1}`),
			ReqHeaders: []reassembly.Header{{Name: "Content-Type", Value: "application/json; charset=utf-8"}}}
		b.observe(t, []queryParam{{"limit", fmt.Sprint(i)}, {"q", "x"}, {"f", "true"}, {"r", "1.5"}, {"api_key", "k"}}, uint64(i+1))
	}
	if want := uint64(schemaFirstBodies + (1000-schemaFirstBodies)/schemaEvery); b.bodies != want {
		t.Errorf("%d bodies described, want %d", b.bodies, want)
	}
	for name, want := range map[string]string{"limit": "integer", "q": "string", "f": "boolean", "r": "number"} {
		if got := strings.Join(*queryType(b.queryKinds[name]).Type, ","); got != want {
			t.Errorf("query %s: %s, want %s", name, got, want)
		}
	}
	if _, ok := b.queryKinds["api_key"]; ok {
		t.Error("a credential parameter was typed")
	}
	if render(b.req) != "object{a*:integer}" {
		t.Errorf("request schema %s", render(b.req))
	}
}

// TestSchemaMerge: folding endpoints together merges their schemas.
func TestSchemaMerge(t *testing.T) {
	_, a := describe(`{"a":1,"b":"x"}`)
	_, b := describe(`{"a":"s"}`, `{"a":"t","c":[true]}`)
	a.merge(b)
	if got, want := render(a.resp), `object{a*:string,integer b:string c:array[boolean]}`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestSchemaDrift: a spec's documented schemas against observed bodies
// and query values.
func TestSchemaDrift(t *testing.T) {
	spec := `openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "https://api.drift.example/v1"}]
paths:
  /users/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: limit, in: query, schema: {type: integer}}
        - {name: q, in: query, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: integer}
                  name: {type: string}
                  tags: {type: array, items: {type: string}}
  /open:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: object, additionalProperties: true, properties: {a: {type: integer}}}
`
	path := filepath.Join(t.TempDir(), "drift.yaml")
	if err := os.WriteFile(path, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	e := mustEngine(t, Options{Specs: []*Spec{s}})
	obs := func(i int, target, body string) {
		x := tx(i, "GET", "api.drift.example", target, 200)
		x.RespHeaders = []reassembly.Header{{Name: "Content-Type", Value: "application/json"}}
		x.RespBody = []byte(body)
		e.Observe(x)
	}
	obs(1, "/v1/users/1?limit=10&q=1", `{"id":1,"name":"a","tags":["x"]}`)
	obs(2, "/v1/open", `{"a":1,"extra":2}`)
	if d := e.SchemaDrift(); len(d) != 0 {
		t.Fatalf("conforming traffic drifts: %+v", d)
	}
	obs(3, "/v1/users/2?limit=ten", `{"id":"2","name":"b","ssn":"078-05-1120","tags":[3],"salary":1}`)
	d := e.SchemaDrift()
	if len(d) != 1 || d[0].Path != "/v1/users/{id}" || d[0].Method != "GET" || d[0].Count != 2 {
		t.Fatalf("drift %+v", d)
	}
	for _, want := range []string{"query limit: string where the spec says integer", "response.id: string where the spec says integer",
		"response: undocumented properties salary, ssn", "response.tags[]: integer where the spec says string"} {
		if !strings.Contains(d[0].Detail, want) {
			t.Errorf("detail %q lacks %q", d[0].Detail, want)
		}
	}
	diff := SpecDiff{Drifted: []DiffOp{{Host: "api.drift.example", Method: "GET", Path: "/v1/users/{id}", Detail: "undocumented query parameters: debug"}}}
	diff.AddDrift(d)
	if len(diff.Drifted) != 1 || !strings.HasPrefix(diff.Drifted[0].Detail, "undocumented query parameters: debug; query limit") {
		t.Errorf("AddDrift: %+v", diff.Drifted)
	}
}

// FuzzSchemaObserve: any body, valid JSON or not, is described without
// panicking and within the node budget.
func FuzzSchemaObserve(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":null}],"c":"x@y.io"}`, `[[[[]]]]`, `"\u00e9\\"`, `{"a":1e5,"b":-0.5}`, `{`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var b bodySchemas
		for i := range 3 {
			x := &reassembly.Transaction{Method: "POST", Status: 200, ReqBody: body, RespBody: body,
				ReqHeaders:  []reassembly.Header{{Name: "Content-Type", Value: "application/json"}},
				RespHeaders: []reassembly.Header{{Name: "Content-Type", Value: "application/vnd.api+json"}}}
			b.observe(x, nil, uint64(i+1))
		}
		if countNodes(b.req) > maxSchemaNodes || countNodes(b.resp) > maxSchemaNodes {
			t.Fatalf("over the node budget: %d %d", countNodes(b.req), countNodes(b.resp))
		}
		_ = b.resp.openAPI()
	})
}

// TestSchemaState: the inferred schemas survive a save and a load (the
// export, which shows them, is the same).
func TestSchemaState(t *testing.T) {
	e := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	for _, x := range exportTraffic() {
		e.Observe(x)
	}
	st := NewMemStore()
	if err := e.Save(st); err != nil {
		t.Fatal(err)
	}
	e2 := mustEngine(t, Options{Specs: []*Spec{loadSpec(t, "petstore-v1.yaml")}})
	if err := e2.Load(st); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(e.ExportSpec(ExportOptions{}))
	b, _ := json.Marshal(e2.ExportSpec(ExportOptions{}))
	if !bytes.Equal(a, b) {
		t.Errorf("export after a load differs:\n%s\n%s", a, b)
	}
	if !bytes.Contains(a, []byte(`"format":"date-time"`)) {
		t.Error("the export shows no inferred schema")
	}
}

// TestJSONSkip: skipping the values the schema does not describe (past
// the depth, item and property bounds) leaves the same schema, budget and
// position as walking them did.
func TestJSONSkip(t *testing.T) {
	docs := []string{
		`{"a":{"b":{"c":{"d":{"e":{"f":{"g":[1,{"h":"}"}]}}}}}},"z":"\"]}\\","y":[1,2,3,4,5,6,7,8,9,{"x":[[[]]]},"\\\\"]}`,
		`[{"s":"a\"b\\\\\"c","t":"\\"},{},[],"",0,-1.5e3,true,false,null,{"u":"\u00e9}"}]`,
		`  "just a string"  `, `12`, `null`, `[]`, `{}`, `[[[[[[[[[["deep"]]]]]]]]]]`,
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 60 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"p%d":{"v":[%d,"x\"y",{"q":[1,2,{"r":null}]}]}`, i, i)
	}
	many.WriteString("}")
	docs = append(docs, many.String())
	for _, x := range shopTraffic(400) {
		docs = append(docs, string(x.RespBody))
		if len(x.ReqBody) > 0 {
			docs = append(docs, string(x.ReqBody))
		}
	}
	var fast, slow schemaNode
	fastBudget, slowBudget := 1, 1
	for i, d := range docs {
		if !json.Valid([]byte(d)) {
			t.Fatalf("doc %d not valid: %s", i, d)
		}
		f := jsonWalker{b: []byte(d), budget: &fastBudget}
		f.value(&fast, 0)
		s := jsonWalker{b: []byte(d), budget: &slowBudget, walkSkipped: true}
		s.value(&slow, 0)
		if f.i != s.i || fastBudget != slowBudget || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("doc %d: skipping ends at %d (budget %d), walking at %d (budget %d), or the schemas differ\n%s", i, f.i, fastBudget, s.i, slowBudget, d)
		}
		// Each value on its own, at every depth (the bounds skip them).
		for depth := 0; depth <= maxSchemaDepth; depth++ {
			f := jsonWalker{b: []byte(d), budget: new(int)}
			f.value(nil, depth)
			s := jsonWalker{b: []byte(d), budget: new(int), walkSkipped: true}
			s.value(nil, depth)
			if f.i != s.i {
				t.Fatalf("doc %d depth %d: skip ends at %d, walking at %d", i, depth, f.i, s.i)
			}
		}
	}
	if fastBudget < 50 {
		t.Fatalf("budget %d: the corpus hardly reached the bounds", fastBudget)
	}
}

// validJSONCases are texts on the edges of JSON's grammar and of
// encoding/json.Valid's leniencies.
func validJSONCases() []string {
	cases := []string{
		``, ` `, `{}`, `[]`, ` {"a":1} `, "\t[1]\r\n", `{"a":1}x`, `{"a":1} {}`, `1 2`, `{"a":1}}`,
		`null`, `nul`, `true`, `tru`, `false`, `falsey`, `"x"`, `"x`, `'x'`,
		`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e`, `1e+`, `1E-7`, `1e07`, `+1`, `0x10`, `NaN`, `Infinity`, `1.0e+308`,
		`{"a":1,"a":2}`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1,}`, `[1,]`, `[,1]`, `[1 2]`, `{1:2}`, `{"a":1 "b":2}`,
		`"\u00e9"`, `"\ud800"`, `"\udc00\ud800"`, `"\u12"`, `"\x41"`, `"\/\b\f\n\r\t\"\\"`, "\"a\tb\"", "\"a\x00b\"", "\"a\x7fb\"",
		"\"\xff\xfe\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "{\"\xff\":1}", "\xef\xbb\xbf{}", "\u00a0{}", "{}\x00",
		`[[[[]]]]`, `[{"a":[1,{"b":null}],"c":"x@y.io"}]`, `{"a":1e5,"b":-0.5}`,
	}
	for _, n := range []int{9999, 10000, 10001} {
		cases = append(cases, strings.Repeat("[", n)+strings.Repeat("]", n),
			strings.Repeat(`{"a":`, n)+"1"+strings.Repeat("}", n),
			strings.Repeat(`[{"a":`, n/2)+"1"+strings.Repeat("}]", n/2))
	}
	return cases
}

// TestValidJSON: validJSON says what encoding/json.Valid says.
func TestValidJSON(t *testing.T) {
	for _, s := range validJSONCases() {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid %v", s, got, want)
		}
	}
}

// FuzzValidJSON: validJSON and encoding/json.Valid agree on any text.
func FuzzValidJSON(f *testing.F) {
	for _, s := range validJSONCases() {
		if len(s) < 200 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

// TestChildAfterGuesses: the property-order guesses change nothing: the
// properties kept and their counts are what counting the objects' names
// gives, whether the objects list their names in one order, in shuffled
// orders or in both, and past the property bound.
func TestChildAfterGuesses(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name    string
		vocab   int
		shuffle float64 // share of objects with their names shuffled
	}{
		{"one order", 12, 0}, {"shuffled", 12, 1}, {"mixed", 20, 0.3}, {"over the bound", 45, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vocab := make([]string, tc.vocab)
			for i := range vocab {
				vocab[i] = fmt.Sprintf("k%02d", (i*7)%tc.vocab)
			}
			var b bodySchemas
			seen := map[string]uint32{}
			var order []string // names in order of first appearance
			for range 300 {
				names := slices.Clone(vocab[:r.IntN(len(vocab))+1])
				if r.Float64() < tc.shuffle {
					r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
				}
				body := []byte("{")
				for i, n := range names {
					if i > 0 {
						body = append(body, ',')
					}
					body = fmt.Appendf(body, "%q:%d", n, i)
					if _, ok := seen[n]; !ok {
						order = append(order, n)
					}
					seen[n]++
				}
				body = append(body, '}')
				if b.resp == nil {
					b.resp, b.respNodes = &schemaNode{}, 1
				}
				w := jsonWalker{b: body, budget: &b.respNodes}
				w.value(b.resp, 0)
			}
			kept := order[:min(len(order), maxSchemaProps)]
			if len(b.resp.props) != len(kept) || b.resp.propsCapped != (len(order) > maxSchemaProps) {
				t.Fatalf("%d properties (capped %v), want %d of %d", len(b.resp.props), b.resp.propsCapped, len(kept), len(order))
			}
			for _, n := range kept {
				i, ok := slices.BinarySearchFunc(b.resp.props, []byte(n), compareName)
				if !ok {
					t.Errorf("property %s not kept", n)
				} else if b.resp.props[i].seen != seen[n] {
					t.Errorf("property %s seen %d times, want %d", n, b.resp.props[i].seen, seen[n])
				}
			}
		})
	}
}

// BenchmarkValidJSON compares validJSON with encoding/json.Valid on the
// JSON bodies of simulator-shaped traffic (per body).
func BenchmarkValidJSON(b *testing.B) {
	var bodies [][]byte
	for _, x := range shopTraffic(512) {
		for _, body := range [][]byte{x.ReqBody, x.RespBody} {
			if len(body) > 0 && json.Valid(body) {
				bodies = append(bodies, body)
			}
		}
	}
	for _, v := range []struct {
		name  string
		valid func([]byte) bool
	}{{"jsontext", validJSON}, {"encoding-json", json.Valid}} {
		b.Run(v.name, func(b *testing.B) {
			var n int64
			for _, body := range bodies {
				n += int64(len(body))
			}
			b.SetBytes(n / int64(len(bodies)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !v.valid(bodies[i%len(bodies)]) {
					b.Fatal("a valid body found invalid")
				}
			}
		})
	}
}
