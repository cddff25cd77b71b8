#!/bin/bash
# Regenerates the eBPF objects and their Go bindings into a temporary
# directory with the commands in gen.go, and fails when they differ from the
# committed ones (run `make generate` and commit the result).
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmds=$(sed -n 's|^//go:generate go run github.com/cilium/ebpf/cmd/bpf2go |github.com/cilium/ebpf/cmd/bpf2go -output-dir "$tmp" |p' gen.go)
[ -n "$cmds" ] || { echo "gencheck: no bpf2go line in gen.go" >&2; exit 1; }
export GOPACKAGE=bpf GOFILE=gen.go
while IFS= read -r cmd; do
	eval "go run $cmd" >/dev/null
done <<<"$cmds"
stale=0
for f in "$tmp"/*; do
	b=$(basename "$f")
	if ! cmp -s "$f" "$b"; then
		echo "bpf/$b is stale: run make generate and commit it" >&2
		stale=1
	fi
done
exit $stale
