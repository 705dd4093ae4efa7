# reprocess — run `make` for the list of targets.

GO       ?= go
BIN      := bin/reprocess
SERVICES := deployments/local/services
STATICCHECK_VERSION := v0.8.2
# Test-wide flags: every package once, no cache (real services change under us).
TESTFLAGS ?= -count=1 -timeout 20m
OUT := testout

.DEFAULT_GOAL := help

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-15s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/reprocess
	$(GO) build -o $(BIN) ./cmd/reprocess

# image: the container image, built by cmd/reprocess-image without a Docker
# engine or a base image; tagged reprocess:$(IMAGE_VERSION) and reprocess:latest.
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
image: ## container image bin/image/reprocess.tar (docker load) and OCI layout bin/image/oci; no Docker needed
	CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags='-s -w' -o bin/image/reprocess ./cmd/reprocess
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

# test: unit tests on the embedded store and kfake, and integration tests on
# the real services, which it starts when they are not running. Under CI=true
# a service that cannot start fails the run. Then the pipeline packages under
# the race detector (embedded + kfake only), then the restart tests (built
# with -tags restart: they stop and start the shared services, so they run
# alone, last). Full output: testout/go-test.log, go-test-race.log,
# go-test-restart.log; the summary counts all three.
RACE_PKGS := ./reprocess/worker/ ./reprocess/run/ ./reprocess/scan/ ./reprocess/apply/ ./reprocess/export/ ./events/kafka/
TEST_LOGS := $(OUT)/go-test.log $(OUT)/go-test-race.log $(OUT)/go-test-restart.log
test: deps services-up ## all tests, against embedded + kfake and real Cassandra + Kafka, then -race and restart tests
	@mkdir -p $(OUT)
	@set -a; eval "$$($(SERVICES) env)"; set +a; \
	echo "real services: cassandra $$REPROCESS_TEST_CASSANDRA_HOSTS, kafka $$REPROCESS_TEST_KAFKA_BROKERS"; \
	$(GO) test $(TESTFLAGS) -v ./... > $(OUT)/go-test.log 2>&1; rc=$$?; \
	env $$(env | sed -n 's/^\(REPROCESS_TEST_[A-Z_]*\)=.*/-u \1/p') -u CI \
		$(GO) test -race $(TESTFLAGS) -v $(RACE_PKGS) > $(OUT)/go-test-race.log 2>&1 || rc=1; \
	$(GO) test -tags restart $(TESTFLAGS) -run '^TestRestart' -v ./cmd/reprocess/ > $(OUT)/go-test-restart.log 2>&1 || rc=1; \
	$(SERVICES) up >/dev/null 2>&1 || true; \
	cat $(OUT)/go-test.log $(OUT)/go-test-restart.log | grep -E '^(ok|FAIL|---|panic:)|^\s+--- (FAIL|SKIP)|^\s+\S+_test.go:[0-9]+: (kafka at|contract suite|restart test)'; \
	echo "under the race detector (embedded + kfake; the real-service variants ran above):"; \
	grep -E '^(ok|FAIL|panic:)|^\s*--- FAIL|^WARNING: DATA RACE' $(OUT)/go-test-race.log; \
	if [ $$rc -ne 0 ]; then cat $(TEST_LOGS) | grep -B2 -A20 -E '^\s*--- FAIL' | head -200; fi; \
	pass=$$(cat $(TEST_LOGS) | grep -cE '^\s*--- PASS'); fail=$$(cat $(TEST_LOGS) | grep -cE '^\s*--- FAIL'); \
	skip=$$(cat $(OUT)/go-test.log $(OUT)/go-test-restart.log | grep -cE '^\s*--- SKIP'); \
	echo "$$pass passed, $$fail failed, $$skip skipped"; \
	exit $$rc

test-unit: ## only what needs no real services (integration tests skip, loudly)
	$(GO) test $(TESTFLAGS) ./...

bench: services-up ## benchmarks with figures: seed, scan, wide partition split off vs on, publish (vs Kafka's own), end-to-end, SSTable readers side by side (reprocess, CQLite, sstabledump), decode rates, wide-partition peak RSS
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
# bare "context deadline exceeded" and no failing input.
FUZZTIME ?= 10000x
FUZZ_TARGETS = FuzzPartitions FuzzChunk FuzzIndex
fuzz: ## run each SSTable fuzz target briefly in turn (FUZZTIME=10000x inputs each)
	@for f in $(FUZZ_TARGETS); do \
		$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x ./assets/sstable/ || exit 1; \
	done

lint: ## go vet + staticcheck
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build and test output
	rm -rf bin $(OUT)

.PHONY: help build image run deps services-up services-down services-status test test-unit bench bench-safety fuzz lint fmt clean
