package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// command is one subcommand: its name, a one-line summary and its entry point.
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"analyze", "analyse capture files offline and report endpoints and alerts", runAnalyze},
		{"run", "run the live sensor daemon: capture, HTTP API, metrics and alert sinks", runRun},
		{"simulate", "write labelled simulated API traffic: a capture, its spec and the truth", func(args []string, _, _ io.Writer) error { return runSimulate(args) }},
		{"demo", "simulate the built-in API with incidents, analyse it and show the result", runDemo},
		{"eval", "simulate the standard scenarios, analyse each and score it against the truth", runEval},
		{"endpoints", "list the endpoint inventory held in a store (--db)", runEndpoints},
		{"alerts", "list, filter and acknowledge the alerts held in a store (alerts ack ID)", runAlerts},
		{"transactions", "print the transaction samples held in a store (JSON lines)", runTransactions},
		{"db", "operate a store: stats, compact, backup FILE, restore FILE", runDB},
		{"spec", "export the observed API as OpenAPI 3.1, or diff traffic against a spec (export|diff)", runSpec},
		{"version", "print the build's version", runVersion},
	}
}

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and turns its error into an exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "-version" {
		args[0] = "version"
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "shadowtap %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "shadowtap: unknown command %q (see shadowtap --help)\n", args[0])
	return 2
}

// errUsage reports a usage error already printed by the flag package.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintf(w, "shadowtap %s — passive API traffic analyzer\n\nUsage: shadowtap COMMAND [flags] [args]\n\nCommands:\n", versionString())
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nState is kept in a store (--db DIR, or --db none): by default %s.\n", defaultDBDir(false))
	fmt.Fprintf(w, "\nRun 'shadowtap COMMAND --help' for a command's flags.\n")
}

func runVersion(args []string, stdout, _ io.Writer) error {
	fmt.Fprintf(stdout, "shadowtap %s\n", versionString())
	return nil
}

// versionString is the -ldflags version, else the module version or VCS
// revision recorded by the Go toolchain.
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}

// newFlagSet returns a FlagSet that prints its usage to stderr and returns
// errors instead of exiting.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: shadowtap %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, mapping the flag package's errors to ours.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
