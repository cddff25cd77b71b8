package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/reassembly"
)

// Load-shedding levels of the memory budget.
const (
	shedNone    = 0
	shedBodies  = 1 // body samples are dropped before the engine sees them
	shedPackets = 2 // packets are dropped at the source
)

// Thresholds of the levels, in shares of the budget; a level is left only
// below its exit threshold, so it does not flap.
const (
	bodiesEnter, bodiesExit   = 0.80, 0.70
	packetsEnter, packetsExit = 1.00, 0.90
)

// memBudget watches the Go heap against a budget and says how much load to
// shed. It is safe for concurrent use.
type memBudget struct {
	limit atomic.Int64 // bytes; ≤ 0: no budget
	lvl   atomic.Int32
	heap  atomic.Uint64
	// read returns the heap's size; tests replace it.
	read func() uint64
}

func newMemBudget(limit int64) *memBudget {
	b := &memBudget{read: heapBytes}
	b.setLimit(limit)
	return b
}

// setLimit changes the budget. The Go runtime's soft memory limit is set
// to it too, so the collector works harder before load is shed.
func (b *memBudget) setLimit(limit int64) {
	b.limit.Store(limit)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
		b.lvl.Store(shedNone)
	}
}

func (b *memBudget) level() int32 { return b.lvl.Load() }

// update moves the level for a heap of the given size.
func (b *memBudget) update(heap uint64) int32 {
	b.heap.Store(heap)
	limit := b.limit.Load()
	if limit <= 0 {
		b.lvl.Store(shedNone)
		return shedNone
	}
	r := float64(heap) / float64(limit)
	l := b.lvl.Load()
	switch {
	case r >= packetsEnter:
		l = shedPackets
	case l == shedPackets && r >= packetsExit:
	case r >= bodiesEnter:
		l = shedBodies
	case l >= shedBodies && r >= bodiesExit:
		l = shedBodies
	default:
		l = shedNone
	}
	b.lvl.Store(l)
	return l
}

// budgetInterval is how often the heap is measured.
const budgetInterval = 250 * time.Millisecond

// run measures the heap until ctx ends, logging level changes.
func (b *memBudget) run(ctx context.Context, log zerolog.Logger) {
	t := time.NewTicker(budgetInterval)
	defer t.Stop()
	prev := b.level()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l := b.update(b.read())
		if l != prev {
			ev := log.Warn()
			if l < prev {
				ev = log.Info()
			}
			ev.Int32("level", l).Uint64("heap", b.heap.Load()).Int64("budget", b.limit.Load()).Msg(levelNames[l])
			prev = l
		}
	}
}

var levelNames = [...]string{
	shedNone:    "memory within budget: no load shed",
	shedBodies:  "memory near budget: body samples dropped",
	shedPackets: "memory over budget: packets dropped",
}

// heapBytes is the memory held by heap objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// liveFeed hands transactions from the reassembly goroutines to the engine
// loop in batches, preserving per-connection order (add holds the lock
// while it hands a batch on). While the memory budget says so, body
// samples are dropped first (counted). add is safe for concurrent use.
type liveFeed struct {
	txBatcher
	budget   *memBudget
	counters *daemonCounters
	recycle  *recycler // takes the shed samples back
}

// feedLinger bounds how long a transaction waits in a partial batch.
const feedLinger = 200 * time.Millisecond

func newLiveFeed(b *memBudget, c *daemonCounters, r *recycler) *liveFeed {
	return &liveFeed{txBatcher: newTxBatcher(), budget: b, counters: c, recycle: r}
}

func (f *liveFeed) add(t *reassembly.Transaction) {
	if t.Prepared == nil {
		f.prepare(t)
	}
	f.txBatcher.add(t)
}

// prepare sheds t's body samples while the memory budget says so, then
// has the engine prepare t (txBatcher.prepare): reassembly calls it on its
// workers (Options.Prepare), add for transactions it did not prepare.
func (f *liveFeed) prepare(t *reassembly.Transaction) {
	if f.budget.level() >= shedBodies && t.HasBodies() {
		f.recycle.dropBodies(t)
		f.counters.shedBodies.Add(1)
	}
	f.txBatcher.prepare(t)
}

// close hands on the last batch and closes the queue; no add may follow.
func (f *liveFeed) close() { f.closeQueue() }

// errBadSched: a scheduling policy other than idle, batch or normal.
var errBadSched = errors.New("not idle, batch or normal")

// validSched says whether policy is one of the names sched accepts.
func validSched(policy string) bool {
	return policy == "idle" || policy == "batch" || policy == "normal"
}

// schedFor returns the scheduling policy of the daemon's threads: the
// configured one, else idle when the eBPF sensor runs, else "" (left as
// is). With the sensor, the daemon shares the CPUs with the processes it
// watches; SCHED_IDLE threads run only on CPU time the others leave, and a
// process waking up preempts them at once, so neither the sensor's reader
// nor the engine delays the applications' requests. Measured with
// bpf/overhead.sh (bpf/README.md). Under CPU saturation the daemon would
// get almost no CPU and the sensor's ring would fill: schedWatch moves it
// to SCHED_NORMAL while the ring backs up.
func schedFor(c *daemonConfig) string {
	if c.Sched == "" && c.EBPF {
		return "idle"
	}
	return c.Sched
}

// applyCPUPriority gives every thread the scheduling policy (schedFor) and
// nice value of c, logging what could not be set.
func applyCPUPriority(c *daemonConfig, log zerolog.Logger) {
	if p := schedFor(c); p != "" {
		if err := setSched(p); err != nil {
			log.Warn().Err(err).Msg("CPU scheduling policy unchanged")
		} else if p != "normal" {
			log.Info().Str("sched", p).Msg("CPU scheduling policy set (--sched normal or sched: normal turns it off)")
		}
	}
	if c.Nice != nil {
		if err := setNice(*c.Nice); err != nil {
			log.Warn().Err(err).Msg("CPU priority unchanged")
		}
	}
}

// setNice sets the CPU scheduling priority of every thread of the process
// (Linux priorities are per thread; threads started later inherit it).
func setNice(n int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, n); err != nil {
			return fmt.Errorf("setting nice %d: %w", n, err)
		}
		return nil
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && err != syscall.ESRCH {
			return fmt.Errorf("setting nice %d: %w", n, err)
		}
	}
	return nil
}

// Escalation out of SCHED_IDLE while the eBPF sensor's ring backs up. The
// programs wake the reader at a quarter of the ring; above half, the
// reader has been woken and still fell another quarter behind, with half
// the ring (8 MiB by default, ~0.5 s of a saturated loopback server) left
// before data is lost. The daemon runs SCHED_NORMAL until the ring has
// stayed below an eighth (under the wakeup point: the reader keeps up
// again) for a second, so that a load that comes in bursts does not flip
// the policy at every burst.
const (
	escalateAbove = 0.5
	relaxBelow    = 0.125
	relaxAfter    = time.Second
	// escalateTick is how often the ring is looked at while escalated or
	// while it holds relaxBelow or more (a 16 MiB ring fills in ~1 s at
	// saturation). Otherwise the watcher sleeps until the programs wake
	// the ring's reader, looking at least every quietLook.
	escalateTick = 100 * time.Millisecond
	quietLook    = time.Second
)

// schedEscalation is the hysteresis: escalated while the ring backs up.
type schedEscalation struct {
	escalated bool
	lowSince  time.Time // zero: not below relaxBelow since the last check
}

// step takes the ring's used share at now and returns whether the daemon
// should run SCHED_NORMAL.
func (e *schedEscalation) step(now time.Time, used float64) bool {
	switch {
	case used > escalateAbove:
		e.escalated, e.lowSince = true, time.Time{}
	case !e.escalated:
	case used >= relaxBelow:
		e.lowSince = time.Time{}
	case e.lowSince.IsZero():
		e.lowSince = now
	case now.Sub(e.lowSince) >= relaxAfter:
		e.escalated, e.lowSince = false, time.Time{}
	}
	return e.escalated
}

// schedWatch moves the daemon's threads out of SCHED_IDLE while the
// sensor's ring backs up (schedEscalation), and back.
type schedWatch struct {
	used func() float64 // the ring's used share (bpf.Sensor.RingUsed)
	// wait blocks the thread until the programs wake the ring's reader or
	// the duration passes; false once the sensor is closed
	// (bpf.Sensor.WaitRing).
	wait    func(time.Duration) (bool, error)
	look    time.Duration  // the longest wait (0: quietLook)
	policy  func() string  // the configured policy (schedFor)
	reloads func() uint64  // grows when applyCPUPriority ran again
	count   *atomic.Uint64 // escalations
	log     zerolog.Logger
}

// run watches until done is closed or the sensor is, on a thread of its
// own kept SCHED_NORMAL: at SCHED_IDLE under saturation it would not run
// either. Only under the idle policy; a reload resets it (applyCPUPriority
// set every thread to the configured policy).
//
// It sleeps in the kernel either way (sleepThread, WaitRing), and as
// seldom as it can: every sleep of the thread longer than 10 ms makes Go's
// sysmon take its P back, which restarts sysmon's 20 µs polling (with
// the ring reader's waits, which did the same, the daemon's sysmon woke
// ~2,400 times a second at 10k req/s; ~300 without either).
func (w schedWatch) run(done <-chan struct{}) {
	self, err := pinNormal()
	if err != nil {
		w.log.Warn().Err(err).Msg("ebpf: no escalation out of SCHED_IDLE")
		return
	}
	var e schedEscalation
	reloads, logged := w.reloads(), false
	busy := false
	for {
		if e.escalated || busy || w.wait == nil {
			// Escalated, or the ring held an eighth or more at the last
			// look (near the wakeup point, where every record would wake
			// WaitRing): look again in a tick.
			sleepThread(escalateTick)
		} else {
			look := w.look
			if look <= 0 {
				look = quietLook
			}
			ok, err := w.wait(look)
			if err != nil {
				w.log.Warn().Err(err).Msg("ebpf: waiting on the ring; looking at it every 100 ms instead")
				w.wait = nil
			} else if !ok {
				return // the sensor is closed
			}
		}
		select {
		case <-done:
			return
		default:
		}
		if r := w.reloads(); r != reloads {
			reloads, e = r, schedEscalation{}
			if _, err := pinNormal(); err != nil {
				w.log.Warn().Err(err).Msg("ebpf: no escalation out of SCHED_IDLE")
				return
			}
		}
		if w.policy() != "idle" {
			continue
		}
		was, used := e.escalated, w.used()
		busy = used >= relaxBelow
		now := e.step(time.Now(), used)
		if now == was {
			continue
		}
		policy, msg := "idle", "ebpf ring drained: daemon back to SCHED_IDLE"
		if now {
			policy, msg = "normal", "ebpf ring backing up: daemon SCHED_NORMAL until it drains"
			w.count.Add(1)
		}
		if err := setSchedExcept(policy, self); err != nil {
			w.log.Warn().Err(err).Msg("ebpf: CPU scheduling policy unchanged")
			e.escalated = was // try again at the next look
			continue
		}
		ev := w.log.Debug()
		if !logged {
			ev, logged = w.log.Info(), true
		}
		ev.Str("sched", policy).Float64("ring_used", used).Msg(msg)
	}
}
