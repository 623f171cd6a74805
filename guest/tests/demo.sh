#!/bin/sh
# /tests/demo.sh — `make demo` inside the user environment: the owner's OS calls the TRE
# through trevisor's vsock device (TREVISOR_SOCKET=vsock:2). The host checks the signature.
set -u
echo "== in the guest: tre runs add(40, 2) in a TRE instance on the host"
tre exec /progs/add-glibc -- call @ 0 --arg-int 40 --arg-int 2 --result 4 --int -- close @ || exit 1
echo "== in the guest: a C client using libtre"
add_client /progs/add-glibc 1000 337 || exit 1
echo "== in the guest: ecdsa-sign signs the SHA-256 of a message inside the TRE"
echo "Hello from the owner's OS, signed in the tamper-resistant environment." > /tmp/msg.txt
sign_client /progs/ecdsa-sign /tmp/msg.txt /tmp/pub.pem /tmp/sig.der || exit 1
echo "demo-message: $(cat /tmp/msg.txt)"
sed 's/^/demo-pubkey: /' /tmp/pub.pem
echo "demo-signature: $(od -An -tx1 -v /tmp/sig.der | tr -d ' \n')"
