package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shadowtap/shadowtap/capture"
	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/reassembly/content"
)

// analyzeConfig is what the analyze flags say.
type analyzeConfig struct {
	files        []string
	specs        []string
	report       string
	transactions string
	filter       string
	workers      int
	maxBody      int
	progress     bool
	logLevel     string
	cpuProfile   string
	memProfile   string
	// db is the store's directory; "" or "none" keeps state in memory
	// only (demo, eval and spec leave it empty).
	db string
	// dbSaveEvery is the capture time between periodic saves, dbSaveWall
	// the least wall-clock time between two.
	dbSaveEvery, dbSaveWall time.Duration
	// alertRetention is the TTL of stored alerts.
	alertRetention time.Duration
	// sampleEvery keeps one transaction in that many in the store, for
	// sampleRetention.
	sampleEvery     uint64
	sampleRetention time.Duration
}

func runAnalyze(args []string, stdout, stderr io.Writer) error {
	var cfg analyzeConfig
	var specs multiFlag
	fs := newFlagSet("analyze", "[flags] FILE...", stderr)
	fs.Var(&specs, "spec", "OpenAPI 3.x / Swagger 2.0 `FILE` (YAML or JSON) documenting the API; repeatable")
	fs.StringVar(&cfg.report, "report", "", "write the JSON report to `FILE` (\"-\" = stdout); without it a table is printed")
	fs.StringVar(&cfg.transactions, "transactions", "", "write one JSON object per HTTP transaction to `FILE` (\"-\" = stdout)")
	fs.StringVar(&cfg.filter, "filter", "", "capture filter `EXPR` in tcpdump syntax (host, net, port, tcp/udp, and/or/not)")
	fs.IntVar(&cfg.workers, "workers", 0, "reassembly workers, flows sharded by a symmetric hash (0 = one per core, at most 8); the results are the same for any number")
	fs.IntVar(&cfg.maxBody, "max-body", 0, "bytes of each decoded body kept for inspection (0 = 64 KiB, -1 = none)")
	fs.StringVar(&cfg.logLevel, "log-level", "warn", "log `LEVEL` on stderr: debug (every pipeline counter), info, warn, error")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a pprof CPU profile to `FILE`")
	fs.StringVar(&cfg.memProfile, "memprofile", "", "write a pprof heap profile to `FILE` at the end")
	fs.StringVar(&cfg.db, "db", defaultDBDir(false), "badger store `DIR` to read prior state from and persist into (\"none\" = memory only)")
	fs.DurationVar(&cfg.dbSaveEvery, "db-save-every", 6*time.Hour, "save state to the store every `DURATION` of capture time (and at the end)")
	fs.DurationVar(&cfg.dbSaveWall, "db-save-wall", 10*time.Second, "but at most once per `DURATION` of wall-clock time (0 = no limit)")
	fs.DurationVar(&cfg.alertRetention, "alert-retention", detect.DefaultAlertRetention, "keep stored alerts `DURATION` after they last changed")
	fs.Uint64Var(&cfg.sampleEvery, "db-sample", 1000, "keep one transaction in `N` in the store (endpoint template, no URI; 0 = none)")
	fs.DurationVar(&cfg.sampleRetention, "sample-retention", detect.DefaultSampleRetention, "keep stored transaction samples `DURATION`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.files = fs.Args()
	cfg.specs = specs
	if len(cfg.files) == 0 {
		fs.Usage()
		return errUsage
	}
	cfg.progress = isTerminal(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stopProfiles, err := startProfiles(cfg.cpuProfile, cfg.memProfile)
	if err != nil {
		return err
	}
	err = analyze(ctx, cfg, stdout, stderr)
	if perr := stopProfiles(); err == nil {
		err = perr
	}
	return err
}

// startProfiles starts CPU profiling and returns the function that stops it
// and writes the heap profile.
func startProfiles(cpu, mem string) (func() error, error) {
	var cpuFile *os.File
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, fmt.Errorf("creating CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("starting CPU profile: %w", err)
		}
		cpuFile = f
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return fmt.Errorf("writing CPU profile: %w", err)
			}
		}
		if mem != "" {
			f, err := os.Create(mem)
			if err != nil {
				return fmt.Errorf("creating heap profile: %w", err)
			}
			defer f.Close()
			if err := pprof.WriteHeapProfile(f); err != nil {
				return fmt.Errorf("writing heap profile: %w", err)
			}
		}
		return nil
	}, nil
}

func analyze(ctx context.Context, cfg analyzeConfig, stdout, stderr io.Writer) error {
	_, rep, err := inventory(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	if cfg.report == "" {
		printReport(stdout, &rep)
		return nil
	}
	return writeJSONFile(cfg.report, stdout, &rep)
}

// inventory runs the captures through the pipeline and the engine, writing
// transactions where asked, and returns the engine and its report.
func inventory(ctx context.Context, cfg analyzeConfig, stdout, stderr io.Writer) (*detect.Engine, detect.Report, error) {
	var rep detect.Report
	filter, err := capture.ParseFilter(cfg.filter)
	if err != nil {
		return nil, rep, fmt.Errorf("--filter: %w", err)
	}
	var specs []*detect.Spec
	for _, path := range cfg.specs {
		s, err := detect.LoadSpec(path)
		if err != nil {
			return nil, rep, err
		}
		specs = append(specs, s)
	}
	engine, err := detect.NewEngine(detect.Options{Specs: specs})
	if err != nil {
		return nil, rep, err
	}
	log := newLogger(stderr, cfg.logLevel)
	var persist *persister
	if cfg.db != "" && cfg.db != dbNone {
		store, _, closeStore, err := openStore(cfg.db, storeLogger(stderr, cfg.logLevel))
		if err != nil {
			return nil, rep, err
		}
		defer closeStore()
		if err := engine.Load(store); err != nil {
			return nil, rep, fmt.Errorf("loading state from %s: %w", cfg.db, err)
		}
		persist = newPersister(engine, store, cfg.dbSaveEvery, cfg.dbSaveWall, detect.SaveOptions{AlertRetention: cfg.alertRetention}, log)
		persist.sampleEvery, persist.sampleTTL = cfg.sampleEvery, cfg.sampleRetention
	}
	src, err := capture.OpenFiles(cfg.files...)
	if err != nil {
		return nil, rep, err
	}
	defer src.Close()

	var txOut *lineWriter
	if cfg.transactions != "" {
		txOut, err = openLineWriter(cfg.transactions, stdout)
		if err != nil {
			return nil, rep, err
		}
		defer txOut.Close()
	}

	var bar *progressBar
	var source capture.Source = src
	if cfg.progress {
		bar = startProgress(stderr)
		source = bar.wrap(src)
	}

	// The engine runs on its own goroutine, fed batches of transactions in
	// the order the sink receives them, so reassembly and inventory use a
	// core each. The sink is called from one goroutine, in the same order
	// for any number of workers.
	// Each transaction is prepared (detect.Engine.Prepare: the scans and
	// parsing that need no engine state) on the reassembly worker that
	// completed it (Options.Prepare), so the engine goroutine only applies
	// the result.
	// The workers' parsers share one pool of decoders and body samples,
	// to which the engine goroutine gives each sample back once the
	// transaction is applied (nothing keeps a slice of a body).
	decoders := new(content.Pool)
	// The transactions' structs go back to reassembly once applied, as the
	// samples do (nothing keeps a *Transaction).
	txs := new(reassembly.TxPool)
	var rec txRecord
	red := engine.Redactor()
	var feed *engineFeed
	feed = newEngineFeed(engine, func(t *reassembly.Transaction) {
		endpoint := feed.observeFed(engine, t)
		if txOut != nil {
			rec.fill(t, endpoint, red)
			txOut.write(&rec)
		}
		if persist != nil {
			persist.observed(t, endpoint)
		}
		decoders.PutSample(t.ReqBody)
		decoders.PutSample(t.RespBody)
		t.ReqBody, t.RespBody = nil, nil
		txs.Put(t)
	})
	workers := cfg.workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	httpOpts := httpOptions(cfg.maxBody)
	httpOpts.Decoders = decoders
	stats, err := reassembly.Run(ctx, source, reassembly.Options{
		Workers:      workers,
		Filter:       filter,
		HTTP:         httpOpts,
		Prepare:      feed.prepare,
		Transactions: txs,
	}, feed.enqueue) // prepared by Options.Prepare
	feed.close()
	if bar != nil {
		bar.stop()
	}
	if persist != nil {
		// What was analysed is kept even when the input ended in error.
		if perr := persist.final(); err == nil {
			err = perr
		}
	}
	if err != nil {
		return nil, rep, err
	}
	if txOut != nil {
		if err := txOut.Close(); err != nil {
			return nil, rep, err
		}
	}

	logStats(log, &stats)
	rep = engine.Report()
	rep.GeneratedAt = time.Now().UTC()
	warnings := rep.Summary.Warnings
	rep.Summary = summaryFrom(stats)
	rep.Summary.Warnings = append(rep.Summary.Warnings, warnings...)
	return engine, rep, nil
}

// writeJSONFile writes v as indented JSON to path ("-" = stdout).
func writeJSONFile(path string, stdout io.Writer, v any) error {
	w := stdout
	var f *os.File
	if path != "-" {
		var err error
		if f, err = os.Create(path); err != nil {
			return fmt.Errorf("creating report: %w", err)
		}
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		if f != nil {
			f.Close()
		}
		return fmt.Errorf("writing report: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing report: %w", err)
		}
	}
	return nil
}

// lineWriter writes JSON lines to a file or stdout.
type lineWriter struct {
	f   *os.File
	bw  *bufio.Writer
	enc *json.Encoder
	err error
}

func openLineWriter(path string, stdout io.Writer) (*lineWriter, error) {
	lw := &lineWriter{}
	var w io.Writer = stdout
	if path != "-" {
		f, err := os.Create(path)
		if err != nil {
			return nil, fmt.Errorf("creating transactions output: %w", err)
		}
		lw.f, w = f, f
	}
	lw.bw = bufio.NewWriterSize(w, 256<<10)
	lw.enc = json.NewEncoder(lw.bw)
	lw.enc.SetEscapeHTML(false)
	return lw, nil
}

func (lw *lineWriter) write(v any) {
	if lw.err == nil {
		lw.err = lw.enc.Encode(v)
	}
}

// Close flushes and closes; it is safe to call twice.
func (lw *lineWriter) Close() error {
	if lw.bw == nil {
		return lw.err
	}
	if err := lw.bw.Flush(); err != nil && lw.err == nil {
		lw.err = err
	}
	lw.bw = nil
	if lw.f != nil {
		if err := lw.f.Close(); err != nil && lw.err == nil {
			lw.err = err
		}
	}
	if lw.err != nil {
		return fmt.Errorf("writing transactions: %w", lw.err)
	}
	return nil
}

// txBatcher hands transactions to the queue ch in batches of feedBatch,
// preserving the order in which add is called (add holds the lock while it
// hands a batch on). Its methods are safe for concurrent use; no add may
// follow closeQueue.
//
// When engine is set, transactions are prepared with it
// (detect.Engine.Prepare) into Transaction.Prepared: by prepare, which
// reassembly calls on its workers (Options.Prepare), else by add on the
// caller's goroutine, outside the lock. The consumer applies the result
// with observeFed, which hands the Prepared back for reuse.
type txBatcher struct {
	mu    sync.Mutex
	batch []*reassembly.Transaction
	ch    chan []*reassembly.Transaction
	// free holds batches the consumer is done with (see recycle).
	free   chan []*reassembly.Transaction
	engine atomic.Pointer[detect.Engine]
	pool   sync.Pool // of *detect.Prepared
}

// feedBatch is the transactions per hand-over; feedQueue the batches in
// flight (the bound on memory held between the two goroutines).
const (
	feedBatch = 64
	feedQueue = 64
)

func newTxBatcher() txBatcher {
	return txBatcher{
		ch:   make(chan []*reassembly.Transaction, feedQueue),
		free: make(chan []*reassembly.Transaction, feedQueue),
	}
}

// add prepares t unless it was (see prepare), then hands it on.
func (f *txBatcher) add(t *reassembly.Transaction) {
	if t.Prepared == nil {
		f.prepare(t)
	}
	f.enqueue(t)
}

// enqueue hands t on as it is: add for a caller whose transactions were
// all handed to prepare already (reassembly with Options.Prepare), which
// need not read t again. One whose Prepare panicked stays unprepared: the
// consumer observes it unprepared (observeFed), as add would have after
// the same panic.
func (f *txBatcher) enqueue(t *reassembly.Transaction) {
	f.mu.Lock()
	f.batch = append(f.batch, t)
	if len(f.batch) >= feedBatch {
		f.ch <- f.batch
		f.batch = f.newBatch()
	}
	f.mu.Unlock()
}

// newBatch returns an empty batch, one the consumer recycled if any.
func (f *txBatcher) newBatch() []*reassembly.Transaction {
	select {
	case b := <-f.free:
		return b
	default:
		return make([]*reassembly.Transaction, 0, feedBatch)
	}
}

// recycle takes back a batch the consumer has handled, for newBatch.
func (f *txBatcher) recycle(b []*reassembly.Transaction) {
	clear(b)
	select {
	case f.free <- b[:0]:
	default:
	}
}

// prepare sets t.Prepared to t prepared by the engine (when there is one).
// When Prepare panics t stays unprepared: the consumer then observes it
// unprepared, where a panic is handled as it always was (the daemon
// counts it and skips the transaction).
func (f *txBatcher) prepare(t *reassembly.Transaction) {
	e := f.engine.Load()
	if e == nil {
		return
	}
	p, _ := f.pool.Get().(*detect.Prepared)
	if p == nil {
		p = new(detect.Prepared)
	}
	defer func() {
		if recover() != nil {
			t.Prepared = nil
		}
	}()
	e.Prepare(t, p)
	t.Prepared = p
}

// observeFed applies a fed transaction to the engine (ObservePrepared when
// it was prepared, else Observe) and hands its Prepared back for reuse.
func (f *txBatcher) observeFed(e *detect.Engine, t *reassembly.Transaction) string {
	p, _ := t.Prepared.(*detect.Prepared)
	if p == nil {
		return e.Observe(t)
	}
	t.Prepared = nil
	defer f.pool.Put(p)
	return e.ObservePrepared(t, p)
}

// push hands on a partial batch if the queue has room. It is called by
// the queue's consumer: it skips the round while add holds the lock, as
// add may be waiting for that consumer to make room (a deadlock once the
// queue was full, seen under saturation with run --ebpf).
func (f *txBatcher) push() {
	if !f.mu.TryLock() {
		return
	}
	if len(f.batch) > 0 {
		select {
		case f.ch <- f.batch:
			f.batch = f.newBatch()
		default:
		}
	}
	f.mu.Unlock()
}

// closeQueue hands on the last batch and closes the queue.
func (f *txBatcher) closeQueue() {
	f.mu.Lock()
	if len(f.batch) > 0 {
		f.ch <- f.batch
		f.batch = nil
	}
	f.mu.Unlock()
	close(f.ch)
}

// engineFeed hands transactions, prepared by engine, to one consumer
// goroutine in batches, preserving the order in which add is called. add
// and prepare are safe for concurrent use; close flushes and waits for the
// consumer.
type engineFeed struct {
	txBatcher
	done    chan struct{}
	consume func(*reassembly.Transaction)
}

func newEngineFeed(engine *detect.Engine, consume func(*reassembly.Transaction)) *engineFeed {
	f := &engineFeed{txBatcher: newTxBatcher(), done: make(chan struct{}), consume: consume}
	f.engine.Store(engine)
	go func() {
		defer close(f.done)
		for b := range f.ch {
			for _, t := range b {
				f.consume(t)
			}
			f.recycle(b)
		}
	}()
	return f
}

func (f *engineFeed) close() {
	f.closeQueue()
	<-f.done
}
