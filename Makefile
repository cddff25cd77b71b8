# shadowtap — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN ?= bin/shadowtap
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
APT_PACKAGES := tshark tcpreplay iproute2 ca-certificates clang llvm libbpf-dev curl gcc libc6-dev libdeflate-dev
# GOTAGS: libdeflate (gzip bodies held whole decoded by libdeflate through cgo, linked
# statically; reassembly/content/whole.go) when cgo and libdeflate-dev are there, else
# nothing (plain go build: klauspost/compress alone). Expanded when used, after deps.
GOTAGS ?= $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && [ -f "$$($$($(GO) env CC) -print-file-name=libdeflate.a)" ] && echo libdeflate)
BENCH_PACKAGES := httpry time

.PHONY: help deps build demo test test-race test-short fuzz bench bench-live bench-store eval vet clean generate bpf-check fmt-check pgo

help: ## list the targets with one line each
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-12s %s\n", $$1, $$2}'

deps: ## install what builds and tests need on Debian (apt packages, Go modules)
	@missing=""; for p in $(APT_PACKAGES) $(EXTRA_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

build: ## build bin/shadowtap
	$(GO) build -trimpath -tags '$(GOTAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/shadowtap

demo: deps build ## run the main job on the built-in demo scenario
	$(BIN) demo

generate: ## rebuild the eBPF objects and Go bindings in bpf/ from bpf/c (Debian clang; commit the result)
	$(GO) generate ./bpf/...

bpf-check: ## fail when the committed eBPF objects are stale (regenerated into a temp dir and compared)
	bpf/gencheck.sh

fmt-check: ## fail when a Go file is not gofmt-formatted (bpf2go's generated files aside)
	@out=$$(find . -name '*.go' -not -name '*_bpfel.go' -not -path './.git/*' -print0 | xargs -0 "$$($(GO) env GOROOT)/bin/gofmt" -l); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted (run gofmt -w):"; echo "$$out"; exit 1; fi

test: deps bpf-check fmt-check ## run every test (unit, fuzz seed corpora, regression captures, integration)
	$(GO) vet -tags '$(GOTAGS)' ./...
	$(GO) test -tags '$(GOTAGS)' -count=1 -timeout 25m ./...
	@# the package with a libdeflate path also without it (the fallback)
	$(GO) vet ./reassembly/content/ && $(GO) test -count=1 ./reassembly/content/

test-race: deps ## every test under the race detector (~10 min on 2 cores; not part of .ci/run)
	$(GO) test -race -tags '$(GOTAGS)' -count=1 -timeout 40m ./...

test-short: ## quick tests only (no captures from ../shared, no privileged tests)
	$(GO) test -tags '$(GOTAGS)' -short -count=1 ./...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -tags '$(GOTAGS)' -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
		done; \
	done

bench: ## end-to-end speed vs tshark and httpry on a generated capture, plus Go micro-benchmarks
	$(MAKE) deps EXTRA_PACKAGES="$(BENCH_PACKAGES)"
	$(MAKE) build
	.ci/bench
	$(GO) test -tags '$(GOTAGS)' -run '^$$' -bench . -benchmem ./...

pgo: ## refresh cmd/shadowtap/default.pgo, the CPU profile go build optimizes shadowtap with (commit it)
	GOTAGS='$(GOTAGS)' .ci/pgo

bench-live: ## highest tcpreplay rate the live AF_PACKET path takes without drops (root; own netns)
	$(MAKE) deps
	.ci/bench-live

bench-store: build ## analyze with a badger store (--db) vs in memory (--db none) on a ≥ 500 MB capture; target ≤ 1.15×
	.ci/bench-store

eval: build ## score analyze on the standard simulated scenarios and real public specs (deterministic; ~1 min)
	$(BIN) eval

vet: ## go vet and gofmt check
	$(GO) vet ./...
	$(GO) vet -tags '$(GOTAGS)' ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

clean: ## remove build outputs
	rm -rf bin
