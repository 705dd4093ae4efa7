# reprocess — run `make` for the list of targets.

GO       ?= go
BIN      := bin/reprocess
SERVICES := deployments/local/services
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
# Test-wide flags: every package once, no cache (real services change under us).
TESTFLAGS ?= -count=1 -timeout 20m
OUT := testout

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
build: ## build bin/reprocess
	$(GO) build -ldflags='-X main.commit=$(COMMIT)' -o $(BIN) ./cmd/reprocess

# image: the container image, built by cmd/reprocess-image without a Docker
# engine or a base image; tagged reprocess:$(IMAGE_VERSION) and reprocess:latest.
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image: ## container image bin/image/reprocess.tar (docker load) and OCI layout bin/image/oci; no Docker needed
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags='-s -w -X main.commit=$(COMMIT)' -o bin/image/reprocess ./cmd/reprocess
	$(GO) run ./cmd/reprocess-image -binary bin/image/reprocess -out bin/image -tag reprocess:$(IMAGE_VERSION) -tag reprocess:latest

run: build ## the main job on the embedded default: seed, walk, verify (no services needed)
	$(BIN) demo

deps: ## install what a fresh Debian machine lacks (JDK 17, Maven, curl, Chromium) and the Go modules
	deployments/local/install-deps

services-up: ## start real Cassandra and Kafka (Maven Central jars) on loopback
	$(SERVICES) up

services-down: ## stop them
	$(SERVICES) down

services-status: ## are they up and answering?
	$(SERVICES) status

# test: every package against the embedded store, kfake and the real
# services (started here; under CI=true one that cannot start fails the
# run), then every package under the race detector (embedded + kfake), then
# the restart tests alone; deployments/local/test says more. Full output:
# testout/go-test-{main,race,restart}.log; the closing line counts all three.
test: deps services-up ## all tests, against embedded + kfake and real Cassandra + Kafka, then -race and restart tests
	@GO=$(GO) TESTFLAGS="$(TESTFLAGS)" OUT=$(OUT) deployments/local/test

test-unit: ## only what needs no real services (integration tests skip, loudly)
	$(GO) test $(TESTFLAGS) ./...

bench: services-up ## benchmarks with figures: seed, scan, wide partition split off vs on, publish (vs Kafka's own), end-to-end, SSTable readers side by side (reprocess, CQLite, sstabledump; Iceberg export peak RSS), decode rates, wide-partition peak RSS
	@set -a; eval "$$($(SERVICES) env)"; set +a; \
	$(GO) test -run '^$$' -bench 'Seed|Scan' -benchtime 20000x ./... | grep -E '^(Benchmark|ok|FAIL|---)'; \
	$(GO) test -run '^$$' -bench Publish -benchtime 200000x -v ./events/kafka/ | grep -E '^(Benchmark|ok|FAIL)|ProducerPerformance: [0-9]{4}'; \
	$(GO) test -run '^$$' -bench EndToEnd -benchtime 5000x ./reprocess/worker/ | grep -E '^(Benchmark|ok|FAIL)'; \
	$(GO) test -run '^$$' -bench '^BenchmarkWidePartition$$' -benchtime 1x -timeout 30m ./reprocess/scan/ | grep -E '^(Benchmark|ok|FAIL|---)|^wide partition:'; \
	$(GO) test -run '^$$' -bench '^Benchmark(Peers|DecodeSSTables|DecodeRows|WidePartitionMemory)$$' -benchtime 1x -timeout 60m ./assets/sstable/ | grep -E '^(Benchmark|ok|FAIL|---)|^(peers|wide partition):'

# bench-safety: production traffic (assets/traffic) alone, then with an
# unthrottled backfill, then with an adaptive one, PHASE each (PHASE=15s to
# try it); prints latency per phase and the ratios. Figures, not pass/fail.
PHASE ?= 60s
bench-safety: services-up ## production p50/p99/p999 with no, an unthrottled and an adaptive backfill (PHASE=60s each)
	@set -a; eval "$$($(SERVICES) env)"; set +a; \
	PHASE=$(PHASE) $(GO) test -run '^$$' -bench '^BenchmarkSafety$$' -benchtime 1x -timeout 60m ./assets/traffic/ | grep -vE '^(goos|goarch|pkg|cpu):'

# fuzz: a count of inputs, not a duration: a -fuzztime duration races the
# fuzzing coordinator's own deadline and, on a loaded machine, fails with a
# bare "context deadline exceeded" and no failing input. Every Fuzz target
# of the tree, found in the sources, runs in turn.
FUZZTIME ?= 3000x
fuzz: ## run every fuzz target of the tree briefly in turn (FUZZTIME=3000x inputs each)
	@grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' assets cmd config events reprocess deployments \
	| sed 's#^\(.*\)/[^/]*_test\.go:func #./\1 #' | sort -u | while read -r pkg target; do \
		echo "fuzz $$pkg $$target"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg || exit 1; \
	done

# lint: with every build tag in use (restart adds files; no file is
# built only without it).
LINT_TAGS := restart
lint: ## go vet + staticcheck (installed by install-deps), with the restart tests' build tag
	$(GO) vet -tags $(LINT_TAGS) ./...
	$(STATICCHECK) -tags $(LINT_TAGS) ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build and test output
	rm -rf bin $(OUT)

.PHONY: help build image run deps services-up services-down services-status test test-unit bench bench-safety fuzz lint fmt clean
