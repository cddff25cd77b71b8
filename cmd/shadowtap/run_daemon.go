package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
)

// Shutdown bounds: the contract gives SIGTERM 10 s in all.
const (
	sinkDrainTimeout = 3 * time.Second
	httpStopTimeout  = time.Second
)

// errStopped is returned by requests to an engine loop that has ended.
var errStopped = errors.New("daemon is stopping")

// pipelineCounts returns the flows and parse errors so far: those of the
// reassembly runs that ended and the running ones' progress.
func (d *daemon) pipelineCounts() (flows, parseErrors uint64) {
	d.finMu.Lock()
	defer d.finMu.Unlock()
	flows, parseErrors = d.finished.Flows, d.finished.ParseErrors
	for _, s := range d.sources {
		if p := s.progress; p != nil {
			flows += p.Flows
			parseErrors += p.ParseErrors
		}
	}
	return flows, parseErrors
}

// daemonCounters are the daemon's own counters, safe for concurrent use.
type daemonCounters struct {
	transactions   atomic.Uint64 // handed to the engine
	shedBodies     atomic.Uint64 // transactions whose body samples were dropped (memory budget)
	txWriteErrors  atomic.Uint64 // --transactions writes that failed (disk full...)
	txLinesLost    atomic.Uint64 // transaction lines lost to those failures
	flushes        atomic.Uint64
	flushErrors    atomic.Uint64
	storeSize      atomic.Int64
	panics         atomic.Uint64
	reloads        atomic.Uint64
	reloadErrors   atomic.Uint64
	alertsUntraced atomic.Uint64 // alerts not sent: the tracker was full
	alertsReplayed atomic.Uint64 // alerts handed to a sink again from the outbox
	endpoints      atomic.Int64
	alerts         [len(alertKinds) + 1]atomic.Uint64 // by kind; last = other
}

// alertKinds is the contract's vocabulary, the label values of the alert
// counter.
var alertKinds = [...]string{
	detect.KindShadowEndpoint, detect.KindEnumeration, detect.KindExfiltration, detect.KindAuthAbuse,
	detect.KindCredentialMisuse, detect.KindSecretExposure, detect.KindSensitiveDataExposure, detect.KindRateAnomaly,
}

func kindIndex(k string) int {
	for i, v := range alertKinds {
		if v == k {
			return i
		}
	}
	return len(alertKinds)
}

// daemon is one `shadowtap run`. The engine and everything it touches are
// owned by the engine loop's goroutine (loop); other goroutines reach them
// through do.
type daemon struct {
	log      zerolog.Logger
	logLevel *levelFilter
	stdout   io.Writer
	cfgMu    sync.Mutex
	cfg      daemonConfig // guarded by cfgMu (read by the API, replaced on reload)
	token    string

	counters daemonCounters
	budget   *memBudget
	// recycle takes back the transactions and body samples the engine
	// loop is done with (run_recycle.go); nil: nothing is recycled.
	recycle  *recycler
	sources  []*meteredSource
	running  atomic.Int32 // sources still capturing
	finMu    sync.Mutex
	finished reassembly.Stats // counters of reassembly runs that ended

	store      detect.Store
	storeClose func() error
	storeDir   string

	// Owned by the engine loop.
	engine    *detect.Engine
	specsHash string
	sinks     *sinkSet
	// outbox holds the alerts handed to sinks and not yet delivered (with
	// a store only).
	outbox   *outbox
	sinksPub atomic.Pointer[sinkSet] // for metrics
	tx       *txWriter
	alerts   alertTracker
	observed uint64
	cache    reportCache
	writing  chan struct{} // closed when the store write in flight ends
	flushT   *time.Ticker
	alertT   *time.Ticker

	feed     *liveFeed
	reqs     chan func()
	loopDone chan struct{}
}

// newDaemon builds the daemon's parts from its configuration: logger, specs,
// engine (with state from the store), sinks, transaction output, sources.
func newDaemon(cfg daemonConfig, stdout, stderr io.Writer) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, stdout: stdout, reqs: make(chan func()), loopDone: make(chan struct{})}
	d.log, d.logLevel = newDaemonLogger(stderr, cfg.LogLevel)
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	if cfg.APITokenFile != "" {
		if d.token, err = readToken(cfg.APITokenFile); err != nil {
			return nil, err
		}
	}
	specs, hash, err := loadSpecs(cfg.Specs)
	if err != nil {
		return nil, err
	}
	d.specsHash = hash
	if d.engine, err = detect.NewEngine(detect.Options{Specs: specs, TrustXFF: cfg.TrustXFF}); err != nil {
		return nil, err
	}
	d.budget = newMemBudget(int64(cfg.MemoryBudget))
	d.recycle = new(recycler)
	// Sources first: a capture that cannot open fails before any file is
	// created.
	if d.sources, err = openSources(&cfg, d.budget, d.recycle); err != nil {
		return nil, err
	}
	closers = append(closers, func() error {
		for _, s := range d.sources {
			s.Close()
		}
		return nil
	})
	if cfg.DB != "" {
		if err := d.openStore(cfg.DB); err != nil {
			return nil, err
		}
		closers = append(closers, d.closeStore)
		if err := d.loadState(); err != nil {
			return nil, err
		}
	}
	if d.sinks, err = openSinks(cfg.Sinks, stdout, d.log); err != nil {
		return nil, err
	}
	if d.store != nil {
		d.outbox = newOutbox(d.store, 0, d.log)
		d.sinks.attach(d.outbox)
	}
	d.sinksPub.Store(d.sinks)
	closers = append(closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return d.sinks.stop(ctx)
	})
	if cfg.Transactions != "" {
		if d.tx, err = openTxWriter(cfg.Transactions, stdout, &d.counters); err != nil {
			return nil, err
		}
		closers = append(closers, d.tx.close)
	}
	applyCPUPriority(&cfg, d.log) // run_budget.go
	d.feed = newLiveFeed(d.budget, &d.counters, d.recycle)
	// The reassembly goroutines prepare transactions with the engine
	// (detect.Engine.Prepare); rebuildEngine swaps it.
	d.feed.engine.Store(d.engine)
	return d, nil
}

// config returns the current configuration.
func (d *daemon) config() daemonConfig {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// run serves until ctx ends (SIGTERM, SIGINT) or a live source fails, then
// stops capture, drains the pipeline, flushes state and closes everything.
// reload re-reads the configuration on SIGHUP.
func (d *daemon) run(ctx context.Context, hup <-chan signalT, reload func() (daemonConfig, error)) error {
	cfg := d.config()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		for _, s := range d.sources {
			s.Close()
		}
		d.shutdownParts()
		return fmt.Errorf("listening for the API: %w", err)
	}
	return d.serve(ctx, ln, hup, reload)
}

// serve is run after the listener is open (tests pass their own).
func (d *daemon) serve(ctx context.Context, ln net.Listener, hup <-chan signalT, reload func() (daemonConfig, error)) error {
	cfg := d.config()
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go srv.Serve(ln)
	d.log.Info().Str("listen", ln.Addr().String()).Int("sources", len(d.sources)).Str("db", cfg.DB).Msg("shadowtap running")

	budgetCtx, stopBudget := context.WithCancel(context.Background())
	go d.budget.run(budgetCtx, d.log)

	d.flushT = time.NewTicker(time.Duration(cfg.FlushInterval))
	d.alertT = time.NewTicker(time.Duration(cfg.AlertInterval))
	d.replayOutbox()
	go d.loop()

	capCtx, stopCapture := context.WithCancel(context.Background())
	srcErr := make(chan error, len(d.sources))
	var capWG sync.WaitGroup
	d.running.Store(int32(len(d.sources)))
	for _, s := range d.sources {
		capWG.Add(1)
		go func() {
			defer capWG.Done()
			defer d.running.Add(-1)
			err := d.capture(capCtx, s, &cfg)
			if err != nil && capCtx.Err() == nil {
				srcErr <- fmt.Errorf("capture from %s: %w", s.name, err)
			}
		}()
	}

	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			d.log.Info().Msg("stopping")
			break wait
		case err := <-srcErr:
			d.log.Error().Err(err).Msg("capture failed; stopping")
			runErr = err
			break wait
		case <-hup:
			d.reload(ctx, reload)
		}
	}

	// Stop capture: cancel, and close the live sources so blocked reads
	// return (files are read to the next context check, then closed).
	stopCapture()
	for _, s := range d.sources {
		if s.kernel != nil {
			s.Close()
		}
	}
	capWG.Wait()
	for _, s := range d.sources {
		s.Close()
	}
	d.feed.close()
	<-d.loopDone
	stopBudget()
	d.flushT.Stop()
	d.alertT.Stop()
	d.shutdownParts()
	hctx, cancel := context.WithTimeout(context.Background(), httpStopTimeout)
	srv.Shutdown(hctx)
	cancel()
	d.log.Info().Uint64("transactions", d.counters.transactions.Load()).Msg("stopped")
	return runErr
}

// shutdownParts drains the sinks and closes the outputs and the store.
func (d *daemon) shutdownParts() {
	ctx, cancel := context.WithTimeout(context.Background(), sinkDrainTimeout)
	if err := d.sinks.stop(ctx); err != nil {
		d.log.Warn().Err(err).Msg("closing sinks")
	}
	cancel()
	if d.tx != nil {
		if err := d.tx.close(); err != nil {
			d.log.Error().Err(err).Msg("closing transactions output")
		}
	}
	if err := d.closeStore(); err != nil {
		d.log.Error().Err(err).Msg("closing store")
	}
}

// capture runs one source through reassembly into the engine feed. A panic
// in the pipeline is counted and logged and the source's reassembly starts
// again (its flows' state is lost), so one bad packet cannot stop the
// sensor.
func (d *daemon) capture(ctx context.Context, s *meteredSource, cfg *daemonConfig) error {
	if s.run != nil || s.note != "" {
		return d.captureEBPF(ctx, s, cfg) // run_ebpf.go
	}
	filter, err := capture.ParseFilter(cfg.Filter)
	if err != nil {
		return fmt.Errorf("--filter: %w", err)
	}
	workers := cfg.Workers
	if s.kernel != nil {
		// A live socket: its fanout share is reassembled in order by one
		// worker, so transactions leave as their packets arrive.
		workers = 1
	}
	opts := reassembly.Options{Workers: workers, Filter: filter, HTTP: d.recycle.httpOptions(cfg.MaxBody),
		Prepare:      d.feed.prepare, // on the reassembly workers
		Transactions: d.recycle.transactions(),
		Progress: func(st reassembly.Stats) {
			d.finMu.Lock()
			s.progress = &st
			d.finMu.Unlock()
		}}
	for {
		st, err, panicked := d.runOnce(ctx, s, opts)
		d.finMu.Lock()
		addStats(&d.finished, &st)
		s.progress = nil
		d.finMu.Unlock()
		if !panicked {
			if err == nil {
				s.ended.Store(true)
				d.log.Info().Str("source", s.name).Msg("capture ended")
			}
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (d *daemon) runOnce(ctx context.Context, s *meteredSource, opts reassembly.Options) (st reassembly.Stats, err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			d.counters.panics.Add(1)
			d.log.Error().Str("source", s.name).Interface("panic", r).Str("stack", string(debug.Stack())).Msg("pipeline panic; restarting the source's reassembly")
			panicked = true
		}
	}()
	st, err = reassembly.Run(ctx, s, opts, d.feed.add)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return st, err, false
}

// addStats adds the counters of one finished reassembly run to total.
func addStats(total, st *reassembly.Stats) {
	total.Packets += st.Packets
	total.Bytes += st.Bytes
	total.Flows += st.Flows
	total.Transactions += st.Transactions
	total.ParseErrors += st.ParseErrors
	total.EvictedFlows += st.EvictedFlows
	total.Filtered += st.Filtered
	total.Warnings = append(total.Warnings, st.Warnings...)
	if len(total.Warnings) > 100 {
		total.Warnings = total.Warnings[len(total.Warnings)-100:]
	}
}

// loop is the engine's goroutine: it consumes transactions, serves
// requests (API reads, reloads), collects alerts and flushes state.
func (d *daemon) loop() {
	defer close(d.loopDone)
	tick := time.NewTicker(feedLinger)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-d.feed.ch:
			if !ok {
				d.collectAlerts()
				d.flushWith(true)
				return
			}
			for _, t := range b {
				d.observe(t)
			}
		case f := <-d.reqs:
			f()
		case <-tick.C:
			d.feed.push()
			if d.tx != nil {
				d.tx.flush()
			}
		case <-d.alertT.C:
			d.collectAlerts()
		case <-d.flushT.C:
			d.flush()
			d.replayOutbox()
		}
	}
}

// observe hands one transaction (prepared by the feed or not) to the
// engine and the transaction output, then gives it back for reuse (unless
// the engine panicked on it: what it may have kept is not known).
func (d *daemon) observe(t *reassembly.Transaction) {
	ep, ok := d.observeSafe(t)
	d.counters.transactions.Add(1)
	d.observed++
	if d.tx != nil {
		d.tx.write(t, ep, d.engine.Redactor())
	}
	if ok {
		d.recycle.put(t)
	}
}

// observeSafe applies t to the engine; ok is false when the engine
// panicked.
func (d *daemon) observeSafe(t *reassembly.Transaction) (ep string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.counters.panics.Add(1)
			d.log.Error().Interface("panic", r).Str("stack", string(debug.Stack())).Msg("engine panic on a transaction; skipped")
		}
	}()
	if d.feed == nil {
		return d.engine.Observe(t), true
	}
	return d.feed.observeFed(d.engine, t), true
}

// do runs f on the engine loop and waits for it.
func (d *daemon) do(ctx context.Context, f func()) error {
	done := make(chan struct{})
	select {
	case d.reqs <- func() { f(); close(done) }:
	case <-d.loopDone:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reportCache keeps the last report while no transaction arrived, so
// repeated API reads of an idle sensor cost the engine nothing.
type reportCache struct {
	rep      detect.Report
	observed uint64
	valid    bool
}

// report returns the engine's report; engine loop only.
func (d *daemon) report() detect.Report {
	c := &d.cache
	if c.valid && c.observed == d.observed {
		return c.rep
	}
	c.rep = d.engine.Report()
	c.observed, c.valid = d.observed, true
	d.counters.endpoints.Store(int64(len(c.rep.Endpoints)))
	return c.rep
}

// snapshot returns the current report from any goroutine. The report is
// shared: callers must not modify it.
func (d *daemon) snapshot(ctx context.Context) (detect.Report, error) {
	var rep detect.Report
	err := d.do(ctx, func() { rep = d.report() })
	return rep, err
}

// alertTracker remembers the alert episodes already sent, so each reaches
// the sinks once. It is bounded: past maxTracked, new episodes are counted
// and not sent.
type alertTracker struct {
	seen map[string]struct{}
}

const maxTracked = 1 << 17

// alertKey identifies an episode as the store does (its id stays as the
// episode grows), so each reaches the sinks once.
func alertKey(a *detect.Alert) string { return detect.AlertID(a) }

// collectAlerts sends the alert episodes not sent before; engine loop only.
func (d *daemon) collectAlerts() {
	rep := d.report()
	if d.alerts.seen == nil {
		d.alerts.seen = map[string]struct{}{}
	}
	for i := range rep.Alerts {
		a := &rep.Alerts[i]
		k := alertKey(a)
		if _, ok := d.alerts.seen[k]; ok {
			continue
		}
		if len(d.alerts.seen) >= maxTracked {
			d.counters.alertsUntraced.Add(1)
			continue
		}
		d.alerts.seen[k] = struct{}{}
		d.counters.alerts[kindIndex(a.Kind)].Add(1)
		m, err := newAlertMsg(*a)
		if err != nil {
			d.log.Error().Err(err).Msg("alert not sent")
			continue
		}
		d.sinks.publish(m)
	}
}

// replayOutbox hands the alerts pending delivery (left by an earlier run,
// dropped or failed) to their sinks again.
func (d *daemon) replayOutbox() {
	if d.outbox == nil {
		return
	}
	if n := d.outbox.replay(d.sinks); n > 0 {
		d.counters.alertsReplayed.Add(uint64(n))
		d.log.Info().Int("alerts", n).Msg("alerts pending delivery handed to their sinks again")
	}
}

// primeAlerts marks the alerts of loaded state as sent: a restart does not
// send them again.
func (d *daemon) primeAlerts() {
	rep := d.engine.Report()
	d.alerts.seen = map[string]struct{}{}
	for i := range rep.Alerts {
		d.alerts.seen[alertKey(&rep.Alerts[i])] = struct{}{}
	}
}

// levelFilter is a zerolog writer whose level can change while loggers
// copied from it are in use on other goroutines (SIGHUP's log_level).
type levelFilter struct {
	w   zerolog.LevelWriter
	lvl atomic.Int32
}

func (f *levelFilter) set(level string) {
	l, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		l = zerolog.InfoLevel
	}
	f.lvl.Store(int32(l))
}

func (f *levelFilter) Write(p []byte) (int, error) { return f.w.Write(p) }

func (f *levelFilter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if int32(l) < f.lvl.Load() {
		return len(p), nil
	}
	return f.w.WriteLevel(l, p)
}

// newDaemonLogger returns the daemon's logger on w (human-readable on a
// terminal, JSON lines otherwise) and the filter that sets its level.
func newDaemonLogger(w io.Writer, level string) (zerolog.Logger, *levelFilter) {
	out := w
	if isTerminal(w) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	f := &levelFilter{w: zerolog.LevelWriterAdapter{Writer: out}}
	f.set(level)
	return zerolog.New(f).With().Timestamp().Str("component", "run").Logger(), f
}
