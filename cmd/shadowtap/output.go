package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shadowtap/shadowtap/detect"
	"github.com/shadowtap/shadowtap/reassembly"
	"github.com/shadowtap/shadowtap/reassembly/http1"
)

// txRecord is one line of --transactions output (contract: Transactions).
type txRecord struct {
	TS            string     `json:"ts"`
	Client        string     `json:"client"`
	Server        string     `json:"server"`
	Method        string     `json:"method"`
	Host          string     `json:"host"`
	URI           string     `json:"uri"`
	Endpoint      string     `json:"endpoint"`
	Status        int        `json:"status"`
	ReqBodyBytes  int64      `json:"req_body_bytes"`
	RespBodyBytes int64      `json:"resp_body_bytes"`
	LatencyMS     *float64   `json:"latency_ms"`
	Protocol      string     `json:"protocol,omitempty"`
	Process       *txProcess `json:"process,omitempty"`
	// Container ("id" or null) and TLS are set with Process (eBPF only).
	Container json.RawMessage `json:"container,omitempty"`
	TLS       *bool           `json:"tls,omitempty"`
	latency   float64
	tls       bool
}

type txProcess struct {
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
}

// fill sets r from t, reusing r's storage; red (the engine's, which knows
// the API-key parameters of its specs) redacts the request-target.
func (r *txRecord) fill(t *reassembly.Transaction, endpoint string, red detect.Redactor) {
	ts := t.RequestTime
	if ts.IsZero() {
		ts = t.ResponseTime
	}
	r.TS = formatTime(ts)
	r.Client = t.Client.String()
	r.Server = t.Server.String()
	r.Method = t.Method
	r.Host = detect.EndpointHost(t)
	r.URI = red.URI(t.Target)
	r.Endpoint = endpoint
	r.Status = t.Status
	r.ReqBodyBytes = t.ReqBodyBytes
	r.RespBodyBytes = t.RespBodyBytes
	r.LatencyMS = nil
	if !t.RequestTime.IsZero() && !t.ResponseTime.IsZero() {
		r.latency = float64(t.ResponseTime.Sub(t.RequestTime).Microseconds()) / 1000
		r.LatencyMS = &r.latency
	}
	r.Protocol = t.Protocol
	r.Process, r.Container, r.TLS = nil, nil, nil
	if t.Process != nil {
		r.Process = &txProcess{PID: t.Process.PID, Comm: t.Process.Comm}
		r.Container = json.RawMessage("null")
		if t.Container != "" {
			r.Container, _ = json.Marshal(t.Container)
		}
		r.tls = t.TLS
		r.TLS = &r.tls
	}
}

// formatTime renders a capture time per the contract (RFC3339Nano, UTC).
func formatTime(t time.Time) string { return detect.FormatTime(t) }

func httpOptions(maxBody int) http1.Options {
	return http1.Options{MaxBody: maxBody}
}

// printReport writes the report as tables for a person.
func printReport(w io.Writer, rep *detect.Report) {
	s := rep.Summary
	fmt.Fprintf(w, "%d packets, %d bytes, %d flows, %d HTTP transactions, %d parse errors\n",
		s.Packets, s.Bytes, s.Flows, s.Transactions, s.ParseErrors)
	for _, warn := range s.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	fmt.Fprintf(w, "\nENDPOINTS (%d)\n", len(rep.Endpoints))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tMETHOD\tPATH\tDOC\tCOUNT\tCLIENTS\tSTATUSES\tAUTH\tSENSITIVE")
	for _, e := range rep.Endpoints {
		doc := "-"
		if e.Documented != nil {
			doc = "yes"
			if !*e.Documented {
				doc = "SHADOW"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", e.Host, e.Method, e.Path, doc, e.Count,
			e.Clients, statusesString(e.Statuses), strings.Join(e.Auth, ","), strings.Join(e.Sensitive, ","))
	}
	tw.Flush()
	if len(rep.Unseen) > 0 {
		fmt.Fprintf(w, "\nUNSEEN (documented, never called: %d)\n", len(rep.Unseen))
		for _, u := range rep.Unseen {
			fmt.Fprintf(w, "  %s %s %s\n", u.Host, u.Method, u.Path)
		}
	}
	fmt.Fprintf(w, "\nALERTS (%d)\n", len(rep.Alerts))
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, a := range rep.Alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s %s %s\t%s\n", a.Severity, a.Kind, a.Host, a.Method, a.Path, a.Summary)
	}
	tw.Flush()
}

func statusesString(m map[string]int) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", k, m[k])
	}
	return b.String()
}

// summaryFrom maps the pipeline's counters onto the report summary.
func summaryFrom(st reassembly.Stats) detect.Summary {
	s := detect.Summary{
		Packets:      st.Packets,
		Bytes:        st.Bytes,
		Flows:        st.Flows,
		Transactions: st.Transactions,
		ParseErrors:  st.ParseErrors,
		FirstTS:      formatTime(st.FirstTS),
		LastTS:       formatTime(st.LastTS),
		Warnings:     st.Warnings,
	}
	if s.Warnings == nil {
		s.Warnings = []string{}
	}
	return s
}
