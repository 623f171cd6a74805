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
echo "== in the guest: sigaccel signs with the TRE's fast key, certified by the token"
SIGACCEL_IMAGE=/progs/sigaccel sigaccel --state /tmp/sa init || exit 1
SIGACCEL_IMAGE=/progs/sigaccel sigaccel --state /tmp/sa sign /tmp/msg.txt -o /tmp/msg.sig || exit 1
sigaccel --state /tmp/sa verify /tmp/msg.txt /tmp/msg.sig || exit 1
echo "== in the guest: the owner's quote of trevisor, from the TRE's side of vsock"
tre attest --nonce 64656d6f206e6f6e6365 --out /tmp/q.bundle || exit 1
