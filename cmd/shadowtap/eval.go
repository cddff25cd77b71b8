package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/shadowtap/shadowtap/capture/synth"
	"github.com/shadowtap/shadowtap/detect/eval"
)

// evalScenario is one entry of the standard set.
type evalScenario struct {
	name   string
	spec   string
	impair bool
	// days and users override the run's (0: keep them); big real specs
	// run shorter and smaller.
	days, users int
}

// runEval implements `shadowtap eval`: simulate the standard scenarios,
// analyse each capture against its documented spec and score the report
// against the truth (detect/eval; the table is documented in its README).
func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("eval", "[flags]", stderr)
	specDir := fs.String("spec-dir", "capture/synth/testdata", "`DIR` whose OpenAPI/Swagger files (*.yaml, *.yml, *.json) are added as scenarios")
	days := fs.Int("days", 7, "days of simulated traffic per scenario")
	seed := fs.Uint64("seed", 1, "random seed of every scenario")
	keep := fs.String("keep", "", "keep each scenario's capture, spec, truth and report under `DIR`/NAME")
	real := fs.String("real-specs", "auto", "the real public specs' folder: `auto` fetches "+realSpecModule+" with the go command (skipped when it cannot), off drops them, else a DIR holding "+strings.Join(realSpecFiles(), ", "))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	scenarios := []evalScenario{{name: "builtin"}, {name: "builtin-impair", impair: true}}
	if *specDir != "" {
		specs, err := evalSpecs(*specDir)
		if err != nil {
			return err
		}
		for _, s := range specs {
			scenarios = append(scenarios, evalScenario{name: strings.TrimSuffix(filepath.Base(s), filepath.Ext(s)), spec: s})
		}
	}
	switch dir, err := realSpecDir(*real); {
	case err != nil:
		fmt.Fprintf(stdout, "real specs: skipped (%v)\n\n", err)
		fmt.Fprintf(stderr, "eval: real specs skipped: %v\n", err)
	case dir != "":
		scenarios = append(scenarios, realScenarios(dir)...)
	}
	root := *keep
	if root == "" {
		tmp, err := os.MkdirTemp("", "shadowtap-eval-")
		if err != nil {
			return fmt.Errorf("creating a temporary directory: %w", err)
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	scored, err := scoreScenarios(ctx, scenarios, root, *days, *seed, stderr)
	if err != nil {
		return err
	}
	if err := eval.WriteTable(stdout, scored); err != nil {
		return err
	}
	if line, ok := realAcceptance(scored); ok {
		_, err = fmt.Fprintln(stdout, line)
	}
	return err
}

// scoreScenarios simulates, analyses and scores each scenario under
// root/NAME.
func scoreScenarios(ctx context.Context, scenarios []evalScenario, root string, days int, seed uint64, stderr io.Writer) ([]eval.Scenario, error) {
	var scored []eval.Scenario
	for _, sc := range scenarios {
		start := time.Now()
		dir := filepath.Join(root, sc.name)
		d := days
		if sc.days > 0 {
			d = min(d, sc.days)
		}
		if _, err := synth.Simulate(dir, synth.SimOptions{Days: d, Users: sc.users, Seed: seed, Impair: sc.impair, Spec: sc.spec}); err != nil {
			return nil, fmt.Errorf("scenario %s: simulating: %w", sc.name, err)
		}
		reportPath := filepath.Join(dir, "report.json")
		err := analyze(ctx, analyzeConfig{
			files:   []string{filepath.Join(dir, "traffic.pcap")},
			specs:   []string{filepath.Join(dir, "documented.yaml")},
			report:  reportPath,
			workers: 1,
		}, io.Discard, stderr)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: analysing: %w", sc.name, err)
		}
		truth, err := eval.ReadTruth(filepath.Join(dir, "truth.json"))
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		rep, err := eval.ReadReport(reportPath)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.name, err)
		}
		scored = append(scored, eval.NewScenario(sc.name, truth, eval.Score(truth, rep)))
		fmt.Fprintf(stderr, "eval: %s done in %s\n", sc.name, time.Since(start).Round(time.Millisecond))
	}
	return scored, nil
}

// evalSpecs lists the spec files of dir in name order.
func evalSpecs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading spec directory: %w", err)
	}
	var specs []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				specs = append(specs, filepath.Join(dir, e.Name()))
			}
		}
	}
	slices.Sort(specs)
	return specs, nil
}
