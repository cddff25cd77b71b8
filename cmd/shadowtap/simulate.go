package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/shadowtap/shadowtap/capture/synth"
)

// runSimulate implements `shadowtap simulate`: labelled API traffic as a
// capture, a documented spec and the ground truth.
func runSimulate(args []string) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	var o synth.SimOptions
	out := fs.String("out", "", "output directory for traffic.pcap, documented.yaml and truth.json (required)")
	fs.StringVar(&o.Spec, "spec", "", "OpenAPI 3.x / Swagger 2.0 document to drive instead of the built-in API")
	fs.IntVar(&o.Days, "days", 7, "days of simulated traffic")
	fs.IntVar(&o.Users, "users", 120, "ordinary API users")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (same seed, same bytes)")
	fs.BoolVar(&o.Impair, "impair", false, "add loss, retransmission, reordering, mid-stream and one-sided flows, pipelining, 100-continue, malformed requests, non-HTTP flows, VLAN tags and IPv6")
	fs.Float64Var(&o.Scale, "scale", 1, "multiply the ordinary population (capture size) for performance runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "shadowtap simulate: --out DIR is required")
		fs.Usage()
		return errors.New("missing --out")
	}
	t, err := synth.Simulate(*out, o)
	if err != nil {
		return fmt.Errorf("simulating: %w", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d transactions, %d connections, %d packets, %.1f MB; %d incidents\n",
		*out, t.Totals.Transactions, t.Totals.Connections, t.Totals.Packets, float64(t.Totals.Bytes)/1e6, len(t.Incidents))
	return nil
}
