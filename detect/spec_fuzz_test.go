package detect

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzSpec feeds arbitrary documents to the spec loader: a user's spec is
// input like any other, so a malformed one must give an error, never a
// panic, and one that loads must be usable for matching.
func FuzzSpec(f *testing.F) {
	for _, name := range []string{"golden-spec.yaml", "legacy-swagger2.json", "petstore-v1.yaml", "server-vars.yaml", "relative-31.yaml", "no-version.yaml", "not-a-spec.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("openapi: 3.0.0\npaths:\n  /a/{id}:\n    get:\n      parameters:\n        - {name: id, in: path, required: true, schema: {$ref: '#/components/schemas/X'}}\ncomponents:\n  schemas:\n    X: {$ref: '#/components/schemas/X'}\n"))
	f.Add([]byte("swagger: '2.0'\npaths: {'/x/{y}': {get: {parameters: [{name: y, in: path, type: integer}]}}}\n"))
	f.Add([]byte(apiKeySpec))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSpecData(data)
		if err != nil {
			return
		}
		for _, k := range s.APIKeys {
			if k.Name == "" || k.In != "header" && k.In != "query" && k.In != "cookie" {
				t.Fatalf("API key %+v", k)
			}
		}
		_ = newKeyNames([]*Spec{s})
		var segs [][]string
		for _, op := range s.Ops {
			segs = append(segs, splitPath(op.Path))
		}
		segs = append(segs, splitPath("/users/42"), nil)
		for _, sg := range segs {
			s.candidates(sg, func(op *SpecOp) { op.match(sg) })
		}
	})
}
