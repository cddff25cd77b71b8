package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowtap/shadowtap/detect"
)

// runEndpoints implements `shadowtap endpoints`: the inventory of the last
// save in a store.
func runEndpoints(args []string, stdout, stderr io.Writer) error {
	var dir, host string
	var asJSON bool
	fs := newFlagSet("endpoints", "[flags]", stderr)
	storeFlag(&dir, fs)
	fs.StringVar(&host, "host", "", "only endpoints of `HOST`")
	fs.BoolVar(&asJSON, "json", false, `print {"endpoints": [...], "unseen": [...]} as in the report`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	db, err := openQueryStore(dir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	eps, unseen, err := detect.ReadEndpoints(db)
	if err != nil {
		return err
	}
	if host != "" {
		h := strings.ToLower(host)
		eps = filter(eps, func(e detect.Endpoint) bool { return e.Host == h })
		unseen = filter(unseen, func(u detect.Unseen) bool { return u.Host == h })
	}
	if asJSON {
		return printJSON(stdout, struct {
			Endpoints []detect.Endpoint `json:"endpoints"`
			Unseen    []detect.Unseen   `json:"unseen"`
		}{eps, unseen})
	}
	fmt.Fprintf(stdout, "ENDPOINTS (%d)\n", len(eps))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tMETHOD\tPATH\tDOC\tCOUNT\tCLIENTS\tLAST SEEN\tSTATUSES\tAUTH\tSENSITIVE")
	for _, e := range eps {
		doc := "-"
		if e.Documented != nil {
			doc = "yes"
			if !*e.Documented {
				doc = "SHADOW"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", e.Host, e.Method, e.Path, doc, e.Count, e.Clients,
			e.LastSeen, statusesString(e.Statuses), strings.Join(e.Auth, ","), strings.Join(e.Sensitive, ","))
	}
	tw.Flush()
	if len(unseen) > 0 {
		fmt.Fprintf(stdout, "\nUNSEEN (documented, never called: %d)\n", len(unseen))
		for _, u := range unseen {
			fmt.Fprintf(stdout, "  %s %s %s\n", u.Host, u.Method, u.Path)
		}
	}
	return nil
}

func filter[T any](in []T, keep func(T) bool) []T {
	out := in[:0:0]
	for _, x := range in {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// severityRank orders the contract's severities.
var severityRank = map[string]int{
	detect.SeverityInfo: 0, detect.SeverityLow: 1, detect.SeverityMedium: 2, detect.SeverityHigh: 3, detect.SeverityCritical: 4,
}

// alertFilter is what `shadowtap alerts` selects.
type alertFilter struct {
	kind, severity, host string
	since                time.Time
	unacked              bool
}

func (f *alertFilter) keep(a *detect.StoredAlert) bool {
	if f.kind != "" && a.Kind != f.kind {
		return false
	}
	if f.severity != "" && severityRank[a.Severity] < severityRank[f.severity] {
		return false
	}
	if f.host != "" && a.Host != f.host {
		return false
	}
	if !f.since.IsZero() {
		last, err := time.Parse(time.RFC3339Nano, a.LastSeen)
		if err == nil && last.Before(f.since) {
			return false
		}
	}
	if f.unacked && a.Ack != nil {
		return false
	}
	return true
}

// runAlerts implements `shadowtap alerts` and `shadowtap alerts ack ID`.
func runAlerts(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ack" {
		return runAlertsAck(args[1:], stdout, stderr)
	}
	var dir, since string
	var f alertFilter
	var asJSON bool
	fs := newFlagSet("alerts", "[flags] | alerts ack [flags] ID...", stderr)
	storeFlag(&dir, fs)
	fs.StringVar(&f.kind, "kind", "", "only alerts of `KIND` (shadow_endpoint, enumeration, secret_exposure, ...)")
	fs.StringVar(&f.severity, "severity", "", "only alerts of `LEVEL` or above (info, low, medium, high, critical)")
	fs.StringVar(&f.host, "host", "", "only alerts on `HOST`")
	fs.StringVar(&since, "since", "", "only alerts seen at or after `TIME` (RFC3339, or a duration before the newest alert such as 24h)")
	fs.BoolVar(&f.unacked, "unacked", false, "only alerts nobody acknowledged")
	fs.BoolVar(&asJSON, "json", false, `print {"alerts": [...]} as in the report, each with its "id" (and "ack" once acknowledged)`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if f.severity != "" {
		if _, ok := severityRank[f.severity]; !ok {
			return fmt.Errorf("--severity %q: want info, low, medium, high or critical", f.severity)
		}
	}
	f.host = strings.ToLower(f.host)
	db, err := openQueryStore(dir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	var all []*detect.StoredAlert
	if err := detect.ReadAlerts(db, func(a *detect.StoredAlert) error {
		all = append(all, a)
		return nil
	}); err != nil {
		return err
	}
	if since != "" {
		if f.since, err = parseSince(since, all); err != nil {
			return err
		}
	}
	out := []*detect.StoredAlert{}
	for _, a := range all {
		if f.keep(a) {
			out = append(out, a)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].LastSeen != out[j].LastSeen {
			return out[i].LastSeen > out[j].LastSeen
		}
		return out[i].ID < out[j].ID
	})
	if asJSON {
		return printJSON(stdout, struct {
			Alerts []*detect.StoredAlert `json:"alerts"`
		}{out})
	}
	fmt.Fprintf(stdout, "ALERTS (%d)\n", len(out))
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tKIND\tLAST SEEN\tENDPOINT\tSUMMARY")
	for _, a := range out {
		sev := a.Severity
		if a.Ack != nil {
			sev += " (acked)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s %s %s\t%s\n", a.ID, sev, a.Kind, a.LastSeen, a.Host, a.Method, a.Path, a.Summary)
	}
	return tw.Flush()
}

// parseSince reads --since: an RFC3339 time, or a duration counted back
// from the newest alert's last_seen (capture time, not the wall clock).
func parseSince(s string, all []*detect.StoredAlert) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("--since %q: want an RFC3339 time or a duration such as 24h", s)
	}
	var newest time.Time
	for _, a := range all {
		if t, err := time.Parse(time.RFC3339Nano, a.LastSeen); err == nil && t.After(newest) {
			newest = t
		}
	}
	return newest.Add(-d), nil
}

func runAlertsAck(args []string, stdout, stderr io.Writer) error {
	var dir, by string
	fs := newFlagSet("alerts ack", "[flags] ID...", stderr)
	storeFlag(&dir, fs)
	fs.StringVar(&by, "by", "", "who acknowledges (default: the user name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	if by == "" {
		if u, err := user.Current(); err == nil {
			by = u.Username
		}
	}
	db, err := openQueryStore(dir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, id := range fs.Args() {
		if err := detect.AckAlert(db, id, detect.Ack{At: time.Now().UTC(), By: by}); err != nil {
			if errors.Is(err, detect.ErrNoAlert) {
				return fmt.Errorf("no alert %s in %s (shadowtap alerts lists the ids)", id, dir)
			}
			return err
		}
		fmt.Fprintf(stdout, "acknowledged %s\n", id)
	}
	return nil
}

// runTransactions implements `shadowtap transactions`: the transaction
// samples held in a store, as JSON lines.
func runTransactions(args []string, stdout, stderr io.Writer) error {
	var dir, host, since string
	fs := newFlagSet("transactions", "[flags]", stderr)
	storeFlag(&dir, fs)
	fs.StringVar(&host, "host", "", "only samples of `HOST`")
	fs.StringVar(&since, "since", "", "only samples taken at or after `TIME` (RFC3339)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	var from time.Time
	if since != "" {
		var err error
		if from, err = time.Parse(time.RFC3339Nano, since); err != nil {
			return fmt.Errorf("--since %q: want an RFC3339 time", since)
		}
	}
	db, err := openQueryStore(dir, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	host = strings.ToLower(host)
	return detect.ReadSamples(db, from, func(x *detect.TxSample) error {
		if host != "" && x.Host != host {
			return nil
		}
		return enc.Encode(x)
	})
}
