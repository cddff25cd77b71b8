package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/shadowtap/shadowtap/capture/synth"
)

// TestAnalyzeWorkersIdentical: analyze gives the same report (apart from
// generated_at) and the same transactions output with one reassembly
// worker and with four, on a simulated day with incidents (alerts) and an
// impaired capture (loss, retransmissions, reordering).
func TestAnalyzeWorkersIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates a capture")
	}
	dir := t.TempDir()
	sim := filepath.Join(dir, "sim")
	if _, err := synth.Simulate(sim, synth.SimOptions{Days: 1, Seed: 3, Users: 30, Impair: true}); err != nil {
		t.Fatal(err)
	}
	analyze := func(workers string) (map[string]any, []byte) {
		t.Helper()
		rep, txs := filepath.Join(dir, "r"+workers+".json"), filepath.Join(dir, "t"+workers+".jsonl")
		code, _, stderr := runCmd(t, "analyze", "--db", "none", "--workers", workers,
			"--spec", filepath.Join(sim, "documented.yaml"), "--report", rep, "--transactions", txs,
			filepath.Join(sim, "traffic.pcap"))
		if code != 0 {
			t.Fatalf("analyze --workers %s: exit %d: %s", workers, code, stderr)
		}
		b, err := os.ReadFile(rep)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("report: %v", err)
		}
		if _, ok := doc["generated_at"]; !ok {
			t.Fatal("report without generated_at")
		}
		delete(doc, "generated_at")
		tx, err := os.ReadFile(txs)
		if err != nil {
			t.Fatal(err)
		}
		return doc, tx
	}
	rep1, tx1 := analyze("1")
	rep4, tx4 := analyze("4")
	if alerts, _ := rep1["alerts"].([]any); len(alerts) == 0 {
		t.Fatal("no alerts in the report: the capture does not exercise detection")
	}
	if !reflect.DeepEqual(rep1, rep4) {
		a, _ := json.MarshalIndent(rep1, "", " ")
		b, _ := json.MarshalIndent(rep4, "", " ")
		t.Errorf("reports differ between --workers 1 and --workers 4 (%d and %d bytes):\n%s", len(a), len(b), firstDiff(a, b))
	}
	if len(tx1) == 0 || !bytes.Equal(tx1, tx4) {
		t.Errorf("transactions output differs between --workers 1 and --workers 4 (%d and %d bytes):\n%s", len(tx1), len(tx4), firstDiff(tx1, tx4))
	}
}

// firstDiff shows the lines around the first difference of a and b.
func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d: %s\n    vs: %s", i+1, la[i], lb[i])
		}
	}
	return "one is a prefix of the other"
}
