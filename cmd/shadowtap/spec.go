package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/shadowtap/shadowtap/detect"
	"gopkg.in/yaml.v3"
)

// runSpec dispatches `shadowtap spec export|diff`.
func runSpec(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "export" && args[0] != "diff") {
		fmt.Fprintln(stderr, "Usage: shadowtap spec export|diff [flags] CAPTURE...")
		return errUsage
	}
	if args[0] == "export" {
		return runSpecExport(args[1:], stdout, stderr)
	}
	return runSpecDiff(args[1:], stdout, stderr)
}

func runSpecExport(args []string, stdout, stderr io.Writer) error {
	var cfg analyzeConfig
	var specs multiFlag
	fs := newFlagSet("spec export", "[flags] CAPTURE...", stderr)
	fs.Var(&specs, "spec", "OpenAPI 3.x / Swagger 2.0 `FILE` documenting the API; repeatable (its templates win)")
	fs.StringVar(&cfg.filter, "filter", "", "capture filter `EXPR` in tcpdump syntax")
	host := fs.String("host", "", "export only this `HOST` (default: every host)")
	title := fs.String("title", "", "info.title of the document")
	out := fs.String("out", "-", "write the OpenAPI 3.1 document to `FILE` (\"-\" = stdout; a .yaml or .yml name writes YAML, else JSON)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.files, cfg.specs, cfg.workers = fs.Args(), specs, 1
	if len(cfg.files) == 0 {
		fs.Usage()
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	engine, _, err := inventory(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	doc := engine.ExportSpec(detect.ExportOptions{Host: *host, Title: *title})
	js, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the spec: %w", err)
	}
	data := append(js, '\n')
	if strings.HasSuffix(*out, ".yaml") || strings.HasSuffix(*out, ".yml") {
		var tree any
		if err := json.Unmarshal(js, &tree); err != nil {
			return fmt.Errorf("encoding the spec: %w", err)
		}
		if data, err = yaml.Marshal(tree); err != nil {
			return fmt.Errorf("encoding the spec as YAML: %w", err)
		}
	}
	if *out == "-" {
		_, err = stdout.Write(data)
		return err
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		return fmt.Errorf("writing the spec: %w", err)
	}
	return nil
}

// errDiffFound is returned by spec diff when --fail-on matched.
var errDiffFound = errors.New("the traffic differs from the spec")

func runSpecDiff(args []string, stdout, stderr io.Writer) error {
	var cfg analyzeConfig
	var specs multiFlag
	fs := newFlagSet("spec diff", "--spec FILE [flags] CAPTURE...", stderr)
	fs.Var(&specs, "spec", "OpenAPI 3.x / Swagger 2.0 `FILE` documenting the API; repeatable (required)")
	fs.StringVar(&cfg.filter, "filter", "", "capture filter `EXPR` in tcpdump syntax")
	asJSON := fs.Bool("json", false, "write the diff as JSON (for CI gates)")
	failOn := fs.String("fail-on", "", "exit non-zero when the diff has any of these `KINDS` (comma-separated: shadow, unseen, drifted)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.files, cfg.specs, cfg.workers = fs.Args(), specs, 1
	if len(cfg.files) == 0 || len(cfg.specs) == 0 {
		fs.Usage()
		return errUsage
	}
	var kinds []string
	for _, k := range strings.Split(*failOn, ",") {
		switch k = strings.TrimSpace(k); k {
		case "":
		case "shadow", "unseen", "drifted":
			kinds = append(kinds, k)
		default:
			return fmt.Errorf("--fail-on: unknown kind %q (shadow, unseen, drifted)", k)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	engine, rep, err := inventory(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	diff := detect.DiffReport(&rep)
	diff.AddDrift(engine.SchemaDrift())
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&diff); err != nil {
			return err
		}
	} else if err := diff.WriteText(stdout); err != nil {
		return err
	}
	for _, k := range kinds {
		if diff.Has(k) {
			return fmt.Errorf("%w: %s operations found (--fail-on %s)", errDiffFound, k, *failOn)
		}
	}
	return nil
}
