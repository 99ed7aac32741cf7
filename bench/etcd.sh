#!/usr/bin/env bash
# make bench-etcd: our write path against etcd on the same machine and
# against what the disk allows. bench/cmd/etcdcmp measures fdatasync
# latency in a temporary directory and a 7-member etcd 3.4 group (7
# processes on 127.0.0.1..7) under one writer and 16 writers putting
# values the size of a ddnrs change command, once with timeouts matched to
# raftfsm's and once with etcd's defaults; then bench/cmd/failover (the
# program of `make bench-raft`) gives our own write figures on the same
# load, right after, with the idle watch skipped and one failover round.
# See bench/README.md, "Write path vs etcd".
#
# Environment: DURATION (seconds per throughput run, default 10),
# CONFIGS (default "matched,default"), BATCH (ours: a third run whose
# changes each set BATCH+1 signed RRsets, default 49; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONFIGS=${CONFIGS:-matched,default}
BATCH=${BATCH:-49}

if ! command -v etcd >/dev/null; then
	echo "== installing etcd-server (Debian)"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y etcd-server >/dev/null
fi

work=$(mktemp -d /tmp/ddnrs-bench-etcd.XXXXXX)
pid=""
# Each program runs in its own process group (setsid), so a stop here
# reaches the processes it started too (etcd members, ddnrs nodes).
stop_job() {
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	[ -z "$pid" ] || wait "$pid" 2>/dev/null || true
	pid=""
}
cleanup() {
	stop_job
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_job runs a program in its own session and waits for it; a signal to
# this script interrupts the wait and the EXIT trap stops the group.
run_job() {
	setsid "$@" &
	pid=$!
	wait "$pid"
	pid=""
}

echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD), $(nproc) cores; load: $(uptime | sed 's/.*load average/load average/')"
go build -o "$work/etcdcmp" ./bench/cmd/etcdcmp
go build -o "$work/failover" ./bench/cmd/failover
go build -o "$work/ddnrs" ./cmd/ddnrs
# The programs make their temporary directories (etcd and ddnrs data,
# the disk measurements) in $work, so a stop removes them too.
export TMPDIR="$work"

echo "== etcd: bench/cmd/etcdcmp -duration ${DURATION}s -configs $CONFIGS"
run_job "$work/etcdcmp" -etcd "$(command -v etcd)" -duration "${DURATION}s" -configs "$CONFIGS"
echo "== load: $(uptime | sed 's/.*load average/load average/')"

echo "== ddnrs: bench/cmd/failover -quiet 0 -rounds 1 -perf=false -duration ${DURATION}s -batch $BATCH (make bench-raft's writes)"
run_job "$work/failover" -bin "$work/ddnrs" -quiet 0 -rounds 1 -perf=false -duration "${DURATION}s" -batch "$BATCH"
echo "== load: $(uptime | sed 's/.*load average/load average/')"
