package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"golang.org/x/sys/unix"
)

// netnsDialer dials from inside the named network namespace: the socket is
// made on a thread moved into it, which is never moved back (the locked
// thread ends with its goroutine).
func netnsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // no unlock: the thread must not be reused
			fd, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- result{err: err}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

func run1(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestRunLiveVeth is the acceptance test of issue 8: in a network namespace
// of its own, tcpreplay sends a simulated scenario at top speed into one end
// of a veth pair and `shadowtap run --iface` (the built binary) captures
// the other end. The daemon must report at least 99.5% of the transactions
// offline analysis finds in the same capture; the API and /metrics answer;
// SIGTERM ends it with exit 0 within 10 s and the state in the store.
func TestRunLiveVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a veth pair, captures with AF_PACKET")
	}
	for _, tool := range []string{"ip", "tcpreplay"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s in PATH", tool)
		}
	}
	bin := builtBinary(t)
	dir := t.TempDir()
	truth, err := synth.Simulate(dir, synth.SimOptions{Days: 1, Users: 40, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "traffic.pcap")
	want := offline(t, pcap)
	if want.Summary.Transactions == 0 {
		t.Fatal("offline analysis found no transactions")
	}

	ns := fmt.Sprintf("shadowtap-test-%d", os.Getpid())
	if err := exec.Command("ip", "netns", "add", ns).Run(); err != nil {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run1(t, "ip", "-n", ns, "link", "set", "lo", "up")
	run1(t, "ip", "-n", ns, "link", "add", "veth0", "mtu", "9000", "type", "veth", "peer", "name", "veth1", "mtu", "9000")
	run1(t, "ip", "-n", ns, "link", "set", "veth0", "up")
	run1(t, "ip", "-n", ns, "link", "set", "veth1", "up")

	db := filepath.Join(dir, "db")
	const listen = "127.0.0.1:8417" // the namespace's own loopback
	var stderr lockedBuffer
	cmd := exec.Command("ip", "netns", "exec", ns, bin, "run", "--iface", "veth1", "--db", db, "--listen", listen, "--log-level", "info")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	api := &apiClient{base: "http://" + listen, c: &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: netnsDialer(ns), DisableKeepAlives: true}}}
	waitFor(t, "the daemon to capture (/healthz 200)", 30*time.Second, func() bool {
		code, _ := api.get("/healthz", nil)
		return code == 200
	})

	out, err := exec.Command("ip", "netns", "exec", ns, "tcpreplay", "--topspeed", "-i", "veth0", pcap).CombinedOutput()
	if err != nil {
		t.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	t.Logf("tcpreplay: %s", lastLines(string(out), 6))

	var sum apiSummary
	prev, stable := uint64(0), 0
	waitFor(t, "the transaction count to settle", 90*time.Second, func() bool {
		if code, err := api.get("/api/v1/summary", &sum); code != 200 || err != nil {
			return false
		}
		if sum.Transactions == prev && sum.Capture.Received >= truth.Totals.Packets {
			stable++
		} else {
			stable = 0
		}
		prev = sum.Transactions
		return stable >= 10 || sum.Transactions >= want.Summary.Transactions
	})
	t.Logf("live: %d/%d transactions (%.2f%%), %d packets received of %d sent, kernel drops %d, shadowtap drops %d",
		sum.Transactions, want.Summary.Transactions, 100*float64(sum.Transactions)/float64(want.Summary.Transactions),
		sum.Capture.Received, truth.Totals.Packets, sum.Capture.DroppedKernel, sum.Capture.DroppedShadowtap)
	if float64(sum.Transactions) < 0.995*float64(want.Summary.Transactions) {
		t.Errorf("live capture reported %d transactions, under 99.5%% of offline analysis's %d", sum.Transactions, want.Summary.Transactions)
	}
	var eps struct {
		Endpoints []any `json:"endpoints"`
		Unseen    []any `json:"unseen"`
	}
	if code, err := api.get("/api/v1/endpoints", &eps); code != 200 || err != nil || len(eps.Endpoints) == 0 {
		t.Errorf("endpoints: %d %v, %d endpoints", code, err, len(eps.Endpoints))
	}
	var metrics string
	if code, _ := api.get("/metrics", &metrics); code != 200 || !strings.Contains(metrics, "shadowtap_packets_total{source=\"veth1#") ||
		!strings.Contains(metrics, `shadowtap_drops_total{cause="kernel"}`) {
		t.Errorf("/metrics: %d, missing live packet or kernel drop counters", code)
	}

	stopWithin(t, cmd, waitErr, &stderr)
	got := storedReport(t, db)
	if n := sumCounts(got.Endpoints); float64(n) < 0.995*float64(sumCounts(want.Endpoints)) {
		t.Errorf("the store holds %d requests, offline analysis counts %d", n, sumCounts(want.Endpoints))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
