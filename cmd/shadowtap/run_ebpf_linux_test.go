//go:build linux && amd64

package main

import (
	"bufio"
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
// HTTP server, with method, path, status, process and direction, in the
// --transactions output: once, from the server's process (both ends are
// traced, and curl's copy is a mirror: ebpf_both_ends is off).
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
	var stderr lockedBuffer
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
	var fromServer *rec
	waitFor(t, "the server's transaction", 20*time.Second, func() bool {
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
			if r.Process.PID == srv.Process.Pid {
				fromServer = &r
			}
		}
		return fromServer != nil
	})
	var metrics string
	waitFor(t, "curl's side mirrored", 10*time.Second, func() bool {
		code, err := api.get("/metrics", &metrics)
		return code == 200 && err == nil && strings.Contains(metrics, `shadowtap_ebpf_connections_total{kind="mirrored"} 1`)
	})
	for _, m := range []string{`shadowtap_ebpf_bytes_total{fate="copied"}`, `shadowtap_ebpf_bytes_total{fate="lost"}`, `shadowtap_ebpf_bytes_total{fate="mirrored"}`, "shadowtap_ebpf_gap_bytes_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	stopWithin(t, cmd, waitErr, &stderr)
	for who, r := range map[string]*rec{"python": fromServer} {
		if r.Method != "GET" || r.Status != 200 || !strings.HasSuffix(r.Server, ":"+strconv.Itoa(port)) || strings.HasSuffix(r.Client, ":"+strconv.Itoa(port)) {
			t.Errorf("%s: %+v", who, r)
		}
		if r.TLS == nil || *r.TLS || r.Container != nil {
			t.Errorf("%s: tls %v container %v, want false and null", who, r.TLS, r.Container)
		}
	}
	if !strings.HasPrefix(fromServer.Process.Comm, "python") {
		t.Errorf("comm %q, want python", fromServer.Process.Comm)
	}
	// Nothing from curl's socket, even what the daemon flushed at exit.
	out, err := os.ReadFile(txFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		var r rec
		if json.Unmarshal([]byte(line), &r) == nil && r.Process != nil && r.Process.PID == curlPID {
			t.Errorf("curl's side reported: %s", line)
		}
	}
}
