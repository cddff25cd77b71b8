package synth

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tshark returns the path of tshark or skips the test.
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (make deps installs it): skipping the cross-check against Wireshark")
	}
	return p
}

// tsharkLines runs tshark on file with extra args and returns its
// non-empty output lines.
func tsharkLines(t *testing.T, bin, file string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-r", file, "-n"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %v: %v: %s", args, err, errb.String())
	}
	var lines []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// countFields counts comma-separated values (pipelined requests share a frame).
func countFields(lines []string) int {
	n := 0
	for _, l := range lines {
		n += len(strings.Split(l, ","))
	}
	return n
}

// TestTestdataTshark cross-checks the edge-case captures against tshark:
// same request count, good checksums, and no TCP analysis warnings except
// where capture loss is the point.
func TestTestdataTshark(t *testing.T) {
	bin := tshark(t)
	dir := t.TempDir()
	for _, ec := range edgeCases() {
		t.Run(ec.name, func(t *testing.T) {
			f := filepath.Join(dir, ec.name+".pcap")
			if err := os.WriteFile(f, render(t, ec), 0o644); err != nil {
				t.Fatal(err)
			}
			dec := []string{"-d", "tcp.port==6667,http"}
			reqs := countFields(tsharkLines(t, bin, f, append(dec, "-Y", "http.request", "-T", "fields", "-e", "http.request.method")...))
			if reqs != len(ec.reqs) {
				t.Errorf("tshark finds %d requests, case lists %d", reqs, len(ec.reqs))
			}
			bad := tsharkLines(t, bin, f, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
				"-Y", "tcp.checksum.status != 1 || (ip && ip.checksum.status != 1) || (udp && udp.checksum.status == 0)")
			if len(bad) != 0 {
				t.Errorf("%d frames with bad or unverified checksums: %v", len(bad), bad[0])
			}
			flags := tsharkLines(t, bin, f, "-Y", "tcp.analysis.flags")
			wantFlags := 0
			if strings.HasPrefix(ec.name, "gap-") {
				wantFlags = 2 // "previous segment not captured" and "ACKed unseen segment"
			}
			if len(flags) != wantFlags {
				t.Errorf("%d frames with TCP analysis flags, want %d: %v", len(flags), wantFlags, flags)
			}
		})
	}
}

// TestSimulateTshark: tshark reads every non-impaired simulated capture (the
// built-in API and each spec-driven one) with no TCP analysis warnings and
// counts exactly the requests and final responses truth.json states.
func TestSimulateTshark(t *testing.T) {
	bin := tshark(t)
	for _, spec := range []string{"", "testdata/library-openapi3.yaml", "testdata/weather-swagger2.yaml"} {
		name := spec
		if name == "" {
			name = "builtin"
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			dir := t.TempDir()
			tr, err := Simulate(dir, SimOptions{Days: 2, Users: 10, Seed: 5, Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(dir, "traffic.pcap")
			if flags := tsharkLines(t, bin, f, "-Y", "tcp.analysis.flags"); len(flags) != 0 {
				t.Errorf("%d frames with TCP analysis flags, first: %s", len(flags), flags[0])
			}
			reqs := countFields(tsharkLines(t, bin, f, "-Y", "http.request", "-T", "fields", "-e", "http.request.method"))
			if int64(reqs) != tr.Totals.Transactions {
				t.Errorf("tshark counts %d requests, truth.json states %d", reqs, tr.Totals.Transactions)
			}
			resps := countFields(tsharkLines(t, bin, f, "-Y", "http.response.code >= 200", "-T", "fields", "-e", "http.response.code"))
			if int64(resps) != tr.Totals.Responses {
				t.Errorf("tshark counts %d final responses, truth.json states %d", resps, tr.Totals.Responses)
			}
		})
	}
}
