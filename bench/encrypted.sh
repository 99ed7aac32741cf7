#!/usr/bin/env bash
# Encrypted transports: dnsperf -m dot and -m doh against ddnrs dev and
# against Unbound serving the same signed zone (auth-zone) over DoT and
# DoH, in one run; and bench/cmd/dnsload (Go) for what this dnsperf
# lacks, DoH over HTTP/3 (doh3) and DoQ (ddnrs only: Debian's Unbound
# has neither), and for DoH over HTTP/2 with that client too (doh-go),
# next to the UDP figure (dnsperf). Server on core 0, load generator on
# core 1; CPU time per query from /proc/PID/stat as in run.sh. See
# bench/README.md.
#
# Environment: DURATION (seconds per run, default 20), NAMES (default
# 10000), ENC_SERVERS (default "ddnrs unbound"), ENC_MODES (default
# "udp dot doh doh-go doh3 doq"), KEEP=1 keeps the work dir.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
NAMES=${NAMES:-10000}
ENC_SERVERS=${ENC_SERVERS:-ddnrs unbound}
ENC_MODES=${ENC_MODES:-udp dot doh doh-go doh3 doq}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}

for tool in dnsperf taskset kdig; do
	command -v "$tool" >/dev/null || { echo "bench: $tool missing (scripts/test-deps.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/ddnrs-bench-enc.XXXXXX)
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

cpu_ticks() {
	local total=0 p t
	if [ -r "/proc/$1/stat" ]; then
		total=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
	fi
	for p in $(pgrep -P "$1" 2>/dev/null || true); do
		t=$(cpu_ticks "$p")
		total=$((total + t))
	done
	echo "$total"
}

core_times() {
	awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

json_field() { sed -n "s/.*\"$1\" *: *\"\\([^\"]*\\)\".*/\\1/p" "$2" | head -n 1; }

echo "== building ddnrs and generating a $NAMES-name zone in $work"
go build -o "$work/ddnrs" ./cmd/ddnrs
go build -o "$work/latency" ./bench/cmd/latency
go build -o "$work/dnsload" ./bench/cmd/dnsload
go run ./bench/cmd/genzone -n "$NAMES" -zone "$work/bench.zone" -queries "$work/queries.txt"
base=$(basename "$("$work/ddnrs" zone keygen bench. --dir "$work" | tail -n 1)")
key="$work/$base.private"
"$work/ddnrs" zone sign --key "$key" --out "$work/bench.zone.signed" "$work/bench.zone" >/dev/null

# ddnrs dev runs first either way: it makes the dev CA and the DNS
# certificate, which Unbound serves too.
start_ddnrs() {
	rm -f "$work/ready.json"
	# Started on both cores: committing a big zone through the dev group's
	# three Raft members on one core can outlast dev's wait. Pinned to
	# the server core (every thread) once it serves.
	"$work/ddnrs" dev --dns 127.0.0.1:0 --data "$work/ddnrs-data" \
		--zone "$work/bench.zone.signed" --key "$key" --ready-file "$work/ready.json" >"$work/ddnrs.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 600); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
	[ -s "$work/ready.json" ] || { echo "bench: ddnrs wrote no ready file"; cat "$work/ddnrs.log"; return 1; }
	plain_port=$(json_field dns "$work/ready.json" | sed 's/.*://')
	dot_port=$(json_field dot "$work/ready.json" | sed 's/.*://')
	doq_port=$(json_field doq "$work/ready.json" | sed 's/.*://')
	doh_port=$(json_field doh "$work/ready.json" | sed 's/.*:\([0-9]*\)\/.*/\1/')
	ca=$(json_field ca "$work/ready.json")
	[ -n "$dot_port" ] && [ -n "$doh_port" ] || { echo "bench: ready file has no dot/doh"; cat "$work/ready.json"; return 1; }
	taskset -a -p -c "$SERVER_CPU" "$server_pid" >/dev/null
}

start_unbound() {
	local plain
	plain=$(free_port)
	plain_port=$plain
	doq_port=""
	dot_port=$(free_port)
	doh_port=$(free_port)
	mkdir -p "$work/unbound"
	cat >"$work/unbound/unbound.conf" <<CONF
server:
	interface: 127.0.0.1@$plain
	interface: 127.0.0.1@$dot_port
	interface: 127.0.0.1@$doh_port
	tls-port: $dot_port
	https-port: $doh_port
	tls-service-key: "$work/ddnrs-data/tls/dns/node.key"
	tls-service-pem: "$work/ddnrs-data/tls/dns/node.crt"
	num-threads: 1
	so-reuseport: no
	do-ip6: no
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "$work/unbound"
	pidfile: "$work/unbound/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
	access-control: 127.0.0.0/8 allow
	incoming-num-tcp: 1000
	http-max-streams: 100
	module-config: "iterator"
	minimal-responses: yes
	ratelimit: 0
	ip-ratelimit: 0
remote-control:
	control-enable: no
auth-zone:
	name: "bench."
	zonefile: "$work/bench.zone.signed"
	for-downstream: yes
	for-upstream: no
	fallback-enabled: no
CONF
	taskset -c "$SERVER_CPU" unbound -d -c "$work/unbound/unbound.conf" >"$work/unbound.log" 2>&1 &
	server_pid=$!
}

# wait_tls waits until the server answers the zone's SOA over DoT.
wait_tls() {
	for _ in $(seq 100); do
		if kdig @127.0.0.1 -p "$dot_port" +tls-ca="$ca" +tls-hostname=localhost +time=1 +retry=0 bench. SOA 2>/dev/null | grep -q "status: NOERROR"; then
			return 0
		fi
		kill -0 "$server_pid" 2>/dev/null || { echo "bench: server exited" >&2; return 1; }
		sleep 0.1
	done
	echo "bench: no DoT answer on port $dot_port" >&2
	return 1
}

results=()
for server in $ENC_SERVERS; do
	case $server in
	ddnrs) ;;
	unbound)
		command -v unbound >/dev/null || { echo "bench: unbound missing, skipping"; continue; }
		[ -n "${ca:-}" ] || { start_ddnrs; stop_server; }
		;;
	*) echo "bench: unknown server $server" >&2; exit 1 ;;
	esac
	echo "== $server"
	"start_$server"
	wait_tls
	for mode in $ENC_MODES; do
		case $mode in
		udp) port=$plain_port ;;
		dot) port=$dot_port ;;
		doh | doh-go | doh3) port=$doh_port ;;
		doq) port=$doq_port ;;
		*) echo "bench: unknown mode $mode" >&2; exit 1 ;;
		esac
		if [ -z "$port" ] || { [ "$server" = unbound ] && [ "$mode" = doh3 ]; }; then
			echo "$server/$mode: not served"
			continue
		fi
		# Sanity over the transport itself, certificate verified.
		case $mode in
		dot | doh)
			https=()
			[ "$mode" = doh ] && https=(+https)
			kdig @127.0.0.1 -p "$port" +tls-ca="$ca" +tls-hostname=localhost "${https[@]}" +time=2 host00001.bench. A |
				grep -q "status: NOERROR" || echo "bench: WARNING $server/$mode host00001.bench. A is not NOERROR"
			;;
		esac
		before=$(cpu_ticks "$server_pid")
		read -r core_busy0 core_total0 < <(core_times "$SERVER_CPU")
		case $mode in
		udp | dot | doh)
			dmode=()
			[ "$mode" = udp ] || dmode=(-m "$mode")
			taskset -c "$CLIENT_CPU" dnsperf "${dmode[@]}" -s 127.0.0.1 -p "$port" -d "$work/queries.txt" \
				-l "$DURATION" -q 200 -c 4 -v >"$work/$server-$mode.txt" 2>&1 || true
			;;
		*)
			lmode=$mode
			[ "$mode" = doh-go ] && lmode=doh
			taskset -c "$CLIENT_CPU" "$work/dnsload" -m "$lmode" -s "127.0.0.1:$port" -ca "$ca" -d "$work/queries.txt" \
				-l "${DURATION}s" -q 200 -c 4 -v >"$work/$server-$mode.txt" 2>&1 || true
			;;
		esac
		after=$(cpu_ticks "$server_pid")
		read -r core_busy1 core_total1 < <(core_times "$SERVER_CPU")
		cpu_us=$(( (after - before) * 1000000 / $(getconf CLK_TCK) ))
		busy=$(( 100 * (core_busy1 - core_busy0) / (core_total1 - core_total0 + 1) ))
		line="$("$work/latency" -label "$server/$mode" -cpu "$cpu_us" "$work/$server-$mode.txt")  core$SERVER_CPU:${busy}%"
		echo "$line"
		results+=("$line")
	done
	stop_server
done

echo
echo "== encrypted results ($(date -u +%Y-%m-%dT%H:%MZ), ${DURATION}s per run, server on core $SERVER_CPU, dnsperf or dnsload -q 200 -c 4 on core $CLIENT_CPU, load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$work/latency" -header
printf '%s\n' "${results[@]}"
