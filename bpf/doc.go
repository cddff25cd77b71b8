// Package bpf holds the eBPF programs, their loader and the ring-buffer reader
// that hands byte streams of local processes to reassembly.
package bpf
