#!/usr/bin/env bash
# Make promtool, amtool and the prometheus/alertmanager binaries (and, as root, the optional real
# programs some tests run) available to the tests.
# 1. already on PATH: nothing to do;
# 2. running as root: install Debian's packages;
# 3. a Docker engine answers: use wrappers that run the official images (scripts/docker/);
# 4. otherwise: say exactly what to install, and fail.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
if [ "$(id -u)" = 0 ]; then
  # optional, as root only (tests that need one skip with the reason where it is absent):
  # a second Prometheus-compatible engine for the gate; a headless browser for the HTML report;
  # the real exporters and the servers behind them for the end-to-end stack test.
  command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
  command -v prometheus-postgres-exporter >/dev/null 2>&1 || need+=(prometheus-postgres-exporter)
  command -v prometheus-redis-exporter >/dev/null 2>&1 || need+=(prometheus-redis-exporter)
  command -v prometheus-nginx-exporter >/dev/null 2>&1 || need+=(prometheus-nginx-exporter)
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
  command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)   # the compose file checked by 1.29 too
  # the stack test's namespace: iproute2 brings lo up, openssl makes the notification sink's certificate
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${need[*]} from Debian (as root)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # The packages would start their services on install where an init system runs; the tests
  # start their own, on ports they pick. Forbid service starts for the length of the install.
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; fi
  trap '[ $had_policy = 0 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  exit 0
fi

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo "ensure-tools: no promtool/amtool here; tests will run them from the prom/* images" >&2
  exit 0
fi

cat >&2 <<MSG
ensure-tools: promtool and amtool are needed and neither is installed.
  Debian/Ubuntu:  sudo apt-get install prometheus prometheus-alertmanager
  or run as root so 'make test' can install them, or start a Docker engine so the
  prom/prometheus and prom/alertmanager images can be used instead.
MSG
exit 1
