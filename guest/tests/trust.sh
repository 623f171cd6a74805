#!/bin/sh
# /tests/trust.sh — issues 5 and 6 from inside the guest, under `trevisor run`: the owner's
# quote of trevisor (printed as hex between markers for the host to verify), and the
# signature accelerator (init, sign, verify) reaching the token only through the TRE.
# Prints "E2E PASS name" or "E2E FAIL name: why"; the host test counts them.
set -u
pass() { echo "E2E PASS $1"; }
fail() { echo "E2E FAIL $1: $2"; }

# 1. the owner's attestation: a quote over everything trevisor measured, bound to a nonce
if tre attest --nonce 6775657374206e6f6e6365 --out /tmp/q.bundle >/tmp/att.txt 2>&1; then
    pass attest
    echo "QUOTE-BEGIN"
    od -An -v -tx1 /tmp/q.bundle | tr -d ' \n' | fold -w 64
    echo
    echo "QUOTE-END"
else
    fail attest "$(cat /tmp/att.txt)"
fi

# 2. sigaccel: the fast key certified by the token, used from the guest
export SIGACCEL_IMAGE=/progs/sigaccel
echo "a document from the owner" > /tmp/doc
if sigaccel --state /tmp/sa init >/tmp/sa.txt 2>&1; then pass sigaccel_init
else fail sigaccel_init "$(cat /tmp/sa.txt)"; fi
if sigaccel --state /tmp/sa sign /tmp/doc -o /tmp/doc.sig >/tmp/sa.txt 2>&1 &&
   sigaccel --state /tmp/sa verify /tmp/doc /tmp/doc.sig >/tmp/sa.txt 2>&1; then
    pass sigaccel_sign_verify
else
    fail sigaccel_sign_verify "$(cat /tmp/sa.txt)"
fi
echo "changed" >> /tmp/doc
if sigaccel --state /tmp/sa verify /tmp/doc /tmp/doc.sig >/dev/null 2>&1; then
    fail sigaccel_tamper "a changed file verified"
else
    pass sigaccel_tamper
fi
echo "E2E DONE"
