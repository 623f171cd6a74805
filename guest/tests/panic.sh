#!/bin/sh
# /tests/panic.sh — a guest kernel panic with a TRE call in flight (the test that the
# owner's crash harms no TRE instance but its own): start spin's endless proc 0, then crash.
echo "panic: calling"
tre exec /progs/spin -- call @ 0 >/dev/null 2>&1 &
sleep 3
echo "panic: crashing the kernel"
echo c > /proc/sysrq-trigger
