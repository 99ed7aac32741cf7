#!/usr/bin/env bash
# make bench: dnsperf against ddnrs node (a one-member group), ddnrs dev
# (three members in one process), Knot and NSD serving the same
# 10,000-name zone signed by `ddnrs zone sign`, over UDP and TCP, with and
# without DO. The server is pinned to core 0 (dev once its group has
# committed the zone) and dnsperf to core 1; each server's CPU
# time per query is measured from /proc/PID/stat (utime+stime) around the
# run. See bench/README.md.
#
# Environment: DURATION (seconds per run, default 20), NAMES (default
# 10000), SERVERS (default "node dev knot nsd"; "ddnrs" is dev), PROTOS
# (default "udp tcp"), KEEP=1 keeps the work dir, RRL=0 skips the rate
# limiting figures, ENCRYPTED=0 skips bench/encrypted.sh (DoT, DoH,
# HTTP/3 and DoQ).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
NAMES=${NAMES:-10000}
SERVERS=${SERVERS:-node dev knot nsd}
PROTOS=${PROTOS:-udp tcp}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for tool in dnsperf taskset; do
	command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/test-deps.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ddnrs-bench.XXXXXX)
server_pid=""
stop_server() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}
cleanup() {
	stop_server
	if [ "${KEEP:-}" = 1 ]; then echo "bench: work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# free_port prints a port that is free on 127.0.0.1 for both TCP and UDP.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if [ -z "$(ss -Hln "( sport = :$p )" 2>/dev/null)" ]; then
			echo "$p"
			return
		fi
	done
	echo "bench: no free port" >&2
	return 1
}

# cpu_ticks prints utime+stime (clock ticks) of a process and its
# descendants (NSD forks its servers).
cpu_ticks() {
	local total=0 p t
	if [ -r "/proc/$1/stat" ]; then
		# Fields after the ")" of comm: utime is the 12th, stime the 13th.
		total=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
	fi
	for p in $(pgrep -P "$1" 2>/dev/null || true); do
		t=$(cpu_ticks "$p")
		total=$((total + t))
	done
	echo "$total"
}

# core_times prints "busy total" jiffies of one CPU from /proc/stat.
core_times() {
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# wait_answer waits until the server on port answers the zone's SOA.
wait_answer() {
	for _ in $(seq 100); do
		if dig @127.0.0.1 -p "$1" +time=1 +tries=1 +norec bench. SOA 2>/dev/null | grep -q "status: NOERROR"; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || { echo "bench: server exited" >&2; return 1; }
		sleep 0.1
	done
	echo "bench: server on port $1 does not answer" >&2
	return 1
}

echo "== building ddnrs and generating a $NAMES-name zone in $work"
go build -o "$work/ddnrs" ./cmd/ddnrs
go build -o "$work/latency" ./bench/cmd/latency
go run ./bench/cmd/genzone -n "$NAMES" -zone "$work/bench.zone" -queries "$work/queries.txt"
base=$("$work/ddnrs" zone keygen bench. --dir "$work" | tail -n 1)
base=$(basename "$base")
key="$work/$base.private"
"$work/ddnrs" zone sign --key "$key" --out "$work/bench.zone.signed" "$work/bench.zone" >/dev/null
echo "signed zone: $(grep -c . "$work/bench.zone.signed") lines; queries: $(wc -l < "$work/queries.txt") (80% existing, 20% NXDOMAIN)"

# start_ddnrs runs `ddnrs dev` (a 3-member group in one process) unpinned
# until it is ready: its members have committed the zone through Raft and
# serve it, which on one core can outlast the wait. Then every thread of
# the process is pinned to the server core, as for the other servers.
start_ddnrs() {
	rm -f "$work/ready.json"
	"$work/ddnrs" dev --dns 127.0.0.1:0 --rrl-rate 0 --data "$work/ddnrs-data" \
		--zone "$work/bench.zone.signed" --key "$key" --ready-file "$work/ready.json" >"$work/ddnrs.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 1200); do
		[ -s "$work/ready.json" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	port=$(sed -n 's/.*"dns" *: *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$work/ready.json" 2>/dev/null | head -n 1)
	[ -n "$port" ] || { echo "bench: ddnrs wrote no ready file"; cat "$work/ddnrs.log"; return 1; }
	taskset -a -p -c "$SERVER_CPU" "$server_pid" >/dev/null
}

start_dev() { start_ddnrs; }

# start_node runs `ddnrs node`, a one-member group made by `ddnrs ops
# group bootstrap` whose zone store `ddnrs ops store restore-zone` seeded
# with the zone (signed with the same key, as dev does): it serves at
# once, so it starts pinned and sizes itself (UDP sockets) for one core.
start_node() {
	rm -rf "$work/grp" "$work/node-ready.json"
	"$work/ddnrs" ops group bootstrap --out "$work/grp" --members 1 --no-encrypted \
		--dns-port "$(free_port)" --raft-port "$(free_port)" --admin-port "$(free_port)" >"$work/bootstrap.log" 2>&1
	sed -i 's/^dns = .*/&\nrrl_rate = 0/' "$work/grp/node1/node.toml"
	"$work/ddnrs" ops store restore-zone --data "$work/grp/node1/data" --key "$key" "$work/bench.zone" >>"$work/bootstrap.log" 2>&1
	taskset -c "$SERVER_CPU" "$work/ddnrs" node --config "$work/grp/node1/node.toml" \
		--ready-file "$work/node-ready.json" >"$work/node.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 600); do
		[ -s "$work/node-ready.json" ] && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	port=$(sed -n 's/.*"dns" *: *"127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$work/node-ready.json" 2>/dev/null | head -n 1)
	[ -n "$port" ] || { echo "bench: ddnrs node wrote no ready file"; cat "$work/node.log"; return 1; }
}

start_knot() {
	port=$(free_port)
	mkdir -p "$work/knot"
	cat >"$work/knot/knot.conf" <<CONF
server:
    rundir: "$work/knot"
    listen: 127.0.0.1@$port
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "$work/knot/knot.sock"
database:
    storage: "$work/knot/db"
log:
  - target: stderr
    any: warning
zone:
  - domain: bench.
    file: "$work/bench.zone.signed"
    storage: "$work/knot"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
CONF
	taskset -c "$SERVER_CPU" knotd -c "$work/knot/knot.conf" >"$work/knot.log" 2>&1 &
	server_pid=$!
}

start_nsd() {
	port=$(free_port)
	mkdir -p "$work/nsd"
	cat >"$work/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$port
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$work/nsd"
    database: ""
    zonelistfile: "$work/nsd/zone.list"
    xfrdfile: "$work/nsd/xfrd.state"
    pidfile: "$work/nsd/nsd.pid"
    logfile: "$work/nsd/nsd.log"
    rrl-ratelimit: 0
    minimal-responses: yes
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: bench.
    zonefile: "$work/bench.zone.signed"
CONF
	taskset -c "$SERVER_CPU" nsd -d -c "$work/nsd/nsd.conf" >"$work/nsd.log" 2>&1 &
	server_pid=$!
}

results=()
for server in $SERVERS; do
	case $server in
	ddnrs | dev | node) ;;
	knot) command -v knotd >/dev/null || { echo "bench: knotd missing, skipping"; continue; } ;;
	nsd) command -v nsd >/dev/null || { echo "bench: nsd missing, skipping"; continue; } ;;
	*) echo "bench: unknown server $server" >&2; exit 1 ;;
	esac
	echo "== $server"
	"start_$server"
	wait_answer "$port"
	# Sanity: an existing name answers NOERROR and a missing one NXDOMAIN.
	dig @127.0.0.1 -p "$port" +norec host00001.bench. A | grep -q "status: NOERROR" || echo "bench: WARNING $server host00001.bench. A is not NOERROR"
	dig @127.0.0.1 -p "$port" +norec nx00001.bench. A | grep -q "status: NXDOMAIN" || echo "bench: WARNING $server nx00001.bench. A is not NXDOMAIN"
	for proto in $PROTOS; do
		for mode in plain do; do
			flags=(-m "$proto")
			[ "$mode" = do ] && flags+=(-D)
			label="$server/$proto"
			[ "$mode" = do ] && label="$label+do"
			before=$(cpu_ticks "$server_pid")
			read -r core_busy0 core_total0 < <(core_times "$SERVER_CPU")
			taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
				-l "$DURATION" -q 200 -c 4 -v "${flags[@]}" >"$work/$server-$proto-$mode.txt" 2>&1 || true
			after=$(cpu_ticks "$server_pid")
			read -r core_busy1 core_total1 < <(core_times "$SERVER_CPU")
			cpu_us=$(((after - before) * 1000000 / $(getconf CLK_TCK)))
			# How busy the server's core was, by anyone: a core near 100% with
			# a low server share means other processes took it.
			busy=$((100 * (core_busy1 - core_busy0) / (core_total1 - core_total0 + 1)))
			line="$("$work/latency" -label "$label" -cpu "$cpu_us" "$work/$server-$proto-$mode.txt")  core$SERVER_CPU:${busy}%"
			echo "$line"
			results+=("$line")
		done
	done
	stop_server
done

echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s per run, server on core $SERVER_CPU, dnsperf -q 200 -c 4 on core $CLIENT_CPU, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$work/latency" -header
printf '%s\n' "${results[@]}"

# UDP response rate limiting and cookies (issue 18): the amplification of
# a one-source flood on loopback with and without RRL, and the per-query
# cost of RRL and cookies (bench/README.md, "UDP rate limiting").
if [ "${RRL:-1}" = 1 ]; then
	echo
	echo "== UDP amplification under a flood from one source (TestUDPRateLimitFlood)"
	go test -count=1 -run 'TestUDPRateLimitFlood$' -v ./dnsfront | grep -E 'flood from|well-behaved'
	echo "== cost of RRL and cookies per query (BenchmarkUDPGuard)"
	go test -run '^$' -bench 'BenchmarkUDPGuard' -benchtime 200000x -count 3 ./dnsfront | grep Benchmark
fi

# The encrypted transports (DoT, DoH) against Unbound: bench/encrypted.sh.
if [ "${ENCRYPTED:-1}" = 1 ]; then
	echo
	bench/encrypted.sh
fi
