package capture

// This file holds the signatures other packages build against while their
// implementations are written; each moves to its own file when done.

// Filter is a compiled capture filter in tcpdump syntax. A nil *Filter
// matches everything. It is safe for concurrent use.
type Filter struct{}

// ParseFilter compiles expr ("host 10.0.0.1 and tcp port 80", "net
// 10.0.0.0/8", "not port 22", ...). An empty expr gives a nil Filter.
func ParseFilter(expr string) (*Filter, error) { panic("capture: ParseFilter not implemented yet") }

// Match reports whether the decoded packet passes the filter.
func (f *Filter) Match(d *Decoded) bool { return true }
