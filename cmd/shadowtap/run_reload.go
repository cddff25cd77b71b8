package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/shadowtap/shadowtap/detect"
)

type (
	signalT = os.Signal
	flagT   = flag.Flag
)

// loadSpecs reads the spec files and returns them with a fingerprint of
// their paths and contents (a reload rebuilds the engine only when it
// changed).
func loadSpecs(paths []string) ([]*detect.Spec, string, error) {
	h := sha256.New()
	var specs []*detect.Spec
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("reading spec: %w", err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		s, err := detect.LoadSpec(p)
		if err != nil {
			return nil, "", err
		}
		specs = append(specs, s)
	}
	return specs, hex.EncodeToString(h.Sum(nil)), nil
}

// reloadTimeout bounds a reload's wait for the engine loop.
const reloadTimeout = 30 * time.Second

// reload applies a new configuration on SIGHUP without losing state: specs
// (a new engine carrying the old one's state), sinks, the transactions
// file (reopened, for log rotation), log level, intervals, memory budget
// and CPU priority. What cannot change while running (sources, filter,
// listen address, store, token) is kept and a warning says so. A
// configuration that fails to load or check changes nothing.
func (d *daemon) reload(ctx context.Context, load func() (daemonConfig, error)) {
	err := d.reloadErr(ctx, load)
	if err != nil {
		d.counters.reloadErrors.Add(1)
		d.log.Error().Err(err).Msg("reload failed; configuration unchanged")
		return
	}
	d.counters.reloads.Add(1)
	d.log.Info().Msg("configuration reloaded")
}

func (d *daemon) reloadErr(ctx context.Context, load func() (daemonConfig, error)) error {
	nc, err := load()
	if err != nil {
		return err
	}
	old := d.config()
	for _, k := range fixedChanges(&old, &nc) {
		d.log.Warn().Str("setting", k).Msg("changed in the configuration; it applies at the next start")
	}
	specs, hash, err := loadSpecs(nc.Specs)
	if err != nil {
		return err
	}
	sinks, err := openSinks(nc.Sinks, d.stdout, d.log)
	if err != nil {
		return err
	}
	if d.outbox != nil {
		sinks.attach(d.outbox)
	}
	var oldSinks *sinkSet
	var applyErr error
	rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	err = d.do(rctx, func() {
		if hash != d.specsHash || nc.TrustXFF != old.TrustXFF {
			if applyErr = d.rebuildEngine(detect.Options{Specs: specs, TrustXFF: nc.TrustXFF}); applyErr != nil {
				return
			}
			d.specsHash = hash
		}
		oldSinks, d.sinks = d.sinks, sinks
		d.sinksPub.Store(sinks)
		if d.tx != nil {
			if err := d.tx.reopen(); err != nil {
				d.log.Error().Err(err).Msg("reopening the transactions output")
			}
		}
		d.flushT.Reset(time.Duration(nc.FlushInterval))
		d.alertT.Reset(time.Duration(nc.AlertInterval))
	})
	if err == nil {
		err = applyErr
	}
	if err != nil {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		sinks.stop(sctx)
		scancel()
		return err
	}
	go func() {
		sctx, scancel := context.WithTimeout(context.Background(), sinkDrainTimeout)
		defer scancel()
		if err := oldSinks.stop(sctx); err != nil {
			d.log.Warn().Err(err).Msg("closing the previous sinks")
		}
	}()
	d.budget.setLimit(int64(nc.MemoryBudget))
	applyCPUPriority(&nc, d.log) // run_budget.go
	d.logLevel.set(nc.LogLevel)
	// Keep what applies only at start as it was.
	keep := nc
	keep.Ifaces, keep.PCAP, keep.EBPF, keep.Filter = old.Ifaces, old.PCAP, old.EBPF, old.Filter
	keep.Workers, keep.FanoutWorkers, keep.MaxBody = old.Workers, old.FanoutWorkers, old.MaxBody
	keep.Listen, keep.APITokenFile, keep.DB, keep.Transactions = old.Listen, old.APITokenFile, old.DB, old.Transactions
	d.cfgMu.Lock()
	d.cfg = keep
	d.cfgMu.Unlock()
	return nil
}

// fixedChanges names the settings that differ but apply only at start.
func fixedChanges(a, b *daemonConfig) []string {
	var out []string
	add := func(changed bool, name string) {
		if changed {
			out = append(out, name)
		}
	}
	add(!slices.Equal(a.Ifaces, b.Ifaces), "iface")
	add(a.PCAP != b.PCAP, "pcap")
	add(a.EBPF != b.EBPF, "ebpf")
	add(a.Filter != b.Filter, "filter")
	add(a.Workers != b.Workers, "workers")
	add(a.FanoutWorkers != b.FanoutWorkers, "fanout_workers")
	add(a.MaxBody != b.MaxBody, "max_body")
	add(a.Listen != b.Listen, "listen")
	add(a.APITokenFile != b.APITokenFile, "api_token_file")
	add(a.DB != b.DB, "db")
	add(a.Transactions != b.Transactions, "transactions")
	return out
}
