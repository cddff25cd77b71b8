package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// runCmd runs the CLI in-process and returns its exit status and outputs.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./cmd/shadowtap -update rewrites it):\n%s", name, got)
	}
}

var generatedAt = regexp.MustCompile(`"generated_at": "[^"]*"`)

// TestAnalyzeGolden pins the report and transactions output of the
// contract on the repo's own captures.
func TestAnalyzeGolden(t *testing.T) {
	dir := t.TempDir()
	rep, txs := filepath.Join(dir, "report.json"), filepath.Join(dir, "tx.jsonl")
	// Distinct 4-tuples: the synthetic captures reuse one client address and port.
	files := []string{"pipelining.pcap", "ipv6.pcap", "http-port6667.pcap"}
	args := []string{"analyze", "--report", rep, "--transactions", txs}
	for _, f := range files {
		args = append(args, filepath.Join("..", "..", "testdata", f))
	}
	code, _, stderr := runCmd(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(r, &parsed); err != nil {
		t.Fatalf("report is not JSON: %v", err)
	}
	for _, k := range []string{"version", "generated_at", "summary", "endpoints", "unseen", "alerts"} {
		if _, ok := parsed[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	golden(t, "analyze.report.golden.json", generatedAt.ReplaceAll(r, []byte(`"generated_at": "X"`)))
	tx, err := os.ReadFile(txs)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(tx)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		for _, k := range []string{"ts", "client", "server", "method", "host", "uri", "endpoint", "status", "req_body_bytes", "resp_body_bytes", "latency_ms"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d lacks %q", i+1, k)
			}
		}
	}
	golden(t, "analyze.transactions.golden.jsonl", tx)
}

// TestAnalyzeBadInput: every unreadable input gives a one-line error and a
// non-zero exit; a capture cut mid-packet is analysed with a warning.
func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pcap")
	notCapture := filepath.Join(dir, "notes.txt")
	cutHeader := filepath.Join(dir, "cuthdr.pcap")
	cutPacket := filepath.Join(dir, "cut.pcap")
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "gzip.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{empty: nil, notCapture: []byte("hello, world\n"), cutHeader: src[:10], cutPacket: src[:len(src)-100]} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name, file string
	}{
		{"missing", filepath.Join(dir, "nope.pcap")},
		{"empty", empty},
		{"not a capture", notCapture},
		{"truncated header", cutHeader},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, "analyze", tt.file)
			if code == 0 {
				t.Fatalf("exit 0 for %s", tt.name)
			}
			if lines := strings.Count(strings.TrimSpace(stderr), "\n"); lines != 0 || stderr == "" {
				t.Errorf("want a one-line error, got %q", stderr)
			}
		})
	}
	t.Run("cut mid-packet", func(t *testing.T) {
		code, out, stderr := runCmd(t, "analyze", "--report", "-", cutPacket)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var rep struct {
			Summary struct {
				Transactions int
				Warnings     []string
			}
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Summary.Warnings) == 0 || rep.Summary.Transactions == 0 {
			t.Errorf("want transactions up to the cut and a warning, got %+v", rep.Summary)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		if code, _, _ := runCmd(t, "analyze", "--filter", "port", cutPacket); code == 0 {
			t.Error("exit 0 for a bad filter")
		}
	})
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != 0 || !strings.HasPrefix(out, "shadowtap ") {
		t.Errorf("version: %d %q", code, out)
	}
}
