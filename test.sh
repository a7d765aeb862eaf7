#!/usr/bin/env bash
# Runs every test of MetricsCollector on a fresh Debian machine: installs what is missing,
# starts a throw-away PostgreSQL on 127.0.0.1:5433 for the store and cluster tests, runs
# the whole suite, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v dotnet >/dev/null 2>&1; then
  echo "test.sh: the .NET 10 SDK is required (https://dot.net); not found on PATH" >&2
  exit 1
fi

# Debian packages some tests drive: chromium for the live page's browser test (Playwright with its
# executable path, no download), prometheus (server and promtool) for the metrics and rules tests.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "test.sh: ${missing[*]} not installed and installing needs root" >&2; exit 1; }
  echo "installing ${missing[*]} with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f deploy/local-postgres.sh ]; then
  bash deploy/local-postgres.sh start
  eval "$(bash deploy/local-postgres.sh env)"
  trap 'bash deploy/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
fi

# A failure is printed where it happens, thousands of lines above the end; CI keeps only the tail,
# so the failed tests' names and messages are repeated from the TRX reports at the very end.
results=TestResults/test.sh
rm -rf "$results"
status=0
dotnet test MetricsCollector.sln -c Release --logger "console;verbosity=normal" --logger trx \
  --results-directory "$results" "$@" || status=$?
if [ "$status" -ne 0 ] && compgen -G "$results/*.trx" >/dev/null; then
  perl deploy/failed-tests.pl "$results"/*.trx
fi
exit "$status"
