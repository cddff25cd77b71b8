//go:build linux

package capture

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNetns is a network namespace of the test's own with veth pairs in
// it, deleted when the test ends (also when it fails). The host's
// interfaces are never touched.
type testNetns struct {
	t    testing.TB
	Name string
}

var netnsSeq atomic.Int32

const netnsPrefix = "stap-test-"

// removeStaleNetns deletes the namespaces of test processes that were
// killed before their cleanup ran.
func removeStaleNetns() {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// requireNetns skips unless the test can make namespaces: root and
// iproute2's ip.
func requireNetns(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("live capture tests need root (network namespaces, AF_PACKET): run as root or in CI")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("live capture tests need iproute2's ip (make deps installs it)")
	}
}

// newTestNetns makes a namespace and, for each name pair, a veth pair in
// it, up, with IPv6 off (so the kernel sends nothing by itself) and a large
// MTU (captures taken with offloads hold frames beyond 1500 bytes).
func newTestNetns(tb testing.TB, pairs ...[2]string) *testNetns {
	tb.Helper()
	requireNetns(tb)
	removeStaleNetns()
	ns := &testNetns{t: tb, Name: fmt.Sprintf("%s%d-%d", netnsPrefix, os.Getpid(), netnsSeq.Add(1))}
	ns.ip("netns", "add", ns.Name)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			tb.Errorf("deleting netns %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.Exec("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	for _, p := range pairs {
		ns.ip("-n", ns.Name, "link", "add", p[0], "mtu", "65000", "type", "veth", "peer", "name", p[1], "mtu", "65000")
		ns.ip("-n", ns.Name, "link", "set", p[0], "up")
		ns.ip("-n", ns.Name, "link", "set", p[1], "up")
	}
	return ns
}

func (ns *testNetns) ip(args ...string) {
	ns.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		ns.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Exec runs a command inside the namespace.
func (ns *testNetns) Exec(name string, args ...string) {
	ns.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		ns.t.Fatalf("%s %s in %s: %v: %s", name, strings.Join(args, " "), ns.Name, err, out)
	}
}

// Do runs fn on a thread that has entered the namespace. Sockets opened
// there stay in the namespace after fn returns.
func (ns *testNetns) Do(fn func()) {
	ns.t.Helper()
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		ns.t.Fatalf("opening this thread's netns: %v", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		ns.t.Fatalf("opening netns %s: %v", ns.Name, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		ns.t.Fatalf("entering netns %s: %v", ns.Name, err)
	}
	defer func() {
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with the goroutine
			// instead of running others in the wrong namespace.
			ns.t.Errorf("leaving netns %s: %v", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// sender writes raw Ethernet frames out of one interface of the namespace.
type sender struct {
	fd int
	sa unix.SockaddrLinklayer
}

func (ns *testNetns) sender(iface string) *sender {
	ns.t.Helper()
	var s *sender
	ns.Do(func() {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ns.t.Fatalf("sender socket: %v", err)
		}
		ifr, err := unix.NewIfreq(iface)
		if err == nil {
			err = unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr)
		}
		if err != nil {
			unix.Close(fd)
			ns.t.Fatalf("sender interface %s: %v", iface, err)
		}
		s = &sender{fd: fd, sa: unix.SockaddrLinklayer{Ifindex: int(ifr.Uint32()), Protocol: htons(unix.ETH_P_ALL)}}
	})
	ns.t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

func (s *sender) send(tb testing.TB, frame []byte) {
	tb.Helper()
	for {
		err := unix.Sendto(s.fd, frame, 0, &s.sa)
		if err == unix.ENOBUFS || err == unix.EAGAIN {
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			tb.Fatalf("sending a frame: %v", err)
		}
		return
	}
}

// OpenIn opens live sources inside the namespace.
func (ns *testNetns) OpenIn(ifaces []string, n int, opts LiveOptions) []*Live {
	ns.t.Helper()
	var ls []*Live
	var err error
	ns.Do(func() { ls, err = OpenInterfaces(ifaces, n, opts) })
	if err != nil {
		ns.t.Fatalf("OpenInterfaces(%v, %d): %v", ifaces, n, err)
	}
	// A frame the host never delivers would leave a test blocked in Next
	// until the package's timeout kills every test with it. The watchdog
	// closes the sources instead, so Next returns io.EOF and the test
	// fails at once, with what each source saw (CI once hung 21 minutes in
	// TestLiveNextAllocs while other packages' tests flooded loopback).
	watchdog := time.AfterFunc(liveTestBound, func() {
		for i, l := range ls {
			fmt.Fprintf(os.Stderr, "%s: live source %d still open after %v, closing it: %+v\n", ns.t.Name(), i, liveTestBound, l.Stats())
			l.Close()
		}
	})
	ns.t.Cleanup(func() {
		watchdog.Stop()
		for _, l := range ls {
			l.Close()
		}
	})
	return ls
}

// liveTestBound is how long a test may keep live sources open: far more
// than any of them needs, even on a loaded machine.
const liveTestBound = 2 * time.Minute

// The replay test and benchmark live in package capture_test (they feed
// reassembly, which imports capture); they reach the namespace helpers
// through these.
type TestNetns = testNetns

// NewTestNetns is newTestNetns for package capture_test.
func NewTestNetns(tb testing.TB, pairs ...[2]string) *TestNetns { return newTestNetns(tb, pairs...) }
