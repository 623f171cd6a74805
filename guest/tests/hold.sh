#!/bin/sh
# /tests/hold.sh — keeps a TRE instance busy from the guest until the VM is killed (the
# test of what happens when QEMU dies): spin's proc 0 runs until its CPU budget, again.
echo "hold: calling"
while true; do
    tre exec /progs/spin -- call @ 0 >/dev/null 2>&1
done
