#!/bin/sh
# scripts/demo.sh — `make demo`: runs the examples through the engine on embedded
# defaults. The demo vendor key (build/vendor/demo.*, a test key made by the build) is
# trusted in a temporary configuration directory, never in /etc/trevisor.
set -eu
cd "$(dirname "$0")/.."
B=build
T=$B/trevisor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -w /dev/kvm ]; then
    echo "demo: /dev/kvm is missing or not writable: trevisor needs KVM to run TRE programs" >&2
    exit 1
fi

echo "== trusting the demo vendor key (a test key) in $work"
"$T" trust add "$B/vendor/demo.pub" --config "$work"

for p in add-glibc add-musl add-free; do
    echo
    echo "== $p: add(40, 2) in its own KVM instance"
    "$T" exec "$B/progs/$p" --config "$work" --call 0 --arg-int 40 --arg-int 2 --result 4 --int
done

echo
echo "== ecdsa-sign: OpenSSL inside the TRE signs the SHA-256 of a message"
printf 'Hello from the owner, signed inside the tamper-resistant environment.\n' > "$work/msg.txt"
openssl dgst -sha256 -binary "$work/msg.txt" > "$work/digest.bin"
"$T" exec "$B/progs/ecdsa-sign" --config "$work" \
    --call 0 --result 256 --out "$work/pub.der" \
    --call 1 --arg-file "$work/digest.bin" --result 256 --out "$work/sigs.bin"
# proc 1 returns each signature as a 2-byte little-endian length and the DER bytes
tail -c +3 "$work/sigs.bin" > "$work/sig.der"
openssl pkey -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem"
echo "-- the TRE's public key:"
cat "$work/pub.pem"
echo "-- the signature (DER, hex):"
od -An -tx1 -v "$work/sig.der" | tr -d ' \n'; echo
echo "-- OpenSSL on the host checks it:"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig.der" "$work/msg.txt"
