#!/usr/bin/env bash
# Installs the Debian packages the integration tests and benchmarks drive,
# but only when one of their tools is missing: apt-get update runs once,
# then, and only then. Safe to run again; does nothing on a ready machine.
set -euo pipefail

# Go programs some tests run (Pebble, Let's Encrypt's test ACME server, and
# legorun, lego's ACME client): built once into the tools cache
# (internal/testtool.ToolsDir), outside our go.mod. Quick when built.
(cd "$(dirname "$0")/.." && go run ./internal/testtool/buildtools >/dev/null)

# tool:package pairs; one tool per package is enough to tell it is there.
pairs=(
	dig:bind9-dnsutils
	kdig:knot-dnsutils
	unbound:unbound
	knotd:knot
	ldns-verify-zone:ldnsutils
	dnsperf:dnsperf
	nsd:nsd
	curl:curl
	openssl:openssl
	chromium:chromium
	promtool:prometheus
)

missing=()
for p in "${pairs[@]}"; do
	tool=${p%%:*}
	pkg=${p##*:}
	if ! command -v "$tool" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
		missing+=("$pkg")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "test-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
# Debian starts these daemons on install; the tests run their own copies on
# free ports, so stop the system ones (ignore failures: no systemd in
# containers).
for svc in unbound knot nsd prometheus; do
	$sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
