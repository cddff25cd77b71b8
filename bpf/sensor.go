package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/shadowtap/shadowtap/reassembly"
)

// ErrUnsupported is returned (wrapped) by Open when this kernel, build or
// process cannot run the eBPF sensor at all; the caller falls back to packet
// capture on the host's interfaces.
var ErrUnsupported = errors.New("ebpf sensor not supported here")

var errNotProbed = errors.New("not probed: replayed records")

// ErrClosed is returned by an EventReader after Close.
var ErrClosed = os.ErrClosed

// Mode is the rung of the fallback ladder the sensor runs on.
type Mode int

const (
	// ModeFull: plaintext sockets through syscall tracepoints and TLS
	// plaintext through OpenSSL uprobes.
	ModeFull Mode = iota
	// ModeSyscalls: plaintext sockets only; TLS connections are counted
	// (Stats.EncryptedConnections) as encrypted, not visible.
	ModeSyscalls
)

func (m Mode) String() string {
	switch m {
	case ModeFull:
		return "full"
	case ModeSyscalls:
		return "syscalls-only"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Options configure Open. The zero value traces every process but the
// sensor's own.
type Options struct {
	// PIDs, when not empty, limits tracing to these processes (thread
	// group ids).
	PIDs []uint32
	// Comms, when not empty, limits tracing to processes with these
	// command names (as in /proc/PID/comm, at most 15 bytes).
	Comms []string
	// CgroupIDs, when not empty, limits tracing to tasks in these cgroup v2
	// ids (the inode numbers of the cgroup directories).
	CgroupIDs []uint64
	// Ports, when not empty, limits tracing to connections with one of
	// these ports at either end.
	Ports []uint16
	// IncludeSelf traces the sensor's own process too (its API and any
	// traffic it makes are skipped by default).
	IncludeSelf bool
	// BothEnds reports a connection between two traced local processes
	// from both sockets: each transaction twice, once with each process.
	// By default only the server's socket reports it (the process serving
	// the endpoint), and the client's bytes are not copied once the
	// server's are seen (Stats.MirroredConnections, MirroredBytes).
	BothEnds bool
	// NoTLS skips the OpenSSL uprobes (ModeSyscalls).
	NoTLS bool
	// RingBytes is the ring buffer's size, a power of two; 0 means 16 MiB.
	RingBytes int
	// WakeupBytes: the programs wake the reader once this many bytes
	// wait in the ring; 0 means RingBytes/4. Below it the reader finds the
	// records when it polls (PollInterval): a wakeup is made inside the
	// traced process's syscall, and at 10k req/s a 64 KiB threshold woke
	// the reader ~150 times a second, which cost the server and wrk 10 µs
	// of run-queue wait per request (bpf/README.md); a quarter of the ring
	// still leaves three quarters for a burst while the reader wakes.
	WakeupBytes int
	// PollInterval is how often the reader looks at the ring when the
	// programs did not wake it; 0 means 20 ms.
	PollInterval time.Duration
	// MaxBytesPerCall caps the bytes copied per syscall or SSL call, in
	// 4 KiB chunks; the rest is counted as truncated and becomes a gap.
	// 0 means 1 MiB.
	MaxBytesPerCall int
	// HTTP configures the HTTP parsers (body sample size, limits).
	HTTP reassembly.Options
	// MaxConnections bounds the connections followed in user space; 0
	// means 65536. Beyond it the idlest are closed early.
	MaxConnections int
	// IdleTimeout closes connections with no event for this long (event
	// time); 0 means 5 minutes. Normally the kernel's close event ends them.
	IdleTimeout time.Duration
	// noKfuncs loads the objects built without kfuncs (tests of the
	// older kernels' build).
	noKfuncs bool
	// Log receives the sensor's few log lines (mode at start, libraries
	// attached); the zero value discards them.
	Log zerolog.Logger
}

func (o Options) withDefaults() Options {
	if o.RingBytes <= 0 {
		o.RingBytes = 16 << 20
	}
	if o.WakeupBytes <= 0 {
		o.WakeupBytes = o.RingBytes / 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.MaxBytesPerCall <= 0 {
		o.MaxBytesPerCall = 1 << 20
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 65536
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	return o
}

// Stats count what the sensor saw and lost. Counters only grow.
type Stats struct {
	// Kernel side (summed over CPUs).
	Events, Bytes uint64 // data records and their bytes handed to the ring
	// LostEvents and LostBytes: data the full ring refused.
	LostEvents, LostBytes uint64
	// TruncatedBytes: bytes beyond MaxBytesPerCall, never copied.
	TruncatedBytes uint64
	// UnreadableBytes: bytes whose user memory could not be read.
	UnreadableBytes uint64
	// TLSUnmappedBytes: TLS plaintext of an SSL object whose socket was
	// never seen (it predates the sensor).
	TLSUnmappedBytes uint64
	// LostControl: close, exec and skip records the full ring refused.
	LostControl uint64
	// SkippedBytes: bytes sendfile or splice moved between a socket and a
	// file or pipe, with no user buffer to copy from (gaps to the parsers).
	SkippedBytes uint64
	// EncryptedBytes: TLS records of connections whose first bytes were a
	// TLS handshake and whose plaintext no OpenSSL call showed (Go's
	// crypto/tls, Java, static libraries): after each direction's first
	// record they are not copied (user space would skip them).
	EncryptedBytes uint64
	// MirroredBytes: bytes moved by the client end of a local connection
	// whose server end is traced too (the same bytes, reported from the
	// server's socket): not copied. Zero with Options.BothEnds.
	MirroredBytes uint64
	// MirroredConnections: client ends of local connections made mirrors
	// (MirroredBytes). User space drops the view of those it had heard of
	// (a MIRROR record), with the transactions they had begun; the others
	// were mirrors from their first call and never reached it.
	MirroredConnections uint64

	// User side.
	Records, BadRecords uint64
	// DataBytes: data bytes in the records read; DeliveredBytes: those
	// handed to the parsers in order (or skipped as encrypted or
	// mirrored).
	DataBytes, DeliveredBytes uint64
	// Connections followed; EncryptedConnections carried TLS records with
	// no plaintext from OpenSSL (not visible); EvictedConnections were
	// closed early by MaxConnections or IdleTimeout.
	Connections, EncryptedConnections, EvictedConnections uint64
	// UnknownConnections: connections whose data came with neither their
	// CONN record nor an entry in the kernel's table to read it from
	// (their transactions have no process, container or addresses).
	UnknownConnections uint64
	// Gaps and GapBytes: holes handed to the parsers (lost, truncated or
	// unreadable bytes); OverlapBytes: bytes received twice, dropped.
	Gaps, GapBytes, OverlapBytes uint64
	// Transactions handed to emit; ParseErrors from the HTTP parsers of
	// closed connections.
	Transactions, ParseErrors uint64
	// Libraries: libssl files (inodes) with uprobes attached.
	Libraries uint64
}

// userStats are the counters the reader goroutine updates while Stats may
// read them from another.
type userStats struct {
	records, badRecords                  atomic.Uint64
	dataBytes, delivered                 atomic.Uint64
	conns, encrypted, evicted            atomic.Uint64
	unknownConns                         atomic.Uint64
	mirrored                             atomic.Uint64 // MIRROR records acted on (views dropped)
	gaps, gapBytes, overlapBytes         atomic.Uint64
	transactions, parseErrors, libraries atomic.Uint64
}

func (u *userStats) fill(s *Stats) {
	s.Records, s.BadRecords = u.records.Load(), u.badRecords.Load()
	s.DataBytes, s.DeliveredBytes = u.dataBytes.Load(), u.delivered.Load()
	s.Connections, s.EncryptedConnections, s.EvictedConnections = u.conns.Load(), u.encrypted.Load(), u.evicted.Load()
	s.UnknownConnections = u.unknownConns.Load()
	s.Gaps, s.GapBytes, s.OverlapBytes = u.gaps.Load(), u.gapBytes.Load(), u.overlapBytes.Load()
	s.Transactions, s.ParseErrors, s.Libraries = u.transactions.Load(), u.parseErrors.Load(), u.libraries.Load()
}

// EventReader yields ring-buffer records. A record is valid until the next
// Read. After Close, Read returns an error matching ErrClosed; Close may be
// called from another goroutine to unblock Read.
type EventReader interface {
	Read() ([]byte, error)
	Close() error
}

// drainer is an EventReader that can end after the records it already
// holds: after drain, Read returns those (at most a ring's worth, since
// the programs go on writing) and then an error matching ErrClosed, and
// the reader stays open until Close.
type drainer interface {
	drain()
}

// kernel is what a loaded sensor adds to the reader: counters and the
// handling of new processes. Nil for a replayed reader.
type kernel interface {
	counters() ([statCount]uint64, error)
	exec(tgid uint32)
	// connMeta reads a connection's generation and meta from the
	// kernel's table (ok false when it is not there).
	connMeta(sock uint64) (gen uint64, m meta, ok bool)
	close() error
}

// Sensor reads the host's traffic through eBPF and turns it into
// transactions. Run is called once; Stats, Mode and Close are safe for
// concurrent use with it.
type Sensor struct {
	opts   Options
	reader EventReader
	k      kernel
	mode   Mode
	reason string
	hooks  HookProbe
	clock  func(mono uint64) time.Time
	stats  userStats

	closeOnce sync.Once
	closeErr  error
	done      chan struct{}
}

// HookProbe says whether this kernel offers hooks cheaper than syscall
// tracepoints: nil when it does, else why not. Probed once by Open.
type HookProbe struct {
	Kprobe error // a kprobe on tcp_sendmsg attaches
	Fentry error // fentry/fexit (BPF_PROG_TYPE_TRACING) programs load
}

func (h HookProbe) kprobeString() string { return availability(h.Kprobe) }
func (h HookProbe) fentryString() string { return availability(h.Fentry) }

func availability(err error) string {
	if err == nil {
		return "available (not used: the sensor has tracepoint and uprobe programs only)"
	}
	return "unavailable: " + err.Error()
}

// Hooks returns what Open's probe found out about kprobes and fentry.
func (s *Sensor) Hooks() HookProbe { return s.hooks }

// Mode returns the rung of the fallback ladder the sensor runs on and why.
func (s *Sensor) Mode() (Mode, string) { return s.mode, s.reason }

// Stats returns the counters, kernel and user side.
func (s *Sensor) Stats() Stats {
	var st Stats
	if s.k != nil {
		if c, err := s.k.counters(); err == nil {
			st.Events, st.Bytes = c[statEvents], c[statBytes]
			st.LostEvents, st.LostBytes = c[statLostEvents], c[statLostBytes]
			st.TruncatedBytes, st.UnreadableBytes = c[statTruncBytes], c[statUnreadableBytes]
			st.TLSUnmappedBytes, st.LostControl = c[statTLSUnmappedBytes], c[statLostControl]
			st.SkippedBytes, st.EncryptedBytes = c[statSkippedBytes], c[statEncryptedBytes]
			st.MirroredBytes, st.MirroredConnections = c[statMirroredBytes], c[statMirroredConns]
		}
	}
	s.stats.fill(&st)
	return st
}

// RingUsed returns the share of the ring buffer, 0 to 1, holding records
// the reader has not consumed yet. The programs wake the reader at
// WakeupBytes/RingBytes; at 1 they lose data (Stats.LostBytes). 0 for a
// replayed sensor and after Close.
func (s *Sensor) RingUsed() float64 {
	if r, ok := s.reader.(interface{ used() float64 }); ok {
		return r.used()
	}
	return 0
}

// WaitRing blocks the calling OS thread in the kernel (not in Go's
// scheduler, so a thread of a higher CPU priority than the rest of the
// process wakes on time) until the programs wake the reader, WakeupBytes
// waiting in the ring, or d has passed. It returns false, at once, after
// Close and for a replayed sensor. While records keep arriving above the
// wakeup point every record wakes it: a watcher should look, then sleep.
func (s *Sensor) WaitRing(d time.Duration) (bool, error) {
	if r, ok := s.reader.(interface {
		waitWake(time.Duration) (bool, error)
	}); ok {
		return r.waitWake(d)
	}
	return false, nil
}

// Close detaches the programs and unblocks Run.
func (s *Sensor) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.reader.Close()
		if s.k != nil {
			if err := s.k.close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// newReplay returns a sensor over recorded events (tests, replays): no
// kernel, event times taken as nanoseconds since the Unix epoch.
func newReplay(r EventReader, opts Options) *Sensor {
	return &Sensor{
		opts:   opts.withDefaults(),
		reader: r,
		mode:   ModeFull,
		reason: "replay",
		hooks:  HookProbe{Kprobe: errNotProbed, Fentry: errNotProbed},
		clock:  func(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() },
	}
}
