//go:build linux && amd64

package bpf

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/shadowtap/shadowtap/reassembly"
)

// openSensor opens the real sensor, or skips when this is no place for it.
func openSensor(t *testing.T, opts Options) *Sensor {
	t.Helper()
	if testing.Short() {
		t.Skip("eBPF integration test: skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("eBPF integration test: needs root (CAP_BPF, CAP_PERFMON, tracefs)")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("eBPF integration test: the kernel has no BTF (/sys/kernel/btf/vmlinux)")
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// collector runs the sensor and keeps what it emits.
type collector struct {
	mu     sync.Mutex
	txs    []*reassembly.Transaction
	cancel context.CancelFunc
	done   chan error
}

func collect(s *Sensor) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- s.Run(ctx, func(t *reassembly.Transaction) {
			c.mu.Lock()
			c.txs = append(c.txs, t)
			c.mu.Unlock()
		})
	}()
	return c
}

func (c *collector) stop(t *testing.T) {
	c.cancel()
	if err := <-c.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// of returns the transactions seen through pid's sockets.
func (c *collector) of(pid int) []*reassembly.Transaction {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*reassembly.Transaction
	for _, t := range c.txs {
		if t.Process != nil && int(t.Process.PID) == pid {
			out = append(out, t)
		}
	}
	return out
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type child struct {
	cmd   *exec.Cmd
	out   *bufio.Reader
	stdin io.WriteCloser
}

// start runs this test binary as helper role (see TestMain).
func start(t *testing.T, role, arg string) *child {
	t.Helper()
	return startCmd(t, exec.Command(os.Args[0], "-test.run=^$", arg), "SHADOWTAP_BPF_HELPER="+role)
}

func startCmd(t *testing.T, cmd *exec.Cmd, env ...string) *child {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, out: bufio.NewReader(out), stdin: stdin}
}

func (c *child) line(t *testing.T) string {
	t.Helper()
	s, err := c.out.ReadString('\n')
	if err != nil {
		t.Fatalf("reading helper output: %v", err)
	}
	return strings.TrimSpace(s)
}

func run(t *testing.T, role, arg string) int {
	t.Helper()
	c := start(t, role, arg)
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper %s: %v", role, err)
	}
	return c.cmd.Process.Pid
}

type want struct {
	method, target string
	status         int
	reqBody        int64
	respBody       int64 // -1: do not check
}

// check compares one process's transactions with want, and the
// connection's orientation with the server port.
func check(t *testing.T, who string, got []*reassembly.Transaction, wants []want, port uint16, tls bool) {
	t.Helper()
	if len(got) != len(wants) {
		for _, g := range got {
			t.Logf("%s: %s %s %d flags=%b", who, g.Method, g.Target, g.Status, g.Flags)
		}
		t.Fatalf("%s: %d transactions, want %d", who, len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Method != w.method || g.Target != w.target || g.Status != w.status {
			t.Errorf("%s #%d: %s %s %d, want %s %s %d", who, i, g.Method, g.Target, g.Status, w.method, w.target, w.status)
		}
		if g.ReqBodyBytes != w.reqBody || (w.respBody >= 0 && g.RespBodyBytes != w.respBody) {
			t.Errorf("%s #%d %s: bodies %d/%d, want %d/%d", who, i, w.target, g.ReqBodyBytes, g.RespBodyBytes, w.reqBody, w.respBody)
		}
		if g.Server.Port() != port || g.Client.Port() == port || !g.Server.Addr().IsLoopback() {
			t.Errorf("%s #%d: client %v server %v: wrong direction (server port %d)", who, i, g.Client, g.Server, port)
		}
		if g.TLS != tls {
			t.Errorf("%s #%d: TLS %v, want %v", who, i, g.TLS, tls)
		}
		if g.Flags&(reassembly.FlagReqGap|reassembly.FlagRespGap|reassembly.FlagNoRequest|reassembly.FlagNoResponse) != 0 {
			t.Errorf("%s #%d %s: flags %b", who, i, w.target, g.Flags)
		}
	}
}

// What the "client" and "pipeline" helpers ask of the "server" helper.
var (
	keepAliveWants = []want{
		{"GET", "/a", 200, 0, 9}, {"GET", "/b?x=1", 200, 0, 9}, {"GET", "/missing", 404, 0, 15},
		{"GET", "/big", 200, 0, 1 << 20}, {"POST", "/upload", 200, 70000, 19},
	}
	pipelinedWants = []want{{"GET", "/p1", 200, 0, 10}, {"GET", "/p2", 200, 0, 10}, {"GET", "/missing", 404, 0, 15}}
)

// runClients runs the "client" helper (keep-alive, keepAliveWants) and
// then the "pipeline" helper (pipelinedWants) against the server helper on
// port, and returns their pids.
func runClients(t *testing.T, port int) (clientPID, pipePID int) {
	clientPID = run(t, "client", fmt.Sprintf("http://127.0.0.1:%d", port))
	pipePID = run(t, "pipeline", fmt.Sprintf("127.0.0.1:%d", port))
	return clientPID, pipePID
}

func TestPlaintextHTTP(t *testing.T) { plaintextHTTP(t, false) }

// TestPlaintextHTTPCompat runs the same through the objects built without
// kfuncs, which kernels before 6.2 load.
func TestPlaintextHTTPCompat(t *testing.T) { plaintextHTTP(t, true) }

func plaintextHTTP(t *testing.T, noKfuncs bool) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, noKfuncs: noKfuncs, BothEnds: true})
	objects := "sensor"
	if noKfuncs {
		objects = "sensorcompat"
	}
	if got := s.k.(*kernelSensor).objects; got != objects {
		t.Fatalf("loaded the %s objects, want %s", got, objects)
	}
	c := collect(s)
	clientPID, pipePID := runClients(t, port)
	keepAlive, pipelined := keepAliveWants, pipelinedWants
	serverPID := server.cmd.Process.Pid
	waitFor(t, "the transactions", func() bool {
		return len(c.of(clientPID)) >= len(keepAlive) && len(c.of(pipePID)) >= len(pipelined) &&
			len(c.of(serverPID)) >= len(keepAlive)+len(pipelined)
	})
	server.stdin.Close()
	server.cmd.Wait()
	c.stop(t)

	check(t, "client", c.of(clientPID), keepAlive, uint16(port), false)
	check(t, "pipelining client", c.of(pipePID), pipelined, uint16(port), false)
	// The server saw both connections; split them by client port.
	var first, second []*reassembly.Transaction
	for _, tx := range c.of(serverPID) {
		if tx.Client == c.of(clientPID)[0].Client {
			first = append(first, tx)
		} else {
			second = append(second, tx)
		}
	}
	check(t, "server (keep-alive)", first, keepAlive, uint16(port), false)
	check(t, "server (pipelined)", second, pipelined, uint16(port), false)
	for _, tx := range c.of(clientPID) {
		if tx.Process.Comm == "" {
			t.Errorf("transaction without comm")
		}
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.GapBytes != 0 || st.LostBytes != 0 {
		t.Errorf("gaps %d lost %d, want none", st.GapBytes, st.LostBytes)
	}
}

func TestTruncationBecomesGap(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	// One chunk per call: every write or read of more than 4 KiB is cut.
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, MaxBytesPerCall: 4096, BothEnds: true})
	c := collect(s)
	clientPID := run(t, "client", fmt.Sprintf("http://127.0.0.1:%d", port))
	waitFor(t, "the transactions", func() bool { return len(c.of(clientPID)) >= 5 })
	server.stdin.Close()
	server.cmd.Wait()
	waitFor(t, "the server's connection to close", func() bool { return len(c.of(server.cmd.Process.Pid)) >= 5 })
	c.stop(t)

	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.TruncatedBytes == 0 {
		t.Fatal("nothing truncated with a 4 KiB cap and a 1 MiB body")
	}
	if lost := st.TruncatedBytes + st.LostBytes + st.UnreadableBytes + st.SkippedBytes; st.GapBytes != lost {
		t.Errorf("gap bytes %d, want truncated+lost+unreadable+skipped = %d", st.GapBytes, lost)
	}
	for _, who := range []int{clientPID, server.cmd.Process.Pid} {
		txs := c.of(who)
		var targets []string
		for _, tx := range txs {
			targets = append(targets, tx.Method+" "+tx.Target)
		}
		if got := strings.Join(targets, ","); got != "GET /a,GET /b?x=1,GET /missing,GET /big,POST /upload" {
			t.Errorf("pid %d: %s", who, got)
			for _, tx := range txs {
				t.Logf("%q %q %d flags=%b req=%d resp=%d", tx.Method, tx.Target, tx.Status, tx.Flags, tx.ReqBodyBytes, tx.RespBodyBytes)
			}
			continue
		}
		big := txs[3]
		if big.Status != 200 || big.Flags&reassembly.FlagRespGap == 0 {
			t.Errorf("pid %d /big: status %d flags %b, want 200 with a response gap", who, big.Status, big.Flags)
		}
	}
}

// TestSendfileIsGap: a body sent with sendfile(2) never passes a user
// buffer; the server's stream gets a gap of exactly its size, so the
// framing holds and the next exchange pairs.
func TestSendfileIsGap(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, BothEnds: true})
	c := collect(s)
	clientPID := run(t, "fileclient", fmt.Sprintf("http://127.0.0.1:%d", port))
	serverPID := server.cmd.Process.Pid
	waitFor(t, "the transactions", func() bool { return len(c.of(clientPID)) >= 2 && len(c.of(serverPID)) >= 2 })
	server.stdin.Close()
	server.cmd.Wait()
	c.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.SkippedBytes == 0 || st.GapBytes != st.SkippedBytes+st.LostBytes+st.TruncatedBytes+st.UnreadableBytes {
		t.Errorf("skipped %d, gaps %d", st.SkippedBytes, st.GapBytes)
	}
	wants := []want{{"GET", "/file", 200, 0, 200000}, {"GET", "/a", 200, 0, 9}}
	check(t, "client", c.of(clientPID), wants, uint16(port), false)
	got := c.of(serverPID)
	if len(got) != 2 || got[0].Target != "/file" || got[0].Status != 200 || got[0].Flags&reassembly.FlagRespGap == 0 ||
		got[1].Target != "/a" || got[1].Status != 200 || got[1].Flags != 0 {
		for _, g := range got {
			t.Logf("server: %s %s %d flags=%b resp=%d", g.Method, g.Target, g.Status, g.Flags, g.RespBodyBytes)
		}
		t.Errorf("server side: want /file with a response gap, then /a intact")
	}
}

// TestFlood overfills a small ring before reading it: every byte the
// sender wrote is either delivered or counted as lost.
func TestFlood(t *testing.T) {
	sink := start(t, "sink", "")
	port, _ := strconv.Atoi(sink.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, RingBytes: 256 << 10, BothEnds: true})
	const total = 16 << 20
	flood := start(t, "flood", fmt.Sprintf("127.0.0.1:%d,%d", port, total))
	if got := flood.line(t); got != "sent" {
		t.Fatalf("flood: %q", got)
	}
	c := collect(s) // the ring filled while nobody read it
	var last Stats
	defer func() {
		if t.Failed() {
			t.Logf("stats at the last check: %+v", last)
		}
	}()
	// Close only once the ring is drained, so that the close record (which
	// carries the final offsets) is not lost too: a lost close record is
	// counted in LostControl and its trailing gap waits for IdleTimeout.
	waitFor(t, "both ends' syscalls and the ring drained", func() bool {
		st := s.Stats()
		return st.Bytes+st.LostBytes == 2*total && st.DataBytes == st.Bytes
	})
	flood.stdin.Close()
	if got := sink.line(t); got != strconv.Itoa(total) {
		t.Fatalf("sink received %s bytes, want %d", got, total)
	}
	// Both ends are traced: 2×total bytes moved through syscalls.
	waitFor(t, "every byte accounted for", func() bool {
		st := s.Stats()
		if st.DeliveredBytes+st.GapBytes >= 2*total {
			return true
		}
		last = st
		return false
	})
	c.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.LostBytes == 0 {
		t.Error("a 256 KiB ring left unread for 16 MiB lost nothing")
	}
	if st.Bytes+st.LostBytes+st.TruncatedBytes+st.UnreadableBytes+st.SkippedBytes != 2*total {
		t.Errorf("kernel: %d handed + %d lost + %d truncated + %d unreadable != %d moved",
			st.Bytes, st.LostBytes, st.TruncatedBytes, st.UnreadableBytes, 2*total)
	}
	if st.DataBytes != st.Bytes {
		t.Errorf("user space read %d data bytes, the kernel handed %d", st.DataBytes, st.Bytes)
	}
	if st.DeliveredBytes+st.GapBytes != 2*total || st.GapBytes != st.LostBytes+st.TruncatedBytes+st.UnreadableBytes {
		t.Errorf("user space: delivered %d + gaps %d, want %d with gaps = lost+truncated+unreadable",
			st.DeliveredBytes, st.GapBytes, 2*total)
	}
}

const pyServer = `
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("tls %s\n" % self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[3])), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("ready", flush=True)
srv.serve_forever()
`

func TestTLSOpenSSL(t *testing.T) {
	s, c, serverPID, curlPID := curlTLS(t, Options{BothEnds: true}, func(s *Sensor, c *collector, serverPID, curlPID int) bool {
		return len(c.of(curlPID)) >= 2 && len(c.of(serverPID)) >= 2
	})
	check(t, "curl", c.of(curlPID), tlsWants, s.opts.Ports[0], true)
	check(t, "python", c.of(serverPID), tlsWants, s.opts.Ports[0], true)
	if got := c.of(curlPID)[0].Process.Comm; got != "curl" {
		t.Errorf("comm %q, want curl", got)
	}
	t.Logf("stats: %+v", s.Stats())
}

var tlsWants = []want{{"GET", "/tls/one", 200, 0, 13}, {"GET", "/tls/two?q=1", 200, 0, 17}}

// curlTLS runs curl (OpenSSL) for two requests on one connection to a
// Python ssl server (OpenSSL) on a free port, with the sensor opened with
// opts and that port as its filter, until done says the transactions it
// waits for came; it returns the sensor, the stopped collector and the
// server's and curl's pids.
func curlTLS(t *testing.T, opts Options, done func(s *Sensor, c *collector, serverPID, curlPID int) bool) (*Sensor, *collector, int, int) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (make deps)")
	}
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	script := filepath.Join(dir, "server.py")
	os.WriteFile(script, []byte(pyServer), 0o644)
	port := freePort(t)
	opts.Ports = []uint16{port}
	s := openSensor(t, opts)
	if m, why := s.Mode(); m != ModeFull {
		t.Fatalf("mode %v: %s", m, why)
	}
	c := collect(s)
	server := startCmd(t, exec.Command(py, script, certFile, keyFile, strconv.Itoa(int(port))))
	if got := server.line(t); got != "ready" {
		t.Fatalf("python server: %q", got)
	}
	// The python process mapped libssl after exec: the sensor attaches it.
	waitFor(t, "libssl attached", func() bool { return s.Stats().Libraries > 0 })
	url := fmt.Sprintf("https://127.0.0.1:%d", port)
	cc := startCmd(t, exec.Command(curl, "-sk", "--http1.1", url+"/tls/one", url+"/tls/two?q=1"))
	body, _ := io.ReadAll(cc.out)
	if err := cc.cmd.Wait(); err != nil || string(body) != "tls /tls/one\ntls /tls/two?q=1\n" {
		t.Fatalf("curl: %v %q", err, body)
	}
	serverPID, curlPID := server.cmd.Process.Pid, cc.cmd.Process.Pid
	waitFor(t, "the TLS transactions", func() bool { return done(s, c, serverPID, curlPID) })
	server.stdin.Close()
	server.cmd.Process.Kill()
	c.stop(t)
	return s, c, serverPID, curlPID
}

func freePort(t *testing.T) uint16 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

var _ = errors.New

// TestHookProbe checks Open's probe of kprobes and fentry against what the
// kernel shows by other means: a kprobe attaches only through the kprobe
// PMU or tracefs kprobe_events, and an fentry program on tcp_sendmsg loads
// only where fentry works.
func TestHookProbe(t *testing.T) {
	s := openSensor(t, Options{NoTLS: true})
	h := s.Hooks()
	t.Logf("kprobe: %v; fentry: %v", h.Kprobe, h.Fentry)
	_, pmu := os.Stat("/sys/bus/event_source/devices/kprobe/type")
	_, tfs := os.Stat("/sys/kernel/tracing/kprobe_events")
	_, dfs := os.Stat("/sys/kernel/debug/tracing/kprobe_events")
	if pmu != nil && tfs != nil && dfs != nil && h.Kprobe == nil {
		t.Error("kprobe reported available on a kernel with neither the kprobe PMU nor kprobe_events")
	}
	if pmu == nil && h.Kprobe != nil {
		t.Errorf("the kprobe PMU exists but the probe says: %v", h.Kprobe)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFEntry,
		AttachTo: "tcp_sendmsg", License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err == nil {
		p.Close()
	}
	if (err == nil) != (h.Fentry == nil) {
		t.Errorf("an fentry program on tcp_sendmsg loads: %v (%v); the probe says %v", err == nil, err, h.Fentry)
	}
	if !strings.HasPrefix(h.kprobeString(), "available") && h.Kprobe == nil {
		t.Errorf("kprobe string %q for an available kprobe", h.kprobeString())
	}
}

// TestConnMetaTable reads a live connection's meta back from the kernel's
// conns table, as the assembler does for a connection it has forgotten:
// it pins struct conn's layout (gen, then struct meta at connMetaOff).
// Both ends are copied: otherwise a server that has read the request
// before the client's write leaves its syscall (the client preempted
// there) makes the client a mirror from its first call, never announced,
// whose meta has no pid, cgroup or command (none is needed: no record of
// it comes).
func TestConnMetaTable(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, IncludeSelf: true, BothEnds: true})
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req("/meta"))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	lport := uint16(conn.LocalAddr().(*net.TCPAddr).Port)
	k := s.k.(*kernelSensor)
	var key uint64
	var val []byte
	found := false
	it := k.objs.Conns.Iterate()
	for it.Next(&key, &val) {
		gen, m, ok := k.connMeta(key)
		if !ok || m.lport != lport {
			continue
		}
		found = true
		local, remote := (&event{family: m.family, lport: m.lport, rport: m.rport, laddr: m.laddr, raddr: m.raddr}).endpoints()
		if gen == 0 || m.tgid != uint32(os.Getpid()) || m.role != roleClient || m.cgroup == 0 || commString(&m.comm) == "" ||
			local.String() != fmt.Sprintf("127.0.0.1:%d", lport) || remote.String() != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("gen %d meta %+v (%v -> %v), comm %q", gen, m, local, remote, commString(&m.comm))
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Errorf("no connection with local port %d in the conns table", lport)
	}
}

// TestOpaqueTLSNotCopied: a connection whose first bytes are a TLS
// handshake record, with no OpenSSL call (as Go's crypto/tls), has its
// first record in each direction copied and the rest counted in
// EncryptedBytes instead; user space counts it encrypted, not visible.
// The same through each family of data syscalls: read/write, readv/writev
// (the hello in two iovecs), recvmsg/sendmsg.
func TestOpaqueTLSNotCopied(t *testing.T) {
	for _, via := range []string{"write", "writev", "sendmsg"} {
		t.Run(via, func(t *testing.T) { opaqueTLS(t, via) })
	}
}

// sendVia writes b in one call of the family via names, split in two
// buffers where the call takes several.
func sendVia(c *net.TCPConn, via string, b []byte) error {
	if via == "write" {
		_, err := c.Write(b)
		return err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	bufs := [][]byte{b[:len(b)/2], b[len(b)/2:]}
	var n int
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		if via == "writev" {
			n, serr = unix.Writev(int(fd), bufs)
		} else {
			n, serr = unix.SendmsgBuffers(int(fd), bufs, nil, nil, 0)
		}
		return serr != unix.EAGAIN
	})
	if err == nil && serr == nil && n != len(b) {
		serr = fmt.Errorf("%s moved %d of %d bytes", via, n, len(b))
	}
	return errors.Join(err, serr)
}

// recvVia reads len(b) bytes with the reading calls of the family via
// names (readv, recvmsg: into two buffers).
func recvVia(c *net.TCPConn, via string, b []byte) error {
	if via == "write" {
		_, err := io.ReadFull(c, b)
		return err
	}
	for got := 0; got < len(b); {
		rest := b[got:]
		n, err := readvVia(c, via, [][]byte{rest[:len(rest)/2], rest[len(rest)/2:]})
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		got += n
	}
	return nil
}

// readvVia makes one vectored read into bufs: readv when via is "writev",
// recvmsg otherwise; 0 bytes is the end of the stream.
func readvVia(c *net.TCPConn, via string, bufs [][]byte) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var serr error
	err = rc.Read(func(fd uintptr) bool {
		if via == "writev" {
			n, serr = unix.Readv(int(fd), bufs)
		} else {
			n, _, _, _, serr = unix.RecvmsgBuffers(int(fd), bufs, nil, 0)
		}
		return serr != unix.EAGAIN
	})
	return n, errors.Join(err, serr)
}

func opaqueTLS(t *testing.T, via string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	s := openSensor(t, Options{Ports: []uint16{port}, IncludeSelf: true})
	c := collect(s)
	hello := append([]byte{0x16, 0x03, 0x01, 0x00, 0x5f, 0x01}, make([]byte, 94)...)
	rest := make([]byte, 2000)
	got := make(chan error, 1)
	go func() {
		sv, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer sv.Close()
		if err := recvVia(sv.(*net.TCPConn), via, make([]byte, len(hello))); err != nil {
			got <- err
			return
		}
		got <- recvVia(sv.(*net.TCPConn), via, make([]byte, len(rest)))
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := nc.(*net.TCPConn)
	if err := sendVia(cl, via, hello); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the server reads the hello on its own
	if err := sendVia(cl, via, rest); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	cl.Close()
	waitFor(t, "both ends encrypted", func() bool { return s.Stats().EncryptedConnections >= 2 })
	c.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	// Copied: the hello out of the client and into the server; not
	// copied: the rest, out and in.
	if st.Bytes != 2*uint64(len(hello)) || st.EncryptedBytes != 2*uint64(len(rest)) || st.LostBytes != 0 {
		t.Errorf("copied %d, encrypted %d, lost %d bytes; want %d, %d, 0", st.Bytes, st.EncryptedBytes, st.LostBytes, 2*len(hello), 2*len(rest))
	}
	if st.GapBytes != 0 || st.Transactions != 0 {
		t.Errorf("gaps %d bytes, transactions %d; want none", st.GapBytes, st.Transactions)
	}
}

// TestIovecCalls: an HTTP exchange whose client writes through writev or
// sendmsg (each call in two iovecs: a call of at most 4 KiB goes in one
// record) and reads through readv or recvmsg pairs on both ends, with the
// bytes in place (the request body is checked by the server, the response
// by the parser) and no gap.
func TestIovecCalls(t *testing.T) {
	for _, via := range []string{"writev", "sendmsg"} {
		t.Run(via, func(t *testing.T) { iovecCalls(t, via) })
	}
}

func iovecCalls(t *testing.T, via string) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, IncludeSelf: true, BothEnds: true})
	c := collect(s)
	nc, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	cl := nc.(*net.TCPConn)
	body := strings.Repeat("v", 3000)
	if err := sendVia(cl, via, []byte("POST /iov HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n"+body)); err != nil {
		t.Fatal(err)
	}
	if err := sendVia(cl, via, []byte("GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var resp []byte
	for {
		b := make([]byte, 64)
		n, err := readvVia(cl, via, [][]byte{b[:20], b[20:]})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		resp = append(resp, b[:n]...)
	}
	cl.Close()
	if !strings.Contains(string(resp), "POST /iov 3000\n") || !strings.Contains(string(resp), "GET /second 0\n") {
		t.Fatalf("responses: %q", resp)
	}
	serverPID := server.cmd.Process.Pid
	waitFor(t, "the transactions", func() bool { return len(c.of(os.Getpid())) >= 2 && len(c.of(serverPID)) >= 2 })
	c.stop(t)
	wants := []want{{"POST", "/iov", 200, 3000, 15}, {"GET", "/second", 200, 0, 14}}
	check(t, "client", c.of(os.Getpid()), wants, uint16(port), false)
	check(t, "server", c.of(serverPID), wants, uint16(port), false)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.GapBytes != 0 || st.LostBytes != 0 || st.UnreadableBytes != 0 {
		t.Errorf("gaps %d lost %d unreadable %d, want none", st.GapBytes, st.LostBytes, st.UnreadableBytes)
	}
}

// TestMirrorPlaintext: with both ends of a local connection traced (the
// default, not BothEnds), each exchange is reported once, from the
// server's socket; the clients' views are dropped (MirroredConnections)
// and their bytes no longer copied once the server's are seen
// (MirroredBytes), without a gap anywhere.
func TestMirrorPlaintext(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}})
	c := collect(s)
	clientPID, pipePID := runClients(t, port)
	keepAlive, pipelined := keepAliveWants, pipelinedWants
	serverPID := server.cmd.Process.Pid
	defer func() {
		if t.Failed() {
			t.Logf("stats: %+v", s.Stats())
			for _, pid := range []int{serverPID, clientPID, pipePID} {
				for _, tx := range c.of(pid) {
					t.Logf("pid %d: %s %s %d flags=%b client %v", pid, tx.Method, tx.Target, tx.Status, tx.Flags, tx.Client)
				}
			}
		}
	}()
	waitFor(t, "the transactions and both mirrors", func() bool {
		return len(c.of(serverPID)) >= len(keepAlive)+len(pipelined) && s.Stats().MirroredConnections >= 2
	})
	server.stdin.Close()
	server.cmd.Wait()
	c.stop(t)
	var first, second []*reassembly.Transaction
	for _, tx := range c.of(serverPID) {
		if tx.Target == "/p1" || tx.Target == "/p2" || (len(second) > 0 && tx.Client == second[0].Client) {
			second = append(second, tx)
		} else {
			first = append(first, tx)
		}
	}
	check(t, "server (keep-alive)", first, keepAlive, uint16(port), false)
	check(t, "server (pipelined)", second, pipelined, uint16(port), false)
	if n, m := len(c.of(clientPID)), len(c.of(pipePID)); n+m != 0 {
		t.Errorf("%d and %d transactions from the clients' sockets, want none", n, m)
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.MirroredConnections != 2 || st.MirroredBytes == 0 || st.GapBytes != 0 || st.LostBytes != 0 {
		t.Errorf("mirrored %d connections and %d bytes, gaps %d, lost %d; want 2, some, 0, 0",
			st.MirroredConnections, st.MirroredBytes, st.GapBytes, st.LostBytes)
	}
	// The 1 MiB response and the 70000-byte upload moved through both
	// ends; the clients' copies of them were not made.
	if st.MirroredBytes < 1<<20 {
		t.Errorf("mirrored %d bytes, want at least the 1 MiB body the client read", st.MirroredBytes)
	}
}

// TestMirrorTLS: curl and a Python server, both OpenSSL, both traced: the
// exchange is reported once, from the server's TLS plaintext.
func TestMirrorTLS(t *testing.T) {
	s, c, serverPID, curlPID := curlTLS(t, Options{}, func(s *Sensor, c *collector, serverPID, _ int) bool {
		return len(c.of(serverPID)) >= 2 && s.Stats().MirroredConnections >= 1
	})
	check(t, "python", c.of(serverPID), tlsWants, s.opts.Ports[0], true)
	if n := len(c.of(curlPID)); n != 0 {
		t.Errorf("%d transactions from curl's socket, want none", n)
	}
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.MirroredConnections != 1 || st.MirroredBytes == 0 {
		t.Errorf("mirrored %d connections and %d bytes, want 1 and some", st.MirroredConnections, st.MirroredBytes)
	}
}

// TestMirrorServerNotTraced: a client whose server is not traced (the
// command filter leaves it out) keeps its view: nothing is mirrored.
func TestMirrorServerNotTraced(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed (make deps)")
	}
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, Comms: []string{"curl"}})
	c := collect(s)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cc := startCmd(t, exec.Command(curl, "-s", base+"/a", base+"/missing"))
	io.ReadAll(cc.out)
	if err := cc.cmd.Wait(); err != nil {
		t.Fatalf("curl: %v", err)
	}
	waitFor(t, "curl's transactions", func() bool { return len(c.of(cc.cmd.Process.Pid)) >= 2 })
	server.stdin.Close()
	server.cmd.Wait()
	c.stop(t)
	check(t, "curl", c.of(cc.cmd.Process.Pid), []want{{"GET", "/a", 200, 0, 9}, {"GET", "/missing", 404, 0, 15}}, uint16(port), false)
	if n := len(c.of(server.cmd.Process.Pid)); n != 0 {
		t.Errorf("%d transactions from the untraced server", n)
	}
	if st := s.Stats(); st.MirroredConnections != 0 || st.MirroredBytes != 0 {
		t.Errorf("mirrored %d connections, %d bytes; want none", st.MirroredConnections, st.MirroredBytes)
	}
}

// TestFloodMirrored: the flood of TestFlood with the default options, where
// the flooding client's end becomes a mirror of the sink's: in the kernel
// every byte either end moved is still accounted for — copied, lost,
// truncated, unreadable, skipped or mirrored — and user space read every
// byte the kernel handed on. The client writes 1 KiB and pauses first, so
// that the sink has read (its bytes are copied) before the flood, whose
// first write then finds the sink's end: a mirror whatever the ring holds.
// (Without the pause the client may copy its first writes and fill the
// ring, and a MIRROR record the full ring refuses leaves the client
// copying — and losing, counted — until the ring has room for it.)
func TestFloodMirrored(t *testing.T) {
	sink := start(t, "sink", "")
	port, _ := strconv.Atoi(sink.line(t))
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}, RingBytes: 256 << 10})
	const total, first = 16 << 20, 1 << 10
	flood := start(t, "flood", fmt.Sprintf("127.0.0.1:%d,%d,%d", port, total, first))
	if got := flood.line(t); got != "sent" {
		t.Fatalf("flood: %q", got)
	}
	c := collect(s)
	accounted := func(st Stats) uint64 {
		return st.Bytes + st.LostBytes + st.TruncatedBytes + st.UnreadableBytes + st.SkippedBytes + st.MirroredBytes
	}
	var last Stats
	defer func() {
		if t.Failed() {
			t.Logf("stats at the last check: %+v (accounted %d)", last, accounted(last))
		}
	}()
	waitFor(t, "both ends' syscalls accounted for and the ring drained", func() bool {
		last = s.Stats()
		return accounted(last) == 2*total && last.DataBytes == last.Bytes && last.MirroredConnections == 1
	})
	flood.stdin.Close()
	if got := sink.line(t); got != strconv.Itoa(total) {
		t.Fatalf("sink received %s bytes, want %d", got, total)
	}
	c.stop(t)
	st := s.Stats()
	t.Logf("stats: %+v", st)
	if st.MirroredBytes < total-first || st.LostBytes == 0 || accounted(st) != 2*total {
		t.Errorf("mirrored %d, lost %d, accounted %d of %d moved; want at least %d mirrored, some lost, all accounted",
			st.MirroredBytes, st.LostBytes, accounted(st), 2*total, total-first)
	}
}

// TestMirrorPredatesSensor: a keep-alive connection between two local
// processes opened before the sensor (no accept or connect seen) gets its
// roles from its first bytes in the kernel, so it too is reported once,
// from the server's side.
func TestMirrorPredatesSensor(t *testing.T) {
	server := start(t, "server", "")
	port, _ := strconv.Atoi(server.line(t))
	client := start(t, "lateclient", fmt.Sprintf("http://127.0.0.1:%d", port))
	if got := client.line(t); got != "ready" {
		t.Fatalf("lateclient: %q", got)
	}
	s := openSensor(t, Options{Ports: []uint16{uint16(port)}})
	c := collect(s)
	fmt.Fprintln(client.stdin, "go")
	if err := client.cmd.Wait(); err != nil {
		t.Fatalf("lateclient: %v", err)
	}
	serverPID := server.cmd.Process.Pid
	waitFor(t, "the server's transactions and the mirror", func() bool {
		return len(c.of(serverPID)) >= 2 && s.Stats().MirroredConnections >= 1
	})
	server.stdin.Close()
	server.cmd.Wait()
	c.stop(t)
	check(t, "server", c.of(serverPID), []want{{"GET", "/a", 200, 0, 9}, {"GET", "/b?x=1", 200, 0, 9}}, uint16(port), false)
	if n := len(c.of(client.cmd.Process.Pid)); n != 0 {
		t.Errorf("%d transactions from the client's socket, want none", n)
	}
	if st := s.Stats(); st.MirroredConnections != 1 || st.GapBytes != 0 {
		t.Errorf("mirrored %d connections, %d gap bytes; want 1, 0", st.MirroredConnections, st.GapBytes)
	}
}
