package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shadowtap/shadowtap/bpf"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/reassembly/content"
	"github.com/shadowtap/shadowtap/reassembly/http1"
)

func main() {
	serve := flag.String("serve", "", "serve HTTP on this address")
	ports := flag.String("ports", "", "run the sensor on connections with these ports (comma-separated)")
	micro := flag.Int("micro", 0, "time this many write+read pairs over a loopback TCP connection on -micro-port, as many reads of /dev/zero and getppid calls, in thread CPU time (fastest of 20 batches)")
	ring := flag.Int("ring", 0, "ring buffer bytes of the sensor (0: the default)")
	microOnly := flag.String("micro-only", "", "with -micro: time only this one (pair, pairv, tls, tlsv, file or other)")
	microPort := flag.Int("micro-port", 18081, "port of the -micro connection")
	discard := flag.Bool("discard", false, "read the sensor's records and drop them (no reassembly or parsing)")
	sched := flag.String("sched", "", "scheduling policy of the sensor's threads: normal, batch or idle (empty: leave it)")
	nice := flag.Int("nice", 0, "nice value of the sensor's threads (with -sched normal or batch)")
	wakeup := flag.Int("wakeup", 0, "bytes waiting in the ring that wake the reader (0: the sensor's default)")
	poll := flag.Duration("poll", 0, "how often the reader polls the ring (0: the sensor's default)")
	pids := flag.String("pids", "", "trace only these processes (comma-separated)")
	bothEnds := flag.Bool("both-ends", false, "report a connection between two traced processes from both (bpf.Options.BothEnds; by default the client's side is a mirror, not copied)")
	cpuprofile := flag.String("cpuprofile", "", "write the sensor's CPU profile to this file")
	pooled := flag.Bool("pool", true, "give transactions and body samples back to pools, as shadowtap run --ebpf does")
	flag.Parse()
	if *micro > 0 {
		if err := microbench(*micro, *microPort, *microOnly); err != nil {
			fmt.Fprintln(os.Stderr, "overhead:", err)
			os.Exit(1)
		}
		return
	}
	if *serve != "" {
		body := []byte(`{"id":42,"name":"widget","tags":["a","b"],"price":12.5}`)
		err := http.ListenAndServe(*serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(body)
		}))
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var ps []uint16
	for _, f := range strings.Split(*ports, ",") {
		p, err := strconv.ParseUint(f, 10, 16)
		if err != nil {
			fmt.Fprintln(os.Stderr, "overhead: -ports:", err)
			os.Exit(2)
		}
		ps = append(ps, uint16(p))
	}
	var pp []uint32
	for _, f := range strings.Split(*pids, ",") {
		if f == "" {
			continue
		}
		p, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			fmt.Fprintln(os.Stderr, "overhead: -pids:", err)
			os.Exit(2)
		}
		pp = append(pp, uint32(p))
	}
	if *sched != "" || *nice != 0 {
		if err := setSched(*sched, *nice); err != nil {
			fmt.Fprintln(os.Stderr, "overhead:", err)
			os.Exit(1)
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "overhead: -cpuprofile:", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	opts := bpf.Options{Ports: ps, PIDs: pp, RingBytes: *ring, WakeupBytes: *wakeup, PollInterval: *poll, BothEnds: *bothEnds}
	if err := sense(opts, *discard, *pooled); err != nil {
		fmt.Fprintln(os.Stderr, "overhead:", err)
		os.Exit(1)
	}
}

func sense(opts bpf.Options, discard, pooled bool) error {
	var samples *content.Pool
	var txs *reassembly.TxPool
	if pooled {
		samples, txs = new(content.Pool), new(reassembly.TxPool)
		opts.HTTP = reassembly.Options{HTTP: http1.Options{Decoders: samples}, Transactions: txs}
	}
	s, err := bpf.Open(opts)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var n atomic.Uint64
	start := time.Now()
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	fmt.Println("ready")
	if discard {
		err = s.Drain(ctx)
	} else {
		err = s.Run(ctx, func(tx *reassembly.Transaction) {
			n.Add(1)
			// No-ops on nil pools; Put clears the transaction.
			samples.PutSample(tx.ReqBody)
			samples.PutSample(tx.RespBody)
			txs.Put(tx)
		})
	}
	if err != nil {
		return err
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano()+ru.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	wall := time.Since(start)
	mode, _ := s.Mode()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"mode": mode.String(), "transactions": n.Load(), "wall_s": wall.Seconds(),
		"cpu_s": cpu.Seconds(), "cores": cpu.Seconds() / wall.Seconds(), "stats": s.Stats(),
	})
}

// microbench measures what the sensor adds to single syscalls, in the
// calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: the BPF programs run
// in the syscall and are charged to it; time spent preempted is not), so
// that a busy machine blurs it less than wall-clock latency: n pairs of a
// 100-byte write on one end of a blocking loopback TCP connection and the
// read of those bytes at the other (two traced data syscalls); as many
// over a second connection that began with a TLS handshake record (the
// sensor counts those bytes but does not copy them), and as many through
// writev/readv over a third such connection; as many plaintext pairs
// through writev/readv (two iovecs each); n 100-byte reads of
// /dev/zero (the not-a-socket path every other process pays); n getppid
// calls (a syscall no program is attached to: what a hook on every
// syscall would cost).
func microbench(n, port int, only string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(ln)
	_ = syscall.SetsockoptInt(ln, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	addr := &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(ln, addr); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := syscall.Listen(ln, 2); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cl, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(cl)
	if err := syscall.Connect(cl, addr); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	sv, _, err := syscall.Accept(ln)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer syscall.Close(sv)
	// A second connection that starts with a TLS handshake record (no
	// OpenSSL in the way: the sensor stops copying it after that record).
	cl2, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(cl2)
	if err := syscall.Connect(cl2, addr); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	sv2, _, err := syscall.Accept(ln)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer syscall.Close(sv2)
	// A third that starts with a TLS handshake record sent through writev
	// (two iovecs) and read through readv: the opaque check of the iovec
	// calls.
	cl3, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(cl3)
	if err := syscall.Connect(cl3, addr); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	sv3, _, err := syscall.Accept(ln)
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer syscall.Close(sv3)
	zero, err := syscall.Open("/dev/zero", syscall.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("open /dev/zero: %w", err)
	}
	defer syscall.Close(zero)
	msg := make([]byte, 100)
	buf := make([]byte, 100)
	pairOn := func(cl, sv int, msg []byte) error {
		if _, err := syscall.Write(cl, msg); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		for got := 0; got < len(msg); {
			k, err := syscall.Read(sv, buf[got:])
			if err != nil || k == 0 {
				return fmt.Errorf("read: %d, %v", k, err)
			}
			got += k
		}
		return nil
	}
	pair := func() error { return pairOn(cl, sv, msg) }
	if err := pairOn(cl2, sv2, append([]byte{0x16, 0x03, 0x01, 0x00, 0x5f, 0x01}, make([]byte, 94)...)); err != nil {
		return err
	}
	tlsPair := func() error { return pairOn(cl2, sv2, msg) }
	pairV := func(cl, sv int, msg []byte) error {
		if _, err := unix.Writev(cl, [][]byte{msg[:len(msg)/2], msg[len(msg)/2:]}); err != nil {
			return fmt.Errorf("writev: %w", err)
		}
		for got := 0; got < len(msg); {
			rest := buf[got:len(msg)]
			k, err := unix.Readv(sv, [][]byte{rest[:len(rest)/2], rest[len(rest)/2:]})
			if err != nil || k == 0 {
				return fmt.Errorf("readv: %d, %v", k, err)
			}
			got += k
		}
		return nil
	}
	if err := pairV(cl3, sv3, append([]byte{0x16, 0x03, 0x01, 0x00, 0x5f, 0x01}, make([]byte, 94)...)); err != nil {
		return err
	}
	tlsvPair := func() error { return pairV(cl3, sv3, msg) }
	vPair := func() error { return pairV(cl, sv, msg) }
	file := func() error {
		_, err := syscall.Read(zero, buf)
		return err
	}
	other := func() error {
		syscall.Getppid()
		return nil
	}
	out := map[string]float64{}
	for _, b := range []struct {
		name string
		f    func() error
	}{{"socket_pair_ns", pair}, {"socketv_pair_ns", vPair}, {"tls_pair_ns", tlsPair}, {"tlsv_pair_ns", tlsvPair}, {"file_read_ns", file}, {"other_syscall_ns", other}} {
		if only != "" && !strings.HasPrefix(b.name, map[string]string{"pair": "socket_pair", "pairv": "socketv_pair", "tls": "tls_pair", "tlsv": "tlsv_pair", "file": "file_read", "other": "other_syscall"}[only]) {
			continue
		}
		for i := 0; i < n/10; i++ { // warm up
			if err := b.f(); err != nil {
				return err
			}
		}
		// 20 batches; the fastest is the one least disturbed by the
		// machine's other work (cache and TLB refills after preemption).
		best := math.Inf(1)
		for batch := 0; batch < 20; batch++ {
			t0 := threadCPU()
			for i := 0; i < n/20; i++ {
				if err := b.f(); err != nil {
					return err
				}
			}
			best = min(best, float64(threadCPU()-t0)/float64(n/20))
		}
		out[b.name] = best
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

// threadCPU returns the calling thread's CPU time in ns (exact, unlike
// getrusage, which lags by up to a scheduler tick).
func threadCPU() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return ts.Nano()
}

// setSched sets the scheduling policy (normal, batch, idle; empty: normal)
// and nice value of every thread of the process; threads started later
// inherit them from the thread that starts them.
func setSched(policy string, nice int) error {
	pol := map[string]uint32{"": unix.SCHED_NORMAL, "normal": unix.SCHED_NORMAL, "batch": unix.SCHED_BATCH, "idle": unix.SCHED_IDLE}
	p, ok := pol[policy]
	if !ok {
		return fmt.Errorf("-sched %q: not normal, batch or idle", policy)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("listing threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: p, Nice: int32(nice)}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && err != unix.ESRCH {
			return fmt.Errorf("thread %d: sched_setattr: %w", tid, err)
		}
	}
	return nil
}
