package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// runFlags are the run command's flags; set records which were given, as
// they override the configuration file.
type runFlags struct {
	config string
	c      daemonConfig
	nice   int
	alerts string
	set    map[string]bool
	// cpuProfile and memProfile are written as analyze's are (flags
	// only; a reload leaves them).
	cpuProfile, memProfile string
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	f := &runFlags{set: map[string]bool{}}
	var ifaces, specs multiFlag
	fs := newFlagSet("run", "[flags]", stderr)
	fs.StringVar(&f.config, "config", "", "YAML configuration `FILE`; flags override it (see deploy/shadowtap.yaml)")
	fs.Var(&ifaces, "iface", "capture from network interface `NAME` through AF_PACKET; repeatable")
	fs.StringVar(&f.c.PCAP, "pcap", "", "feed capture `FILE` through the live pipeline (demos, tests)")
	fs.BoolVar(&f.c.EBPF, "ebpf", false, "capture this host's own traffic through eBPF")
	fs.Var(&specs, "spec", "OpenAPI 3.x / Swagger 2.0 `FILE` documenting the API; repeatable")
	fs.StringVar(&f.c.DB, "db", "", "store `DIR` (default as for analyze, /var/lib/shadowtap as root; \"none\" = memory only)")
	fs.StringVar(&f.c.Transactions, "transactions", "", "append one JSON object per HTTP transaction to `FILE` (\"-\" = stdout)")
	fs.StringVar(&f.c.Listen, "listen", "", "HTTP API and metrics `ADDR` (default "+defaultListen+"); non-loopback needs --api-token-file")
	fs.StringVar(&f.c.APITokenFile, "api-token-file", "", "`FILE` holding the bearer token every API request must present")
	fs.StringVar(&f.alerts, "alerts", "", "append alerts as JSON lines to `FILE` (\"-\" = stdout), besides the configured sinks")
	fs.StringVar(&f.c.Filter, "filter", "", "capture filter `EXPR` in tcpdump syntax")
	fs.IntVar(&f.c.Workers, "workers", 0, "reassembly workers of a --pcap source (default 1; live interfaces use --fanout)")
	fs.IntVar(&f.c.FanoutWorkers, "fanout", 0, "AF_PACKET fanout sockets per interface, each with its own reassembly (default: one per core)")
	fs.IntVar(&f.c.MaxBody, "max-body", 0, "bytes of each decoded body kept for inspection (0 = 64 KiB, -1 = none)")
	fs.BoolVar(&f.c.TrustXFF, "trust-xff", false, "take the client from the first X-Forwarded-For hop")
	fs.StringVar(&f.c.LogLevel, "log-level", "", "log `LEVEL` on stderr: debug, info (default), warn, error")
	fs.Var(&f.c.FlushInterval, "flush-interval", "flush state to the store every `DURATION` (default 30s)")
	fs.Var(&f.c.AlertInterval, "alert-interval", "collect new alerts for the sinks every `DURATION` (default 5s)")
	fs.Var(&f.c.MemoryBudget, "memory-budget", "heap `SIZE` past which load is shed (e.g. 512MiB; default 1GiB; none)")
	fs.IntVar(&f.nice, "nice", 0, "CPU scheduling priority `N` (-20..19)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the whole run to `FILE`")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a pprof heap profile to `FILE` when the daemon stops")
	fs.StringVar(&f.c.Sched, "sched", "", "CPU scheduling `POLICY` of the daemon's threads: idle (default with --ebpf: only CPU time the host's applications leave), batch or normal")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shadowtap run: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return nil, errUsage
	}
	fs.Visit(func(fl *flagT) { f.set[fl.Name] = true })
	f.c.Ifaces, f.c.Specs = ifaces, specs
	return f, nil
}

// resolve reads the configuration file, when given, and lays the flags
// over it. It runs at start and again on SIGHUP.
func (f *runFlags) resolve(defaultDB string) (daemonConfig, error) {
	var c daemonConfig
	if f.config != "" {
		var err error
		if c, err = loadConfig(f.config); err != nil {
			return c, err
		}
	}
	for name := range f.set {
		switch name {
		case "iface":
			c.Ifaces = f.c.Ifaces
		case "pcap":
			c.PCAP = f.c.PCAP
		case "ebpf":
			c.EBPF = f.c.EBPF
		case "spec":
			c.Specs = f.c.Specs
		case "db":
			c.DB = f.c.DB
		case "transactions":
			c.Transactions = f.c.Transactions
		case "listen":
			c.Listen = f.c.Listen
		case "api-token-file":
			c.APITokenFile = f.c.APITokenFile
		case "filter":
			c.Filter = f.c.Filter
		case "workers":
			c.Workers = f.c.Workers
		case "fanout":
			c.FanoutWorkers = f.c.FanoutWorkers
		case "max-body":
			c.MaxBody = f.c.MaxBody
		case "trust-xff":
			c.TrustXFF = f.c.TrustXFF
		case "log-level":
			c.LogLevel = f.c.LogLevel
		case "flush-interval":
			c.FlushInterval = f.c.FlushInterval
		case "alert-interval":
			c.AlertInterval = f.c.AlertInterval
		case "memory-budget":
			c.MemoryBudget = f.c.MemoryBudget
		case "nice":
			n := f.nice
			c.Nice = &n
		case "sched":
			c.Sched = f.c.Sched
		case "alerts":
			c.Sinks = append(c.Sinks, sinkConfig{Type: "jsonl", Name: "alerts-flag", Path: f.alerts})
		}
	}
	return c.withDefaults(defaultDB)
}

// runRun implements `shadowtap run`, the live sensor daemon.
func runRun(args []string, stdout, stderr io.Writer) error {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		return err
	}
	defaultDB := defaultDBDir(true)
	cfg, err := f.resolve(defaultDB)
	if err != nil {
		if errors.Is(err, errConfig) {
			fmt.Fprintf(stderr, "shadowtap run: %v\n", err)
			return errUsage
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	stopProfiles, err := startProfiles(f.cpuProfile, f.memProfile)
	if err != nil {
		return err
	}
	d, err := newDaemon(cfg, stdout, stderr)
	if err == nil {
		err = d.run(ctx, hup, func() (daemonConfig, error) { return f.resolve(defaultDB) })
	}
	if perr := stopProfiles(); err == nil {
		err = perr
	}
	return err
}
