package eval

import (
	"fmt"
	"io"
	"time"
)

// Scenario is one scored run: its name, what was simulated and the result.
type Scenario struct {
	// Name identifies the scenario in the table (e.g. "builtin-impair").
	Name string
	// Spec, Seed, Days, Impaired and Transactions describe the simulation.
	Spec         string
	Seed         uint64
	Days         int
	Impaired     bool
	Transactions int64
	Result       Result
}

// NewScenario describes a scored run from its truth.
func NewScenario(name string, t *Truth, r Result) Scenario {
	return Scenario{Name: name, Spec: t.Spec, Seed: t.Seed, Days: t.Days, Impaired: t.Impaired,
		Transactions: t.Totals.Transactions, Result: r}
}

// WriteTable prints each scenario's table and a totals line in the fixed
// format the README documents. Nothing in it depends on the wall clock.
func WriteTable(w io.Writer, scenarios []Scenario) error {
	ew := &errWriter{w: w}
	var tot Result
	incidents, detected := 0, 0
	for i := range scenarios {
		s := &scenarios[i]
		r := &s.Result
		mode := "clean"
		if s.Impaired {
			mode = "impaired"
		}
		ew.printf("== %s: spec %s, seed %d, %d days, %s, %d transactions\n", s.Name, s.Spec, s.Seed, s.Days, mode, s.Transactions)
		ew.printf("%-10s %5s %5s %5s %9s %7s\n", "set", "tp", "fp", "fn", "precision", "recall")
		for _, row := range []struct {
			name string
			pr   PR
		}{{"templates", r.Templates}, {"shadow", r.Shadow}, {"unseen", r.Unseen}} {
			ew.printf("%-10s %5d %5d %5d %9s %7s\n", row.name, row.pr.TP, row.pr.FP, row.pr.FN, ratio(row.pr.Precision()), ratio(row.pr.Recall()))
		}
		ew.printf("concrete-id paths %d\n", r.ConcreteIDPaths)
		ew.printf("%-26s %-24s %-8s %10s  %s\n", "incident", "kind", "result", "ttd", "alert")
		for _, in := range r.Incidents {
			if in.Detected {
				ew.printf("%-26s %-24s %-8s %10s  %s\n", in.ID, in.Kind, "detected", formatTTD(in.TTD), in.AlertKind)
			} else {
				ew.printf("%-26s %-24s %-8s %10s  %s\n", in.ID, in.Kind, "missed", "-", "-")
			}
		}
		ew.printf("incidents detected %d/%d; alerts %d, false %d, on hard negatives %d\n\n",
			r.Detected(), len(r.Incidents), r.Alerts, r.FalseAlerts, r.FalseOnNegatives)
		tot.Templates = tot.Templates.Add(r.Templates)
		tot.Shadow = tot.Shadow.Add(r.Shadow)
		tot.Unseen = tot.Unseen.Add(r.Unseen)
		tot.ConcreteIDPaths += r.ConcreteIDPaths
		tot.Alerts += r.Alerts
		tot.FalseAlerts += r.FalseAlerts
		tot.FalseOnNegatives += r.FalseOnNegatives
		incidents += len(r.Incidents)
		detected += r.Detected()
	}
	ew.printf("TOTAL scenarios %d templates P %s R %s concrete-id %d shadow P %s R %s unseen P %s R %s incidents %d/%d false-alerts %d negatives %d\n",
		len(scenarios),
		ratio(tot.Templates.Precision()), ratio(tot.Templates.Recall()), tot.ConcreteIDPaths,
		ratio(tot.Shadow.Precision()), ratio(tot.Shadow.Recall()),
		ratio(tot.Unseen.Precision()), ratio(tot.Unseen.Recall()),
		detected, incidents, tot.FalseAlerts, tot.FalseOnNegatives)
	return ew.err
}

// ratio prints a precision or recall with three decimals, "-" when undefined.
func ratio(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.3f", v)
}

// formatTTD rounds a time-to-detect to the second (milliseconds below one).
func formatTTD(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
