#!/bin/sh
# tests/progs/sim-check.sh — sanity checks of the TRE programs' handlers run natively
# (their sources linked with tests/progs/sim.c instead of the SDK runtime; `make progs-sim`).
# It checks the programs' logic and RPC shapes, not trevisor. usage: sim-check.sh [BUILD_DIR]
set -u
S=${1:-build}/progs/sim
pass=0; fail=0
expect() { # NAME PROGRAM INPUT EXPECTED-OUTPUT (exact, as printed by sim)
    out=$(printf '%b' "$3" | "$S/$2" 2>/dev/null)
    if [ "$out" = "$(printf '%b' "$4")" ]; then echo "PASS $1"; pass=$((pass + 1))
    else echo "FAIL $1: got [$out]"; fail=$((fail + 1)); fi
}
signal() { # NAME PROC SIGNAL-NUMBER: faults' proc must die of that signal natively
    rc=$( (printf '%s\n' "$2" | "$S/faults" >/dev/null 2>&1; echo $?) 2>/dev/null)
    if [ $rc -eq $((128 + $3)) ]; then echo "PASS $1"; pass=$((pass + 1))
    else echo "FAIL $1: exit status $rc"; fail=$((fail + 1)); fi
}
expect add add '0 a:01000000 a:02000000 r:4\n' 'log: add: ready\nret=0\nr0=03000000'
expect add-wraps add '0 a:ffffff7f a:01000000 r:4\n' 'log: add: ready\nret=0\nr0=00000080'
expect add-einval add '0 a:01000000 r:4\n' 'log: add: ready\nret=-22\nr0=00000000'
expect add-enosys add '1\n' 'log: add: ready\nret=-38'
expect spin-alive spin '1\n' 'ret=42'
expect exit exit '1\n0\n1\n' 'ret=-38\nexit 3'
expect nullrpc-null nullrpc '0\n' 'ret=0'
expect nullrpc-copy nullrpc '1 a:0102030405 r:8\n' 'ret=0\nr0=0102030405'
expect nullrpc-enospc nullrpc '1 a:0102030405 r:2\n' 'ret=-28\nr0=0000'
expect secret-unset secret '1\n' 'ret=0'
expect secret secret "0 a:$(printf '%064d' 7)\n1\n" 'ret=0\nret=1'
expect bigexec bigexec '0 r:4\n' 'ret=1219636577\nr0=612db248'
expect faults-alive faults '0\n' 'ret=7'
expect faults-int80-natively faults '11\n' 'ret=-1'
for p in 1:11 2:11 3:11 4:11 5:4 6:8 7:5 8:11 9:11 10:11 12:11 13:11 14:11 17:11; do
    signal "faults-${p%%:*}" "${p%%:*}" "${p##*:}"
done
out=$("$S/serve_test" 2>&1); printf '%s\n' "$out"
case $out in *"PASS serve_test") pass=$((pass + 1)) ;; *SKIP*) ;; *) fail=$((fail + 1)) ;; esac
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
