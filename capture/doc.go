// Package capture yields timestamped packets from capture files and live
// interfaces and decodes them, through link layers, tunnels and IP fragments,
// down to TCP segments. It knows nothing of HTTP.
package capture
