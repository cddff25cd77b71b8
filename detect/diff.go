package detect

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// SpecDiff compares the inventory with the specs, for `shadowtap spec diff`:
// observed operations that no spec documents (Shadow), documented ones never
// observed (Unseen), and documented ones observed with parts the spec does
// not declare (Drifted: undocumented query parameters). Lists are never
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
	return d
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
