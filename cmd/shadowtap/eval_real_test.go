package main

import (
	"context"
	"errors"
	"io"
	"testing"
)

// TestEvalRealSpecs simulates traffic from the real public specs (the
// module cache copy of realSpecModule), analyses it against each
// scenario's documented subset and holds the totals to issue 4's
// acceptance: templates precision and recall ≥ 0.98, no concrete id in
// any reported path, shadow and unseen precision and recall ≥ 0.95.
// Every scenario's templates must reach 0.95 on its own.
func TestEvalRealSpecs(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and analyses seven captures from real specs")
	}
	dir, err := realSpecDir("auto")
	if errors.Is(err, errNoRealSpecs) {
		t.Skipf("real specs skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	scored, err := scoreScenarios(context.Background(), realScenarios(dir), t.TempDir(), 1, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scored {
		r := s.Result
		p, _ := r.Templates.Precision()
		rc, _ := r.Templates.Recall()
		t.Logf("%-18s templates %+v P %.3f R %.3f shadow %+v unseen %+v concrete %d", s.Name, r.Templates, p, rc, r.Shadow, r.Unseen, r.ConcreteIDPaths)
		if p < 0.95 || rc < 0.95 {
			t.Errorf("%s: templates P %.3f R %.3f", s.Name, p, rc)
		}
		if r.ConcreteIDPaths > 0 {
			t.Errorf("%s: %d reported paths hold a concrete id", s.Name, r.ConcreteIDPaths)
		}
	}
	tot, n := realTotals(scored)
	if n != len(realSpecSet) {
		t.Errorf("%d real scenarios scored, want %d", n, len(realSpecSet))
	}
	for _, f := range realFailures(tot) {
		t.Error(f)
	}
}

// TestRealSpecDirMissing: a folder without the specs is a skip reason.
func TestRealSpecDirMissing(t *testing.T) {
	if _, err := realSpecDir(t.TempDir()); !errors.Is(err, errNoRealSpecs) {
		t.Errorf("realSpecDir(empty folder) = %v, want errNoRealSpecs", err)
	}
	if dir, err := realSpecDir("off"); dir != "" || err != nil {
		t.Errorf("realSpecDir(off) = %q, %v", dir, err)
	}
}
