#!/bin/sh
# /tests/hello.sh — the smallest guest test: says hello (and its argument) and succeeds.
# trevisor.run=/tests/hello.sh [trevisor.arg=WORD]
echo "hello from the guest${1:+: $1}"
exit 0
