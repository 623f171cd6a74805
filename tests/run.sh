#!/bin/sh
# tests/run.sh — runs every test binary in a build directory, shows its output, and
# appends the PASS/FAIL/SKIP counts to a tally file that `make check` sums at the end.
# usage: tests/run.sh BUILD_DIR TALLY_FILE [LABEL]
set -u
build=$1; tally=$2; label=${3:-}
pass=0; fail=0; skip=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    echo "== $label$name"
    out=$(TREVISOR_BUILD="$build" "$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -c '^PASS ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    s=$(printf '%s\n' "$out" | grep -c '^SKIP ')
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $name: exited with status $rc"; f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
echo "$pass $fail $skip" >> "$tally"
