#!/bin/sh
# scripts/demo.sh — `make demo`: hosted mode on embedded defaults. It trusts the demo
# vendor key (build/vendor/demo.*, a test key made by the build) in a temporary
# configuration directory — never in /etc/trevisor — and grants it the token's "sig" key;
# starts `trevisor serve` there (its own swtpm and SoftHSM2 token in a temporary state
# directory), runs the examples through the `tre` command and C clients that use libtre,
# checks the TRE's signature with OpenSSL, attests trevisor with its TPM quote
# (tpm2_checkquote and trevisor verify), runs the signature accelerator (a fast key the
# token certified; openssl verifies chain and signature), stops the server, and finally
# boots the user environment with `trevisor run` and does the same from inside it.
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
keyid=$("$B/trevisor" trust list --config "$work" | awk 'NR == 1 { print $1 }')
echo "grant $keyid sig" > "$work/token-grants"
echo "-- and granted it the token key 'sig' ($work/token-grants): grant $keyid sig"

echo "== starting trevisor serve (hosted mode) on $work/tre.sock"
echo "   (state: $work/state — its own swtpm and a SoftHSM2 token, both software stand-ins)"
"$B/trevisor" serve --socket "$work/tre.sock" --config "$work" --state "$work/state" \
    2> "$work/serve.log" &
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
echo "== the owner attests trevisor: a TPM quote of everything it measured, with a fresh nonce"
nonce=$(openssl rand -hex 16)
"$B/trevisor" attest --nonce "$nonce" --out "$work/quote" --make-policy "$work/ref.policy" \
    --reference "$B/trevisor"
echo "-- tpm2_checkquote (tpm2-tools) accepts the same quote:"
( cd "$work/quote" && tpm2_checkquote -u ak.pem -m quote.msg -s quote.sig -f quote.pcrs \
      -l sha256:15 -g sha256 -q quote.qual >/dev/null && echo "tpm2_checkquote: OK" )
echo "-- trevisor verify, pinned to this TPM's attestation key, against the policy:"
"$B/trevisor" verify --bundle "$work/quote/quote.bundle" --nonce "$nonce" \
    --policy "$work/ref.policy" --ak "$work/quote/ak.pem" --quiet && echo "trevisor verify: OK"
echo "-- a replayed quote (another nonce) is refused:"
"$B/trevisor" verify --bundle "$work/quote/quote.bundle" --nonce "$(openssl rand -hex 16)" \
    --quiet 2>&1 | tail -n 1 || true

echo
echo "== sigaccel: a fast P-256 key inside the TRE, certified once by the slow token"
export SIGACCEL_IMAGE="$B/progs/sigaccel"
"$B/apps/sigaccel" --state "$work/sa" init
"$B/apps/sigaccel" --state "$work/sa" sign "$work/msg.txt" -o "$work/msg.sig"
echo "-- openssl checks the chain (token CA -> fast key) and the signature:"
openssl verify -CAfile "$work/sa/ca.pem" "$work/sa/cert.pem"
openssl x509 -in "$work/sa/cert.pem" -pubkey -noout > "$work/sa/fast.pub"
openssl dgst -sha256 -verify "$work/sa/fast.pub" -signature "$work/msg.sig" "$work/msg.txt"

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
    --state "$work/state" --mem 256M | tee "$work/console.txt"
grep '^demo-message: ' "$work/console.txt" | sed 's/^demo-message: //' | tr -d '\r' > "$work/gmsg.txt"
grep '^demo-pubkey: ' "$work/console.txt" | sed 's/^demo-pubkey: //' | tr -d '\r' > "$work/gpub.pem"
grep '^demo-signature: ' "$work/console.txt" | sed 's/^demo-signature: //' | tr -d '\r\n' |
    perl -ne 'print pack("H*", $_)' > "$work/gsig.der"
echo "-- OpenSSL on the host checks the signature the guest got from the TRE:"
openssl dgst -sha256 -verify "$work/gpub.pem" -signature "$work/gsig.der" "$work/gmsg.txt"
