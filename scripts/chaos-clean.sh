#!/usr/bin/env bash
# make chaos-clean: removes what a killed chaos run (integration/chaos,
# internal/netlab) could leave behind. A run keeps its namespaces, TAP
# devices and tmpfs mounts inside a network and mount namespace of its
# own, so they vanish with its processes; what can outlive it is a node
# process whose parent died. This kills every process marked with the
# DDNRS_NETLAB_RUN environment variable, then removes any namespace,
# interface or tmpfs mount of a lab visible from here (none, unless a run
# was started outside netlab.Main).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
	echo "chaos-clean: needs root (it kills the chaos suite's processes and removes namespaces); run: sudo make chaos-clean" >&2
	exit 1
fi
killed=0
for env in /proc/[0-9]*/environ; do
	pid=${env#/proc/}
	pid=${pid%/environ}
	[ "$pid" = "$$" ] && continue
	if { tr '\0' '\n' <"$env"; } 2>/dev/null | grep -q '^DDNRS_NETLAB_RUN='; then
		kill -KILL "$pid" 2>/dev/null && killed=$((killed + 1)) || true
	fi
done
echo "chaos-clean: killed $killed process(es) of chaos runs"
for ns in $(ip netns list 2>/dev/null | awk '/^ddnrs-netlab-/ {print $1}'); do
	ip netns del "$ns" && echo "chaos-clean: deleted namespace $ns"
done
for dev in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^nl[0-9]+[ch]/ {sub(/@.*/, "", $2); print $2}'); do
	ip link del "$dev" && echo "chaos-clean: deleted interface $dev"
done
awk '$1 == "netlab-tmpfs" {print $2}' /proc/mounts | while read -r m; do
	umount -l "$m" && echo "chaos-clean: unmounted $m"
done
