//go:build linux && amd64

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunEBPF: shadowtap run --ebpf reports a curl request to a Python
// HTTP server from both processes, with method, path, status, process and
// direction, in the --transactions output.
func TestRunEBPF(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("run --ebpf needs root")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("run --ebpf needs a kernel with BTF")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (make deps)")
	}
	bin := builtBinary(t)
	dir := t.TempDir()
	txFile := filepath.Join(dir, "tx.jsonl")
	listen := freePort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// Only the test's server port is traced (other traffic on the host is not).
	cfgFile := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("ebpf_filter:\n  ports: [%d]\n", port)), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "--config", cfgFile, "--ebpf", "--db", "none", "--transactions", txFile, "--listen", listen)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	defer cmd.Process.Kill()
	api := &apiClient{base: "http://" + listen, c: &http.Client{Timeout: 5 * time.Second}}
	waitFor(t, "the daemon's API", 20*time.Second, func() bool {
		code, _ := api.get("/healthz", nil)
		return code == 200
	})
	if !strings.Contains(stderr.String(), "ebpf sensor running") {
		t.Fatalf("no ebpf start line in the log:\n%s", stderr.String())
	}

	os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644)
	srv := exec.Command(py, "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, strconv.Itoa(port))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/hello.txt", port)
	var curlPID int
	waitFor(t, "the python server", 10*time.Second, func() bool {
		c := exec.Command(curl, "-sf", url)
		out, err := c.Output()
		curlPID = c.Process.Pid
		return err == nil && string(out) == "hello\n"
	})

	type rec struct {
		Client, Server, Method, URI string
		Status                      int
		Process                     *struct {
			PID  int
			Comm string
		}
		Container *string
		TLS       *bool
	}
	var fromCurl, fromServer *rec
	waitFor(t, "the transactions of both ends", 20*time.Second, func() bool {
		f, err := os.Open(txFile)
		if err != nil {
			return false
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r rec
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.Process == nil {
				continue
			}
			if !strings.HasSuffix(r.Server, ":"+strconv.Itoa(port)) {
				t.Errorf("traced despite ebpf_filter: %s", sc.Text())
			}
			if r.URI != "/hello.txt" {
				continue
			}
			switch r.Process.PID {
			case curlPID:
				fromCurl = &r
			case srv.Process.Pid:
				fromServer = &r
			}
		}
		return fromCurl != nil && fromServer != nil
	})
	var metrics string
	if code, err := api.get("/metrics", &metrics); code != 200 || err != nil {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	for _, m := range []string{`shadowtap_ebpf_bytes_total{fate="copied"}`, `shadowtap_ebpf_bytes_total{fate="lost"}`, "shadowtap_ebpf_gap_bytes_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	stopWithin(t, cmd, waitErr, &stderr)
	for who, r := range map[string]*rec{"curl": fromCurl, "python": fromServer} {
		if r.Method != "GET" || r.Status != 200 || !strings.HasSuffix(r.Server, ":"+strconv.Itoa(port)) || strings.HasSuffix(r.Client, ":"+strconv.Itoa(port)) {
			t.Errorf("%s: %+v", who, r)
		}
		if r.TLS == nil || *r.TLS || r.Container != nil {
			t.Errorf("%s: tls %v container %v, want false and null", who, r.TLS, r.Container)
		}
	}
	if fromCurl.Process.Comm != "curl" {
		t.Errorf("comm %q, want curl", fromCurl.Process.Comm)
	}
}
