package bpf

// The eBPF objects are generated from c/ with Debian's clang (see the
// Makefile's generate target) and committed, so building needs no clang.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types sensor c/sensor.bpf.c
