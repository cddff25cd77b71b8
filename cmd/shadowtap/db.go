package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/storage"
)

// dbNone is the --db value that keeps state in memory only.
const dbNone = "none"

// dbEnv overrides the default store of the CLI commands (tests set it to
// "none"; operators may point it elsewhere).
const dbEnv = "SHADOWTAP_DB"

// defaultDBDir is the store used when --db is not given: $SHADOWTAP_DB,
// else /var/lib/shadowtap for the daemon run as root, else the user's data
// directory ($XDG_DATA_HOME/shadowtap, or ~/.local/share/shadowtap).
func defaultDBDir(daemon bool) string {
	if v := os.Getenv(dbEnv); v != "" {
		return v
	}
	if daemon && os.Geteuid() == 0 {
		return "/var/lib/shadowtap"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "shadowtap")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "shadowtap")
	}
	return dbNone
}

// storeLogger is newLogger without the command's component: the store
// scopes its lines with component=storage itself.
func storeLogger(w io.Writer, level string) zerolog.Logger {
	l := newLogger(w, level)
	out := w
	if isTerminal(w) {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(out).Level(l.GetLevel()).With().Timestamp().Logger()
}

// openStore opens the store named by --db: "none" (or "") gives an
// in-memory store. close releases it.
func openStore(dir string, log zerolog.Logger) (s detect.Store, db *storage.DB, close func() error, err error) {
	if dir == "" || dir == dbNone {
		return detect.NewMemStore(), nil, func() error { return nil }, nil
	}
	db, err = storage.Open(dir, storage.Options{Logger: log})
	if err != nil {
		if errors.Is(err, storage.ErrLocked) {
			return nil, nil, nil, fmt.Errorf("--db %s: another shadowtap is using this store (use another --db, or --db none)", dir)
		}
		return nil, nil, nil, fmt.Errorf("--db: %w", err)
	}
	db.Start()
	return db, db, db.Close, nil
}

// storeFlag adds --db to a query command's flags.
func storeFlag(fsDB *string, fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(fsDB, "db", defaultDBDir(false), "store `DIR` to read")
}

// openQueryStore opens an existing store for the query commands; a
// missing directory is an error rather than a new empty store.
func openQueryStore(dir string, stderr io.Writer) (*storage.DB, error) {
	if dir == "" || dir == dbNone {
		return nil, errors.New("--db none holds nothing to query")
	}
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("no store at %s (analyze --db %s writes one)", dir, dir)
	}
	_, db, _, err := openStore(dir, storeLogger(stderr, "warn"))
	return db, err
}

// runDB implements `shadowtap db stats|compact|backup|restore`.
func runDB(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintf(stderr, "Usage: shadowtap db stats|compact|backup FILE|restore FILE [--db DIR] [--json]\n\n"+
			"  stats     keys by kind, bytes on disk, schema version, what the size bound dropped\n"+
			"  compact   flatten the LSM tree and rewrite value-log files holding stale data\n"+
			"  backup    write a consistent copy of the store to FILE (\"-\" = stdout)\n"+
			"  restore   load a backup from FILE (\"-\" = stdin) into the store\n")
		return errUsage
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		return usage()
	}
	sub := args[0]
	var dir string
	var asJSON bool
	fs := newFlagSet("db "+sub, "[flags]", stderr)
	storeFlag(&dir, fs)
	fs.BoolVar(&asJSON, "json", false, "stats as JSON")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	var file string
	switch sub {
	case "stats", "compact":
		if fs.NArg() != 0 {
			return usage()
		}
	case "backup", "restore":
		if fs.NArg() != 1 {
			return usage()
		}
		file = fs.Arg(0)
	default:
		return usage()
	}
	if sub == "restore" {
		// Restoring may create the store.
		if dir == "" || dir == dbNone {
			return errors.New("--db none: nowhere to restore to")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	db, err := openQueryStore(dir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "stats":
		st, err := db.Stats()
		if err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "store\t%s\nschema\t%d\nkeys\t%d\n", st.Dir, st.Schema, st.Keys)
		for _, p := range []struct{ prefix, what string }{{"s/", "engine state"}, {"a/", "alerts"}, {"k/", "acknowledgements"}, {"t/", "transaction samples"}, {"v/", "views"}, {"m/", "metadata"}} {
			fmt.Fprintf(tw, "  %s\t%d\t(%s)\n", p.prefix, st.KeysByPrefix[p.prefix], p.what)
		}
		fmt.Fprintf(tw, "disk\t%.1f MB (LSM %.1f MB, value log %.1f MB)\n", float64(st.DiskBytes)/1e6, float64(st.LSMBytes)/1e6, float64(st.VlogBytes)/1e6)
		if st.MaxBytes > 0 {
			fmt.Fprintf(tw, "bound\t%.1f MB\n", float64(st.MaxBytes)/1e6)
		}
		if gen, err := detect.SavedGeneration(db); err == nil && gen > 0 {
			fmt.Fprintf(tw, "saves\t%d\n", gen)
		}
		return tw.Flush()
	case "compact":
		before, _ := db.Stats()
		start := time.Now()
		if err := db.Compact(); err != nil {
			return err
		}
		after, _ := db.Stats()
		fmt.Fprintf(stdout, "compacted %s in %s: %.1f MB → %.1f MB\n", dir, time.Since(start).Round(time.Millisecond),
			float64(before.DiskBytes)/1e6, float64(after.DiskBytes)/1e6)
		return nil
	case "backup":
		w, closeW, err := createOut(file, stdout)
		if err != nil {
			return err
		}
		if err := db.Backup(w); err != nil {
			closeW()
			return err
		}
		return closeW()
	case "restore":
		r := io.Reader(os.Stdin)
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("opening backup: %w", err)
			}
			defer f.Close()
			r = f
		}
		return db.Restore(r)
	}
	return nil
}

// createOut opens path for writing ("-" = stdout).
func createOut(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return f, f.Close, nil
}

// persister saves the engine's state during analysis, every saveEvery of
// capture time but at most once per minWall of wall-clock time, and at the
// end. (A periodic save is there so that an interrupted run loses little
// work, which is counted in wall time: an offline run going through a
// week of capture in seconds would otherwise spend its time encoding the
// state 28 times over. The final state is the same either way.) The engine encodes a snapshot on its own
// goroutine (between two transactions); a writer goroutine applies it to
// the store, so the store's I/O is off the engine's and the packets' path.
// One write is in flight at a time: while it is, the next save waits for
// the first transaction after it completes.
type persister struct {
	engine *detect.Engine
	store  detect.Store
	log    zerolog.Logger
	every  time.Duration
	opts   detect.SaveOptions
	// minWall is the least wall-clock time between two periodic saves (0:
	// no limit); lastWall is when the last one (or the run) started.
	minWall  time.Duration
	lastWall time.Time

	// sampleEvery keeps one transaction in that many (0: none) as a
	// sample, stored with sampleTTL along with the next save; at most
	// maxPendingSamples wait, further ones are counted in samplesDropped.
	sampleEvery    uint64
	sampleTTL      time.Duration
	samples        []detect.Mutation
	sampleSeq      uint64
	samplesDropped uint64

	last     time.Time // capture time of the last save
	requests uint64    // transactions that reached the inventory
	busy     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error // the first failed write
	saves    uint64
}

func newPersister(e *detect.Engine, s detect.Store, every, minWall time.Duration, o detect.SaveOptions, log zerolog.Logger) *persister {
	return &persister{engine: e, store: s, every: every, minWall: minWall, lastWall: time.Now(),
		opts: o, log: log, busy: make(chan struct{}, 1)}
}

// observed is called on the engine's goroutine after each transaction.
func (p *persister) observed(t *reassembly.Transaction, endpoint string) {
	ts := t.RequestTime
	if ts.IsZero() {
		ts = t.ResponseTime
	}
	if endpoint != "" {
		p.requests++
		if p.sampleEvery > 0 && p.requests%p.sampleEvery == 1%p.sampleEvery {
			p.sample(t, ts, endpoint)
		}
	}
	if p.last.IsZero() {
		p.last = ts
	}
	if len(p.samples) >= maxPendingSamples/2 {
		p.writeSamples() // do not let samples wait (and drop) for a save
	}
	if p.every <= 0 || ts.Sub(p.last) < p.every {
		return
	}
	if p.minWall > 0 && time.Since(p.lastWall) < p.minWall {
		p.last = ts // too soon: the next chance is saveEvery of capture on
		return
	}
	select {
	case p.busy <- struct{}{}:
	default:
		return // a write is in flight
	}
	p.last, p.lastWall = ts, time.Now()
	sn, err := p.engine.Snapshot(p.store, p.opts)
	if err != nil {
		<-p.busy
		p.fail(err)
		return
	}
	requests := p.requests
	samples := p.takeSamples()
	p.log.Debug().Uint64("generation", sn.Generation()).Uint64("requests", requests).Msg("state snapshot")
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.busy }()
		start := time.Now()
		if err := p.store.Apply(samples); err != nil {
			p.fail(err)
		}
		if err := sn.Write(p.store); err != nil {
			p.fail(err)
			return
		}
		p.mu.Lock()
		p.saves++
		p.mu.Unlock()
		p.log.Debug().Uint64("generation", sn.Generation()).Dur("took", time.Since(start)).Msg("state saved")
	}()
}

// writeSamples hands the pending samples to a write of their own, unless
// a write is in flight (they then wait for the next chance).
func (p *persister) writeSamples() {
	select {
	case p.busy <- struct{}{}:
	default:
		return
	}
	samples := p.takeSamples()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() { <-p.busy }()
		if err := p.store.Apply(samples); err != nil {
			p.fail(err)
		}
	}()
}

// maxPendingSamples bounds the samples waiting for the next save.
const maxPendingSamples = 4096

// sample keeps t as a sample (the engine's goroutine).
func (p *persister) sample(t *reassembly.Transaction, ts time.Time, endpoint string) {
	if len(p.samples) >= maxPendingSamples {
		p.samplesDropped++
		return
	}
	x := detect.TxSample{
		TS: formatTime(ts), Client: t.Client.String(), Server: t.Server.String(),
		Method: t.Method, Host: detect.EndpointHost(t), Endpoint: endpoint, Status: t.Status,
		ReqBodyBytes: t.ReqBodyBytes, RespBodyBytes: t.RespBodyBytes, Protocol: t.Protocol,
	}
	if !t.RequestTime.IsZero() && !t.ResponseTime.IsZero() {
		ms := float64(t.ResponseTime.Sub(t.RequestTime).Microseconds()) / 1000
		x.LatencyMS = &ms
	}
	p.sampleSeq++
	m, err := detect.SampleMutation(ts, p.sampleSeq, &x, p.sampleTTL)
	if err != nil {
		p.fail(err)
		return
	}
	p.samples = append(p.samples, m)
}

// takeSamples hands the pending samples over to a write.
func (p *persister) takeSamples() []detect.Mutation {
	s := p.samples
	p.samples = nil
	return s
}

func (p *persister) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log.Error().Err(err).Msg("state not saved; retrying at the next save")
	if p.err == nil {
		p.err = err
	}
}

// final waits for the write in flight and saves the final state.
func (p *persister) final() error {
	p.wg.Wait()
	if err := p.store.Apply(p.takeSamples()); err != nil {
		return fmt.Errorf("saving transaction samples: %w", err)
	}
	sn, err := p.engine.Snapshot(p.store, p.opts)
	if err == nil {
		p.log.Debug().Uint64("generation", sn.Generation()).Uint64("requests", p.requests).Msg("state snapshot")
		err = sn.Write(p.store)
	}
	if err != nil {
		return fmt.Errorf("saving state: %w", err)
	}
	p.log.Debug().Uint64("generation", sn.Generation()).Msg("state saved")
	p.log.Info().Uint64("periodic_saves", p.saves).Uint64("requests", p.requests).Uint64("samples", p.sampleSeq).
		Uint64("samples_dropped", p.samplesDropped).Msg("state persisted")
	return nil
}
