#!/bin/sh
# /tests/bench.sh — the user environment's part of `make bench` (see guest/tools/tre_bench.c);
# the host reads the BENCH lines from the console.
tre_bench echo 300
tre_bench null 300
tre_bench bulk 60
tre_bench sign 3 1 64
tre_bench sign 3 4 64
rate=$(ecdsa-sign-native 16 3 | sed -n 's/^\([0-9.]*\) signatures\/s.*/\1/p')
echo "BENCH guest_native_sign_per_s ${rate:-0}"
echo "BENCH done 1"
