#!/bin/sh
# scripts/demo.sh — `make demo`: hosted mode on embedded defaults. It trusts the demo
# vendor key (build/vendor/demo.*, a test key made by the build) in a temporary
# configuration directory — never in /etc/trevisor — starts `trevisor serve` on a socket
# there, runs the examples through the `tre` command and through C clients that use
# libtre, checks the TRE's signature with OpenSSL, and stops the server.
set -eu
cd "$(dirname "$0")/.."
B=build
work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ ! -w /dev/kvm ]; then
    echo "demo: /dev/kvm is missing or not writable: trevisor needs KVM to run TRE programs" >&2
    exit 1
fi

echo "== trusting the demo vendor key (a test key) in $work"
"$B/trevisor" trust add "$B/vendor/demo.pub" --config "$work"

echo "== starting trevisor serve (hosted mode) on $work/tre.sock"
"$B/trevisor" serve --socket "$work/tre.sock" --config "$work" 2> "$work/serve.log" &
server=$!
for _ in $(seq 100); do [ -S "$work/tre.sock" ] && break; sleep 0.05; done
export TREVISOR_SOCKET="$work/tre.sock"

for p in add-glibc add-musl add-free; do
    echo
    echo "== tre: $p, add(40, 2) in its own KVM instance"
    "$B/client/tre" exec "$B/progs/$p" -- call @ 0 --arg-int 40 --arg-int 2 --result 4 --int -- close @
done

echo
echo "== a C client using libtre (vmmcall_tre_exec / _rpc / _close)"
"$B/examples/add_client" "$B/progs/add-glibc" 1000 337

echo
echo "== ecdsa-sign: OpenSSL inside the TRE signs the SHA-256 of a message"
printf 'Hello from the owner, signed inside the tamper-resistant environment.\n' > "$work/msg.txt"
"$B/examples/sign_client" "$B/progs/ecdsa-sign" "$work/msg.txt" "$work/pub.pem" "$work/sig.der"
echo "-- the TRE's public key:"
cat "$work/pub.pem"
echo "-- the signature (DER, hex):"
od -An -tx1 -v "$work/sig.der" | tr -d ' \n'; echo
echo "-- OpenSSL on the host checks it:"
openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig.der" "$work/msg.txt"

echo
echo "== stopping the server (SIGTERM): every instance ends and is wiped"
kill "$server"; wait "$server" || true; server=""
echo "-- the server's log:"
cat "$work/serve.log"

echo
echo "== the user environment: the owner's OS (Debian's kernel, busybox) under QEMU, reaching"
echo "   the TRE only through trevisor's vhost-user-vsock device"
scripts/guest-deps.sh all >/dev/null
make --no-print-directory guest-image >/dev/null
"$B/trevisor" run --kernel "$B/guest/vmlinux" --initrd "$B/guest/initrd.cpio.gz" \
    --cmdline "console=ttyS0 quiet panic=-1 trevisor.run=demo" --config "$work" \
    --mem 256M | tee "$work/console.txt"
grep '^demo-message: ' "$work/console.txt" | sed 's/^demo-message: //' | tr -d '\r' > "$work/gmsg.txt"
grep '^demo-pubkey: ' "$work/console.txt" | sed 's/^demo-pubkey: //' | tr -d '\r' > "$work/gpub.pem"
grep '^demo-signature: ' "$work/console.txt" | sed 's/^demo-signature: //' | tr -d '\r\n' |
    perl -ne 'print pack("H*", $_)' > "$work/gsig.der"
echo "-- OpenSSL on the host checks the signature the guest got from the TRE:"
openssl dgst -sha256 -verify "$work/gpub.pem" -signature "$work/gsig.der" "$work/gmsg.txt"
