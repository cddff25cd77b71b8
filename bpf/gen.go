package bpf

// The eBPF objects are generated from c/ with Debian's clang (see the
// Makefile's generate target) and committed, so building needs no clang.
// sensorcompat is the same program without kfuncs (ST_NO_KFUNC), for
// kernels before 6.2; Open loads it when the first does not load.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -no-global-types sensor c/sensor.bpf.c
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -DST_NO_KFUNC" -target amd64 -no-global-types sensorcompat c/sensor.bpf.c
