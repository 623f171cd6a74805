#!/bin/sh
# scripts/check.sh — `make check`: builds everything, runs every test, runs the fuzzers
# for a bounded time, then builds and runs every test again under ASan+UBSan. Ends with
# the line "N passed, N failed" and a non-zero status if anything failed.
set -u
cd "$(dirname "$0")/.."
tally=$(mktemp)
trap 'rm -f "$tally"' EXIT
fail_build=0
jobs=$(nproc 2>/dev/null || echo 2)

if [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
    if [ "${CI:-}" = "true" ]; then
        echo "check: /dev/kvm is missing or not writable; KVM is required in CI, so the KVM tests will FAIL"
    else
        echo "check: /dev/kvm is missing or not writable; the KVM tests will print SKIP"
    fi
fi

echo "== build"
if ! make --no-print-directory -j"$jobs" all; then
    echo "FAIL build"; fail_build=$((fail_build + 1))
fi
echo "== the user environment's image (Debian kernel + busybox; cached after the first run)"
scripts/guest-deps.sh all
if ! make --no-print-directory guest-image; then
    echo "FAIL guest-image"; fail_build=$((fail_build + 1))
fi
echo "== tests"
TREVISOR_BUILD=build tests/run.sh build "$tally" ""

echo "== fuzzers (bounded)"
fz=$(mktemp)
scripts/fuzz.sh build "${FUZZ_SECONDS:-20}" 2>&1 | tee "$fz" | grep -E '^(PASS|FAIL|==)' 
p=$(grep -c '^PASS ' "$fz"); f=$(grep -c '^FAIL ' "$fz")
[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { echo "FAIL fuzz: no fuzzer ran"; f=1; }
echo "$p $f 0" >> "$tally"
rm -f "$fz"

echo "== build with ASan+UBSan"
if ! make --no-print-directory -j"$jobs" SAN=1 all || ! make --no-print-directory SAN=1 guest-image; then
    echo "FAIL build (sanitizers)"; fail_build=$((fail_build + 1))
fi
echo "== tests with ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    TREVISOR_BUILD=build/san tests/run.sh build/san "$tally" "san: "

pass=0; failn=$fail_build; skip=0
while read -r p f s; do
    pass=$((pass + p)); failn=$((failn + f)); skip=$((skip + s))
done < "$tally"
[ "$skip" -gt 0 ] && echo "($skip skipped)"
echo "$pass passed, $failn failed"
[ "$failn" -eq 0 ]
