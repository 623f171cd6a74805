#!/bin/sh
# scripts/bench.sh — `make bench`: builds the benchmark (and the guest image for the user
# environment's figures) and runs it; the table goes to stdout, the figures to
# bench/results.json.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory build/bench/bench
scripts/guest-deps.sh all >/dev/null
make --no-print-directory guest-image >/dev/null
TREVISOR_BUILD=build build/bench/bench bench/results.json
