//go:build linux && amd64

package bpf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Open loads the programs, attaches them and probes the fallback ladder:
// full (syscalls and OpenSSL) → syscalls only (TLS not visible) → an error
// matching ErrUnsupported, on which the caller captures packets instead.
// The rung chosen is logged once and returned by Mode.
func Open(opts Options) (*Sensor, error) {
	opts = opts.withDefaults()
	if opts.RingBytes&(opts.RingBytes-1) != 0 || opts.RingBytes < os.Getpagesize() {
		return nil, fmt.Errorf("ring size %d: not a power of two of at least a page", opts.RingBytes)
	}
	k, err := loadKernel(opts)
	if err != nil {
		return nil, err
	}
	s := &Sensor{opts: opts, k: k, reader: k.reader, clock: monoClock(), mode: ModeFull, hooks: probeHooks()}
	if opts.NoTLS {
		s.mode, s.reason = ModeSyscalls, "TLS uprobes disabled by configuration; TLS traffic is encrypted, not visible"
	} else if reason := k.probeTLS(); reason != "" {
		s.mode, s.reason = ModeSyscalls, reason
	} else {
		s.reason = "syscall tracepoints and OpenSSL uprobes"
	}
	k.tls = s.mode == ModeFull
	k.stats = &s.stats
	if k.tls {
		k.startScanner()
	}
	opts.Log.Info().Str("component", "ebpf").Str("mode", s.mode.String()).Str("reason", s.reason).
		Uint64("libssl", s.stats.libraries.Load()).Str("objects", k.objects).Str("kprobe", s.hooks.kprobeString()).Str("fentry", s.hooks.fentryString()).
		Msg("ebpf sensor attached")
	return s, nil
}

// monoClock converts bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall time.
func monoClock() func(uint64) time.Time {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	base := time.Now().Add(-time.Duration(ts.Nano()))
	return func(ns uint64) time.Time { return base.Add(time.Duration(ns)) }
}

// probeHooks tries the hooks cheaper than syscall tracepoints that some
// kernels offer: a kprobe on tcp_sendmsg and the fentry/fexit program type.
// The sensor runs on tracepoints and uprobes either way (it has no kprobe
// or fentry programs yet); the result is logged at start and returned by
// Sensor.Hooks, so that such a kernel can be told apart.
func probeHooks() HookProbe {
	var h HookProbe
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		h.Kprobe = fmt.Errorf("loading a kprobe program: %w", err)
	} else {
		l, err := link.Kprobe("tcp_sendmsg", prog, nil)
		if err != nil {
			h.Kprobe = fmt.Errorf("attaching a kprobe to tcp_sendmsg: %w", err)
		} else {
			l.Close()
		}
		prog.Close()
	}
	if err := features.HaveProgramType(ebpf.Tracing); err != nil {
		h.Fentry = fmt.Errorf("fentry/fexit programs: %w", err)
	}
	return h
}

type kernelSensor struct {
	objs    sensorObjects
	links   []link.Link
	reader  *ringReader
	tls     bool
	stats   *userStats
	objects string // which build loaded: sensor or sensorcompat

	mu          sync.Mutex
	attached    map[[2]uint64]bool // libssl (dev, inode) with uprobes
	libLinks    []link.Link
	scan        chan uint32
	pendingLibs int
	stop        chan struct{}
	wg          sync.WaitGroup
}

// loadObjects loads one build of the programs into k.objs, configured by
// opts.
func loadObjects(k *kernelSensor, load func() (*ebpf.CollectionSpec, error), opts Options) error {
	spec, err := load()
	if err != nil {
		return fmt.Errorf("%w: reading the eBPF objects: %w", ErrUnsupported, err)
	}
	var mask uint32
	if len(opts.PIDs) > 0 {
		mask |= filterPID
	}
	if len(opts.CgroupIDs) > 0 {
		mask |= filterCgroup
	}
	if len(opts.Comms) > 0 {
		mask |= filterComm
	}
	if len(opts.Ports) > 0 {
		mask |= filterPort
	}
	self := uint32(os.Getpid())
	if opts.IncludeSelf {
		self = 0
	}
	chunks := uint32((opts.MaxBytesPerCall + chunkSize - 1) / chunkSize)
	var both uint32
	if opts.BothEnds {
		both = 1
	}
	for name, v := range map[string]uint32{"self_tgid": self, "filter_mask": mask, "max_chunks": chunks, "both_ends": both} {
		if err := spec.Variables[name].Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	if err := spec.Variables["wakeup_bytes"].Set(uint64(opts.WakeupBytes)); err != nil {
		return fmt.Errorf("setting wakeup_bytes: %w", err)
	}
	spec.Maps["events"].MaxEntries = uint32(opts.RingBytes)
	if err := spec.LoadAndAssign(&k.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: loading the eBPF programs: %+v", ErrUnsupported, ve)
		}
		return fmt.Errorf("%w: loading the eBPF programs: %w", ErrUnsupported, err)
	}
	return nil
}

func loadKernel(opts Options) (*kernelSensor, error) {
	_ = rlimit.RemoveMemlock()
	if _, err := os.Stat("/sys/kernel/tracing/events/syscalls"); err != nil {
		// tracefs may not be mounted yet.
		_ = unix.Mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, "")
	}
	k := &kernelSensor{attached: make(map[[2]uint64]bool), scan: make(chan uint32, 256), stop: make(chan struct{})}
	// The objects with kfuncs first (direct loads on the fd walk, kernel
	// >= 6.2); where they do not load, the same programs with probe reads.
	var firstErr error
	for _, obj := range []struct {
		name string
		load func() (*ebpf.CollectionSpec, error)
	}{{"sensor", loadSensor}, {"sensorcompat", loadSensorcompat}} {
		if obj.name == "sensor" && opts.noKfuncs {
			continue
		}
		err := loadObjects(k, obj.load, opts)
		if err == nil {
			k.objects = obj.name
			firstErr = nil
			break
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if err := k.fillFilters(opts); err != nil {
		k.close()
		return nil, err
	}
	o := &k.objs
	tps := []struct {
		group, name string
		prog        *ebpf.Program
	}{
		// Exit tracepoints only: the arguments are read from the saved
		// user registers (c/sensor.bpf.c).
		{"syscalls", "sys_exit_read", o.ExitRead}, {"syscalls", "sys_exit_write", o.ExitWrite},
		{"syscalls", "sys_exit_readv", o.ExitReadv}, {"syscalls", "sys_exit_writev", o.ExitWritev},
		{"syscalls", "sys_exit_recvfrom", o.ExitRecvfrom}, {"syscalls", "sys_exit_sendto", o.ExitSendto},
		{"syscalls", "sys_exit_recvmsg", o.ExitRecvmsg}, {"syscalls", "sys_exit_sendmsg", o.ExitSendmsg},
		{"syscalls", "sys_exit_accept", o.ExitAccept}, {"syscalls", "sys_exit_accept4", o.ExitAccept4},
		{"syscalls", "sys_exit_connect", o.ExitConnect},
		{"syscalls", "sys_exit_sendfile64", o.ExitSendfile}, {"syscalls", "sys_exit_splice", o.ExitSplice},
		{"sock", "inet_sock_set_state", o.SockState},
		{"sched", "sched_process_exec", o.ProcessExec},
	}
	for _, tp := range tps {
		l, err := link.Tracepoint(tp.group, tp.name, tp.prog, nil)
		if err != nil {
			k.close()
			return nil, fmt.Errorf("%w: attaching tracepoint %s/%s: %w", ErrUnsupported, tp.group, tp.name, err)
		}
		k.links = append(k.links, l)
	}
	rd, err := ringbuf.NewReader(o.Events)
	if err != nil {
		k.close()
		return nil, fmt.Errorf("%w: opening the ring buffer: %w", ErrUnsupported, err)
	}
	wake, wakeConn, err := ringWaker(o.Events)
	if err != nil {
		rd.Close()
		k.close()
		return nil, fmt.Errorf("%w: watching the ring buffer: %w", ErrUnsupported, err)
	}
	// A deadline long passed, set once: once the records present are
	// read, ReadInto's epoll_wait returns at once (Read parks instead).
	rd.SetDeadline(time.Unix(1, 0))
	k.reader = &ringReader{r: rd, wake: wake, wakeConn: wakeConn, poll: opts.PollInterval, epfd: -1, evfd: -1}
	return k, nil
}

func (k *kernelSensor) fillFilters(opts Options) error {
	one := uint8(1)
	for _, p := range opts.PIDs {
		if err := k.objs.FilterPids.Put(p, one); err != nil {
			return fmt.Errorf("pid filter: %w", err)
		}
	}
	for _, c := range opts.CgroupIDs {
		if err := k.objs.FilterCgroups.Put(c, one); err != nil {
			return fmt.Errorf("cgroup filter: %w", err)
		}
	}
	for _, c := range opts.Comms {
		var key [16]byte
		copy(key[:15], c)
		if err := k.objs.FilterComms.Put(key, one); err != nil {
			return fmt.Errorf("comm filter: %w", err)
		}
	}
	for _, p := range opts.Ports {
		if err := k.objs.FilterPorts.Put(p, one); err != nil {
			return fmt.Errorf("port filter: %w", err)
		}
	}
	return nil
}

func (k *kernelSensor) counters() ([statCount]uint64, error) {
	var out [statCount]uint64
	for i := uint32(0); i < statCount; i++ {
		var per []uint64
		if err := k.objs.Stats.Lookup(i, &per); err != nil {
			return out, fmt.Errorf("reading counter %d: %w", i, err)
		}
		for _, v := range per {
			out[i] += v
		}
	}
	return out, nil
}

// connMeta reads struct conn from the conns map: gen first, struct meta
// after the four offsets.
func (k *kernelSensor) connMeta(sock uint64) (uint64, meta, bool) {
	var m meta
	buf := make([]byte, k.objs.Conns.ValueSize())
	if len(buf) < connMetaOff+metaSize || k.objs.Conns.Lookup(sock, buf) != nil {
		return 0, m, false
	}
	if m.decode(buf[connMetaOff:]) != nil {
		return 0, m, false
	}
	return binary.LittleEndian.Uint64(buf), m, true
}

func (k *kernelSensor) close() error {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	k.wg.Wait()
	var first error
	k.mu.Lock()
	for _, l := range append(k.links, k.libLinks...) {
		if err := l.Close(); err != nil && first == nil {
			first = err
		}
	}
	k.links, k.libLinks = nil, nil
	k.mu.Unlock()
	if k.reader != nil {
		_ = k.reader.Close()
	}
	if err := k.objs.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// ---- OpenSSL ----

// probeTLS attaches to every libssl mapped now. It returns why TLS is not
// visible, or "" when uprobes work (or no libssl is mapped yet).
func (k *kernelSensor) probeTLS() string {
	libs := scanAllLibssl("/proc")
	var lastErr error
	ok := 0
	for _, lib := range libs {
		if err := k.attachLib(lib); err != nil {
			lastErr = err
			continue
		}
		ok++
	}
	if ok == 0 && lastErr != nil {
		return fmt.Sprintf("OpenSSL uprobes unavailable (%v); TLS traffic is encrypted, not visible", lastErr)
	}
	return ""
}

// attachLib attaches the uprobes to one libssl file, once per inode.
func (k *kernelSensor) attachLib(path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	key := [2]uint64{uint64(st.Dev), st.Ino}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.attached[key] {
		return nil
	}
	if len(k.attached) >= 256 {
		return fmt.Errorf("attaching %s: 256 libssl files attached already", path)
	}
	ex, err := link.OpenExecutable(path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	o := &k.objs
	probes := []struct {
		sym         string
		enter, exit *ebpf.Program
		required    bool
	}{
		{"SSL_write", o.SslWrite, o.SslWriteRet, true},
		{"SSL_read", o.SslRead, o.SslReadRet, true},
		{"SSL_write_ex", o.SslWriteEx, o.SslWriteExRet, false}, // OpenSSL ≥ 1.1.1
		{"SSL_read_ex", o.SslReadEx, o.SslReadExRet, false},
	}
	var ls []link.Link
	for _, p := range probes {
		l1, err := ex.Uprobe(p.sym, p.enter, nil)
		if err == nil {
			var l2 link.Link
			l2, err = ex.Uretprobe(p.sym, p.exit, nil)
			if err != nil {
				l1.Close()
			} else {
				ls = append(ls, l1, l2)
			}
		}
		if err != nil && (p.required || !errors.Is(err, link.ErrNoSymbol)) {
			for _, l := range ls {
				l.Close()
			}
			return fmt.Errorf("uprobe %s in %s: %w", p.sym, path, err)
		}
	}
	k.attached[key] = true
	k.libLinks = append(k.libLinks, ls...)
	if k.stats != nil {
		k.stats.libraries.Add(1)
	} else {
		k.pendingLibs++
	}
	return nil
}

// exec queues a new process for a look at its libraries (called by Run).
func (k *kernelSensor) exec(tgid uint32) {
	if !k.tls {
		return
	}
	select {
	case k.scan <- tgid:
	default: // a burst of execs: the periodic rescan catches up
	}
}

// startScanner looks at each new process's maps a few times after exec
// (the dynamic loader maps libssl after exec returns), and at every
// process every 30 s in case a burst overflowed the queue.
func (k *kernelSensor) startScanner() {
	k.stats.libraries.Add(uint64(k.pendingLibs))
	k.pendingLibs = 0
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		type due struct {
			pid uint32
			at  time.Time
		}
		var queue []due
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		full := time.Now().Add(30 * time.Second)
		for {
			select {
			case <-k.stop:
				return
			case pid := <-k.scan:
				now := time.Now()
				if len(queue) < 4096 {
					for _, d := range []time.Duration{0, 30 * time.Millisecond, 300 * time.Millisecond, 3 * time.Second} {
						queue = append(queue, due{pid, now.Add(d)})
					}
				}
			case now := <-tick.C:
				rest := queue[:0]
				for _, d := range queue {
					if now.Before(d.at) {
						rest = append(rest, d)
						continue
					}
					for _, lib := range scanLibssl("/proc", d.pid) {
						_ = k.attachLib(lib)
					}
				}
				queue = rest
				if now.After(full) {
					for _, lib := range scanAllLibssl("/proc") {
						_ = k.attachLib(lib)
					}
					full = now.Add(30 * time.Second)
				}
			}
		}
	}()
}

// scanAllLibssl returns the libssl files mapped by any process, as paths
// through each process's root (so container files resolve).
func scanAllLibssl(proc string) []string {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	seen := make(map[string]bool)
	var out []string
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		for _, p := range scanLibssl(proc, uint32(pid)) {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// scanLibssl returns the libssl files in one process's maps.
func scanLibssl(proc string, pid uint32) []string {
	dir := filepath.Join(proc, strconv.FormatUint(uint64(pid), 10))
	f, err := os.Open(filepath.Join(dir, "maps"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		i := strings.IndexByte(line, '/')
		if i < 0 || !strings.Contains(line[i:], "libssl.so") {
			continue
		}
		p := filepath.Join(dir, "root", line[i:])
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	return out
}

// ringReader adapts ringbuf.Reader to EventReader, reusing one record.
//
// It never blocks in a system call. While records wait it takes them
// without waiting; once the ring is empty the goroutine parks in Go's network
// poller on wake (the ring's fd) until the programs wake it (only once
// wakeup_bytes wait) or poll has passed. A reader blocked in epoll_wait
// for its whole poll interval held a P in a system call, which Go's sysmon
// takes back after 10 ms; each take-back restarted sysmon's 20 µs polling,
// and at 10k req/s that thread alone woke ~2,600 times a second and used
// a quarter of the sensor's CPU.
type ringReader struct {
	r        *ringbuf.Reader
	wake     *os.File
	wakeConn syscall.RawConn
	rec      ringbuf.Record
	poll     time.Duration
	// mu orders used against Close: AvailableBytes reads the mapped ring,
	// which Close unmaps.
	mu     sync.RWMutex
	closed bool
	// draining: Read returns the records left, then ErrClosed (drain);
	// drainLeft (under mu) is how many more bytes it reads before it
	// stops anyway. Atomic: Read looks at it for every record.
	draining  atomic.Bool
	drainLeft int
	// waitWake's epoll instance (the ring, edge-triggered, and evfd,
	// which Close signals), made at its first call; wmu keeps Close from
	// closing them under a waiting thread.
	wmu        sync.RWMutex
	epfd, evfd int
}

// ringWaker registers a duplicate of the ring's fd, non-blocking, with
// Go's network poller: it becomes readable when the programs wake the ring.
func ringWaker(m *ebpf.Map) (*os.File, syscall.RawConn, error) {
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	f := os.NewFile(uintptr(fd), "ringbuf")
	// Deadlines work only on a file the poller took.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("not pollable: %w", err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, rc, nil
}

// ready ends a park in Read: records wait, or Close has begun (under mu,
// so that the mapped ring is not read while Close unmaps it).
func (r *ringReader) ready(uintptr) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed || r.draining.Load() || r.r.AvailableBytes() > 0
}

// drain makes Read return the records the ring holds and then ErrClosed,
// reading at most the ring's size (the programs go on writing meanwhile).
func (r *ringReader) drain() {
	r.mu.Lock()
	if r.draining.Load() || r.closed {
		r.mu.Unlock()
		return
	}
	r.drainLeft = r.r.BufferSize()
	r.draining.Store(true)
	r.mu.Unlock()
	// Wakes a park in Read (which set its deadline before it looked at
	// draining).
	r.wake.SetReadDeadline(time.Unix(1, 0))
}

// drained says whether a draining Read should stop: the ring was found
// empty, or a ring's size has been read since drain.
func (r *ringReader) drained(empty bool) bool {
	if !r.draining.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return empty || r.drainLeft <= 0
}

// spent counts n bytes read while draining.
func (r *ringReader) spent(n int) {
	if r.draining.Load() {
		r.mu.Lock()
		r.drainLeft -= n
		r.mu.Unlock()
	}
}

func (r *ringReader) isClosed() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.closed
}

// used is the share of the ring holding records not consumed yet.
func (r *ringReader) used() float64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed {
		return 0
	}
	return min(float64(r.r.AvailableBytes())/float64(r.r.BufferSize()), 1)
}

func (r *ringReader) Read() ([]byte, error) {
	for {
		if r.drained(false) {
			return nil, fmt.Errorf("ring buffer drained: %w", ErrClosed)
		}
		err := r.r.ReadInto(&r.rec)
		if err == nil {
			r.spent(len(r.rec.RawSample))
			return r.rec.RawSample, nil
		}
		if errors.Is(err, ringbuf.ErrClosed) {
			return nil, fmt.Errorf("ring buffer: %w", ErrClosed)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("reading the ring buffer: %w", err)
		}
		if r.drained(true) {
			return nil, fmt.Errorf("ring buffer drained: %w", ErrClosed)
		}
		// Empty: park until the programs wake the ring or poll passes.
		// Records committed after the check without a wakeup wait for
		// the deadline, as they would in epoll_wait.
		r.wake.SetReadDeadline(time.Now().Add(r.poll))
		err = r.wakeConn.Read(r.ready)
		if r.isClosed() {
			return nil, fmt.Errorf("ring buffer: %w", ErrClosed)
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("waiting on the ring buffer: %w", err)
		}
	}
}

// waitWake blocks the calling thread in epoll_wait, outside Go's
// scheduler, until the programs wake the ring (wakeup_bytes wait) or d has
// passed; false once the reader is closed. Each wakeup is seen once (edge
// triggered): while records keep coming above the threshold, every commit
// wakes it again.
func (r *ringReader) waitWake(d time.Duration) (bool, error) {
	r.wmu.RLock()
	if r.epfd < 0 {
		r.wmu.RUnlock()
		if err := r.openWait(); err != nil {
			return false, err
		}
		r.wmu.RLock()
	}
	defer r.wmu.RUnlock()
	if r.epfd < 0 { // closed meanwhile
		return false, nil
	}
	var ev [2]unix.EpollEvent
	for {
		n, err := unix.EpollWait(r.epfd, ev[:], int(d.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("waiting on the ring buffer: %w", err)
		}
		for _, e := range ev[:n] {
			if int(e.Fd) == r.evfd {
				return false, nil
			}
		}
		return true, nil
	}
}

func (r *ringReader) openWait() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.isClosed() || r.epfd >= 0 {
		return nil
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll for the ring buffer: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return fmt.Errorf("eventfd for the ring buffer: %w", err)
	}
	add := func(fd int, events uint32) error {
		return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)})
	}
	err = add(evfd, unix.EPOLLIN)
	if err == nil {
		// Control, not Fd: Fd would take the file out of the poller.
		cerr := r.wakeConn.Control(func(fd uintptr) { err = add(int(fd), unix.EPOLLIN|unix.EPOLLET) })
		err = errors.Join(err, cerr)
	}
	if err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return fmt.Errorf("epoll for the ring buffer: %w", err)
	}
	r.epfd, r.evfd = epfd, evfd
	return nil
}

func (r *ringReader) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.wmu.RLock()
	if r.evfd >= 0 {
		unix.Write(r.evfd, []byte{1, 0, 0, 0, 0, 0, 0, 0}) // ends a waitWake
	}
	r.wmu.RUnlock()
	r.wmu.Lock() // no waitWake left inside
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		unix.Close(r.evfd)
		r.epfd, r.evfd = -1, -1
	}
	r.wmu.Unlock()
	r.wake.Close() // returns once a wait in Read has ended: then unmap
	return r.r.Close()
}
