#!/usr/bin/env bash
# bench/scale.sh (make bench-scale): zones of 10k, 100k and 1M RRsets.
# For each size: the zone is generated (names with A, AAAA and TXT; with
# the NSEC each name gets, four RRsets a name), signed with 'ddnrs zone
# sign', then served by
#   - Knot DNS (knotd) from the signed file: time until it answers the
#     zone's SOA, and its RSS;
#   - 'ddnrs dev --zone' (three members in one process): time until its
#     ready file appears (every member serves the zone, uploaded through
#     Raft in chunks), and the process RSS, also divided by three.
# Then bench/cmd/bigchange: a zone of BIGCHANGE_RRSETS RRsets (default
# 100000; "" skips it) uploaded to a 7-member group of 'ddnrs node'
# processes, RSS per member, and the commit latency of one-RRset changes.
# Knobs: SIZES (RRsets, default "10000 100000 1000000"), BIGCHANGE_RRSETS,
# DEV=0 skips 'ddnrs dev' (Knot's side alone: at 1M RRsets dev's three
# members take hours on a loaded 2-core machine; bigchange measures the
# members), KEEP=1 keeps the work directory. Needs knotd (package knot) and kdig or
# dig.
set -euo pipefail

SIZES=${SIZES:-10000 100000 1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ddnrs-scale.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-}" = 1 ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

command -v knotd >/dev/null || { echo "bench-scale: knotd missing (scripts/test-deps.sh installs knot)"; exit 1; }
ask=$(command -v kdig || command -v dig)
go build -o "$work/ddnrs" "$root/cmd/ddnrs"

now() { date +%s.%N; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

printf '%-9s %-10s %-10s %-12s %-12s %-12s %-12s\n' RRsets sign knot-load knot-RSS ddnrs-served ddnrs-RSS per-member
for n in $SIZES; do
	names=$(( n / 4 ))
	dir="$work/$n"
	mkdir -p "$dir"
	awk -v names="$names" 'BEGIN {
		print "$ORIGIN scale.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1"
		for (i = 0; i < names; i++)
			printf "h%d A 10.%d.%d.%d\nh%d AAAA 2001:db8::%x:%x\nh%d TXT \"name %d\"\n", i, int(i/65536)%256, int(i/256)%256, i%256, i, int(i/65536), i%65536, i, i
	}' >"$dir/scale.zone"
	"$work/ddnrs" zone keygen scale.test. --dir "$dir" >/dev/null 2>&1
	key=$(ls "$dir"/Kscale.test.*.private)
	t0=$(now)
	"$work/ddnrs" zone sign --key "$key" --out "$dir/scale.zone.signed" "$dir/scale.zone" >/dev/null
	sign=$(echo "$(now) - $t0" | bc)

	# Knot DNS, serving the signed file as it is.
	port=$(free_port)
	mkdir -p "$dir/knot"
	cat >"$dir/knot/knot.conf" <<CONF
server:
    rundir: "$dir/knot"
    listen: 127.0.0.1@$port
control:
    listen: "$dir/knot/knot.sock"
database:
    storage: "$dir/knot/db"
log:
  - target: stderr
    any: warning
zone:
  - domain: scale.test.
    file: "$dir/scale.zone.signed"
    storage: "$dir/knot"
    dnssec-signing: off
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
CONF
	t0=$(now)
	knotd -c "$dir/knot/knot.conf" >"$dir/knot.log" 2>&1 &
	kpid=$!
	pids+=("$kpid")
	until "$ask" @127.0.0.1 -p "$port" scale.test. SOA +short 2>/dev/null | grep -q hostmaster; do
		kill -0 "$kpid" 2>/dev/null || { echo "knotd exited:"; cat "$dir/knot.log"; exit 1; }
		sleep 0.05
	done
	kload=$(echo "$(now) - $t0" | bc)
	krss=$(rss_kib "$kpid")
	kill "$kpid"; wait "$kpid" 2>/dev/null || true

	if [ "${DEV:-1}" = 0 ]; then
		printf '%-9s %-10.1f %-10.2f %-12s %s\n' "$n" "$sign" "$kload" "$((krss / 1024)) MiB" "(ddnrs dev skipped: DEV=0)"
		continue
	fi

	# ddnrs dev: three members in one process; the zone goes through Raft.
	t0=$(now)
	"$work/ddnrs" dev --dns 127.0.0.1:0 --api 127.0.0.1:0 --data "$dir/ddnrs-data" --zone "$dir/scale.zone.signed" \
		--key "$key" --ready-file "$dir/ready.json" >"$dir/ddnrs.log" 2>&1 &
	dpid=$!
	pids+=("$dpid")
	peak=0 failed=
	until [ -s "$dir/ready.json" ]; do
		if ! kill -0 "$dpid" 2>/dev/null; then
			echo "ddnrs dev exited:"; grep -v 'level=' "$dir/ddnrs.log" | tail -20
			failed=1
			break
		fi
		r=$(rss_kib "$dpid"); [ "$r" -gt "$peak" ] && peak=$r
		sleep 0.1
	done
	if [ -n "$failed" ]; then
		printf '%-9s %-10.1f %-10.2f %-12s %s\n' "$n" "$sign" "$kload" "$((krss / 1024)) MiB" "ddnrs failed (above)"
		continue
	fi
	served=$(echo "$(now) - $t0" | bc)
	drss=$(rss_kib "$dpid")
	echo "  ($n RRsets: ddnrs dev peak RSS while loading $((peak / 1024)) MiB)"
	kill "$dpid"; wait "$dpid" 2>/dev/null || true

	printf '%-9s %-10.1f %-10.2f %-12s %-12.1f %-12s %-12s\n' "$n" "$sign" "$kload" "$((krss / 1024)) MiB" "$served" \
		"$((drss / 1024)) MiB" "$((drss / 3072)) MiB"
done
if [ -n "${BIGCHANGE_RRSETS-100000}" ]; then
	echo "bigchange: ${BIGCHANGE_RRSETS-100000} RRsets in a 7-member group, one-RRset changes"
	(cd "$root" && go run ./bench/cmd/bigchange -bin "$work/ddnrs" -rrsets "${BIGCHANGE_RRSETS-100000}")
fi
echo "(times in seconds; ddnrs-served: start of 'ddnrs dev' until all three members serve the zone, signing included;"
echo " machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
