package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/shadowtap/shadowtap/capture/synth"
)

// TestSpecCommands simulates a day of the built-in API, exports what was
// observed (the library validates it) and diffs the traffic against the
// documented spec, where the simulator's shadow and unseen operations must
// appear and --fail-on must fail.
func TestSpecCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture")
	}
	dir := t.TempDir()
	truth, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	pcap, spec := filepath.Join(dir, "traffic.pcap"), filepath.Join(dir, "documented.yaml")

	out := filepath.Join(dir, "observed.yaml")
	if code, _, stderr := runCmd(t, "spec", "export", "--out", out, pcap); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(out)
	if err != nil {
		t.Fatalf("exported spec does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("exported spec is not valid: %v", err)
	}
	if doc.Paths.Len() == 0 {
		t.Fatal("exported spec has no paths")
	}

	code, stdout, stderr := runCmd(t, "spec", "diff", "--json", "--spec", spec, pcap)
	if code != 0 {
		t.Fatalf("diff: exit %d: %s", code, stderr)
	}
	var diff struct {
		Shadow, Unseen []struct{ Method, Path string }
	}
	if err := json.Unmarshal([]byte(stdout), &diff); err != nil {
		t.Fatalf("diff JSON: %v\n%s", err, stdout)
	}
	var wantShadow, wantUnseen int
	for _, op := range truth.Operations {
		if op.Used && !op.Documented {
			wantShadow++
		}
		if !op.Used && op.Documented {
			wantUnseen++
		}
	}
	if len(diff.Shadow) != wantShadow || len(diff.Unseen) != wantUnseen {
		t.Errorf("diff has %d shadow / %d unseen, truth says %d / %d", len(diff.Shadow), len(diff.Unseen), wantShadow, wantUnseen)
	}
	// Goldens pin the exported spec (paths, parameters with their types,
	// inferred body schemas, security schemes) and the diff for people, on
	// this fixed simulated capture.
	jsonOut := filepath.Join(dir, "observed.json")
	if code, _, stderr := runCmd(t, "spec", "export", "--out", jsonOut, pcap); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	exported, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "spec-export.golden.json", exported)
	code, text, stderr := runCmd(t, "spec", "diff", "--spec", spec, pcap)
	if code != 0 {
		t.Fatalf("diff: exit %d: %s", code, stderr)
	}
	golden(t, "spec-diff.golden.txt", []byte(text))
	if code, _, _ := runCmd(t, "spec", "diff", "--fail-on", "shadow", "--spec", spec, pcap); code == 0 {
		t.Error("--fail-on shadow exited 0 with shadow operations present")
	}
	if code, _, _ := runCmd(t, "spec", "diff", "--fail-on", "bogus", "--spec", spec, pcap); code == 0 {
		t.Error("--fail-on with an unknown kind exited 0")
	}
}
