package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
)

// runDemo simulates the built-in scenario into a temporary directory,
// analyses it against its documented spec and prints what a person needs.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[flags]", stderr)
	keep := fs.String("keep", "", "keep the simulated capture, spec and truth in `DIR` instead of a temporary directory")
	days := fs.Int("days", 2, "days of simulated traffic")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "shadowtap-demo-")
		if err != nil {
			return fmt.Errorf("creating a temporary directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	start := time.Now()
	truth, err := synth.Simulate(dir, synth.SimOptions{Days: *days, Seed: *seed})
	if err != nil {
		return fmt.Errorf("simulating: %w", err)
	}
	fmt.Fprintf(stdout, "Simulated %d days of the built-in example API: %d transactions, %d incidents, %.1f MB of capture (%s)\n",
		*days, truth.Totals.Transactions, len(truth.Incidents), float64(truth.Totals.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "Analysing %s against %s (the documented spec; undocumented endpoints show as SHADOW)\n\n",
		filepath.Join(dir, "traffic.pcap"), filepath.Join(dir, "documented.yaml"))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return analyze(ctx, analyzeConfig{
		files:    []string{filepath.Join(dir, "traffic.pcap")},
		specs:    []string{filepath.Join(dir, "documented.yaml")},
		workers:  2,
		progress: isTerminal(stderr),
	}, stdout, stderr)
}
