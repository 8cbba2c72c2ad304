#!/usr/bin/env bash
# Make promtool, amtool and the prometheus/alertmanager binaries (and, as root, VictoriaMetrics)
# available to the tests.
# 1. already on PATH: nothing to do;
# 2. running as root: install Debian's prometheus and prometheus-alertmanager;
# 3. a Docker engine answers: use wrappers that run the official images (scripts/docker/);
# 4. otherwise: say exactly what to install, and fail.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
# optional: a second, independent Prometheus-compatible engine for the gate (tests skip without it)
if [ "$(id -u)" = 0 ] && ! command -v victoria-metrics >/dev/null 2>&1; then
  need+=(victoria-metrics)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: installing ${need[*]} from Debian (as root)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The Debian packages start services on install where systemd runs; the tests start their own.
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
