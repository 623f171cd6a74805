#!/bin/sh
# scripts/bench.sh — `make bench`: builds the benchmark and runs it; the table goes to
# stdout and the figures to bench/results.json.
set -eu
cd "$(dirname "$0")/.."
make --no-print-directory build/bench/bench
TREVISOR_BUILD=build build/bench/bench bench/results.json
