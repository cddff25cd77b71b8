package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestEvalSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"b.yaml", "a.json", "c.YML", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "d.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := evalSpecs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "a.json"), filepath.Join(dir, "b.yaml"), filepath.Join(dir, "c.YML")}
	if len(got) != len(want) {
		t.Fatalf("evalSpecs = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("evalSpecs[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := evalSpecs(filepath.Join(dir, "missing")); err == nil {
		t.Error("evalSpecs on a missing folder: no error")
	}
}

// TestEvalDeterministic runs the built-in scenarios for one day twice: the
// table has its documented shape and is byte-identical.
func TestEvalDeterministic(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and analyses four captures")
	}
	var outs [2]bytes.Buffer
	for i := range outs {
		if err := runEval([]string{"--days", "1", "--spec-dir", "", "--real-specs", "off"}, &outs[i], io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0].Bytes(), outs[1].Bytes()) {
		t.Errorf("two runs differ:\n%s\n---\n%s", outs[0].String(), outs[1].String())
	}
	out := outs[0].String()
	for _, re := range []string{
		`(?m)^== builtin: spec builtin, seed 1, 1 days, clean, \d+ transactions$`,
		`(?m)^== builtin-impair: spec builtin, seed 1, 1 days, impaired, \d+ transactions$`,
		`(?m)^templates +\d+ +\d+ +\d+ +(\d\.\d{3}|-) +(\d\.\d{3}|-)$`,
		`(?m)^incidents detected \d+/\d+; alerts \d+, false \d+, on hard negatives \d+$`,
		`(?m)^TOTAL scenarios 2 templates P `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", re, out)
		}
	}
}
