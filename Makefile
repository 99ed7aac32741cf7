# DDNRS developer targets. `make run` starts a one-machine node with a demo
# zone; `make test` is exactly what CI runs (.ci/run).

GO ?= go

.PHONY: run test bench lint build

run:
	$(GO) run ./cmd/ddnrs dev

build:
	$(GO) build -o bin/ddnrs ./cmd/ddnrs

test:
	scripts/test.sh

bench:
	bench/run.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Raft figures: a 7-member group of ddnrs node processes on 127.0.0.1..7;
# leader failover, DNS gaps, commits/s and latency (bench/README.md).
.PHONY: bench-raft
bench-raft: build
	$(GO) run ./bench/cmd/failover -bin bin/ddnrs

# Cross-group resolution with real node processes: cold/warm/hot p50/p99
# and hot-set queries/s versus a local zone (bench/README.md, overlay).
.PHONY: bench-overlay
bench-overlay: build
	$(GO) run ./bench/cmd/overlay -bin bin/ddnrs

# The stub resolver's added latency (p50/p99, fetched and verified, and
# cached) against asking a node directly, over loopback UDP (docs/stub.md).
.PHONY: bench-stub
bench-stub:
	$(GO) test -run XXX -bench StubAddedLatency -benchtime 2000x ./stub

# Write path against etcd 3.4 on this machine (7 processes on loopback,
# the same write shape; installs etcd-server when missing) and the disk's
# fdatasync, then our own write figures (bench/README.md, vs etcd).
.PHONY: bench-etcd
bench-etcd:
	bench/etcd.sh

# Zones of 10k, 100k and 1M RRsets: time until served and RSS, ddnrs dev
# beside Knot DNS loading the same signed zone (bench/README.md, scale).
.PHONY: bench-scale
bench-scale:
	bench/scale.sh

# The fault suite on real networks (docs/chaos.md): groups of node
# processes in network namespaces under partitions, delay and loss;
# prints its tables. Needs root: without it, says so and
# skips. `make chaos-clean` removes what a killed run left.
.PHONY: chaos chaos-clean
chaos:
	@if [ "$$(id -u)" != 0 ]; then echo "make chaos: skipped: the fault suite needs root (network namespaces, TAP devices, tmpfs mounts); run: sudo make chaos"; exit 0; fi
	$(GO) test -c -o bin/chaos.test ./integration/chaos
	CHAOS=full bin/chaos.test -test.timeout 30m

chaos-clean:
	scripts/chaos-clean.sh

# The overlay at scale, simulated in one process (bench/sim): DHT lookup
# depth and time over mocknet links of 20-150 ms, the registry log's
# directory against DHT searches, the route cache under Zipf, registry
# write load, per-node memory and bandwidth at 3,600 nodes (docs/scale.md).
# SIM_FLAGS passes flags (go run ./bench/cmd/sim -help).
.PHONY: sim
sim:
	nice -n 10 $(GO) run ./bench/cmd/sim $(SIM_FLAGS)
