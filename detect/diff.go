package detect

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// SpecDiff compares the inventory with the specs, for `shadowtap spec diff`:
// observed operations that no spec documents (Shadow), documented ones never
// observed (Unseen), and documented ones observed with parts the spec does
// not declare (Drifted: undocumented query parameters; with
// Engine.SchemaDrift added by AddDrift, body properties and types). Lists are never
// nil and are sorted by host, path, method.
type SpecDiff struct {
	Shadow  []DiffOp `json:"shadow"`
	Unseen  []DiffOp `json:"unseen"`
	Drifted []DiffOp `json:"drifted"`
}

// DiffOp is one operation of a SpecDiff.
type DiffOp struct {
	Host   string `json:"host"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Count is the requests observed (0 for unseen operations).
	Count uint64 `json:"count"`
	// Detail says what drifted ("undocumented query parameters: debug"),
	// or for shadow operations what makes them urgent; "" otherwise.
	Detail string `json:"detail,omitempty"`
}

// Diff kinds, for SpecDiff.Has (and --fail-on).
const (
	DiffShadow  = "shadow"
	DiffUnseen  = "unseen"
	DiffDrifted = "drifted"
)

// DiffReport derives the diff from a report (hosts no spec covers, whose
// endpoints have documented null, are left out). It works as well on a
// report read back from JSON.
func DiffReport(rep *Report) SpecDiff {
	d := SpecDiff{Shadow: []DiffOp{}, Unseen: []DiffOp{}, Drifted: []DiffOp{}}
	detail := map[[3]string]string{}
	for _, a := range rep.Alerts {
		if a.Kind != KindShadowEndpoint {
			continue
		}
		k := [3]string{a.Host, a.Method, a.Path}
		if q := stringList(a.Evidence["undocumented_query"]); len(q) > 0 {
			d.Drifted = append(d.Drifted, DiffOp{Host: a.Host, Method: a.Method, Path: a.Path, Count: a.Count,
				Detail: "undocumented query parameters: " + strings.Join(q, ", ")})
			continue
		}
		var why []string
		if s := stringList(a.Evidence["sensitive"]); len(s) > 0 {
			why = append(why, "returns "+strings.Join(s, ", "))
		}
		if au := stringList(a.Evidence["auth"]); len(au) == 1 && au[0] == "none" {
			why = append(why, "no authentication")
		}
		detail[k] = strings.Join(why, "; ")
	}
	for _, ep := range rep.Endpoints {
		if ep.Documented != nil && !*ep.Documented {
			d.Shadow = append(d.Shadow, DiffOp{Host: ep.Host, Method: ep.Method, Path: ep.Path, Count: ep.Count,
				Detail: detail[[3]string{ep.Host, ep.Method, ep.Path}]})
		}
	}
	for _, u := range rep.Unseen {
		d.Unseen = append(d.Unseen, DiffOp{Host: u.Host, Method: u.Method, Path: u.Path})
	}
	for _, l := range [][]DiffOp{d.Shadow, d.Unseen, d.Drifted} {
		sortDiffOps(l)
	}
	return d
}

func sortDiffOps(l []DiffOp) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Host != b.Host {
			return a.Host < b.Host
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Method < b.Method
	})
}

// stringList reads a []string evidence value, native or decoded from JSON.
func stringList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Has reports whether the diff lists anything of the given kind
// (DiffShadow, DiffUnseen, DiffDrifted; "any" for all three).
func (d *SpecDiff) Has(kind string) bool {
	switch kind {
	case DiffShadow:
		return len(d.Shadow) > 0
	case DiffUnseen:
		return len(d.Unseen) > 0
	case DiffDrifted:
		return len(d.Drifted) > 0
	case "any":
		return len(d.Shadow)+len(d.Unseen)+len(d.Drifted) > 0
	}
	return false
}

// WriteText writes the diff for people: one section per kind, one line per
// operation.
func (d *SpecDiff) WriteText(w io.Writer) error {
	var b strings.Builder
	section := func(title string, ops []DiffOp, counts bool) {
		fmt.Fprintf(&b, "%s (%d)\n", title, len(ops))
		for _, op := range ops {
			fmt.Fprintf(&b, "  %-7s %s%s", op.Method, op.Host, op.Path)
			if counts {
				fmt.Fprintf(&b, "  %d requests", op.Count)
			}
			if op.Detail != "" {
				b.WriteString("  — " + op.Detail)
			}
			b.WriteByte('\n')
		}
	}
	section("shadow: observed, not in any spec", d.Shadow, true)
	section("unseen: in a spec, never observed", d.Unseen, false)
	section("drifted: in a spec, observed with undocumented parts", d.Drifted, true)
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("writing diff: %w", err)
	}
	return nil
}

// maxDriftNames bounds the names listed per drift detail.
const maxDriftNames = 6

// SchemaDrift lists the documented operations whose observed traffic
// disagrees with their spec: JSON properties of request or response bodies
// the spec does not declare, values of a type the spec does not allow,
// and query parameters whose values are not of their documented type. It
// reads the schemas inferred from the bodies (schema.go).
func (e *Engine) SchemaDrift() []DiffOp {
	var out []DiffOp
	for _, name := range sortedKeys(e.hosts) {
		hs := e.hosts[name]
		for _, s := range hs.specs {
			for _, op := range s.Ops {
				st := hs.documented[op]
				if st == nil {
					continue
				}
				var why []string
				b := &st.schemas
				for _, q := range sortedKeys(b.queryKinds) {
					if sch := op.queryTypes[q]; sch != nil {
						if bad := b.queryKinds[q] &^ allowedKinds(sch, true); bad != 0 {
							why = append(why, fmt.Sprintf("query %s: %s where the spec says %s", q, kindNames(bad), typeNames(sch)))
						}
					}
				}
				if b.req != nil && op.reqSchema != nil {
					schemaDrift(b.req, op.reqSchema, "request", 0, &why)
				}
				if b.resp != nil && op.respSchema != nil {
					schemaDrift(b.resp, op.respSchema, "response", 0, &why)
				}
				if len(why) > 0 {
					out = append(out, DiffOp{Host: name, Method: op.Method, Path: op.Path, Count: st.count, Detail: strings.Join(why, "; ")})
				}
			}
		}
	}
	return out
}

// AddDrift adds drifted operations to the diff, joining the details of
// an operation listed already, and keeps the order.
func (d *SpecDiff) AddDrift(ops []DiffOp) {
	for _, op := range ops {
		i := slices.IndexFunc(d.Drifted, func(x DiffOp) bool { return x.Host == op.Host && x.Method == op.Method && x.Path == op.Path })
		if i >= 0 {
			d.Drifted[i].Detail += "; " + op.Detail
			continue
		}
		d.Drifted = append(d.Drifted, op)
	}
	sortDiffOps(d.Drifted)
}

// schemaDrift compares an inferred schema with the documented one at
// where (request, response.items[].email …).
func schemaDrift(obs *schemaNode, spec *openapi3.Schema, where string, depth int, why *[]string) {
	if obs == nil || spec == nil || depth > 4 || len(spec.OneOf) > 0 || len(spec.AnyOf) > 0 || spec.Not != nil {
		return
	}
	props := spec.Properties
	if len(spec.AllOf) > 0 {
		props = openapi3.Schemas{}
		for k, v := range spec.Properties {
			props[k] = v
		}
		for _, a := range spec.AllOf {
			if a.Value == nil || len(a.Value.OneOf)+len(a.Value.AnyOf) > 0 {
				return
			}
			for k, v := range a.Value.Properties {
				props[k] = v
			}
		}
	}
	if spec.Type != nil && len(*spec.Type) > 0 {
		if bad := obs.kinds &^ allowedKinds(spec, false); bad != 0 {
			*why = append(*why, fmt.Sprintf("%s: %s where the spec says %s", where, kindNames(bad), typeNames(spec)))
			return
		}
	}
	if obs.kinds&kindObject != 0 && len(props) > 0 {
		var extra []string
		for _, p := range obs.props {
			ps := props[p.name]
			if ps == nil {
				extra = append(extra, p.name)
				continue
			}
			schemaDrift(p.node, ps.Value, where+"."+p.name, depth+1, why)
		}
		if len(extra) > 0 && !allowsExtra(spec) {
			more := ""
			if len(extra) > maxDriftNames {
				more = fmt.Sprintf(" and %d more", len(extra)-maxDriftNames)
				extra = extra[:maxDriftNames]
			}
			*why = append(*why, fmt.Sprintf("%s: undocumented properties %s%s", where, strings.Join(extra, ", "), more))
		}
	}
	if obs.kinds&kindArray != 0 && spec.Items != nil {
		schemaDrift(obs.items, spec.Items.Value, where+"[]", depth+1, why)
	}
}

// allowsExtra reports a schema that declares what other properties are
// (additionalProperties with a schema, or true).
func allowsExtra(s *openapi3.Schema) bool {
	ap := s.AdditionalProperties
	return ap.Schema != nil || ap.Has != nil && *ap.Has
}

// allowedKinds are the JSON kinds a schema's type allows; query values
// are text, so a string parameter takes every kind.
func allowedKinds(s *openapi3.Schema, query bool) uint8 {
	if s.Type == nil || len(*s.Type) == 0 {
		return 0xff
	}
	var k uint8
	if s.Nullable {
		k |= kindNull
	}
	for _, t := range *s.Type {
		switch t {
		case "string":
			k |= kindString
			if query {
				k = 0xff
			}
		case "integer":
			k |= kindInt
		case "number":
			k |= kindInt | kindNumber
		case "boolean":
			k |= kindBool
		case "object":
			k |= kindObject
		case "array":
			k |= kindArray
			if query {
				k = 0xff // exploded or comma-separated values
			}
		case "null":
			k |= kindNull
		}
	}
	return k
}

func kindNames(k uint8) string {
	var out []string
	for _, t := range []struct {
		bit  uint8
		name string
	}{{kindObject, "object"}, {kindArray, "array"}, {kindString, "string"}, {kindInt, "integer"}, {kindNumber, "number"}, {kindBool, "boolean"}, {kindNull, "null"}} {
		if k&t.bit != 0 {
			out = append(out, t.name)
		}
	}
	return strings.Join(out, "/")
}

func typeNames(s *openapi3.Schema) string {
	if s.Type == nil {
		return "any"
	}
	return strings.Join(*s.Type, "/")
}
